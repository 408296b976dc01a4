"""Checks for `ptaudit doctor`: each says what it found and, when wrong, how to fix it.
`essential=False` marks what only some tasks need (a GPU): a warning, not a failure."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from . import gpu, statx
from . import runsc as rs
from .config import SandboxError
from .install import PINNED_BINARY, PINNED_UPSTREAM
from .platforms import choose_platform


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str
    essential: bool = True


def gpu_checks(runsc: str, root: Path = Path("/"), nvml: object = None) -> list[Check]:
    """nvproxy, the host driver, and whether this runsc supports it (with the exact remedy)."""
    out: list[Check] = []
    drivers = rs.nvproxy_drivers(runsc)
    nv = rs.supports_flag("nvproxy", runsc)
    out.append(Check("runsc --nvproxy (GPU)", nv,
                     f"supported; drivers {', '.join(drivers or []) or 'not listed'}" if nv else "missing",
                     "" if nv else f"only for GPU tasks: {rs.NVPROXY_HINT}", essential=False))
    found = gpu.driver_version(root, nvml)
    if found is None:
        out.append(Check("NVIDIA driver", False, "none (no NVML, no /proc/driver/nvidia/version)",
                         "only GPU tasks need one: install the NVIDIA driver", essential=False))
        return out
    version, source = found
    out.append(Check("NVIDIA driver", True, f"{version} (from {source})", "", essential=False))
    if not nv:
        return out
    ok = version in (drivers or [])
    out.append(Check("nvproxy supports this driver", ok,
                     f"runsc {rs.version(runsc)} {'lists' if ok else 'does not list'} {version}",
                     "" if ok else gpu.unsupported_message(version, runsc, drivers or []).split("Remedy: ", 1)[-1],
                     essential=False))
    return out


def doctor_checks() -> list[Check]:
    """root; runsc (which, why, version, sha256); platform; --host-uds; GPU; statx."""
    checks: list[Check] = []
    root = os.geteuid() == 0
    checks.append(Check("root", root, f"euid={os.geteuid()}", "" if root else "run ptaudit as root (sudo)"))
    try:
        choice = rs.choose()
    except SandboxError as exc:
        checks.append(Check("runsc", False, exc.message, "make setup (installs the pinned runsc)"))
        return checks
    path = choice.path
    pinned = choice.source == "pinned" or (PINNED_BINARY.is_file() and choice.source in ("env", "flag"))
    checks.append(Check("runsc", pinned or choice.source != "path",
                        f"{path} ({choice.source}), version {choice.version}, sha256 {choice.sha256[:16]}",
                        "" if pinned or choice.source != "path" else
                        f"make setup installs runsc {PINNED_UPSTREAM} (systrap, nvproxy); this one is kept "
                        "usable with --runsc", essential=False))
    uds = rs.supports_flag("host-uds", path)
    checks.append(Check("runsc --host-uds", uds, "supported" if uds else "missing",
                        "" if uds else "upgrade runsc (egress needs --host-uds=open)"))
    if root:
        try:
            plat = choose_platform(path)
            checks.append(Check("platform", plat.platform == "systrap" or "systrap" not in plat.offered,
                                f"{plat.platform}: {plat.reason}" + (" (cached)" if plat.cached else ""),
                                "" if plat.platform == "systrap" else
                                "ptrace is slower per syscall; override with --platform", essential=False))
        except SandboxError as exc:
            checks.append(Check("platform", False, exc.message, "check `runsc --version`"))
    checks += gpu_checks(path)
    if not root:
        checks.append(Check("statx probe", False, "skipped: needs root", "run as root"))
        return checks
    try:
        p = statx.probe(runsc=path)
        detail = p.detail + (" (cached)" if p.cached else "")
        if p.needs_shim:
            detail += f"; shim {statx.compile_shim()}"
        checks.append(Check("statx probe", True, detail, ""))
    except SandboxError as exc:
        checks.append(Check("statx probe", False, exc.message,
                            "check `runsc --version` and that gcc is installed"))
    return checks
