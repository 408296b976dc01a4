"""The GPU path: what a `gpu = true` sandbox gets, and every reason to refuse it up front.

gVisor's nvproxy forwards the agent's ioctls on /dev/nvidia* to the host driver, so the
sandbox needs what the NVIDIA container toolkit would give a container:
  * the device nodes /dev/nvidiactl, /dev/nvidia-uvm, /dev/nvidia-uvm-tools (if present)
    and /dev/nvidiaN for each chosen GPU (OCI `linux.devices`);
  * the driver's user-space libraries, found like the toolkit finds them (`ldconfig -p`,
    the same library names), bind-mounted read-only at their host paths, plus the
    `nvidia-smi` family of binaries; `LD_LIBRARY_PATH` names their directories;
  * `NVIDIA_VISIBLE_DEVICES` (host indices, or "all") and `CUDA_VISIBLE_DEVICES` (0..k-1:
    inside, CUDA enumerates only the devices it was given).
Refusals (SandboxError, exit 3, before anything starts): no --nvproxy in this runsc; no
NVIDIA driver; a driver this runsc does not list (`runsc nvproxy list-supported-drivers`)
unless overridden with `nvproxy_driver_version` (at your own risk: a wrong ABI can crash
the sandbox or the host driver's client); missing device nodes.

`root` re-roots every host path (device nodes, library files, /proc) so tests can use a
fake tree; `ldconfig` and `nvml` are injectable for the same reason.
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runsc as rs
from .config import SandboxError

# Library names the NVIDIA container toolkit (libnvidia-container, nvc_info.c) injects for
# the "utility" and "compute" capabilities: what CUDA and NVML need.
DRIVER_LIBS = ("libnvidia-ml.so", "libnvidia-cfg.so", "libcuda.so", "libcudadebugger.so", "libnvidia-opencl.so",
               "libnvidia-gpucomp.so", "libnvidia-ptxjitcompiler.so", "libnvidia-fatbinaryloader.so",
               "libnvidia-allocator.so", "libnvidia-compiler.so", "libnvidia-nvvm.so", "libnvidia-pkcs11.so",
               "libnvidia-pkcs11-openssl3.so")
DRIVER_BINS = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
               "nvidia-cuda-mps-server")
BIN_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/nvidia/bin")
CONTROL_NODES = ("nvidiactl", "nvidia-uvm")
OPTIONAL_NODES = ("nvidia-uvm-tools",)
REMEDY_NODES = ("load the driver's device nodes on the host: `nvidia-modprobe -u -c=0` (or run nvidia-smi once); "
                "/dev/nvidia-uvm appears when the nvidia_uvm module is loaded")


@dataclass
class GpuPlan:
    """Everything the bundle and the runsc command line need for the GPU."""

    indices: list[int] | None            # chosen host GPU indices; None = all
    driver_version: str
    driver_source: str                   # "nvml" | "/proc/driver/nvidia/version"
    supported: bool                      # this runsc lists the driver
    override: str | None                 # --nvproxy-driver-version, if any
    devices: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[tuple[str, str]] = field(default_factory=list)     # (sandbox path, host path), read-only
    links: list[tuple[str, str]] = field(default_factory=list)      # (sandbox path, link target)
    env: dict[str, str] = field(default_factory=dict)

    def flags(self) -> list[str]:
        return ["--nvproxy", *([f"--nvproxy-driver-version={self.override}"] if self.override else [])]

    def as_event(self) -> dict[str, Any]:
        return {"indices": self.indices, "driver_version": self.driver_version, "driver_source": self.driver_source,
                "supported": self.supported, "override": self.override,
                "devices": [d["path"] for d in self.devices], "mounts": [m[0] for m in self.mounts],
                "env": self.env}


def parse_gpus(text: str | None) -> list[int] | None:
    """`all` -> None; "0,1" -> [0, 1]; ValueError otherwise."""
    if text is None or text.strip().lower() == "all":
        return None
    out = []
    for part in text.split(","):
        if not part.strip().isdigit():
            raise ValueError(f"--gpus: expected 'all' or indices like 0,1; got {text!r}")
        out.append(int(part))
    if len(set(out)) != len(out):
        raise ValueError(f"--gpus: repeated index in {text!r}")
    return sorted(out)


def _re(root: Path, p: str) -> Path:
    return root / p.lstrip("/")


def driver_version(root: Path = Path("/"), nvml: Any = None) -> tuple[str, str] | None:
    """(version, source) of the host NVIDIA driver, from NVML or /proc/driver/nvidia/version."""
    try:
        if nvml is None and root == Path("/"):
            import pynvml as nvml
        if nvml is not None:
            nvml.nvmlInit()
            try:
                v = nvml.nvmlSystemGetDriverVersion()
                return (v.decode() if isinstance(v, bytes) else str(v)), "nvml"
            finally:
                nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no library, no driver: try /proc
        pass
    try:
        text = _re(root, "/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    m = re.search(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
    return (m.group(1), "/proc/driver/nvidia/version") if m else None


def parse_ldconfig(text: str) -> list[tuple[str, str]]:
    """(soname, path) of x86-64 libraries from `ldconfig -p` output."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$", line)
        if m and ("x86-64" in m.group(2) or "64bit" in m.group(2)):
            out.append((m.group(1), m.group(3)))
    return out


def driver_libraries(ldconfig_text: str | None = None) -> list[tuple[str, str]]:
    """(soname, path) of the NVIDIA driver libraries the toolkit would inject."""
    if ldconfig_text is None:
        try:
            ldconfig_text = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            ldconfig_text = ""
    return [(so, p) for so, p in parse_ldconfig(ldconfig_text)
            if any(so == n or so.startswith(n + ".") for n in DRIVER_LIBS)]


