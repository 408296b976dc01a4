"""Thin wrapper around the runsc binary: discovery, capability probes, control verbs."""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

from .config import SandboxError

INSTALL_HINT = "install gVisor: apt-get install -y runsc"
NVPROXY_HINT = "GPU sandboxes need runsc release-20230529 or newer (--nvproxy)"


def find_runsc() -> str:
    """Path of runsc, or SandboxError(3) telling how to install it."""
    path = shutil.which("runsc")
    if path is None:
        raise SandboxError(f"runsc not found on PATH; {INSTALL_HINT}", 3)
    return path


@functools.cache
def version() -> str:
    out = subprocess.run([find_runsc(), "--version"], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].removeprefix("runsc version ").strip() if first else "unknown"


@functools.cache
def _flags_text() -> str:
    # `runsc flags` lists global flags; older releases print them on `--help` only.
    runsc = find_runsc()
    text = ""
    for args in (["flags"], ["--help"]):
        out = subprocess.run([runsc, *args], capture_output=True, text=True, timeout=30)
        text += out.stdout + out.stderr
    return text


def supports_flag(name: str) -> bool:
    return f"-{name}" in _flags_text().replace("--", "-")


class Runsc:
    """runsc bound to one state root (--root); every verb names the container id."""

    def __init__(self, root: Path, extra_flags: list[str] | None = None) -> None:
        self.binary = find_runsc()
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
