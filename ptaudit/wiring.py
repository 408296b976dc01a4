"""How ``ptaudit run`` builds its parts from the task, policy and world: the only place
that knows the constructors of the proxy, the monitors and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InfraError, InputError

if TYPE_CHECKING:
    from .orchestrate import Orchestrator

CA_IN_SANDBOX = "/etc/ssl/certs/ca-certificates.crt"


def start_proxy(o: Orchestrator) -> Any:
    from monitors.net_config import AddonConfig, CredentialSpec
    from monitors.netproxy import NetProxy

    from .orchestrate import placeholder_token

    s, spec = o.session, o.spec
    assert s is not None
    creds = []
    agent = spec.task.agent
    o.placeholder = None
    if agent.api_host and agent.api_key_env:
        o.placeholder = placeholder_token()
        creds.append(CredentialSpec(api_host=agent.api_host, placeholder=o.placeholder, key_env=agent.api_key_env))
    policy = spec.policy
    if agent.api_host and policy.network.default == "deny":
        # The harness's own API host is reachable by construction (the key is swapped there).
        policy = policy.model_copy(deep=True)
        policy.network.allow_hosts.append(agent.api_host)
    cfg = AddonConfig.from_policy(policy, s.socket_path, s.rundir.blobs.root, task=spec.task,
                                  world=spec.world.hosts if spec.world else None, credentials=creds)
    proxy = NetProxy(cfg, workdir=o.state / "proxy", confdir=o.state / "mitmproxy", upstream_ca=spec.upstream_ca)
    try:
        proxy.start()
    except RuntimeError as exc:
        raise InfraError(f"the audit proxy (mitmdump) failed to start: {exc}") from None

    def died(rc: int | None) -> None:
        # Fail closed: the agent's only way out is gone; record it and stop the agent.
        o._emit("net", "net.proxy_died", {"returncode": rc, "log_tail": proxy.log_tail(2000)})
        if o.sandbox is not None:
            o.reason = "proxy_died"
            o.sandbox.stop("policy")

    proxy.watch(died)
    return proxy


def make_sandbox(o: Orchestrator) -> Any:
    from sandbox import Sandbox, SandboxConfig

    from .orchestrate import effective_time_limit

    s, spec, task, pol = o.session, o.spec, o.spec.task, o.spec.policy
    assert s is not None and o.proxy is not None
    env = dict(spec.extra_env)
    if task.agent.api_key_env and getattr(o, "placeholder", None):
        env[task.agent.api_key_env] = o.placeholder
    env.setdefault("HF_ENDPOINT", "https://huggingface.co")
    ro = {}
    if task.base_model_dir is not None:
        ro["/models/base"] = task.base_model_dir
    try:
        cfg = SandboxConfig(
            command=spec.command, workspace=spec.workspace.resolve(), ro_mounts=ro, env=env,
            time_limit_s=effective_time_limit(spec), grace_s=pol.budgets.grace, max_pids=pol.budgets.max_processes,
            gpu=task.gpu, proxy_target=f"127.0.0.1:{o.proxy.port}", proxy_ca=o.proxy.ca_cert_path,
            workspace_max_bytes=pol.budgets.workspace_max, honeytokens=pol.honeytokens.enabled,
            honeytokens_file=s.rundir.path / "honeytokens.json",
            runsc_flags=list(getattr(o, "runsc_flags", [])),
        )
    except ValueError as exc:
        raise InputError(f"sandbox configuration: {exc}") from None

    def emit(kind: str, data: dict[str, Any]) -> None:
        o._emit("sandbox", kind, data)

    def output(stream: str, chunk: bytes) -> None:
        if o.progress:
            o.progress.agent_output(stream, chunk)

    return Sandbox(cfg, emit, state_dir=o.state / "sandbox", output=output)


def start_monitors(o: Orchestrator) -> list[Any]:
    """Files, GPU and process tracing; each started before the agent."""
    return []


def honeytoken_values(rundir: Path) -> list[str]:
    p = rundir / "honeytokens.json"
    if not p.is_file():
        return []
    data = json.loads(p.read_text())
    items = data if isinstance(data, list) else data.get("tokens", [])
    return [t["value"] for t in items if isinstance(t, dict) and "value" in t]
