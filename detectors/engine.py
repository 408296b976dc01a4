"""Running detectors: live beside a run, in replay over a recorded run, and over files.

One :class:`DetectorSet` per audit holds one detector per enabled policy rule and feeds
them events in log order. Whatever the mode, the same code sees the same events in the
same order, so replaying a run with its own policy reproduces its findings exactly.

* A detector that raises becomes a ``monitor_fault`` finding (its rule id and the error)
  and is disabled; the other detectors and the run go on.
* Findings are keyed by id. A detector may report the same id again with more evidence;
  the set keeps the latest version in the position of the first, and passes on only
  findings that are new or changed.
* ``detector.*`` events (findings the orchestrator recorded) are never fed back.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ptaudit.core.events import Event, EventDataError
from ptaudit.core.runlog import follow_events, read_events

from .base import REGISTRY, Detector, DetectorContext, Finding

if TYPE_CHECKING:
    from policies.schema import Policy
    from ptaudit.core.task import Task

FAULT_SEVERITY = "high"  # a blind detector means the audit is incomplete: fail on it


@runtime_checkable
class ContentScanner(Protocol):
    """A detector that can also scan files outside a run (``ptaudit scan``)."""

    def scan_file(self, path: Path, label: str) -> list[Finding]: ...


class DetectorSet:
    """The detectors of one policy, fed events in order; collects deduplicated findings."""

    def __init__(self, detectors: list[Detector]):
        self.detectors = detectors
        self._disabled: set[int] = set()
        self._findings: dict[str, Finding] = {}

    @classmethod
    def from_policy(cls, policy: Policy, ctx: DetectorContext) -> DetectorSet:
        """One detector per enabled rule. A detector that cannot be built is a fault too."""
        ctx.policy = ctx.policy or policy
        dets: list[Detector] = []
        faults: list[Finding] = []
        for rule in policy.enabled_rules():
            try:
                det_cls = REGISTRY.get(rule.detector)
                if det_cls is None:
                    raise LookupError(f"no detector {rule.detector!r} is registered")
                dets.append(det_cls(rule, ctx))
            except Exception as exc:  # noqa: BLE001 - reported as a finding, never fatal
                faults.append(fault_finding(rule.id, rule.detector, "init", exc))
        ds = cls(dets)
        for f in faults:
            ds._keep(f)
        return ds

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, latest version, in order of first appearance."""
        return list(self._findings.values())

    def feed(self, event: Event) -> list[Finding]:
        """Give one event to every detector; returns the findings that are new or changed."""
        if event.kind.startswith("detector."):
            return []
        try:
            event.payload  # noqa: B018 - validated once here (cached), not in every detector
        except EventDataError as exc:
            # A producer wrote data its kind's model rejects: no detector can read it, so
            # the audit of this event is incomplete. Say so (once per kind); the detectors
            # stay enabled for the events that do fit.
            f = invalid_event_finding(event, exc)
            return [f] if self._keep(f) else []
        return self._run(lambda d: d.on_event(event), f"event {event.seq} ({event.kind})")

    def finish(self) -> list[Finding]:
        """End of the event stream; returns the new or changed findings."""
        return self._run(lambda d: d.finish(), "finish")

    def _run(self, call: Callable[[Detector], Iterable[Finding]], where: str) -> list[Finding]:
        out: list[Finding] = []
        for i, det in enumerate(self.detectors):
            if i in self._disabled:
                continue
            try:
                produced = list(call(det))
            except Exception as exc:  # noqa: BLE001 - one detector must not stop the audit
                self._disabled.add(i)
                produced = [fault_finding(det.rule.id, det.name, where, exc)]
            for f in produced:
                if self._keep(f):
                    out.append(f)
        return out

    def _keep(self, f: Finding) -> bool:
        old = self._findings.get(f.id)
        if old == f:
            return False
        self._findings[f.id] = f  # an update keeps its first position (dict order)
        for i, det in enumerate(self.detectors):
            if i not in self._disabled and det.name != f.detector:
                try:
                    det.observe_finding(f)
                except Exception as exc:  # noqa: BLE001 - as in _run: a fault, the detector disabled
                    self._disabled.add(i)
                    fault = fault_finding(det.rule.id, det.name, "observe_finding", exc)
                    self._findings.setdefault(fault.id, fault)
        return True

    def run_detector(self, det: Detector, call: Callable[[Detector], Iterable[Finding]], where: str) -> list[Finding]:
        """Call one detector outside :meth:`feed` with the same fault handling (scan)."""
        i = self.detectors.index(det)
        if i in self._disabled:
            return []
        try:
            produced = list(call(det))
        except Exception as exc:  # noqa: BLE001
            self._disabled.add(i)
            produced = [fault_finding(det.rule.id, det.name, where, exc)]
        return [f for f in produced if self._keep(f)]


