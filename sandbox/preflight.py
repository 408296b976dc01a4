"""Checks before anything is created: fail early with a message that says what to do."""
from __future__ import annotations

import os
from pathlib import Path

from . import gpu as gpu_mod
from . import runsc as rs
from .config import SandboxConfig, SandboxError


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the sandbox must run as root (runsc needs it to create "
                           "namespaces and bind mounts); rerun with sudo", 3)


def _need_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise SandboxError(f"{what} is not a directory: {path}", 2)


def check_config(cfg: SandboxConfig) -> str:
    """Validate the config against this host; returns the runsc path to use."""
    runsc = rs.find_runsc(cfg.runsc)
    require_root()
    _need_dir(cfg.workspace, "workspace")
    for target, src in cfg.ro_mounts.items():
        if not src.exists():
            raise SandboxError(f"read-only mount source for {target} does not exist: {src}", 2)
    if cfg.rootfs is not None:
        _need_dir(cfg.rootfs, "rootfs")
    if cfg.proxy_socket_dir is not None:
        _need_dir(cfg.proxy_socket_dir, "proxy_socket_dir")
        if cfg.proxy_target is not None:
            raise SandboxError("give proxy_target or proxy_socket_dir, not both", 2)
    if cfg.proxy_ca is not None and not cfg.proxy_ca.is_file():
        raise SandboxError(f"proxy CA file does not exist: {cfg.proxy_ca}", 2)
    if cfg.gpu and not rs.supports_flag("nvproxy", runsc):
        raise SandboxError(f"{rs.NVPROXY_HINT}; selected: {runsc} ({rs.version(runsc)})", 3)
    return runsc


def gpu_plan(cfg: SandboxConfig, runsc: str) -> gpu_mod.GpuPlan:
    """The host's GPU set-up for this config; SandboxError(3) with the remedy if unusable."""
    return gpu_mod.plan(cfg.gpus, runsc, cfg.nvproxy_driver_version)
