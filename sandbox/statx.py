"""The statx(AT_NO_AUTOMOUNT) workaround: probe once, compile a shim only when needed.

runsc 2022-12 on recent kernels returns EINVAL for statx with AT_NO_AUTOMOUNT,
which breaks `ls -l` and `stat` (cp, find, git, Python are fine). The probe runs
`stat /` in a throw-away sandbox; its verdict is cached per (runsc version,
kernel release) so only the first run on a machine pays ~0.5 s. The 2024 release
has a working statx: the probe says so and nothing is preloaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from pydantic import BaseModel

from . import runsc as rs
from .bundle import BundleInputs, build_bundle
from .config import SandboxConfig, SandboxError

SHIM_SRC = Path(__file__).with_name("guest") / "statx_shim.c"


class StatxProbe(BaseModel):
    """Outcome of the probe; `needs_shim` decides whether the shim is preloaded."""

    needs_shim: bool
    detail: str
    runsc_version: str
    kernel: str
    cached: bool = False


def cache_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/ptaudit")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ptaudit"


def compile_shim() -> Path:
    """Compile the shim into the cache dir, keyed by the source hash (idempotent)."""
    src = SHIM_SRC.read_bytes()
    out = cache_dir() / f"statx_shim-{hashlib.sha256(src).hexdigest()[:16]}.so"
    if out.is_file():
        return out
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SandboxError("gcc not found (needed for the statx shim); "
                           "apt-get install -y gcc", 3)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    res = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(SHIM_SRC)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SandboxError(f"compiling the statx shim failed: {res.stderr.strip()}", 3)
    tmp.chmod(0o755)
    os.replace(tmp, out)  # atomic: concurrent runs never preload a half-written file
    return out


def run_probe_sandbox(runsc: str, flags: list[str], command: list[str],
                      timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run command in a throw-away sandbox (no network, empty workspace); always deleted."""
    with tempfile.TemporaryDirectory(prefix="ptaudit-probe-") as tmp:
        base = Path(tmp)
        (base / "ws").mkdir()
        cfg = SandboxConfig(command=command, workspace=base / "ws", cwd="/")
        cid = f"ptaudit-probe-{uuid.uuid4().hex[:8]}"
        build_bundle(cfg, base / "bundle", cid, BundleInputs())
        r = rs.Runsc(base / "root", binary=runsc)
        try:
            return subprocess.run([*r.base(), *flags, "--network=none", "run", "--bundle",
                                   str(base / "bundle"), cid],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], 124, "", f"probe timed out after {timeout:.0f}s")
        finally:
            r.kill(cid, "KILL")
            r.delete(cid)


def _run_probe(runsc: str, flags: list[str]) -> tuple[bool, str]:
    res = run_probe_sandbox(runsc, flags, ["/usr/bin/stat", "-c", "%n", "/"])
    if res.returncode == 0:
        return False, "statx(AT_NO_AUTOMOUNT) works"
    if "Invalid argument" in res.stderr:
        return True, "statx(AT_NO_AUTOMOUNT) -> EINVAL; preloading the shim"
    raise SandboxError(f"statx probe sandbox failed (rc={res.returncode}): "
                       f"{res.stderr.strip()[-500:]}", 3)


def probe(use_cache: bool = True, runsc: str | None = None, flags: list[str] | None = None) -> StatxProbe:
    """Does statx(AT_NO_AUTOMOUNT) work in this runsc on this kernel? Cached per (runsc, kernel)."""
    runsc = runsc or rs.find_runsc()
    version, kernel = rs.version(runsc), os.uname().release
    key = hashlib.sha256(f"{version}|{rs.sha256(runsc)}|{kernel}".encode()).hexdigest()[:16]
    path = cache_dir() / f"statx-probe-{key}.json"
    if use_cache and path.is_file():
        try:
            return StatxProbe.model_validate_json(path.read_text()).model_copy(
                update={"cached": True})
        except ValueError:
            pass  # corrupt cache: probe again
    needs, detail = _run_probe(runsc, flags or [])
    result = StatxProbe(needs_shim=needs, detail=detail, runsc_version=version, kernel=kernel)
    write_cache(path, result.model_dump())
    return result


def write_cache(path: Path, data: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