def invalid_event_finding(event: Event, exc: EventDataError) -> Finding:
    """The ``monitor_fault`` finding for events whose data does not fit their kind."""
    fid = hashlib.sha256(f"invalid-event\0{event.kind}".encode()).hexdigest()[:16]
    return Finding(id=fid, rule="audit.event-data", detector="engine", category="monitor_fault",
                   severity=FAULT_SEVERITY, action="log",
                   message=f"event seq {event.seq} ({event.kind}) does not fit its schema and was not checked: {exc}"[:500],
                   subject=f"event:{event.kind}", evidence=[{"seq": event.seq, "kind": event.kind, "error": str(exc)[:2000]}])


def fault_finding(rule_id: str, detector: str, where: str, exc: BaseException) -> Finding:
    """The ``monitor_fault`` finding for a detector that raised."""
    fid = hashlib.sha256(f"{rule_id}\0monitor_fault".encode()).hexdigest()[:16]
    text = f"{type(exc).__name__}: {exc}"
    return Finding(id=fid, rule=rule_id, detector=detector, category="monitor_fault", severity=FAULT_SEVERITY,
                   action="log", message=f"detector {detector!r} (rule {rule_id}) failed at {where} and was disabled: {text}"[:500],
                   subject=f"detector:{detector}", evidence=[{"rule": rule_id, "where": where, "error": text[:2000]}])


