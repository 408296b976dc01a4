"""Findings: what a detector reports, and the rule that turns findings into a verdict.

Core, not detectors: the policy schema names severities and actions, the orchestrator
acts on findings, reports and the fleet read them; none of them should need the
detectors to do so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]


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


def verdict(severities: Iterable[str], fail_on: str) -> str:
    """"fail" when any finding's severity is at or above ``fail_on``, else "pass".

    This is the findings half of a run's verdict only; whether the audit itself completed
    (sealed, verified, no monitor lost) is decided by the caller."""
    bar = severity_rank(fail_on)
    return "fail" if any(severity_rank(s) >= bar for s in severities) else "pass"


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Highest severity first, then by id: the order every report uses."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.id))
