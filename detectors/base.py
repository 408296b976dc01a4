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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ptaudit.events import Event

if TYPE_CHECKING:
    from policies.schema import Policy, Rule
    from ptaudit.blobs import BlobStore
    from ptaudit.task import Task

Category = Literal[
    "test_set_leakage",
    "checkpoint_download",
    "model_substitution",
    "api_key_misuse",
    "unauthorized_api",
    "grader_tampering",
    "sandbox_escape",
    "budget",
    "monitor_fault",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = Severity.__args__  # type: ignore[attr-defined]
Action = Literal["log", "alert", "block", "kill"]


def severity_rank(sev: str) -> int:
    return SEVERITIES.index(sev)


class Finding(BaseModel):
    """One thing a reviewer should look at, with the evidence to confirm it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id: sha256 of rule and key, 16 hex digits.")
    rule: str = Field(description="Policy rule id that produced it.")
    detector: str
    category: Category
    severity: Severity
    action: Action
    message: str = Field(description="One line for humans.")
    subject: str = Field(description="What it is about (URL, path, host, item); exceptions match on it.")
    evidence: list[dict[str, Any]] = Field(default_factory=list, description="Event seqs, URLs, paths+offsets, item ids, blob hashes.")
    ts: int | None = Field(default=None, description="ts of the event that triggered it (ns).")


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


REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"detector {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls
