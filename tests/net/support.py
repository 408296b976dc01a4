"""Test support for the network monitor: a recorder in tmp, proxy factory, event waits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from monitors.net.config import AddonConfig, CredentialSpec, NetRuleSpec, NetworkSpec
from monitors.netproxy import NetProxy
from ptaudit.core.events import Event
from ptaudit.core.recorder import Recorder
from ptaudit.core.runlog import RunLogWriter, read_events
from tests.simnet import HubRepo, make_parquet, make_safetensors, make_wheel

REAL_KEY = "sk-real-" + "7f3a9c" * 6
PLACEHOLDER = "ptaudit-placeholder-" + "0123456789abcdef"


@dataclass
class Fixtures:
    """The repos and packages every network test's simnet serves."""

    base_model: str = "Org/Base"
    other_model: str = "Other/Better-Instruct"

    def repos(self) -> list[HubRepo]:
        cfg = b'{"model_type": "qwen3", "hidden_size": 8}'
        return [
            HubRepo(self.base_model, {"config.json": cfg, "model.safetensors": make_safetensors()}),
            HubRepo(self.other_model, {"config.json": cfg, "model.safetensors": make_safetensors(fill=1.5)}),
            HubRepo("bench/testset", {"data/test.parquet": make_parquet([{"q": "2+2?", "a": "4"}])}, kind="dataset"),
        ]

    def packages(self) -> dict[str, dict[str, bytes]]:
        name, data = make_wheel("tinypkg")
        return {"tinypkg": {name: data}}


BASE = Fixtures()

HF_RULES = [
    NetRuleSpec(id="net.hf-other-models", detector="net.url", action="block",
                params={"hosts": ["huggingface.co"], "hub": "model", "except_repos": ["{base_model}"]}),
    NetRuleSpec(id="net.weights-elsewhere", detector="net.content", action="block",
                params={"except_hosts": ["huggingface.co", "*.huggingface.co", "*.hf.co"]}),
]
ALLOW = ["huggingface.co", "*.huggingface.co", "*.hf.co", "api.openai.com", "api.anthropic.com", "pypi.org",
         "files.pythonhosted.org", "pastebin.com"]


class Harness:
    """A run directory with a live recorder, and proxies writing into it."""

    def __init__(self, tmp: Path, confdir: Path):
        self.tmp = tmp
        self.rundir = tmp / "run"
        (self.rundir / "blobs").mkdir(parents=True)
        self.log_path = self.rundir / "events.jsonl"
        self.log = RunLogWriter(self.log_path, fsync=False)
        self.socket = tmp / "rec.sock"
        self.recorder = Recorder(self.log, self.socket)
        self.recorder.start()
        self.confdir = confdir
        self.proxies: list[NetProxy] = []
        self._recording = True

    def stop_recorder(self) -> None:
        if self._recording:
            self._recording = False
            self.recorder.stop()

    def config(self, world: dict[str, str] | None, rules: list[NetRuleSpec] | None = None,
               default: str = "deny", allow: list[str] | None = None, deny: list[str] | None = None,
               credentials: bool = True, **kw: Any) -> AddonConfig:
        creds = [CredentialSpec(api_host="api.openai.com", placeholder=PLACEHOLDER, key_env="PTAUDIT_TEST_KEY")]
        return AddonConfig(recorder_socket=str(self.socket), blob_dir=str(self.rundir / "blobs"),
                           network=NetworkSpec(default=default, allow_hosts=ALLOW if allow is None else allow,
                                               deny_hosts=deny or []),
                           rules=HF_RULES if rules is None else rules, world=world, base_model=BASE.base_model,
                           credentials=creds if credentials else [], **kw)

    def proxy(self, cfg: AddonConfig, upstream_ca: Path | None = None, env: dict[str, str] | None = None,
              **kw: Any) -> NetProxy:
        env = dict(os.environ, PTAUDIT_TEST_KEY=REAL_KEY, **(env or {}))
        p = NetProxy(cfg, self.rundir / "net", self.confdir, upstream_ca=upstream_ca, env=env, **kw)
        self.proxies.append(p)  # stopped by close() even if start() fails half-way
        p.start()
        return p

    def events(self, kind: str | None = None) -> list[Event]:
        return [e for e in read_events(self.log_path) if kind is None or e.kind == kind]

    def wait(self, pred: Callable[[Event], bool], timeout: float = 10.0, count: int = 1) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
            got = [e for e in self.events() if pred(e)]
            if len(got) >= count or time.monotonic() > deadline:
                if len(got) < count:
                    kinds = [(e.kind, e.data.get("url")) for e in self.events()]
                    raise AssertionError(f"waited {timeout}s for {count} matching events; log has {kinds}")
                return got
            time.sleep(0.05)

    def close(self) -> None:
        for p in self.proxies:
            p.stop()
        self.stop_recorder()
        self.log.close()


def proxies_env(proxy: NetProxy, ca: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, NO_PROXY="", **extra)
    if ca is not None:
        env.update(SSL_CERT_FILE=str(ca), REQUESTS_CA_BUNDLE=str(ca))
    return env


def run_py(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a client in a child process (its own env: HF_ENDPOINT is read at import)."""
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def session(proxy: NetProxy, ca: Path | None | bool = True) -> requests.Session:
    """A requests client through ``proxy`` only (no env proxies), trusting its CA by default."""
    s = requests.Session()
    s.trust_env = False
    s.proxies = {"http": proxy.url, "https": proxy.url}
    s.verify = str(proxy.ca_cert_path) if ca is True else (str(ca) if ca else False)
    return s
