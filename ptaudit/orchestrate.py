"""``ptaudit run``: one audited run, start to sealed run directory.

Start order (everything that records is listening before the agent starts):
recorder → live detectors → monitors (files, GPU, trace sink) → mitmdump + addon →
sandbox (relay, then agent). Stop order is the reverse; then final scans, the detectors'
finish, findings.jsonl, the sealed manifest and the reports.

Whatever happens (agent exit, time limit, kill by policy, Ctrl-C, a crash in here), the
``finally`` path seals the run directory so ``ptaudit verify`` can check it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.base import DetectorContext, Finding, severity_rank
from policies.schema import Policy

from .errors import InfraError, InputError
from .events import Event
from .report.model import verdict as report_verdict
from .rundir import InputRef, write_jsonl
from .session import RunSession
from .task import Task
from .world import World


@dataclass
class RunSpec:
    task: Task
    policy: Policy
    policy_path: Path
    workspace: Path
    out: Path
    command: list[str]
    world: World | None = None
    time_limit: float | None = None
    upstream_ca: Path | None = None  # CA of the world's HTTPS servers (simulated internet)
    extra_env: dict[str, str] = field(default_factory=dict)
    runsc: Path | None = None          # --runsc (else PTAUDIT_RUNSC, the pinned release, PATH)
    platform: str | None = None        # --platform (else systrap if it works, else ptrace)
    gpus: str | None = None            # --gpus all|0,1 (implies a GPU even if the task has gpu = false)
    nvproxy_driver_version: str | None = None  # at your own risk


@dataclass
class RunOutcome:
    exit_code: int
    verdict: str
    rundir: Path
    findings: list[Finding]
    reason: str
    head: str = ""


class Stats:
    """Live counters fed by the log writer (cheap: runs under the writer's lock)."""

    def __init__(self) -> None:
        self.by_source: dict[str, int] = {}
        self.flows = self.blocked = self.files = self.procs = 0
        self.gpu_util: float | None = None
        self.findings: list[Finding] = []
        self.last: Event | None = None

    def __call__(self, e: Event) -> None:
        self.by_source[e.source] = self.by_source.get(e.source, 0) + 1
        self.last = e
        k = e.kind
        if k == "net.response":
            self.flows += 1
        elif k == "net.blocked":
            self.blocked += 1
        elif k in ("fs.create", "fs.write"):
            self.files += 1
        elif k == "proc.exec":
            self.procs += 1
        elif k == "gpu.sample":
            self.gpu_util = e.data.get("util_pct")


def effective_time_limit(spec: RunSpec) -> float:
    limits = [spec.policy.budgets.time_limit]
    if spec.task.time_limit:
        limits.append(spec.task.time_limit)
    if spec.time_limit:
        limits.append(spec.time_limit)
    return min(limits)


class Orchestrator:
    def __init__(self, spec: RunSpec, progress: Any = None):
        self.spec = spec
        self.progress = progress  # ptaudit.live.Progress or None
        self.stats = Stats()
        self.session: RunSession | None = None
        self.sandbox: Any = None
        self.proxy: Any = None
        self.monitors: list[Any] = []
        self.live: Any = None
        self.reason = "agent_exit"
        self._interrupts = 0
        self._signal_threads: list[threading.Thread] = []
        self.finished = threading.Event()
        self.runsc_flags: list[str] = []
        self.runsc_path = "runsc"
        self.placeholder: str | None = None
        self._lock = threading.Lock()
        self._findings: dict[str, Finding] = {}
        self.state = Path(tempfile.mkdtemp(prefix="ptaudit-run-"))

    # -- entry ------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        spec = self.spec
        self._preflight()
        task_ref = InputRef(path=str(spec.task.source), sha256=spec.task.sha256 or "", name=spec.task.name)
        pol_ref = InputRef(path=str(spec.policy_path), sha256=_sha(spec.policy_path), name=spec.policy.name)
        world_ref = (InputRef(path=str(spec.world.source), sha256=spec.world.sha256 or "")
                     if spec.world and spec.world.source else None)
        self.session = RunSession.create(spec.out, command=spec.command, task=task_ref, policy=pol_ref,
                                         world=world_ref, versions=_versions(self.runsc_path),
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
            s.emit("ptaudit", "run.error", {"error": repr(exc)[:2000]})
            raise
        finally:
            signal.signal(signal.SIGINT, old_handler)
            for t in list(self._signal_threads):
                t.join(5)
            self._shutdown(fast=self._interrupts > 1)
            findings = self._final_findings()
            verdict = report_verdict([f.model_dump() for f in findings], spec.policy.fail_on)
            if exit_status == 0:
                exit_status = 1 if verdict == "fail" else 0
            s.emit("ptaudit", "run.verdict", {"verdict": verdict, "findings": len(findings), "reason": self.reason,
                                             "agent_exit": sandbox_result.model_dump() if sandbox_result else None})
            write_jsonl(s.rundir.findings_path, [f.model_dump() for f in findings])
            s.close(exit_status=exit_status, reason=self.reason)
            shutil.rmtree(self.state, ignore_errors=True)
        self._write_reports()
        return RunOutcome(exit_status, verdict, s.rundir.path, findings, self.reason, s.log.head)

    # -- steps ------------------------------------------------------------------------
    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise InfraError("ptaudit run needs root (runsc creates namespaces): run it with sudo")
        from sandbox import SandboxError, cleanup_stale
        from sandbox import runsc as rs

        try:
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

    def _emit(self, source: str, kind: str, data: dict[str, Any]) -> None:
        assert self.session is not None
        self.session.emit(source, kind, data)

    def _start_detectors(self) -> None:
        from detectors.engine import LiveDetectors

        assert self.session is not None
        ctx = DetectorContext(task=self.spec.task, policy=self.spec.policy, blobs=self.session.rundir.blobs,
                              rundir=self.session.rundir.path)
        self.live = LiveDetectors(self.session.rundir.path, self.spec.policy, ctx, self._on_finding)
        self.live.start()

    def _on_finding(self, f: Finding) -> None:
        with self._lock:
            known = f.id in self._findings
            self._findings[f.id] = f
        if known:
            return
        self._emit("detector", "detector.finding", {"finding": f.model_dump()})
        if self.progress:
            self.progress.finding(f)
        if f.action == "kill" and self.sandbox is not None:
            self.reason = f"policy_kill: {f.rule}"
            self.sandbox.stop("policy")

    def _start_monitors(self) -> None:
        from .wiring import start_monitors

        assert self.session is not None
        self.monitors = start_monitors(self)

    def _start_proxy(self) -> None:
        from .wiring import start_proxy

        self.proxy = start_proxy(self)

    def _run_sandbox(self) -> Any:
        from .wiring import make_sandbox, start_resources, watch_monitors

        self.sandbox = make_sandbox(self)
        self._checkpoint()  # from here on Ctrl-C stops the sandbox instead
        self.monitors.append(start_resources(self))
        watch_monitors(self)
        if self.progress:
            self.progress.start(self)
        try:
            result = self.sandbox.run()
        finally:
            if self.progress:
                self.progress.stop()
        if result.killed == "time_limit":
            self.reason = "time_limit"
        elif result.killed == "user":
            self.reason = "interrupted"
        elif result.killed in ("policy", "workspace_size") and not self.reason.startswith("policy_kill"):
            self.reason = f"policy_kill: {result.killed}"
        return result

    def _on_sigint(self, signum: int, frame: Any) -> None:
        # Runs between two bytecodes of the main thread, which may be inside the log
        # writer: never append or raise from here. Record from a thread; stop the sandbox
        # (thread-safe); during set-up, _checkpoint raises at the next safe point.
        self._interrupts += 1
        n = self._interrupts
        t = threading.Thread(target=lambda: _safe(lambda: self._emit("ptaudit", "run.interrupted", {"count": n})),
                             daemon=True)
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
                _safe(lambda m=m, st=st: self._emit("ptaudit", "monitor.status",
                                                     {"monitor": type(m).__name__, **_asdict(st)}))

    def _final_findings(self) -> list[Finding]:
        if self.live is not None:
            for f in _safe(self.live.stop) or []:
                self._on_finding(f)
        with self._lock:
            return sorted(self._findings.values(), key=lambda f: (-severity_rank(f.severity), f.id))

    def _write_reports(self) -> None:
        try:
            from .report import write_reports
        except ImportError:
            return
        assert self.session is not None
        write_reports(self.session.rundir.path, self.spec.policy.fail_on)


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - shutdown must reach every step
        return None


def _asdict(st: Any) -> dict[str, Any]:
    if hasattr(st, "model_dump"):
        return dict(st.model_dump())
    if hasattr(st, "_asdict"):
        return dict(st._asdict())
    return dict(vars(st))


def _sha(p: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _versions(runsc: str) -> dict[str, str | None]:
    from sandbox import runsc as rs

    try:
        from mitmproxy.version import VERSION as mitm
    except ImportError:
        mitm = None
    try:
        runsc_v, runsc_sha = rs.version(runsc), rs.sha256(runsc)
    except Exception:  # noqa: BLE001
        runsc_v = runsc_sha = None
    return {"runsc": runsc_v, "runsc_path": runsc, "runsc_sha256": runsc_sha, "mitmproxy": mitm}


def placeholder_token() -> str:
    """Looks like a key to the agent, is worthless outside the proxy."""
    return "sk-ptaudit-placeholder-" + secrets.token_hex(20)


__all__ = ["Orchestrator", "RunOutcome", "RunSpec", "effective_time_limit", "placeholder_token"]
