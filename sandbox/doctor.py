"""Checks for `ptaudit doctor`: each says what is wrong and how to fix it."""
from __future__ import annotations

import os
from typing import NamedTuple

from . import runsc as rs
from . import statx
from .config import SandboxError


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str


def doctor_checks() -> list[Check]:
    """runsc present/version, --host-uds, --nvproxy, statx probe/shim, root."""
    checks: list[Check] = []
    root = os.geteuid() == 0
    checks.append(Check("root", root, f"euid={os.geteuid()}",
                        "" if root else "run ptaudit as root (sudo)"))
    try:
        path = rs.find_runsc()
    except SandboxError as exc:
        checks.append(Check("runsc", False, exc.message, "apt-get install -y runsc"))
        return checks
    checks.append(Check("runsc", True, f"{path} {rs.version()}", ""))
    uds = rs.supports_flag("host-uds")
    checks.append(Check("runsc --host-uds", uds, "supported" if uds else "missing",
                        "" if uds else "upgrade runsc (egress needs --host-uds=open)"))
    nv = rs.supports_flag("nvproxy")
    checks.append(Check("runsc --nvproxy (GPU)", nv, "supported" if nv else "missing",
                        "" if nv else "only needed for gpu=True: runsc release-20230529+"))
    if not root:
        checks.append(Check("statx probe", False, "skipped: needs root", "run as root"))
        return checks
    try:
        p = statx.probe()
        detail = p.detail + (" (cached)" if p.cached else "")
        if p.needs_shim:
            detail += f"; shim {statx.compile_shim()}"
        checks.append(Check("statx probe", True, detail, ""))
    except SandboxError as exc:
        checks.append(Check("statx probe", False, exc.message,
                            "check `runsc --version` and that gcc is installed"))
    return checks
