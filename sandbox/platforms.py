"""Which gVisor platform a run uses: systrap by default, ptrace where systrap cannot run.

systrap (release 2023+) traps syscalls with seccomp and shared-memory stubs: several times
cheaper per syscall than ptrace. It can fail where seccomp user notifications or the stub
layout are unavailable (old kernels, nested sandboxes). A probe sandbox runs `true` on
systrap once per (runsc binary, kernel); on failure the run uses ptrace and records why.
`--platform NAME` (SandboxConfig.platform) skips the probe; kvm is only used if asked.
"""
from __future__ import annotations

import hashlib
import os

from pydantic import BaseModel

from . import runsc as rs
from .config import SandboxError
from .statx import cache_dir, run_probe_sandbox, write_cache


class PlatformChoice(BaseModel):
    """The platform, and why (recorded as the `sandbox.platform` event)."""

    platform: str
    requested: str | None
    reason: str
    offered: list[str]
    cached: bool = False

    def flags(self) -> list[str]:
        return [f"--platform={self.platform}"]


def _probe_systrap(runsc: str, use_cache: bool) -> tuple[bool, str, bool]:
    kernel = os.uname().release
    key = hashlib.sha256(f"{rs.sha256(runsc)}|{kernel}|systrap".encode()).hexdigest()[:16]
    path = cache_dir() / f"platform-probe-{key}.json"
    if use_cache and path.is_file():
        try:
            import json
            d = json.loads(path.read_text())
            return bool(d["ok"]), str(d["detail"]), True
        except (OSError, ValueError, KeyError):
            pass
    res = run_probe_sandbox(runsc, ["--platform=systrap"], ["/bin/true"], timeout=30)
    ok = res.returncode == 0
    detail = "systrap works" if ok else (f"systrap probe failed (rc={res.returncode}): "
                                         f"{(res.stderr.strip().splitlines() or ['no output'])[-1][-300:]}")
    write_cache(path, {"ok": ok, "detail": detail, "kernel": kernel})
    return ok, detail, False


def choose_platform(runsc: str, requested: str | None = None, use_cache: bool = True) -> PlatformChoice:
    offered, default = rs.platforms(runsc)
    if requested is not None:
        if requested not in offered:
            raise SandboxError(f"--platform {requested}: runsc {rs.version(runsc)} offers {', '.join(offered)}", 2)
        return PlatformChoice(platform=requested, requested=requested, reason="requested", offered=offered)
    if "systrap" not in offered:
        return PlatformChoice(platform="ptrace", requested=None, offered=offered,
                              reason=f"runsc {rs.version(runsc)} has no systrap (default {default})")
    ok, detail, cached = _probe_systrap(runsc, use_cache)
    if ok:
        return PlatformChoice(platform="systrap", requested=None, reason=detail, offered=offered, cached=cached)
    return PlatformChoice(platform="ptrace", requested=None, offered=offered, cached=cached,
                          reason=f"fell back to ptrace: {detail}")