# -- live ------------------------------------------------------------------------------
class LiveDetectors:
    """Tails ``events.jsonl`` in a thread and calls ``on_finding`` for every new or changed
    finding. The orchestrator records each one (a ``detector.finding`` event and a
    findings.jsonl line) and applies its action; if ``on_finding`` raises, tailing stops
    and :meth:`stop` re-raises it, so findings are never silently dropped."""

    def __init__(self, rundir: Path, policy: Policy, ctx: DetectorContext, on_finding: Callable[[Finding], None],
                 poll: float = 0.05):
        from ptaudit.core.rundir import RunDir

        self.rundir = RunDir(Path(rundir))
        if ctx.blobs is None:
            ctx.blobs = self.rundir.blobs
        ctx.rundir = ctx.rundir or self.rundir.path
        self.set = DetectorSet.from_policy(policy, ctx)
        self.on_finding = on_finding
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.events_seen = 0

    def start(self) -> None:
        for f in self.set.findings:  # construction faults
            self.on_finding(f)
        self._thread = threading.Thread(target=self._run, name="detectors", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            path = self.rundir.events_path
            while not path.exists() and not self._stop.is_set():
                time.sleep(self.poll)
            if not path.exists():
                return
            for event in follow_events(path, self._stop, self.poll):
                self.events_seen += 1
                for f in self.set.feed(event):
                    self.on_finding(f)
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc

    def stop(self, timeout: float | None = None) -> list[Finding]:
        """Read the log to its end, finish the detectors, report what finishing found;
        returns every finding of the run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        for f in self.set.finish():
            self.on_finding(f)
        return self.set.findings


# -- replay ----------------------------------------------------------------------------
@dataclass
class FindingsDiff:
    """Replayed findings against recorded ones, by finding id."""

    new: list[Finding] = field(default_factory=list)
    gone: list[Finding] = field(default_factory=list)
    changed: list[tuple[Finding, Finding]] = field(default_factory=list)  # (recorded, replayed), severity differs

    @property
    def empty(self) -> bool:
        return not (self.new or self.gone or self.changed)


@dataclass
class ReplayResult:
    findings: list[Finding]
    diff: FindingsDiff
    events: int = 0


def read_findings(path: Path) -> list[Finding]:
    """A findings.jsonl, one version per id (the last), in order of first appearance."""
    out: dict[str, Finding] = {}
    if Path(path).is_file():
        for line in Path(path).read_bytes().splitlines():
            if line.strip():
                f = Finding.model_validate_json(line)
                out[f.id] = f
    return list(out.values())


def diff_findings(recorded: list[Finding], replayed: list[Finding]) -> FindingsDiff:
    old = {f.id: f for f in recorded}
    new = {f.id: f for f in replayed}
    return FindingsDiff(
        new=[f for f in replayed if f.id not in old],
        gone=[f for f in recorded if f.id not in new],
        changed=[(old[i], f) for i, f in new.items() if i in old and old[i].severity != f.severity],
    )


def replay(rundir: str | Path, policy: Policy | str | Path, task: Task | None = None) -> ReplayResult:
    """Re-run every detector of ``policy`` over a recorded run's events and blobs and
    compare with its findings.jsonl. ``task`` defaults to the task file the run's manifest
    names (which must still exist)."""
    from ptaudit.core.rundir import RunDir

    rd = RunDir.open(Path(rundir))
    pol = _policy(policy)
    if task is None:
        task = _manifest_task(rd)
    ds = DetectorSet.from_policy(pol, DetectorContext(task=task, policy=pol, blobs=rd.blobs, rundir=rd.path))
    n = 0
    for event in read_events(rd.events_path):
        ds.feed(event)
        n += 1
    ds.finish()
    return ReplayResult(ds.findings, diff_findings(read_findings(rd.findings_path), ds.findings), n)


def _policy(policy: Policy | str | Path) -> Policy:
    if isinstance(policy, str | Path):
        from . import load_policy

        return load_policy(policy)
    return policy


def _manifest_task(rd: object) -> Task | None:
    from ptaudit.core.errors import InputError
    from ptaudit.core.task import load_task

    ref = rd.manifest().task  # type: ignore[attr-defined]
    if ref is None:
        return None
    if not Path(ref.path).is_file():
        raise InputError(f"{rd.path}: the run's task file {ref.path} is gone; pass the task explicitly")  # type: ignore[attr-defined]
    return load_task(ref.path)


# -- scan ------------------------------------------------------------------------------
def scan_path(path: str | Path, task: Task, policy: Policy | str | Path,
              progress: Callable[[int], None] | None = None) -> list[Finding]:
    """Run the policy's content detectors over a directory (every file, sorted), an archive
    or a single dataset file a reviewer suspects. Findings name each file relative to
    ``path`` (archive members as ``archive.zip!member``) with byte offsets. Detectors with
    ``scan_files`` get all files at once (and may use every core); ``progress(n)`` is
    called as their bytes are done."""
    root = Path(path)
    pol = _policy(policy)
    ds = DetectorSet.from_policy(pol, DetectorContext(task=task, policy=pol))
    scanners = [d for d in ds.detectors if isinstance(d, ContentScanner)]
    files = scan_files_of(root)
    pairs = [(f, f.relative_to(root).as_posix() if root.is_dir() else f.name) for f in files]
    for det in scanners:
        if hasattr(det, "scan_files"):
            ds.run_detector(det, lambda d: d.scan_files(pairs, progress), f"scan {root}")  # type: ignore[attr-defined]
            continue
        for f, label in pairs:
            ds.run_detector(det, lambda d, f=f, label=label: d.scan_file(f, label), f"scan {label}")  # type: ignore[attr-defined,misc]
    ds.finish()
    return ds.findings


def scan_files_of(root: Path) -> list[Path]:
    """The regular files ``scan_path`` reads (sorted; symlinks skipped)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else [root]
