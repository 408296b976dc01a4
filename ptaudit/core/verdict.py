"""The verdict of a run: ``pass``, ``fail`` or ``incomplete``. One rule, used by ``run``,
``report``, ``replay`` and ``verify`` (and read by the fleet and grading from report.json).

* ``pass`` only when the findings do not reach ``fail_on`` **and** the audit completed:
  the run ended normally (agent exit, time limit, a kill by policy), the log verifies, it
  is sealed, nothing was lost (or the policy sets ``monitors.accept_lossy``), no monitor
  died, ptaudit itself did not fail, and the agent command actually ran.
* ``fail`` when findings reach ``fail_on`` and the log verifies: a violation proven by an
  intact log stands even if the audit did not complete (the reasons are still listed).
  Findings of category ``monitor_fault`` speak of the audit, not of the agent: at or above
  ``fail_on`` they make the run incomplete instead.
* ``incomplete`` otherwise: never a silent pass. A log that does not verify is always
  incomplete, findings or not: nothing read from it can be trusted.

Facts come from the run directory alone: :class:`AuditFacts` is fed every event
``(kind, data)`` in log order by whichever reader already walks the log (the report's
scan, verify, replay), then told what the manifest and verification say.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .findings import SEVERITIES, severity_rank
from .findings import verdict as findings_verdict

VERDICTS = ("pass", "fail", "incomplete")
EXIT_CODES = {"pass": 0, "fail": 1, "incomplete": 3}

NORMAL_ENDS = ("agent_exit", "time_limit", "completed")
"""End reasons of an audit that saw the whole run (``completed``: a session its owner
closed normally, e.g. tests and tools that record without a sandbox)."""
NORMAL_END_PREFIXES = ("policy_kill",)
AGENT_NOT_RUN = (126, 127)
"""Exit statuses of the sandbox's init when the agent command cannot be executed."""
_MAX_LISTED = 5


def normal_end(reason: str | None) -> bool:
    return reason is not None and (reason in NORMAL_ENDS or reason.startswith(NORMAL_END_PREFIXES))


@dataclass
class AuditFacts:
    """What the run directory says about whether the audit itself completed."""

    sealed: bool = False
    end_reason: str | None = None
    verified: bool | None = None  # None: not checked by this reader
    verify_problem: str | None = None
    manifest_lossy: bool = False
    events_lost: int = 0
    loss_unknown: bool = False
    content_lost: int = 0  # bodies and files whose storing failed (disk full)
    unreadable: int = 0  # log lines or events no reader could use
    accept_lossy: bool = False
    monitors_failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: int = 0
    agent_started: bool = False
    agent_exit: int | None = None
    proxy_started: bool = False
    proxy_stopped: bool = False  # the addon's last word: everything it saw was delivered

    # -- fed by readers of the log -------------------------------------------------
    def feed(self, kind: str, data: dict[str, Any]) -> None:
        """One event, in log order; tolerant of garbage (a tampered log is verify's job)."""
        if kind == "run.start":
            self.accept_lossy = data.get("accept_lossy") is True
        elif kind == "monitor.events_lost":
            n = data.get("count")
            if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
                self.events_lost += n
            else:
                self.loss_unknown = True
        elif kind == "monitor.failed":
            self._add(self.monitors_failed, f"{data.get('monitor')}: {data.get('detail') or 'failed'}")
        elif kind == "net.proxy_died":
            self._add(self.monitors_failed, f"audit proxy (mitmdump) exited with {data.get('returncode')}")
        elif kind == "net.proxy_started":
            self.proxy_started = True
        elif kind == "net.proxy_stopped":
            self.proxy_stopped = True
        elif kind == "monitor.status" and data.get("healthy") is False:
            self._add(self.monitors_failed, f"{data.get('monitor')} unhealthy at stop: {str(data.get('detail'))[:200]}")
        elif kind == "sandbox.relay_died":
            self._add(self.monitors_failed, f"egress relay exited with {data.get('returncode')}")
        elif kind == "run.error":
            self._add(self.errors, str(data.get("error"))[:300])
        elif kind == "run.interrupted":
            self.interrupted += 1
        elif kind == "sandbox.start":
            self.agent_started = True
        elif kind == "sandbox.exit":
            code = data.get("exit_code")
            self.agent_exit = code if isinstance(code, int) and not isinstance(code, bool) else None
        elif kind == "run.end":
            reason = data.get("reason")
            self.end_reason = reason if isinstance(reason, str) else self.end_reason
        if store_failed(data):
            self.content_lost += 1

    @staticmethod
    def _add(items: list[str], text: str) -> None:
        if len(items) < 50 and text not in items:
            items.append(text)

    # -- from the manifest and verification -------------------------------------
    def set_manifest(self, sealed: bool, end_reason: str | None, lossy: bool, events_lost: int = 0) -> None:
        self.sealed = sealed
        self.end_reason = end_reason if end_reason is not None else self.end_reason
        self.manifest_lossy = lossy
        self.events_lost = max(self.events_lost, events_lost)

    def set_verified(self, ok: bool, problem: str | None) -> None:
        self.verified, self.verify_problem = ok, problem

    @property
    def lossy(self) -> bool:
        return bool(self.manifest_lossy or self.events_lost or self.loss_unknown or self.content_lost or self.unreadable)

    def loss_summary(self) -> str:
        parts = []
        if self.events_lost or self.loss_unknown:
            parts.append(f"{self.events_lost}{'+' if self.loss_unknown else ''} events lost")
        if self.content_lost:
            parts.append(f"{self.content_lost} bodies or files not stored")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable events")
        return ", ".join(parts) or "the manifest marks the run lossy"


