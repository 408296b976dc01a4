"""OCI bundle for one sandbox run: config.json, an empty read-only rootfs, /etc and guest files.

Layout (all under the per-run bundle dir, removed at cleanup):
  config.json   the OCI spec; its sha256 goes into the "sandbox.bundle" event
  rootfs/       empty except bin/lib/lib64/sbin -> usr/... and mount points
  etc/          curated /etc (see etcdir.py), mounted ro at /etc
  guest/        init.py (+ statx shim), mounted ro at /opt/ptaudit
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SandboxConfig
from .etcdir import AGENT_HOME, CA_BUNDLE, build_etc
from .gpu import GpuPlan

GUEST_DIR = "/opt/ptaudit"
PROXY_DIR = "/run/ptaudit-proxy"
PROXY_SOCK = f"{PROXY_DIR}/proxy.sock"
PROXY_URL = "http://127.0.0.1:3128"
GUEST_PYTHON = "/usr/bin/python3"
_INIT_SRC = Path(__file__).with_name("guest") / "init.py"
_CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
            "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass
class BundleInputs:
    """What the bundle needs beyond the user config (decided by the Sandbox)."""

    home: Path | None = None          # host dir for /home/agent; None -> tmpfs
    proxy_dir: Path | None = None     # host dir holding proxy.sock
    shim: Path | None = None          # compiled statx shim to preload
    gpu: GpuPlan | None = None        # device nodes, driver mounts and env for gpu=True


def _bind(dest: str, src: Path, rw: bool = False) -> dict[str, Any]:
    return {"destination": dest, "type": "bind", "source": str(src),
            "options": ["rbind", "rw" if rw else "ro", "nosuid", "nodev"]}


def agent_env(cfg: SandboxConfig, proxied: bool, gpu: GpuPlan | None = None) -> list[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": AGENT_HOME, "USER": "agent",
           "LOGNAME": "agent", "LANG": "C.UTF-8", "TERM": "dumb"}
    if gpu is not None:
        env.update(gpu.env)
    for k, v in cfg.env.items():
        # The driver's library dirs stay on the path when the caller adds its own.
        env[k] = f"{v}:{env[k]}" if k == "LD_LIBRARY_PATH" and env.get(k) else v
    # The sandbox owns these: set last so a caller's env cannot route around the proxy.
    if proxied:
        for var in _PROXY_VARS:
            env[var] = env[var.lower()] = PROXY_URL
        env["NO_PROXY"] = env["no_proxy"] = ""
    if cfg.proxy_ca is not None:
        for var in _CA_VARS:
            env[var] = CA_BUNDLE
    return [f"{k}={v}" for k, v in env.items()]


def _mounts(cfg: SandboxConfig, bundle: Path, inp: BundleInputs) -> list[dict[str, Any]]:
    m: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
    ]
    if cfg.rootfs is None:
        m.append(_bind("/usr", Path("/usr")))
    m += [_bind("/etc", bundle / "etc"), _bind(GUEST_DIR, bundle / "guest"),
          _bind("/workspace", cfg.workspace, rw=True)]
    if inp.home is not None:
        m.append(_bind(AGENT_HOME, inp.home, rw=True))
    else:
        m.append({"destination": AGENT_HOME, "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "nodev", "mode=0700",
                              f"uid={cfg.agent_uid}", f"gid={cfg.agent_gid}"]})
    if inp.proxy_dir is not None:
        m.append(_bind(PROXY_DIR, inp.proxy_dir))
    m += [_bind(dest, src) for dest, src in sorted(cfg.ro_mounts.items())]
    if inp.gpu is not None:
        # Driver libraries and binaries at their host paths, read-only (like the NVIDIA
        # container toolkit); nodev would not matter for files, but keep the same options.
        m += [_bind(dest, Path(src)) for dest, src in inp.gpu.mounts]
    return m


def _under(path: str, dirs: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def _rootfs(bundle: Path, mounts: list[dict[str, Any]], links: list[tuple[str, str]]) -> Path:
    root = bundle / "rootfs"
    root.mkdir()
    for name, target in (("bin", "usr/bin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
        (root / name).symlink_to(target)
    # Mount points must exist in a read-only root: a file for a file, a dir for the rest.
    for mnt in mounts:
        point = root / mnt["destination"].lstrip("/")
        if mnt["type"] == "bind" and Path(mnt["source"]).is_file():
            point.parent.mkdir(parents=True, exist_ok=True)
            point.touch(exist_ok=True)
        else:
            point.mkdir(parents=True, exist_ok=True)
    # Soname links (libcuda.so.1 -> libcuda.so.550.90.07) outside directories mounted
    # whole; under /usr the host's own links are visible already.
    covered = [m["destination"] for m in mounts if not (m["type"] == "bind" and Path(m["source"]).is_file())]
    for path, target in links:
        if not _under(path, covered):
            link = root / path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(target)
    return root


def build_bundle(cfg: SandboxConfig, bundle: Path, cid: str, inp: BundleInputs) -> str:
    """Create the bundle dir; return the sha256 of config.json."""
    bundle.mkdir(parents=True)
    guest = bundle / "guest"
    guest.mkdir()
    shutil.copyfile(_INIT_SRC, guest / "init.py")
    preload = None
    if inp.shim is not None:
        shutil.copyfile(inp.shim, guest / "statx_shim.so")
        preload = f"{GUEST_DIR}/statx_shim.so"
    src_etc = Path("/etc") if cfg.rootfs is None else cfg.rootfs / "etc"
    build_etc(bundle / "etc", uid=cfg.agent_uid, gid=cfg.agent_gid, proxy_ca=cfg.proxy_ca,
              preload=preload, source_etc=src_etc)
    for p in guest.iterdir():
        p.chmod(0o755)
    guest.chmod(0o755)
    bundle.chmod(0o755)
    mounts = _mounts(cfg, bundle, inp)
    links = inp.gpu.links if inp.gpu is not None else []
    root = _rootfs(bundle, mounts, links) if cfg.rootfs is None else cfg.rootfs
    proxied = inp.proxy_dir is not None
    init = [GUEST_PYTHON, "-I", "-S", f"{GUEST_DIR}/init.py",
            *(["--proxy", PROXY_SOCK] if proxied else []), "--", *cfg.command]
    nofile = {"type": "RLIMIT_NOFILE", "hard": 65536, "soft": 65536}
    nproc = {"type": "RLIMIT_NPROC", "hard": cfg.max_pids, "soft": cfg.max_pids}
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": cfg.agent_uid, "gid": cfg.agent_gid},
            "args": init,
            "env": agent_env(cfg, proxied, inp.gpu),
            "cwd": cfg.cwd,
            "noNewPrivileges": True,
            "capabilities": {k: [] for k in
                             ("bounding", "effective", "inheritable", "permitted", "ambient")},
            "rlimits": [nofile, nproc],
        },
        "root": {"path": str(root), "readonly": True},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            # The cgroup counts runsc's *host* threads (sentry, ptrace stubs), not the
            # agent's processes: a tight limit breaks the sentry. RLIMIT_NPROC above is
            # the agent-level cap; this is only a backstop against host-thread blowup.
            "resources": {"pids": {"limit": 4 * cfg.max_pids + 512}},
            "cgroupsPath": f"/ptaudit/{cid}",
            "devices": inp.gpu.devices if inp.gpu is not None else [],
        },
    }
    data = json.dumps(spec, indent=2, sort_keys=True).encode()
    (bundle / "config.json").write_bytes(data)
    return hashlib.sha256(data).hexdigest()
