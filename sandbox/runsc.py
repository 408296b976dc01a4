"""The runsc binary: which one (selection order), what it can do (probes), control verbs.

Selection order (the first that applies wins):
  1. an explicit path: `--runsc PATH` (SandboxConfig.runsc), else the PTAUDIT_RUNSC env var
     (operators with their own, newer gVisor, e.g. for NVIDIA driver 570/580);
  2. the pinned release `make setup` installs (sandbox/install.py);
  3. `runsc` on PATH (Debian 12's 2022-12 release: ptrace only, no --nvproxy).
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .config import SandboxError
from .install import PINNED_BINARY, PINNED_UPSTREAM, sha256_file

ENV_VAR = "PTAUDIT_RUNSC"
INSTALL_HINT = f"install gVisor: make setup (runsc {PINNED_UPSTREAM}), or apt-get install -y runsc"
NVPROXY_HINT = (f"GPU sandboxes need a runsc with --nvproxy (release-20230529 or newer): make setup installs "
                f"{PINNED_UPSTREAM}, or pass --runsc PATH")


@dataclass(frozen=True)
class Choice:
    """Which runsc a run uses and why; recorded in the run log."""

    path: str
    source: str  # "flag" | "env" | "pinned" | "path"
    version: str
    sha256: str

    def as_event(self) -> dict[str, str]:
        return {"path": self.path, "source": self.source, "version": self.version, "sha256": self.sha256}


def _executable(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def select(explicit: str | Path | None = None) -> tuple[str, str]:
    """(path, source) of the runsc to use; SandboxError(2) for a bad explicit path, (3) if none."""
    if explicit is not None or os.environ.get(ENV_VAR):
        source = "flag" if explicit is not None else "env"
        raw = str(explicit) if explicit is not None else os.environ[ENV_VAR]
        p = Path(raw) if "/" in raw else Path(shutil.which(raw) or raw)
        if not _executable(p):
            what = "--runsc" if source == "flag" else ENV_VAR
            raise SandboxError(f"{what} {raw}: not an executable file", 2)
        return str(p.resolve()), source
    if _executable(PINNED_BINARY):
        return str(PINNED_BINARY), "pinned"
    path = shutil.which("runsc")
    if path is None:
        raise SandboxError(f"runsc not found (no pinned release at {PINNED_BINARY}, none on PATH); {INSTALL_HINT}", 3)
    return path, "path"


def find_runsc(explicit: str | Path | None = None) -> str:
    """Path of the runsc to use (see select)."""
    return select(explicit)[0]


def choose(explicit: str | Path | None = None) -> Choice:
    path, source = select(explicit)
    return Choice(path=path, source=source, version=version(path), sha256=sha256(path))


@functools.cache
def _version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].removeprefix("runsc version ").strip() if first else "unknown"


def version(path: str | None = None) -> str:
    return _version(path or find_runsc())


@functools.cache
def _sha256(path: str, _mtime: float) -> str:
    return sha256_file(Path(path))


def sha256(path: str | None = None) -> str:
    p = path or find_runsc()
    return _sha256(p, os.stat(p).st_mtime)


@functools.cache
def _flags_text(path: str) -> str:
    # `runsc flags` lists global flags; older releases print them on `--help` only.
    text = ""
    for args in (["flags"], ["--help"]):
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=30)
        text += out.stdout + out.stderr
    return text


def supports_flag(name: str, path: str | None = None) -> bool:
    return re.search(rf"(^|\s)-{re.escape(name)}(\s|$)", _flags_text(path or find_runsc()), re.M) is not None


def platforms(path: str | None = None) -> tuple[list[str], str]:
    """(platforms this runsc offers, its default), from its --platform help text."""
    text = _flags_text(path or find_runsc())
    m = re.search(r"-platform string\s*\n\s*specifies which platform to use: ([^\n]*)", text)
    if m is None:
        return ["ptrace"], "ptrace"
    names = re.findall(r"([a-z]+)(?: \(default\))?(?:,|\.|$|\s)", m.group(1).split(". (default")[0])
    default = re.search(r"([a-z]+) \(default\)", m.group(1))
    found = [n for n in names if n in ("systrap", "ptrace", "kvm")]
    return found or ["ptrace"], default.group(1) if default else (found[0] if found else "ptrace")


@functools.cache
def _nvproxy_drivers(path: str) -> tuple[str, ...] | None:
    try:
        out = subprocess.run([path, "nvproxy", "list-supported-drivers"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return tuple(ln.strip() for ln in out.stdout.splitlines() if re.fullmatch(r"\d+\.\d+(\.\d+)?", ln.strip()))


def nvproxy_drivers(path: str | None = None) -> list[str] | None:
    """NVIDIA driver versions this runsc's nvproxy supports; None if it cannot say (no nvproxy)."""
    p = path or find_runsc()
    if not supports_flag("nvproxy", p):
        return None
    d = _nvproxy_drivers(p)
    return sorted(d, key=lambda v: tuple(int(x) for x in v.split("."))) if d is not None else None


class Runsc:
    """runsc bound to one state root (--root); every verb names the container id."""

    def __init__(self, root: Path, extra_flags: list[str] | None = None, binary: str | None = None) -> None:
        self.binary = binary or find_runsc()
        self.root = root
        self.extra_flags = extra_flags or []

    def base(self) -> list[str]:
        return [self.binary, "--root", str(self.root), *self.extra_flags]

    def _call(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "--root", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout)

    def kill(self, cid: str, signal: str, all_procs: bool = True) -> bool:
        args = ["kill", *(["--all"] if all_procs else []), cid, signal]
        try:
            return self._call(*args).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def delete(self, cid: str) -> bool:
        try:
            return self._call("delete", "--force", cid, timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def list_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        out = self._call("list", "--format", "json")
        if out.returncode != 0 or not out.stdout.strip():
            return []
        data = json.loads(out.stdout) or []
        return [c["id"] for c in data]

    def state(self, cid: str) -> dict[str, object] | None:
        out = self._call("state", cid)
        if out.returncode != 0:
            return None
        result: dict[str, object] = json.loads(out.stdout)
        return result
