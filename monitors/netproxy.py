"""``NetProxy``: runs mitmdump with the ptaudit addons as its own process.

Own process, because mitmproxy owns its event loop and a crash there must not take the
orchestrator with it; the orchestrator watches it (``watch``) and records
``net.proxy_died`` when it goes, and the sandbox, whose only way out is this proxy, then
fails closed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .net.config import AddonConfig

ADDON = Path(__file__).resolve().parent / "net" / "mitmdump_entry.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NetProxy:
    """mitmdump on 127.0.0.1:``port`` with ``monitors/net/mitmdump_entry.py``.

    ``workdir`` receives net.json (the addon config) and mitmdump.log; ``confdir`` holds
    mitmproxy's CA (created on first start; share one between runs to keep one CA).
    ``upstream_ca``: extra CA the proxy trusts for upstream TLS (simnet's HTTPS servers).
    """

    def __init__(self, config: AddonConfig, workdir: Path, confdir: Path, upstream_ca: Path | None = None,
                 port: int | None = None, env: dict[str, str] | None = None, extra_options: dict[str, str] | None = None,
                 stream_large_bodies: str | None = None, start_timeout: float = 30.0):
        self.config = config
        self.workdir = Path(workdir)
        self.confdir = Path(confdir)
        self.upstream_ca = upstream_ca
        self.port = port or free_port()
        self.env = env
        self.extra_options = extra_options or {}
        # mitmproxy must stream exactly the bodies the addon streams (config.stream_threshold):
        # a body mitmproxy streams without the addon's stream function would go unrecorded,
        # and one it buffers would sit whole in memory.
        self.stream_large_bodies = stream_large_bodies or str(config.stream_threshold)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._watcher: threading.Thread | None = None

    @property
    def ca_cert_path(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        mitmdump = shutil.which("mitmdump") or str(Path(sys.executable).parent / "mitmdump")
        opts = {
            "listen_host": "127.0.0.1", "listen_port": str(self.port), "confdir": str(self.confdir),
            "connection_strategy": "lazy",  # decide before any upstream DNS or connect
            "stream_large_bodies": self.stream_large_bodies,
            "ptaudit_config": str(self.workdir / "net.json"),
            "flow_detail": "0",  # the log file must never hold headers (keys) or bodies
            "termlog_verbosity": "info",
            "http3": "false",  # QUIC would bypass nothing here, but keep one transport to audit
            "ssl_insecure": "false",
            "validate_inbound_headers": "true",
            **self.extra_options,
        }
        if self.upstream_ca:
            opts["ssl_verify_upstream_trusted_ca"] = str(self.upstream_ca)
        cmd = [mitmdump, "-s", str(ADDON)]
        for k, v in opts.items():
            cmd += ["--set", f"{k}={v}"]
        return cmd

    def start(self) -> NetProxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.confdir.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "proxy.ready"
        ready.unlink(missing_ok=True)
        cfg = self.config.model_copy(update={"ready_file": str(ready)})
        (self.workdir / "net.json").write_text(cfg.model_dump_json(indent=2))
        log = open(self.workdir / "mitmdump.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = str(ADDON.parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited with {self.proc.returncode} at start; see {self.workdir / 'mitmdump.log'}:\n"
                                   + self.log_tail())
            if ready.exists() and _listening(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmdump did not listen on 127.0.0.1:{self.port} within {self.start_timeout}s")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return (self.workdir / "mitmdump.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def watch(self, on_death: Callable[[int | None], None], poll: float = 0.2) -> None:
        """Call ``on_death(returncode)`` once, from a thread, if mitmdump exits before stop()."""
        def run() -> None:
            while not self._stopping:
                if self.proc is not None and self.proc.poll() is not None:
                    if not self._stopping:
                        on_death(self.proc.returncode)
                    return
                time.sleep(poll)
        self._watcher = threading.Thread(target=run, name="netproxy-watch", daemon=True)
        self._watcher.start()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (the record addon flushes the events in ``done``), then SIGKILL."""
        self._stopping = True
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started us dies (even by SIGKILL), so a
    killed orchestrator never leaves an audit proxy running."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
