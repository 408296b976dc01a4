"""Environment checks for ``ptaudit doctor``: each says what it found and, when missing,
the fix. ``fail`` marks what an audited run cannot do without; ``warn`` what only some
tasks need (a GPU) or what weakens the audit."""

from __future__ import annotations

import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _run(cmd: list[str], timeout: float = 10) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_python() -> Check:
    v = platform.python_version()
    ok = v.startswith("3.11.")
    return Check("python", "ok" if ok else "warn", v, "" if ok else "ptaudit is tested on Python 3.11")


def check_mitmproxy() -> Check:
    exe = shutil.which("mitmdump")
    if not exe:
        return Check("mitmproxy", "fail", "mitmdump not found", "pip install 'mitmproxy>=11.0,<11.1' (make setup)")
    try:
        from mitmproxy.version import VERSION
    except ImportError:
        VERSION = "?"
    return Check("mitmproxy", "ok", f"mitmdump {VERSION} at {exe}")


def check_unshare() -> Check:
    exe = shutil.which("unshare")
    ip = shutil.which("ip")
    if exe and ip:
        return Check("netns", "ok", "unshare and ip present (loopback-only namespaces for tests and demo)")
    return Check("netns", "warn", "unshare or ip missing", "apt-get install -y util-linux iproute2")


def _read_int(p: str) -> int | None:
    try:
        return int(Path(p).read_text().strip())
    except (OSError, ValueError):
        return None


def check_inotify(min_watches: int = 524288, min_queue: int = 65536) -> Check:
    w = _read_int("/proc/sys/fs/inotify/max_user_watches")
    q = _read_int("/proc/sys/fs/inotify/max_queued_events")
    detail = f"max_user_watches={w}, max_queued_events={q}"
    if w is None or q is None:
        return Check("inotify", "fail", "inotify limits unreadable", "a Linux kernel with inotify is required")
    if w < min_watches or q < min_queue:
        return Check("inotify", "warn", detail,
                     f"sysctl -w fs.inotify.max_user_watches={min_watches} fs.inotify.max_queued_events={min_queue}"
                     " (make setup does this); overflows are recorded as events_lost and rescanned")
    return Check("inotify", "ok", detail)


def check_gpu() -> Check:
    try:
        import pynvml
    except ImportError:
        return Check("gpu", "warn", "nvidia-ml-py not installed", "pip install nvidia-ml-py")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Check("gpu", "warn", f"no NVIDIA driver/GPU ({exc.__class__.__name__})",
                     "only tasks with gpu = true need one; GPU monitoring records gpu_unavailable")
    try:
        n = pynvml.nvmlDeviceGetCount()
        names = [pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(n)]
        drv = pynvml.nvmlSystemGetDriverVersion()
        return Check("gpu", "ok", f"{n} GPU(s): {', '.join(map(str, names))}; driver {drv}")
    finally:
        pynvml.nvmlShutdown()


def check_chromium() -> Check:
    exe = shutil.which("chromium")
    if exe:
        return Check("chromium", "ok", exe)
    return Check("chromium", "warn", "not found (only the HTML report's browser test needs it)",
                 "apt-get install -y chromium chromium-driver")


def sandbox_checks() -> list[Check]:
    from sandbox import doctor_checks

    # GPU support is needed only by tasks with gpu = true: what only they need is a warning.
    return [Check(c.name, "ok" if c.ok else ("fail" if c.essential else "warn"), c.detail, c.fix)
            for c in doctor_checks()]


CHECKS: list[Callable[[], Check | list[Check]]] = [
    check_python, sandbox_checks, check_mitmproxy, check_unshare, check_inotify, check_gpu, check_chromium,
]


def run_checks() -> list[Check]:
    results: list[Check] = []
    for fn in CHECKS:
        try:
            r = fn()
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding of doctor
            r = Check(fn.__name__.removeprefix("check_"), "fail", f"check crashed: {exc!r}")
        results.extend(r if isinstance(r, list) else [r])
    return results