def _chardev(path: Path) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISCHR(st.st_mode) else None


def _device(sandbox_path: str, st: os.stat_result) -> dict[str, Any]:
    return {"path": sandbox_path, "type": "c", "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": 0o666, "uid": 0, "gid": 0}


def device_nodes(indices: list[int] | None, root: Path = Path("/")) -> list[dict[str, Any]]:
    """OCI device entries; SandboxError(3) naming what is missing."""
    dev = _re(root, "/dev")
    missing, out = [], []
    for name in CONTROL_NODES:
        st = _chardev(dev / name)
        if st is None:
            missing.append(f"/dev/{name}")
        else:
            out.append(_device(f"/dev/{name}", st))
    for name in OPTIONAL_NODES:
        if (st := _chardev(dev / name)) is not None:
            out.append(_device(f"/dev/{name}", st))
    present = sorted(int(m.group(1)) for p in (dev.glob("nvidia[0-9]*") if dev.is_dir() else [])
                     if (m := re.fullmatch(r"nvidia(\d+)", p.name)) and _chardev(p) is not None)
    wanted = present if indices is None else indices
    if indices is None and not present:
        missing.append("/dev/nvidia0 (no GPU device node at all)")
    for i in wanted:
        st = _chardev(dev / f"nvidia{i}")
        if st is None:
            missing.append(f"/dev/nvidia{i}")
        else:
            out.append(_device(f"/dev/nvidia{i}", st))
    if missing:
        raise SandboxError(f"GPU requested but the host lacks NVIDIA device nodes: {', '.join(missing)}; "
                           f"{REMEDY_NODES}", 3)
    return out


def library_mounts(root: Path = Path("/"), ldconfig_text: str | None = None
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """(mounts, links, library dirs) for the driver's libraries and binaries, at host paths."""
    mounts: dict[str, str] = {}
    links: dict[str, str] = {}
    dirs: list[str] = []
    for _so, path in driver_libraries(ldconfig_text):
        host = _re(root, path)
        if not host.exists():
            continue  # stale ld.so.cache entry
        real = host.resolve()
        real_in_sandbox = "/" + str(real.relative_to(root.resolve()))
        mounts[real_in_sandbox] = str(real)
        if path != real_in_sandbox:
            links[path] = os.path.relpath(real_in_sandbox, os.path.dirname(path))
        d = os.path.dirname(path)
        if d not in dirs:
            dirs.append(d)
    for name in DRIVER_BINS:
        for d in BIN_DIRS:
            host = _re(root, f"{d}/{name}")
            if host.is_file():
                mounts[f"{d}/{name}"] = str(host.resolve())
                break
    return sorted(mounts.items()), sorted(links.items()), dirs


def plan(indices: list[int] | None, runsc: str, override: str | None = None, root: Path = Path("/"),
         ldconfig_text: str | None = None, nvml: Any = None) -> GpuPlan:
    """Check everything the GPU path needs; SandboxError(3) with the remedy if anything is off."""
    if not rs.supports_flag("nvproxy", runsc):
        raise SandboxError(f"{rs.NVPROXY_HINT}; selected: {runsc} ({rs.version(runsc)})", 3)
    found = driver_version(root, nvml)
    if found is None:
        raise SandboxError("GPU requested but no NVIDIA driver found (NVML and /proc/driver/nvidia/version "
                           "both absent): install the NVIDIA driver on the host", 3)
    version, source = found
    supported_list = rs.nvproxy_drivers(runsc) or []
    supported = version in supported_list
    if not supported and override is None:
        raise SandboxError(unsupported_message(version, runsc, supported_list), 3)
    devices = device_nodes(indices, root)
    mounts, links, dirs = library_mounts(root, ldconfig_text)
    if not any("libcuda.so" in m for m, _ in mounts):
        raise SandboxError("GPU requested but ldconfig -p lists no libcuda.so: install the NVIDIA driver's "
                           "user-space libraries (e.g. libcuda1 / the driver package) and run ldconfig", 3)
    chosen = [int(d["path"].removeprefix("/dev/nvidia")) for d in devices if re.fullmatch(r"/dev/nvidia\d+", d["path"])]
    env = {"NVIDIA_VISIBLE_DEVICES": "all" if indices is None else ",".join(map(str, indices)),
           "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(len(chosen))),
           "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
           "LD_LIBRARY_PATH": ":".join(dirs)}
    return GpuPlan(indices=indices, driver_version=version, driver_source=source, supported=supported,
                   override=override, devices=devices, mounts=mounts, links=links, env=env)


def unsupported_message(version: str, runsc: str, supported: list[str]) -> str:
    listed = ", ".join(sorted(supported, key=_vkey)) or "none"
    return (f"host NVIDIA driver {version} is not supported by runsc {rs.version(runsc)} ({runsc}); it supports: "
            f"{listed}. Remedy: use a gVisor release that lists {version} (`--runsc PATH` or PTAUDIT_RUNSC), or "
            f"install a listed driver; at your own risk, `--nvproxy-driver-version {_closest(version, supported)}` "
            "makes nvproxy use that ABI anyway")


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def _closest(version: str, supported: list[str]) -> str:
    if not supported:
        return "VERSION"
    older = [s for s in supported if _vkey(s) <= _vkey(version)]
    return max(older or supported, key=_vkey)
