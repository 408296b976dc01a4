"""Checks before anything is created: fail early with a message that says what to do."""
from __future__ import annotations

import glob
import os
import stat
from pathlib import Path
from typing import Any

from . import runsc as rs
from .config import SandboxConfig, SandboxError


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the sandbox must run as root (runsc needs it to create "
                           "namespaces and bind mounts); rerun with sudo", 3)


def _need_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise SandboxError(f"{what} is not a directory: {path}", 2)


def check_config(cfg: SandboxConfig) -> None:
    rs.find_runsc()
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
    if cfg.gpu and not rs.supports_flag("nvproxy"):
        raise SandboxError(f"{rs.NVPROXY_HINT}; installed: {rs.version()}", 3)


def gpu_devices() -> list[dict[str, Any]]:
    """OCI device entries for the host's NVIDIA nodes (what nvproxy proxies)."""
    devices = []
    for path in sorted(glob.glob("/dev/nvidia*")):
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode):
            devices.append({"path": path, "type": "c", "major": os.major(st.st_rdev),
                            "minor": os.minor(st.st_rdev), "fileMode": 0o666,
                            "uid": 0, "gid": 0})
    if not devices:
        raise SandboxError("gpu=True but no /dev/nvidia* device nodes on this host", 3)
    return devices
