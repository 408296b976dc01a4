"""Sandbox lifecycle events (source ``sandbox``); every one names its container."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData


class SandboxEvent(EventData):
    container_id: str | None = None


class SandboxRunsc(SandboxEvent):
    """Which runsc ran the sandbox, and why (selection order in sandbox/runsc.py)."""

    KIND = "sandbox.runsc"
    SOURCE = "sandbox"
    path: str
    source: str = Field(description="flag, env, pinned or path.")
    version: str | None = None
    sha256: str | None = None


class SandboxPlatform(SandboxEvent):
    """The gVisor platform the sandbox runs on, and why (systrap probe, fallback, request)."""

    KIND = "sandbox.platform"
    SOURCE = "sandbox"
    platform: str
    requested: str | None = None
    reason: str | None = Field(default=None, description="Why this platform (e.g. the systrap probe's failure).")
    offered: list[str] = Field(default_factory=list)
    cached: bool | None = None


class SandboxGpu(SandboxEvent):
    """The GPU set-up of a gpu=True sandbox."""

    KIND = "sandbox.gpu"
    SOURCE = "sandbox"
    indices: list[int] | None = Field(default=None, description="Host GPU indices; null: all.")
    driver_version: str | None = None
    driver_source: str | None = None
    supported: bool | None = Field(default=None, description="This runsc lists the host driver.")
    override: str | None = Field(default=None, description="--nvproxy-driver-version (at the operator's risk).")
    devices: list[str] = Field(default_factory=list)
    mounts: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class SandboxStatxProbe(SandboxEvent):
    """Whether this runsc needs the statx shim on this kernel."""

    KIND = "sandbox.statx_probe"
    SOURCE = "sandbox"
    needs_shim: bool | None = None
    detail: str | None = None
    runsc_version: str | None = None
    kernel: str | None = None
    cached: bool | None = None


class SandboxHoneytokens(SandboxEvent):
    """Decoy credentials were planted (hashes only; the values stay outside the sandbox)."""

    KIND = "sandbox.honeytokens"
    SOURCE = "sandbox"
    tokens: list[dict[str, Any]] = Field(default_factory=list, description="[{name, path, sha256, prefix}]")
    values_file: str | None = None


class SandboxBundle(SandboxEvent):
    """The OCI bundle is built (its config's hash and the runsc flags)."""

    KIND = "sandbox.bundle"
    SOURCE = "sandbox"
    config_sha256: str | None = None
    bundle: str | None = None
    flags: list[str] = Field(default_factory=list)
    statx_shim: bool | None = None
    proxied: bool | None = None


class SandboxStart(SandboxEvent):
    """runsc started the agent."""

    KIND = "sandbox.start"
    SOURCE = "sandbox"
    argv: list[str] = Field(default_factory=list, description="The runsc command line.")
    command: list[str] = Field(default_factory=list, description="The agent command.")
    runsc_version: str | None = None


class SandboxKill(SandboxEvent):
    """ptaudit is stopping the sandbox: TERM first, KILL after the grace period."""

    KIND = "sandbox.kill"
    SOURCE = "sandbox"
    reason: str | None = None
    signal: str | None = None
    grace_s: float | None = None


class SandboxWorkspaceSize(SandboxEvent):
    """The workspace grew past its size cap."""

    KIND = "sandbox.workspace_size"
    SOURCE = "sandbox"
    bytes: int
    limit: int | None = None
    kill: bool | None = None


class SandboxExit(SandboxEvent):
    """The agent's sandbox ended: exit code, signal, and why ptaudit stopped it if it did."""

    KIND = "sandbox.exit"
    SOURCE = "sandbox"
    exit_code: int | None = None
    signal: int | None = None
    killed: str | None = None
    duration_s: float | None = None


class SandboxCleanup(SandboxEvent):
    """The sandbox is torn down: what each cleanup step achieved."""

    KIND = "sandbox.cleanup"
    SOURCE = "sandbox"
    runsc_delete: bool | None = None
    relay_stopped: bool | None = None
    run_dir_removed: bool | None = None
