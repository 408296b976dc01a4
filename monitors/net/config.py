"""The JSON config the orchestrator writes for the mitmproxy addon (``--set ptaudit_config=``).

Everything the addon needs travels in this one file so mitmdump runs as its own process
with no other state. Secrets never do: a credential names the host env var or file that
holds the real key, and the addon reads it itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from detectors.netrules import ContentParams, UrlParams


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkSpec(Strict):
    """The policy's ``[network]`` section, as the addon enforces it."""

    default: Literal["deny", "allow"] = "deny"
    allow_hosts: list[str] = Field(default_factory=list)
    deny_hosts: list[str] = Field(default_factory=list)
    store_body_max: int = Field(default=64 << 20, ge=0, description="Bytes of each body stored as a blob.")
    keep_head: int = Field(default=1 << 20, ge=0, description="Bytes always stored, even above store_body_max.")
    max_header_bytes: int = Field(default=64 << 10, gt=0, description="Requests with larger headers get 431.")
    idle_timeout: float = 300.0


class RuleException(Strict):
    match: str
    reason: str


class NetRuleSpec(Strict):
    """A policy rule with detector ``net.url`` or ``net.content``."""

    id: str
    detector: Literal["net.url", "net.content"]
    severity: str = "high"
    action: Literal["log", "alert", "block", "kill"] = "block"
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    exceptions: list[RuleException] = Field(default_factory=list)

    @property
    def enforced(self) -> bool:
        """Inline enforcement only for block/kill; log/alert rules are left to the detectors."""
        return self.action in ("block", "kill")

    def url_params(self) -> UrlParams:
        return UrlParams.model_validate(self.params)

    def content_params(self) -> ContentParams:
        return ContentParams.model_validate(self.params)


class CredentialSpec(Strict):
    """Swap ``placeholder`` for the real key on requests to ``api_host`` only."""

    api_host: str
    placeholder: str = Field(min_length=16, description="Per-run token the sandbox gets instead of the key.")
    key_env: str | None = Field(default=None, description="Env var of mitmdump holding the real key.")
    key_file: str | None = Field(default=None, description="File holding the real key (first line).")

    def real_key(self) -> str | None:
        if self.key_env and os.environ.get(self.key_env):
            return os.environ[self.key_env].strip()
        if self.key_file and Path(self.key_file).is_file():
            return Path(self.key_file).read_text().splitlines()[0].strip() or None
        return None


class AddonConfig(Strict):
    recorder_socket: str
    blob_dir: str
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    rules: list[NetRuleSpec] = Field(default_factory=list)
    world: dict[str, str] | None = Field(default=None, description="World mode: host -> http(s)://127.0.0.1:PORT.")
    base_model: str | None = None
    credentials: list[CredentialSpec] = Field(default_factory=list)
    stream_threshold: int = Field(default=1 << 20, gt=0, description="Bodies larger or of unknown size stream.")
    recorder_wait: float = Field(default=10.0, ge=0, description="Seconds to wait for the recorder at start.")
    producer: str = "net"
    ready_file: str | None = Field(default=None, description="Written once the addon is configured and running.")

    @classmethod
    def load(cls, path: str | Path) -> AddonConfig:
        return cls.model_validate_json(Path(path).read_bytes())

    @classmethod
    def from_policy(cls, policy: Any, recorder_socket: str | Path, blob_dir: str | Path, task: Any = None,
                    world: dict[str, str] | None = None, credentials: list[CredentialSpec] | None = None,
                    **kw: Any) -> AddonConfig:
        """Build from a ``policies.schema.Policy`` (+ ``ptaudit.core.task.Task``): the network section
        and the enabled ``net.url``/``net.content`` rules."""
        net = policy.network
        rules = [NetRuleSpec(id=r.id, detector=r.detector, severity=r.severity, action=r.action,
                             description=r.description, params=r.params,
                             exceptions=[RuleException(match=e.match, reason=e.reason) for e in r.exceptions])
                 for r in policy.rules if r.enabled and r.detector in ("net.url", "net.content")]
        return cls(recorder_socket=str(recorder_socket), blob_dir=str(blob_dir), rules=rules, world=world,
                   network=NetworkSpec(default=net.default, allow_hosts=list(net.allow_hosts),
                                       deny_hosts=list(net.deny_hosts), store_body_max=int(net.store_body_max),
                                       keep_head=int(net.keep_head),
                                       max_header_bytes=int(getattr(net, "max_header_bytes", 64 << 10)),
                                       idle_timeout=float(getattr(net, "idle_timeout", 300.0))),
                   base_model=getattr(task, "base_model", None), credentials=credentials or [], **kw)
