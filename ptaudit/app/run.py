"""``ptaudit run``: one audited run, start to sealed run directory.

Start order (everything that records is listening before the agent starts):
recorder → live detectors → monitors of phase ``before_agent`` (files, trace sink, GPU)
→ mitmdump + addon → sandbox (relay, then agent) with the ``with_sandbox`` monitors
(resources). Stop order is the reverse; then final scans, the detectors' finish,
findings.jsonl, the sealed manifest and the reports.

Whatever happens (agent exit, time limit, kill by policy, Ctrl-C, a crash in here), the
``finally`` path seals the run directory so ``ptaudit verify`` can check it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.base import DetectorContext
from detectors.engine import LiveDetectors
from grading.grade import Result as GradeResult
from monitors.base import MONITORS, Monitor
from monitors.netproxy import NetProxy
from ptaudit.core.errors import InfraError, InputError
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
from ptaudit.core.findings import Finding, ordered, verdict
from ptaudit.core.rundir import InputRef, write_jsonl
from ptaudit.core.session import RunSession
from sandbox import Sandbox, SandboxError, cleanup_stale
from sandbox import runsc as rs

from .build import RunSpec, build_proxy, build_sandbox, effective_time_limit, start_monitors
from .grade import grade_in_run, write_run_grade
from .live import Progress, Stats
from .report import write_reports
from .supervise import Supervisor


@dataclass
class RunOutcome:
    exit_code: int
    verdict: str
    rundir: Path
    findings: list[Finding]
    reason: str
    head: str = ""


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
        self._lock = threading.Lock()
        self.state = Path(tempfile.mkdtemp(prefix="ptaudit-run-"))

    # -- entry ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        spec = self.spec
        self._preflight()
        task_ref = InputRef(path=str(spec.task.source), sha256=spec.task.sha256 or "", name=spec.task.name)
        pol_ref = InputRef(path=str(spec.policy_path), sha256=_sha(spec.policy_path), name=spec.policy.name)
        world_ref = (InputRef(path=str(spec.world.source), sha256=spec.world.sha256 or "")
                     if spec.world and spec.world.source else None)
        sources = tuple(dict.fromkeys((*SOURCES, *(cls.source for _, cls in MONITORS.items()))))
        self.session = RunSession.create(spec.out, command=spec.command, task=task_ref, policy=pol_ref,
                                         world=world_ref, versions=_versions(self.runsc_path), sources=sources,
                                         start_data={"fail_on": spec.policy.fail_on,
                                                     "time_limit_s": effective_time_limit(spec),
                                                     "workspace": str(spec.workspace), "world": bool(spec.world)})
        s = self.session
        s.log.subscribe(self.stats)
        exit_status, sandbox_result = 3, None
        old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            for step in (self._start_detectors, self._start_monitors, self._start_proxy):
                step()
                self._checkpoint()
            sandbox_result = self._run_sandbox()
            exit_status = 0
        except InputError:
            exit_status = 2
            raise
        except KeyboardInterrupt:
            self.reason = "interrupted"
            raise
        except BaseException as exc:
            self.reason = f"error: {exc}"[:300]
            s.record(RunError(error=repr(exc)[:2000]))
            raise
        finally:
            signal.signal(signal.SIGINT, old_handler)
            for t in list(self._signal_threads):
                t.join(5)
            self._shutdown(fast=self._interrupts > 1)
            findings = self._final_findings()
            graded = self._grade() if exit_status == 0 and spec.task.grading.enabled else None
            if graded is not None:
                with self._lock:  # now with the memorization probe's finding, if any
                    findings = ordered(self.stats.findings.values())
            result = verdict((f.severity for f in findings), spec.policy.fail_on)
            if exit_status == 0:
                exit_status = 1 if result == "fail" else 0
            s.record(RunVerdict(verdict=result, findings=len(findings), reason=self.reason,
                                agent_exit=sandbox_result.model_dump() if sandbox_result else None))
            write_jsonl(s.rundir.findings_path, [f.model_dump() for f in findings])
            s.close(exit_status=exit_status, reason=self.reason)
            shutil.rmtree(self.state, ignore_errors=True)
        if graded is not None:
            write_run_grade(s.rundir.path, graded, result, s.log.head, spec.policy.grading.on_fail,
                            spec.policy.fail_on)
        write_reports(s.rundir.path, spec.policy.fail_on)
        return RunOutcome(exit_status, result, s.rundir.path, findings, self.reason, s.log.head)

    # -- steps ------------------------------------------------------------------------
    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise InfraError("ptaudit run needs root (runsc creates namespaces): run it with sudo")
        try:  # --runsc, PTAUDIT_RUNSC, the pinned release, PATH (sandbox/runsc.py)
            self.runsc_path = rs.find_runsc(self.spec.runsc)
        except SandboxError as exc:
            raise (InputError if exc.exit_code == 2 else InfraError)(exc.message) from None
        cleanup_stale()  # sandboxes and relays of runs whose ptaudit was killed
        ws = self.spec.workspace
        if not ws.is_dir():
            raise InputError(f"--workspace {ws}: not a directory")
        if self.spec.task.gpu or self.spec.gpus is not None:
            from sandbox.gpu import parse_gpus, plan

            try:  # refuse before anything starts: no nvproxy, no or unsupported driver, missing nodes
                plan(parse_gpus(self.spec.gpus), self.runsc_path, self.spec.nvproxy_driver_version)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            except SandboxError as exc:
                raise InfraError(exc.message) from None

    def _record(self, ev: EventData) -> None:
        assert self.session is not None
        self.session.record(ev)

    def _start_detectors(self) -> None:
        assert self.session is not None
        ctx = DetectorContext(task=self.spec.task, policy=self.spec.policy, blobs=self.session.rundir.blobs,
                              rundir=self.session.rundir.path)
        self.live = LiveDetectors(self.session.rundir.path, self.spec.policy, ctx, self._on_finding)
        self.live.start()

    def _on_finding(self, f: Finding) -> None:
        with self._lock:
            known = f.id in self.stats.findings
            self.stats.findings[f.id] = f
        if known:
            return
        self._record(DetectorFinding(finding=f))
        if self.progress:
            self.progress.finding(f)
        if f.action == "kill" and self.sandbox is not None:
            self.reason = f"policy_kill: {f.rule}"
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
        self._record(ProxyDied(returncode=rc, log_tail=self.proxy.log_tail(2000)))
        self._stop_agent("proxy_died")

    def _stop_agent(self, reason: str) -> None:
        self.reason = reason
        if self.sandbox is not None:
            self.sandbox.stop("policy")

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
        self._checkpoint()  # from here on Ctrl-C stops the sandbox instead
        self.monitors += start_monitors("with_sandbox", self.spec, self.session.rundir, self.state,
                                        self.session.record, self.sandbox, runsc=self.runsc_path)
        for m in self.monitors:  # NVML lists the sandbox's host pids (the sentry holds the GPU contexts)
            if hasattr(m, "attribute_to"):
                m.attribute_to(self.sandbox.host_pids)
        Supervisor(lambda: self.monitors, self.spec.policy.monitors.on_failure, self._record, self._stop_agent,
                   self.finished).start()
        if self.progress:
            self.progress.start(self.stats, effective_time_limit(self.spec))
        try:
            result = self.sandbox.run()
        finally:
            if self.progress:
                self.progress.stop()
        if result.killed == "time_limit":
            self.reason = "time_limit"
        elif result.killed == "user":
            self.reason = "interrupted"
        elif result.killed in ("policy", "workspace_size") and not self.reason.startswith(
                ("policy_kill", "monitor_failed", "proxy_died")):
            self.reason = f"policy_kill: {result.killed}"
        return result

    def _on_sigint(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of the main thread, which may be inside the log
        # writer: never append or raise from here. Record from a thread; stop the sandbox
        # (thread-safe); during set-up, _checkpoint raises at the next safe point.
        self._interrupts += 1
        n = self._interrupts
        t = threading.Thread(target=lambda: _safe(lambda: self._record(RunInterrupted(count=n))), daemon=True)
        t.start()
        self._signal_threads.append(t)  # joined before the log closes: no interrupt goes unrecorded
        if self.sandbox is None:
            return
        if n == 1:
            self.sandbox.stop("user")  # polite: SIGTERM, grace, SIGKILL
        else:
            self.sandbox.kill_now()  # impatient: no grace, and _shutdown skips the final scans

    def _checkpoint(self) -> None:
        if self._interrupts:
            raise KeyboardInterrupt

    def _shutdown(self, fast: bool) -> None:
        """Reverse order; each step isolated so one failure cannot skip the others."""
        self.finished.set()
        if self.proxy is not None:
            _safe(self.proxy.stop)
        for m in reversed(self.monitors):
            if not fast and hasattr(m, "final_scan"):
                _safe(m.final_scan)
            _safe(m.stop)
            st = _safe(m.status)
            if st is not None:
                _safe(lambda m=m, st=st: self._record(MonitorStatus(monitor=type(m).__name__, **st.model_dump())))

    def _grade(self) -> GradeResult:
        """Grade the final model before the seal (task [grading] enabled): see app/grade.py."""
        assert self.session is not None
        console = self.progress.console if self.progress is not None else None
        return grade_in_run(self.spec.task, self.spec.policy, self.spec.workspace.resolve(), self.session.record,
                            self._on_finding, console)

    def _final_findings(self) -> list[Finding]:
        if self.live is not None:
            for f in _safe(self.live.stop) or []:
                self._on_finding(f)
        with self._lock:
            return ordered(self.stats.findings.values())


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - shutdown must reach every step
        return None


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