def store_failed(data: dict[str, Any]) -> bool:
    # Events say a body or file could not be stored with ``store_error`` (net bodies carry
    # it inside request_body/response_body, file events at the top level).
    if data.get("store_error"):
        return True
    for key in ("body", "request_body", "response_body"):
        sub = data.get(key)
        if isinstance(sub, dict) and sub.get("store_error"):
            return True
    return False


def incomplete_reasons(f: AuditFacts) -> list[str]:
    """Why the audit did not complete, most fundamental first; empty when it did."""
    out: list[str] = []
    if f.verified is False:
        out.append(f"the log does not verify: {f.verify_problem}")
    if not f.sealed:
        out.append("the run was never sealed: ptaudit did not finish it (killed, crashed or still running)")
    if f.sealed and f.end_reason is None:
        out.append("no end reason was recorded")
    elif f.end_reason is not None and not normal_end(f.end_reason):
        out.append(f"the run ended abnormally: {f.end_reason}")
    out += [f"a monitor was lost: {m}" for m in f.monitors_failed[:_MAX_LISTED]]
    out += [f"ptaudit failed during the run: {e}" for e in f.errors[:_MAX_LISTED]]
    if f.sealed and f.proxy_started and not f.proxy_stopped:
        out.append("the audit proxy never stopped cleanly: flows it saw last may be unrecorded")
    if f.agent_exit in AGENT_NOT_RUN:
        out.append(f"the agent command could not be run (exit {f.agent_exit} in the sandbox): nothing was audited")
    if f.lossy and not f.accept_lossy:
        out.append(f"lossy run: {f.loss_summary()} (the policy does not set monitors.accept_lossy)")
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | fail | incomplete
    reasons: tuple[str, ...]  # why the audit is incomplete (also listed beside a fail)
    findings_verdict: str  # the findings alone: pass | fail

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def complete(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str | None:
        """The first reason (what every report format shows first), or None."""
        return self.reasons[0] if self.reasons else None

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "complete": self.complete, "reasons": list(self.reasons),
                "findings_verdict": self.findings_verdict}


AUDIT_FAULT = "monitor_fault"
"""The finding category that speaks of the audit itself (a monitor or detector failing),
not of the agent: at or above ``fail_on`` it makes the run incomplete, not failed."""


def _parts(f: Any) -> tuple[str, str | None, str]:
    if isinstance(f, str):
        return f, None, ""
    if isinstance(f, dict):
        return str(f.get("severity")), f.get("category"), str(f.get("message") or f.get("rule") or "")
    return str(f.severity), getattr(f, "category", None), str(getattr(f, "message", ""))


def decide(findings: Iterable[Any], fail_on: str, facts: AuditFacts) -> Verdict:
    """The one verdict rule (module docstring). ``findings``: Finding objects, report rows
    (dicts) or bare severities."""
    violations: list[str] = []
    faults: list[str] = []
    bar = severity_rank(fail_on)
    for f in findings:
        sev, cat, msg = _parts(f)
        if cat == AUDIT_FAULT:
            if sev in SEVERITIES and severity_rank(sev) >= bar:
                faults.append(f"audit fault: {msg[:300]}")
        else:
            violations.append(sev)
    fv = findings_verdict(violations, fail_on)
    reasons = tuple(dict.fromkeys([*incomplete_reasons(facts), *faults[:_MAX_LISTED]]))
    if facts.verified is False:
        v = "incomplete"
    elif fv == "fail":
        v = "fail"
    else:
        v = "incomplete" if reasons else "pass"
    return Verdict(v, reasons, fv)
