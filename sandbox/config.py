"""Configuration, result and error types of the sandbox."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KillReason = Literal["time_limit", "policy", "workspace_size", "user"]
Platform = Literal["systrap", "ptrace", "kvm"]


class SandboxError(Exception):
    """A sandbox failure the user can act on.

    exit_code follows the CLI convention: 2 = bad input (e.g. a mount path),
    3 = infrastructure (runsc missing or too old, not root, runsc failed).
    """

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class SandboxConfig(BaseModel):
    """What to run and what the agent may see. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] = Field(min_length=1, description="argv of the agent, run as agent_uid")
    workspace: Path = Field(description="host dir bind-mounted read-write at /workspace")
    ro_mounts: dict[str, Path] = Field(
        default_factory=dict, description="sandbox path -> host path, bind-mounted read-only")
    env: dict[str, str] = Field(
        default_factory=dict, description="extra env; proxy/CA variables are set by the sandbox")
    cwd: str = "/workspace"
    time_limit_s: float | None = Field(default=None, gt=0, description="SIGTERM at expiry")
    grace_s: float = Field(default=10.0, ge=0, description="SIGTERM -> SIGKILL delay")
    max_pids: int = Field(default=512, ge=8, description="process/thread cap inside")
    gpu: bool = False
    gpus: list[int] | None = Field(
        default=None, description="host GPU indices for gpu=True; None: all of them")
    nvproxy_driver_version: str | None = Field(
        default=None, pattern=r"^(\d+\.\d+(\.\d+)?|latest)$",
        description="at your own risk: the NVIDIA driver ABI nvproxy uses when runsc does not list the host's")
    runsc: Path | None = Field(
        default=None, description="runsc binary; default: PTAUDIT_RUNSC, then the pinned release, then PATH")
    platform: Platform | None = Field(
        default=None, description="gVisor platform; default: systrap if it works here, else ptrace")
    proxy_socket_dir: Path | None = Field(
        default=None, description="host dir holding proxy.sock; mounted ro at /run/ptaudit-proxy")
    proxy_target: str | None = Field(
        default=None, description="mitmdump HOST:PORT; the sandbox runs the relay to it")
    proxy_ca: Path | None = Field(
        default=None, description="PEM of the audit proxy CA: the only CA the agent trusts")
    rootfs: Path | None = Field(
        default=None, description="user-supplied root filesystem instead of host /usr")
    agent_uid: int = Field(default=1000, ge=1)
    agent_gid: int = Field(default=1000, ge=1)
    workspace_max_bytes: int | None = Field(default=None, gt=0)
    workspace_kill: bool = Field(default=True, description="stop the agent when over the cap")
    workspace_check_s: float = Field(default=5.0, gt=0)
    honeytokens: bool = False
    honeytokens_file: Path | None = Field(
        default=None, description="where to write planted values (outside the sandbox)")
    runsc_flags: list[str] = Field(
        default_factory=list, description="extra global runsc flags, e.g. --pod-init-config FILE")

    @field_validator("ro_mounts")
    @classmethod
    def _abs_targets(cls, v: dict[str, Path]) -> dict[str, Path]:
        for target in v:
            if not target.startswith("/") or ".." in target.split("/"):
                raise ValueError(f"ro_mounts target must be an absolute path: {target!r}")
        return v

    @field_validator("proxy_target")
    @classmethod
    def _target(cls, v: str | None) -> str | None:
        if v is not None:
            from .relay import parse_target
            parse_target(v)
        return v


class SandboxResult(BaseModel):
    """How the agent ended."""

    container_id: str
    exit_code: int | None = Field(description="agent exit status; None if killed by a signal")
    signal: int | None = Field(default=None, description="terminating signal number, if any")
    killed: KillReason | None = Field(default=None, description="why the sandbox stopped it")
    duration_s: float
