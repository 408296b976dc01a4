"""The detector extension point: a small abstract class plus a registry.

A detector reads events (and blobs through its context) and yields findings; it does no
other I/O and keeps no global state. The same instances run live (fed as the recorder
appends) and in replay (fed from events.jsonl), so replaying a run with its own policy
reproduces its findings exactly.
"""

from __future__ import annotations

import hashlib
from abc import ABC
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ptaudit.core.events import Event
from ptaudit.core.findings import (
    CATEGORIES,
    SEVERITIES,
    Action,
    Category,
    Finding,
    Severity,
    severity_rank,
)
from ptaudit.core.plugins import Registry
from ptaudit.core.tomlfile import NestedError

if TYPE_CHECKING:
    from policies.schema import Policy, Rule
    from ptaudit.core.blobs import BlobStore
    from ptaudit.core.task import Task


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class DetectorContext:
    """What a detector may read besides events."""

    task: Task | None = None
    policy: Policy | None = None
    blobs: BlobStore | None = None
    rundir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Detector(ABC):
    """Subclass, set ``name`` (the policy's ``detector = "..."``) and ``Params``, register."""

    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, rule: Rule, ctx: DetectorContext):
        self.rule = rule
        self.ctx = ctx
        self.params: Any = self.Params.model_validate(rule.params)

    def on_event(self, event: Event) -> Iterable[Finding]:
        """Called for every event in log order."""
        return ()

    def finish(self) -> Iterable[Finding]:
        """Called once after the last event (run end or end of replay)."""
        return ()

    def observe_finding(self, finding: Finding) -> None:
        """Sees every new or changed finding of the other detectors of the same policy, in
        the order they are made (live and in replay alike). For detectors that build on
        others' results (provenance starts from leakage findings); it returns nothing."""
        return None

    def finding(self, category: Category, subject: str, message: str, evidence: list[dict[str, Any]],
                key: str | None = None, severity: Severity | None = None, ts: int | None = None) -> Finding | None:
        """Build a finding under this rule; None when a policy exception covers ``subject``."""
        for exc in self.rule.exceptions:
            if fnmatchcase(subject, exc.match):
                return None
        fid = hashlib.sha256(f"{self.rule.id}\0{key or subject}".encode()).hexdigest()[:16]
        return Finding(id=fid, rule=self.rule.id, detector=self.name, category=category,
                       severity=severity or self.rule.severity, action=self.rule.action,
                       message=message, subject=subject, evidence=evidence, ts=ts)


REGISTRY: Registry[Detector] = Registry("detector", "detectors", "ptaudit.detectors")
"""Every detector by name: the shipped ones (any module of this package that registers one)
and those of installed packages (entry-point group ``ptaudit.detectors``)."""


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector available to policies under ``cls.name``."""
    return REGISTRY.register(cls)


def check_rule(detector: str, params: dict[str, Any]) -> None:
    """Does a policy rule name a registered detector, with params it accepts? Raises
    NestedError naming the offending key (so the policy loader can give its line)."""
    cls = REGISTRY.get(detector)
    if cls is None:
        known = ", ".join(REGISTRY) or "none"
        raise NestedError(("detector",), f"unknown detector {detector!r} (known: {known})")
    try:
        cls.Params.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = f'unknown key "{err["loc"][-1]}"' if err["type"] == "extra_forbidden" else err["msg"]
        raise NestedError(("params", *err["loc"]), msg) from None


__all__ = ["CATEGORIES", "REGISTRY", "SEVERITIES", "Action", "Category", "Detector", "DetectorContext", "Finding",
           "NoParams", "Severity", "check_rule", "register", "severity_rank"]
