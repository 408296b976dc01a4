"""How ``ptaudit run`` builds its parts from the task, policy and world: the only place
that knows the constructors of the proxy and the sandbox. Monitors build themselves from
a :class:`monitors.base.MonitorContext` (the monitor registry).

Every function here takes what it needs as arguments and returns what it built; the
orchestrator (:mod:`ptaudit.app.run`) owns all state and decides what a failure means.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitors.base import MONITORS, Monitor, MonitorContext, Phase, Record
from monitors.net.config import AddonConfig, CredentialSpec
from monitors.netproxy import NetProxy
from policies.schema import Policy
from ptaudit.core.errors import InfraError, InputError
from ptaudit.core.rundir import RunDir
from ptaudit.core.task import Task, workspace_max
from ptaudit.core.world import World
from sandbox import Sandbox, SandboxConfig
from sandbox.gpu import parse_gpus

CA_IN_SANDBOX = "/etc/ssl/certs/ca-certificates.crt"


@dataclass
class RunSpec:
    """Everything ``ptaudit run`` was asked to do."""

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
    min_free: int | None = None  # bytes the run directory's filesystem must have free at start (default 1 GiB)
    runsc: Path | None = None          # --runsc (else PTAUDIT_RUNSC, the pinned release, PATH)
    platform: str | None = None        # --platform (else systrap if it works, else ptrace)
    gpus: str | None = None            # --gpus all|0,1 (implies a GPU even if the task has gpu = false)
    nvproxy_driver_version: str | None = None  # at your own risk


def effective_time_limit(spec: RunSpec) -> float:
    """The smallest of the policy's, the task's and the command line's limits."""
    limits = [spec.policy.budgets.time_limit]
    if spec.task.time_limit:
        limits.append(spec.task.time_limit)
    if spec.time_limit:
        limits.append(spec.time_limit)
    return min(limits)


def placeholder_token() -> str:
    """Looks like a key to the agent, is worthless outside the proxy."""
    return "sk-ptaudit-placeholder-" + secrets.token_hex(20)


def build_proxy(spec: RunSpec, socket_path: Path, rundir: RunDir, state: Path,
                on_death: Callable[[int | None], None]) -> tuple[NetProxy, str | None]:
    """Start mitmdump with the addon; returns it and the agent's key placeholder (if any).
    ``on_death(returncode)`` is called from a thread if mitmdump exits before stop()."""
    creds, placeholder = [], None
    agent = spec.task.agent
    if agent.api_host and agent.api_key_env:
        placeholder = placeholder_token()
        creds.append(CredentialSpec(api_host=agent.api_host, placeholder=placeholder, key_env=agent.api_key_env))
    policy = spec.policy
    if agent.api_host and policy.network.default == "deny":
        # The harness's own API host is reachable by construction (the key is swapped there).
        policy = policy.model_copy(deep=True)
        policy.network.allow_hosts.append(agent.api_host)
    cfg = AddonConfig.from_policy(policy, socket_path, rundir.blobs.root, task=spec.task,
                                  world=spec.world.hosts if spec.world else None, credentials=creds)
    proxy = NetProxy(cfg, workdir=state / "proxy", confdir=state / "mitmproxy", upstream_ca=spec.upstream_ca)
    try:
        proxy.start()
    except RuntimeError as exc:
        # One line for the operator (the state directory holding mitmdump.log is removed at
        # the end); the log's tail goes into the run's run.error event.
        first = str(exc).splitlines()[0].split("; see ")[0]
        err = InfraError(f"the audit proxy (mitmdump) failed to start: {first} (its log: the run.error event)")
        err.detail = proxy.log_tail(4000)  # type: ignore[attr-defined]
        raise err from None
    proxy.watch(on_death)
    return proxy, placeholder


def build_sandbox(spec: RunSpec, rundir: RunDir, proxy: NetProxy, placeholder: str | None, runsc_flags: list[str],
                  state: Path, emit: Callable[[str, dict[str, Any]], None],
                  output: Callable[[str, bytes], None] | None) -> Sandbox:
    """The agent's sandbox, not started yet (``Sandbox.run`` starts it)."""
    task, pol = spec.task, spec.policy
    env = dict(spec.extra_env)
    if task.agent.api_key_env and placeholder:
        env[task.agent.api_key_env] = placeholder
    env.setdefault("HF_ENDPOINT", "https://huggingface.co")
    ro = dict(task.ro_mounts)
    if task.base_model_dir is not None:
        ro["/models/base"] = task.base_model_dir
    try:
        cfg = SandboxConfig(
            command=spec.command, workspace=spec.workspace.resolve(), ro_mounts=ro, env=env,
            time_limit_s=effective_time_limit(spec), grace_s=pol.budgets.grace, max_pids=pol.budgets.max_processes,
            gpu=task.gpu or spec.gpus is not None, gpus=parse_gpus(spec.gpus), runsc=spec.runsc,
            platform=spec.platform, nvproxy_driver_version=spec.nvproxy_driver_version, proxy_target=f"127.0.0.1:{proxy.port}", proxy_ca=proxy.ca_cert_path,
            workspace_max_bytes=workspace_max(task, pol.budgets.workspace_max), honeytokens=pol.honeytokens.enabled,
            honeytokens_file=rundir.path / "honeytokens.json", runsc_flags=list(runsc_flags),
        )
    except ValueError as exc:
        raise InputError(f"sandbox configuration: {exc}") from None
    return Sandbox(cfg, emit, state_dir=state / "sandbox", output=output)


def start_monitors(phase: Phase, spec: RunSpec, rundir: RunDir, state: Path, record: Record,
                   sandbox: Sandbox | None = None, runsc: str = "runsc") -> list[Monitor]:
    """Build and start every registered monitor of ``phase``, each listening before this
    returns. One that fails to start stops the others already started and raises."""
    started: list[Monitor] = []
    for name, cls in MONITORS.items():
        if cls.phase != phase:
            continue
        mdir = state / "monitors" / name
        mdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        ctx = MonitorContext(policy=spec.policy, task=spec.task, workspace=spec.workspace.resolve(),
                             blobs=rundir.blobs, state_dir=mdir,
                             container_id=sandbox.id if sandbox else None,
                             runsc_root=sandbox.run_dir / "root" if sandbox else None, runsc=runsc)
        try:
            mon = cls.from_context(ctx)
            if mon is not None:
                mon.start(record)
                started.append(mon)
        except Exception as exc:
            for m in reversed(started):
                m.stop()
            raise InfraError(f"monitor {name!r} failed to start: {exc}") from None
    return started
