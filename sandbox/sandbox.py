"""Sandbox: run one agent command under gVisor with only its workspace and the audit proxy."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import registry, statx
from . import runsc as rs
from .bundle import BundleInputs, build_bundle
from .config import KillReason, SandboxConfig, SandboxError, SandboxResult
from .honeytokens import Honeytoken, plant, write_values
from .platforms import choose_platform
from .preflight import check_config, gpu_plan
from .wsize import WorkspaceWatcher

Emit = Callable[[str, dict[str, Any]], None]
Output = Callable[[str, bytes], None]  # ("stdout" | "stderr", chunk)
_RELAY_SCRIPT = Path(__file__).with_name("relay.py")


def _default_output(stream: str, data: bytes) -> None:
    out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
    out.write(data)
    out.flush()


class Sandbox:
    """One sandboxed run. `emit(kind, data)` is its only channel for events.

    run() blocks until the agent exits and always cleans up (container, relay,
    bundle, registry record), also on exceptions. stop() may be called from any
    thread: SIGTERM to every process inside, grace_s, then SIGKILL.
    """

    def __init__(self, cfg: SandboxConfig, emit: Emit, state_dir: Path,
                 output: Output | None = None,
                 registry_dir: Path = registry.REGISTRY_DIR) -> None:
        self.cfg = cfg
        self.id = f"ptaudit-{uuid.uuid4().hex[:12]}"
        self.run_dir = state_dir / self.id
        self.honeytokens: list[Honeytoken] = []
        self._emit_fn, self._output = emit, output or _default_output
        self._registry_dir = registry_dir
        self._emit_lock, self._lock = threading.Lock(), threading.Lock()
        self._emit_error: BaseException | None = None
        self._killed: KillReason | None = None
        self._started = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._relay: subprocess.Popen[bytes] | None = None
        self._runsc: rs.Runsc | None = None
        self.runsc: rs.Choice | None = None

    # -- events ---------------------------------------------------------------
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        try:
            with self._emit_lock:
                self._emit_fn(kind, {"container_id": self.id, **data})
        except Exception as exc:  # noqa: BLE001 - any sink failure
            # Fail closed: activity that cannot be recorded must not go on.
            if self._emit_error is None:
                self._emit_error = exc
            if kind != "sandbox.kill":
                self.stop("policy")

    # -- public ---------------------------------------------------------------
    def stop(self, reason: KillReason = "policy") -> None:
        """Polite stop (thread-safe, idempotent: the first reason wins)."""
        with self._lock:
            if self._killed is not None:
                return
            self._killed = reason
        self._emit("sandbox.kill", {"reason": reason, "signal": "TERM",
                                    "grace_s": self.cfg.grace_s})
        threading.Thread(target=self._kill_sequence, name="kill", daemon=True).start()

    def run(self) -> SandboxResult:
        path = check_config(self.cfg)
        self.runsc = rs.choose(self.cfg.runsc)
        rec = registry.Record(container_id=self.id, runsc_root=str(self.run_dir / "root"),
                              run_dir=str(self.run_dir), runsc_binary=path,
                              owner=registry.ProcRef.of(os.getpid()))
        self.run_dir.mkdir(parents=True, mode=0o711)
        registry.write(rec, self._registry_dir)
        try:
            return self._run(rec)
        finally:
            self._cleanup(rec)
            if self._emit_error is not None:
                raise SandboxError(f"event sink failed, sandbox stopped: {self._emit_error}", 3)

    def host_pids(self) -> set[int]:
        """Host pids of this sandbox's runsc processes (sentry, gofer, stubs): what NVML
        lists for the agent's GPU work under nvproxy. Empty before start and after exit."""
        import psutil

        proc = self._proc
        if proc is None or proc.poll() is not None:
            return set()
        try:
            root = psutil.Process(proc.pid)
            return {root.pid, *(c.pid for c in root.children(recursive=True))}
        except psutil.Error:
            return set()

    def kill_now(self) -> None:
        """Skip the grace period (an operator's second Ctrl-C): SIGKILL everything inside."""
        proc, r = self._proc, self._runsc
        with self._lock:
            if self._killed is None:
                self._killed = "user"
        if proc is not None and r is not None and proc.poll() is None:
            self._emit("sandbox.kill", {"reason": self._killed, "signal": "KILL"})
            r.kill(self.id, "KILL")

    # -- internals --------------------------------------------------------------
    def _run(self, rec: registry.Record) -> SandboxResult:
        cfg = self.cfg
        assert self.runsc is not None
        runsc = self.runsc.path
        self._emit("sandbox.runsc", self.runsc.as_event())
        flags = ["--network=none"]
        inp = BundleInputs()
        if cfg.gpu:
            inp.gpu = gpu_plan(cfg, runsc)  # refuses (exit 3) before anything runs
            flags += inp.gpu.flags()
            self._emit("sandbox.gpu", inp.gpu.as_event())
        plat = choose_platform(runsc, cfg.platform)
        self._emit("sandbox.platform", plat.model_dump())
        flags += plat.flags()
        probe = statx.probe(runsc=runsc, flags=plat.flags())
        self._emit("sandbox.statx_probe", probe.model_dump())
        if probe.needs_shim:
            inp.shim = statx.compile_shim()
        if cfg.honeytokens:
            inp.home = self.run_dir / "home"
            inp.home.mkdir()
            self.honeytokens = plant(inp.home, cfg.agent_uid, cfg.agent_gid)
            if cfg.honeytokens_file is not None:
                write_values(self.honeytokens, cfg.honeytokens_file)
            self._emit("sandbox.honeytokens",
                       {"tokens": [t.public() for t in self.honeytokens],
                        "values_file": str(cfg.honeytokens_file or "")})
        if cfg.proxy_target is not None:
            inp.proxy_dir = self.run_dir / "proxy"
            inp.proxy_dir.mkdir(mode=0o755)
            rec.relay = self._start_relay(inp.proxy_dir / "proxy.sock", cfg.proxy_target)
            registry.write(rec, self._registry_dir)
        elif cfg.proxy_socket_dir is not None:
            inp.proxy_dir = cfg.proxy_socket_dir
        if inp.proxy_dir is not None:
            # Only when proxied: lets the sandbox connect to host sockets it can see.
            flags.append("--host-uds=open")
        sha = build_bundle(cfg, self.run_dir / "bundle", self.id, inp)
        self._emit("sandbox.bundle", {"config_sha256": sha, "bundle": str(self.run_dir / "bundle"),
                                      "flags": flags, "statx_shim": inp.shim is not None,
                                      "proxied": inp.proxy_dir is not None})
        self._give_workspace(cfg.workspace)
        if self._emit_error is not None:
            raise SandboxError(f"event sink failed before start: {self._emit_error}", 3)
        self._runsc = rs.Runsc(Path(rec.runsc_root), list(cfg.runsc_flags), binary=runsc)
        argv = [*self._runsc.base(), *flags, "run", "--bundle",
                str(self.run_dir / "bundle"), self.id]
        t0 = time.monotonic()
        # Own session: a terminal's Ctrl-C reaches us (polite stop), not runsc directly.
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)
        rec.runsc = registry.ProcRef.of(self._proc.pid)
        registry.write(rec, self._registry_dir)
        self._started.set()
        self._emit("sandbox.start", {"argv": argv, "command": cfg.command,
                                     "runsc_version": self.runsc.version})
        readers = [threading.Thread(target=self._pump, args=(name, pipe), daemon=True)
                   for name, pipe in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr))]
        for t in readers:
            t.start()
        timer = None
        if cfg.time_limit_s is not None:
            timer = threading.Timer(cfg.time_limit_s, self.stop, ("time_limit",))
            timer.daemon = True
            timer.start()
        watcher = None
        if cfg.workspace_max_bytes is not None:
            watcher = WorkspaceWatcher(cfg.workspace, cfg.workspace_max_bytes,
                                       cfg.workspace_check_s, self._on_workspace_size)
            watcher.start()
        try:
            rc = self._proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if watcher is not None:
                watcher.stop()
        for t in readers:
            t.join(timeout=10)
        duration = time.monotonic() - t0
        sig = rc - 128 if 128 < rc <= 128 + 64 else (-rc if rc < 0 else None)
        result = SandboxResult(container_id=self.id, exit_code=rc if rc >= 0 else None,
                               signal=sig, killed=self._killed, duration_s=round(duration, 3))
        self._emit("sandbox.exit", result.model_dump())
        return result

    def _pump(self, name: str, pipe: Any) -> None:
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            try:
                self._output(name, chunk)
            except Exception:  # noqa: BLE001 - a broken sink must not block the agent
                pass

    def _start_relay(self, sock: Path, target: str) -> registry.ProcRef:
        # A separate process: no GIL shared with the orchestrator; it exits when
        # its stdin closes, i.e. when we close it or die.
        self._relay = subprocess.Popen([sys.executable, "-I", str(_RELAY_SCRIPT), str(sock),
                                        target], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._relay.stdout is not None
        if self._relay.stdout.readline().strip() != b"ready":
            raise SandboxError(f"relay to {target} failed to start", 3)
        return registry.ProcRef.of(self._relay.pid)

    def _give_workspace(self, ws: Path) -> None:
        uid, gid = self.cfg.agent_uid, self.cfg.agent_gid
        for dirpath, dirnames, filenames in os.walk(ws):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.chown(ws, uid, gid)

    def _on_workspace_size(self, used: int) -> None:
        self._emit("sandbox.workspace_size", {"bytes": used,
                                              "limit": self.cfg.workspace_max_bytes,
                                              "kill": self.cfg.workspace_kill})
        if self.cfg.workspace_kill:
            self.stop("workspace_size")

    def _kill_sequence(self) -> None:
        self._started.wait()
        proc, r = self._proc, self._runsc
        if proc is None or r is None:
            return  # never started; run()'s cleanup handles the rest
        deadline = time.monotonic() + self.cfg.grace_s
        sent = False
        while proc.poll() is None and time.monotonic() < deadline:
            # `runsc run` may not have created the container yet: retry.
            sent = sent or r.kill(self.id, "TERM")
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            self._emit("sandbox.kill", {"reason": self._killed, "signal": "KILL"})
            for _ in range(50):
                if proc.poll() is not None:
                    return
                r.kill(self.id, "KILL")
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            proc.kill()

    def _cleanup(self, rec: registry.Record) -> None:
        self._started.set()  # release a waiting kill sequence
        steps: dict[str, bool] = {}
        if self._proc is not None and self._proc.poll() is None:
            assert self._runsc is not None
            self._runsc.kill(self.id, "KILL")
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._runsc is not None:
            steps["runsc_delete"] = self._runsc.delete(self.id)
        if self._relay is not None:
            assert self._relay.stdin is not None
            self._relay.stdin.close()
            try:
                self._relay.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._relay.kill()
                self._relay.wait()
            steps["relay_stopped"] = True
        registry.teardown(rec)  # anything left, e.g. after a failed start
        registry.remove(self.id, self._registry_dir)
        steps["run_dir_removed"] = not self.run_dir.exists()
        self._emit("sandbox.cleanup", steps)
