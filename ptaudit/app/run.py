"""``ptaudit run``: one audited run, start to sealed run directory.

Start order (everything that records is listening before the agent starts):
checks (root, runsc, free space, the task's test sets parsed and indexed) → recorder →
live detectors → monitors of phase ``before_agent`` (files, trace sink, GPU) → mitmdump +
addon → sandbox (relay, then agent) with the ``with_sandbox`` monitors (resources). Stop
order is the reverse; then final scans, the detectors' finish, findings.jsonl, the sealed
manifest, the reports, and the reports' hashes in the manifest.

Whatever happens (agent exit, time limit, kill by policy, Ctrl-C or SIGTERM, a full
disk, a crash in here), the ``finally`` path seals the run directory so ``ptaudit
verify`` can check it; the verdict is ``incomplete`` unless the audit completed
(:mod:`ptaudit.core.verdict`). If ptaudit itself is killed, the sandbox dies with it
(``runsc run`` has PDEATHSIG, and the sandbox's warden tears it down; sandbox/warden.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.base import DetectorContext
from detectors.engine import LiveDetectors, fault_finding
from detectors.testset import TestSetError, index_summary
from grading.grade import Result as GradeResult
from monitors.base import MONITORS, Monitor
from monitors.netproxy import NetProxy
from ptaudit.core.errors import InfraError, InputError, PtauditError
from ptaudit.core.events import (
    SOURCES,
    DetectorFinding,
    EventData,
    MonitorStatus,
    ProxyDied,
    RunError,
    RunInterrupted,
    RunVerdict,
    parse_payload,
)
from ptaudit.core.findings import Finding, ordered
from ptaudit.core.rundir import InputRef, RunDir, write_jsonl
from ptaudit.core.session import RunSession, log_failure_reason
from ptaudit.core.verdict import EXIT_CODES, AuditFacts, decide, normal_end
from sandbox import Sandbox, SandboxError, cleanup_stale
from sandbox import runsc as rs

from .build import RunSpec, build_proxy, build_sandbox, effective_time_limit, start_monitors
from .grade import grade_in_run, write_run_grade
from .live import Progress, Stats
from .report import build_report, write_report_files
from .supervise import Supervisor

DEFAULT_MIN_FREE = 1 << 30


@dataclass
class RunOutcome:
    exit_code: int
    verdict: str
    rundir: Path
    findings: list[Finding]
    reason: str
    head: str = ""
    reasons: list[str] = field(default_factory=list)  # why the audit is incomplete


class Orchestrator:
    def __init__(self, spec: RunSpec, progress: Progress | None = None):
        self.spec = spec
        self.progress = progress
        self.stats = Stats()
        self.session: RunSession | None = None
        self.sandbox: Sandbox | None = None
        self.proxy: NetProxy | None = None
        self.monitors: list[Monitor] = []
        self.live: LiveDetectors | None = None
        self.reason = "agent_exit"
        self._interrupts = 0
        self._signal_threads: list[threading.Thread] = []
        self.finished = threading.Event()
        self.placeholder: str | None = None
        self.runsc_path = "runsc"
        self._lock = threading.RLock()  # re-entrant: the signal handler runs in the main thread, which may hold it
        self._log_failed: OSError | None = None
        self._recorded: dict[str, Finding] = {}  # the version of each finding the log holds
        self.state = Path(tempfile.mkdtemp(prefix="ptaudit-run-"))

    # -- entry ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        spec = self.spec
        test_sets = self._preflight()
        task_ref = InputRef(path=str(spec.task.source), sha256=spec.task.sha256 or "", name=spec.task.name)
        pol_ref = InputRef(path=str(spec.policy_path), sha256=_sha(spec.policy_path), name=spec.policy.name)
        world_ref = (InputRef(path=str(spec.world.source), sha256=spec.world.sha256 or "")
                     if spec.world and spec.world.source else None)
        sources = tuple(dict.fromkeys((*SOURCES, *(cls.source for _, cls in MONITORS.items()))))
        # Signals first: from here on a SIGTERM or Ctrl-C stops the run and seals it.
        old = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(task_ref, pol_ref, world_ref, sources, test_sets)
        finally:
            for t in list(self._signal_threads):
                t.join(5)
            for sig, h in old.items():
                signal.signal(sig, h)
            shutil.rmtree(self.state, ignore_errors=True)

    def _run(self, task_ref: InputRef, pol_ref: InputRef, world_ref: InputRef | None, sources: tuple[str, ...],
             test_sets: list[dict[str, Any]]) -> RunOutcome:
        spec = self.spec
        self.session = RunSession.create(spec.out, command=spec.command, task=task_ref, policy=pol_ref,
                                         world=world_ref, versions=_versions(self.runsc_path), sources=sources,
                                         start_data={"fail_on": spec.policy.fail_on,
                                                     "time_limit_s": effective_time_limit(spec),
                                                     "workspace": str(spec.workspace), "world": bool(spec.world),
                                                     "accept_lossy": spec.policy.monitors.accept_lossy,
                                                     "test_sets": test_sets})
        s = self.session
        s.log.on_failure.append(self._on_log_failure)
        s.log.subscribe(self.stats)
        sandbox_result, error = None, None
        try:
            for step in (self._start_detectors, self._start_monitors, self._start_proxy):
                step()
                self._checkpoint()
            sandbox_result = self._run_sandbox()
        except KeyboardInterrupt:
            self._set_reason("interrupted")
        except BaseException as exc:  # noqa: BLE001 - recorded, sealed, then raised as one line
            if self._log_failed is None:  # (after a log failure the reason says it all)
                error = _as_ptaudit_error(exc)
                self._set_reason(f"error: {'input: ' if error.exit_code == 2 else ''}{error}"[:300])
                self._try_record(RunError(error=repr(exc)[:2000], detail=getattr(exc, "detail", None)))
        finally:
            self._shutdown(fast=self._interrupts > 1 or self._log_failed is not None)
            findings = self._final_findings()
            graded = None
            if error is None and self._log_failed is None and normal_end(self.reason) and spec.task.grading.enabled:
                graded = self._grade()  # before the seal: its record is part of the log
                with self._lock:  # now with the memorization probe's finding, if any
                    findings = ordered(self.stats.findings.values())
            facts = AuditFacts(sealed=True, end_reason=self.reason, verified=True)
            pre = decide(findings, spec.policy.fail_on, facts)
            self._try_record(RunVerdict(verdict=pre.verdict, findings=len(findings), reason=self.reason,
                                        agent_exit=sandbox_result.model_dump() if sandbox_result else None))
            _quiet(lambda: write_jsonl(s.rundir.findings_path, [f.model_dump() for f in findings]))
            try:
                s.close(exit_status=error.exit_code if error is not None else EXIT_CODES[pre.verdict],
                        reason=self.reason)
                self.reason = s.rundir.manifest().end_reason or self.reason
            except Exception as exc:  # noqa: BLE001 - e.g. no room even for the manifest
                error = error or InfraError(f"the run directory could not be sealed: {exc}"[:500])
            outcome = self._report(findings, graded)
        if error is not None:
            raise error
        return outcome

    def _report(self, findings: list[Finding], graded: GradeResult | None = None) -> RunOutcome:
        """The verdict (the one rule, from the sealed run directory), the manifest's exit
        status set to it, grade.json (which names that verdict and the sealed head), the
        reports, and the hashes of all three sealed in the manifest."""
        assert self.session is not None
        s = self.session
        try:
            report = build_report(s.rundir.path, self.spec.policy.fail_on)
            verdict, reasons = report.data["verdict"], list(report.data["audit"]["reasons"])
            m = s.rundir.manifest()
            if m.exit_status in EXIT_CODES.values() and m.exit_status != EXIT_CODES[verdict]:
                m.exit_status = EXIT_CODES[verdict]  # what `ptaudit run` exits with; the reports say the same
                s.rundir.write_manifest(m)
                report = build_report(s.rundir.path, self.spec.policy.fail_on)
            if graded is not None:
                write_run_grade(s.rundir.path, graded, verdict, s.log.head, self.spec.policy.grading.on_fail,
                                self.spec.policy.fail_on)
                RunDir(s.rundir.path).seal_artifacts(("grade.json",))
                report = build_report(s.rundir.path, self.spec.policy.fail_on)
            write_report_files(report)
            RunDir(s.rundir.path).seal_artifacts(("report.json", "report.html"))
        except Exception as exc:  # noqa: BLE001 - e.g. the disk is full: the run cannot be vouched for
            verdict, reasons = "incomplete", [f"the reports could not be written: {exc}"]
        return RunOutcome(EXIT_CODES[verdict], verdict, s.rundir.path, findings, self.reason, s.log.head, reasons)

    # -- steps ------------------------------------------------------------------------
    def _preflight(self) -> list[dict[str, Any]]:
        """Everything checkable before a run directory exists; returns the test-set index
        summaries that run.start records."""
        if os.geteuid() != 0:
            raise InfraError("ptaudit run needs root (runsc creates namespaces): run it with sudo")
        try:  # --runsc, PTAUDIT_RUNSC, the pinned release, PATH (sandbox/runsc.py)
            self.runsc_path = rs.find_runsc(self.spec.runsc)
        except SandboxError as exc:
            raise (InputError if exc.exit_code == 2 else InfraError)(exc.message) from None
        ws = self.spec.workspace
        if not ws.is_dir():
            raise InputError(f"--workspace {ws}: not a directory")
        self._check_free_space()
        agent = self.spec.task.agent
        if agent.api_host and agent.api_key_env and not os.environ.get(agent.api_key_env):
            raise InputError(f"{self.spec.task.source}: agent.api_key_env {agent.api_key_env!r}: that environment "
                             f"variable is not set (the proxy swaps the real key in for {agent.api_host})")
        if self.spec.task.gpu or self.spec.gpus is not None:
            from sandbox.gpu import parse_gpus, plan

            try:  # refuse before anything starts: no nvproxy, no or unsupported driver, missing nodes
                plan(parse_gpus(self.spec.gpus), self.runsc_path, self.spec.nvproxy_driver_version)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            except SandboxError as exc:
                raise InfraError(exc.message) from None
        summaries = []
        for b in self.spec.task.benchmarks:
            try:
                summaries.append(index_summary(b))
            except TestSetError as exc:
                raise InputError(f"{self.spec.task.source}: {exc}") from None
        cleanup_stale()  # sandboxes and relays of runs whose ptaudit was killed
        return summaries

    def _check_free_space(self) -> None:
        out = Path(self.spec.out).resolve()
        probe = out
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        need = self.spec.min_free if self.spec.min_free is not None else DEFAULT_MIN_FREE
        free = shutil.disk_usage(probe).free
        if free < need:
            raise InputError(f"--out {self.spec.out}: only {free / (1 << 20):.0f} MiB free on its filesystem, "
                             f"a run needs at least {need / (1 << 20):.0f} MiB (--min-free)")

    def _record(self, ev: EventData) -> None:
        if self.session is None:
            raise ValueError("no run session yet")
        self.session.record(ev)

    def _try_record(self, ev: EventData) -> None:
        try:
            self._record(ev)
        except (OSError, ValueError):
            pass  # the log failed (disk full) or is closed: the run already ends incomplete

    def _set_reason(self, reason: str) -> None:
        """The first reason that makes the audit incomplete wins; a normal reason (time
        limit, policy kill) replaces only the default."""
        with self._lock:
            if not normal_end(self.reason):
                return
            if normal_end(reason) and self.reason != "agent_exit":
                return
            self.reason = reason

    def _start_detectors(self) -> None:
        assert self.session is not None
        ctx = DetectorContext(task=self.spec.task, policy=self.spec.policy, blobs=self.session.rundir.blobs,
                              rundir=self.session.rundir.path)
        self.live = LiveDetectors(self.session.rundir.path, self.spec.policy, ctx, self._on_finding)
        self.live.set.prepare()  # e.g. the leakage index: built before the agent starts, not mid-run
        self.live.start()

    def _on_finding(self, f: Finding, final: bool = False) -> None:
        # The log is the findings' only record (reports rebuild from it), so an update must
        # reach it too: at once when it changes what the finding decides (severity, action),
        # the rest (more evidence, a longer message) once, at the end, in its last version.
        with self._lock:
            old = self._recorded.get(f.id)
            self.stats.findings[f.id] = f
            now = old is None or (old.severity, old.action) != (f.severity, f.action) or (final and old != f)
            if now:
                self._recorded[f.id] = f
        if not now:
            return
        self._try_record(DetectorFinding(finding=f))
        if old is None and self.progress:
            self.progress.finding(f)
        if f.action == "kill" and (old is None or old.action != "kill") and self.sandbox is not None:
            self._set_reason(f"policy_kill: {f.rule}")
            self.sandbox.stop("policy")

    def _start_monitors(self) -> None:
        assert self.session is not None
        self.monitors = start_monitors("before_agent", self.spec, self.session.rundir, self.state, self.session.record,
                                       runsc=self.runsc_path)

    def _start_proxy(self) -> None:
        assert self.session is not None
        self.proxy, self.placeholder = build_proxy(self.spec, self.session.socket_path, self.session.rundir,
                                                   self.state, self._proxy_died)

    def _proxy_died(self, rc: int | None) -> None:
        # Fail closed: the agent's only way out is gone; record it and stop the agent.
        assert self.proxy is not None
        self._try_record(ProxyDied(returncode=rc, log_tail=self.proxy.log_tail(2000)))
        self._stop_agent("proxy_died")

    def _stop_agent(self, reason: str) -> None:
        self._set_reason(reason)
        if self.sandbox is not None:
            self.sandbox.stop("policy")

    def _on_log_failure(self, exc: OSError) -> None:
        # Called by the log writer once, from its committer thread, after every waiting
        # append has been woken with the error: nothing can be recorded any more, so the
        # agent must not go on unobserved. Kill it at once.
        self._log_failed = exc
        self._set_reason(log_failure_reason(exc))
        if self.progress:
            _quiet(lambda: self.progress.console.print(  # type: ignore[union-attr]
                f"ptaudit: {log_failure_reason(exc)}; the run ends incomplete", markup=False))
        sb = self.sandbox
        if sb is not None:
            threading.Thread(target=sb.kill_now, name="log-failed", daemon=True).start()

    def _run_sandbox(self) -> Any:
        assert self.session is not None and self.proxy is not None
        flags = [f for m in self.monitors for f in m.runsc_flags()]  # runsc connects to the sink at boot

        def emit(kind: str, data: dict[str, Any]) -> None:
            # The sandbox reports (kind, data); validated here against the catalogue (it
            # raises on a mismatch, and the sandbox stops the agent: fail closed).
            payload = parse_payload(kind, data)
            if payload is None:
                raise ValueError(f"sandbox event kind {kind!r} has no payload model")
            self._record(payload)

        output = self.progress.agent_output if self.progress else None
        self.sandbox = build_sandbox(self.spec, self.session.rundir, self.proxy, self.placeholder, flags,
                                     self.state, emit, output)
        self._checkpoint()  # from here on a signal stops the sandbox instead
        self.monitors += start_monitors("with_sandbox", self.spec, self.session.rundir, self.state,
                                        self.session.record, self.sandbox, runsc=self.runsc_path)
        for m in self.monitors:  # NVML lists the sandbox's host pids (the sentry holds the GPU contexts)
            if hasattr(m, "attribute_to"):
                m.attribute_to(self.sandbox.host_pids)
        Supervisor(lambda: self.monitors, self.spec.policy.monitors.on_failure, self._try_record, self._stop_agent,
                   self.finished).start()
        if self.progress:
            self.progress.start(self.stats, effective_time_limit(self.spec))
        try:
            result = self.sandbox.run()
        finally:
            if self.progress:
                self.progress.stop()
        if result.killed == "time_limit":
            self._set_reason("time_limit")
        elif result.killed == "user":
            self._set_reason("interrupted")
        elif result.killed == "relay_died":
            self._set_reason("relay_died: the egress relay exited during the run")
        elif result.killed in ("policy", "workspace_size"):
            self._set_reason(f"policy_kill: {result.killed}")
        return result

    def _on_signal(self, signum: int, frame: Any) -> None:
        # SIGINT and SIGTERM (what timeout, kill, systemd and Slurm send) alike. Runs
        # between two bytecodes of the main thread, which may be inside the log writer:
        # never append or raise from here. Record from a thread; stop the sandbox
        # (thread-safe); during set-up, _checkpoint raises at the next safe point.
        self._interrupts += 1
        n = self._interrupts
        self._set_reason("interrupted")
        name = signal.Signals(signum).name
        t = threading.Thread(target=lambda: self._try_record(RunInterrupted(count=n, signal=name)), daemon=True)
        t.start()
        self._signal_threads.append(t)  # joined before the log closes: no interrupt goes unrecorded
        if self.progress and n == 1:
            _quiet(lambda: self.progress.console.print(  # type: ignore[union-attr]
                f"ptaudit: {name}: stopping the agent, then sealing the run (again to skip the final scans)",
                markup=False))
        if self.sandbox is None:
            return
        if n == 1:
            self.sandbox.stop("user")  # polite: SIGTERM, grace, SIGKILL
        else:
            self.sandbox.kill_now()  # impatient: no grace, and _shutdown skips the final scans

    def _checkpoint(self) -> None:
        if self._interrupts or self._log_failed is not None:
            raise KeyboardInterrupt

    def _shutdown(self, fast: bool) -> None:
        """Reverse order; each step isolated so one failure cannot skip the others."""
        self.finished.set()
        if self.proxy is not None:
            _safe(self.proxy.stop)
        phase = self.progress.phase if self.progress else (lambda name: None)
        for m in reversed(self.monitors):
            fast = fast or self._interrupts > 1 or self._log_failed is not None
            if not fast and hasattr(m, "final_scan"):
                phase(f"final scan ({m.name})")
                _safe(m.final_scan)
            _safe(m.stop)
            st = _safe(m.status)
            if st is not None:
                self._try_record(MonitorStatus(monitor=type(m).__name__, **st.model_dump()))
        phase(None)

    def _grade(self) -> GradeResult:
        """Grade the final model before the seal (task [grading] enabled): see app/grade.py."""
        assert self.session is not None
        console = self.progress.console if self.progress is not None else None
        return grade_in_run(self.spec.task, self.spec.policy, self.spec.workspace.resolve(), self.session.record,
                            self._on_finding, console)

    def _final_findings(self) -> list[Finding]:
        if self.live is not None:
            if self.progress:
                self.progress.phase("detectors finishing")
            try:
                found = self.live.stop()
            except Exception as exc:  # noqa: BLE001 - the detectors stopped reading the log
                # What they found is kept; that they went blind is a fault finding, so the
                # run reads incomplete, never pass.
                found = [*self.live.set.findings, fault_finding("audit.detectors", "live", "the log tail", exc)]
            for f in found:
                self._on_finding(f, final=True)
            if self.progress:
                self.progress.phase(None)
        with self._lock:
            return ordered(self.stats.findings.values())


def _as_ptaudit_error(exc: BaseException) -> PtauditError:
    """Every failure reaches the user as one line with a documented exit code."""
    if isinstance(exc, PtauditError):
        return exc
    if isinstance(exc, SandboxError):
        return PtauditError(exc.message, exc.exit_code)
    return InfraError(f"ptaudit failed during the run: {type(exc).__name__}: {exc}"[:500])


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - shutdown must reach every step
        return None


_quiet = _safe


def _sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _versions(runsc: str) -> dict[str, str | None]:
    try:
        from mitmproxy.version import VERSION as mitm
    except ImportError:
        mitm = None
    try:
        runsc_v, runsc_sha = rs.version(runsc), rs.sha256(runsc)
    except Exception:  # noqa: BLE001
        runsc_v = runsc_sha = None
    return {"runsc": runsc_v, "runsc_path": runsc, "runsc_sha256": runsc_sha, "mitmproxy": mitm}


__all__ = ["Orchestrator", "RunOutcome", "RunSpec", "effective_time_limit"]
