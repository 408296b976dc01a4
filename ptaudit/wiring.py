"""How ``ptaudit run`` builds its parts from the task, policy and world: the only place
that knows the constructors of the proxy, the monitors and the sandbox."""

from __future__ import annotations

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
    if task.agent.api_key_env and o.placeholder:
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
            runsc_flags=list(o.runsc_flags),
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
    """Files, processes (trace sink) and GPU, each listening before the agent starts. The
    resources monitor needs the container id and starts with the sandbox (start_resources)."""
    from monitors.fs_watch import FsWatch, FsWatchConfig
    from monitors.gpu import GpuConfig, GpuMonitor
    from monitors.trace_sink import TraceSink, TraceSinkConfig

    s, pol = o.session, o.spec.policy
    assert s is not None
    started: list[Any] = []
    tracedir = o.state / "trace"
    tracedir.mkdir(mode=0o700)
    trace = TraceSink(TraceSinkConfig(socket_path=tracedir / "sink.sock"))
    from detectors.leakage import workspace_scanner

    monitors = [
        FsWatch(FsWatchConfig(workspace=o.spec.workspace.resolve(), store_max=pol.monitors.fs_store_max),
                s.rundir.blobs, content_scan=workspace_scanner(pol, o.spec.task)),
        trace,
        GpuMonitor(GpuConfig(interval_s=pol.budgets.sample_interval)),
    ]
    try:
        for m in monitors:
            m.start(s.emit)
            started.append(m)
    except Exception as exc:
        for m in reversed(started):
            m.stop()
        raise InfraError(f"monitor {type(m).__name__} failed to start: {exc}") from None
    # runsc connects to the sink at boot: the sink is already listening.
    o.runsc_flags = trace.runsc_flags(tracedir / "pod-init.json")
    return started


def start_resources(o: Orchestrator) -> Any:
    from monitors.resources import Resources, ResourcesConfig

    s, pol, sb = o.session, o.spec.policy, o.sandbox
    assert s is not None and sb is not None
    mon = Resources(ResourcesConfig(container_id=sb.id, runsc_root=sb.run_dir / "root",
                                    workspace=o.spec.workspace.resolve(), interval_s=pol.budgets.sample_interval,
                                    max_processes=pol.budgets.max_processes, workspace_max=pol.budgets.workspace_max))
    mon.start(s.emit)
    return mon


def watch_monitors(o: Orchestrator, interval: float = 1.0) -> None:
    """A monitor that dies stops the run (fail closed) unless the policy says continue, in
    which case the run goes on labelled lossy (a monitor.events_lost event says so)."""
    import threading

    def loop() -> None:
        reported: set[int] = set()
        while not o.finished.wait(interval):
            for m in list(o.monitors):
                st = m.status()
                if st.healthy or id(m) in reported:
                    continue
                reported.add(id(m))
                o._emit("ptaudit", "monitor.failed", {"monitor": type(m).__name__, "detail": st.detail})
                if o.spec.policy.monitors.on_failure == "stop":
                    o.reason = f"monitor_failed: {type(m).__name__}"
                    if o.sandbox is not None:
                        o.sandbox.stop("policy")
                else:
                    o._emit("ptaudit", "monitor.events_lost",
                            {"producer": type(m).__name__, "count": 1, "reason": "monitor died; run continues (policy)"})

    threading.Thread(target=loop, name="monitor-health", daemon=True).start()
