"""Run the calling thread (and every thread and process it starts) in a fresh network
namespace that has only ``lo``: traffic to anything but loopback is impossible, DNS
included, so a test passing inside it proves nothing left the machine."""

from __future__ import annotations

import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_loopback_netns() -> int:
    """Move the calling thread into a new net namespace with lo up; returns a handle for
    :func:`leave_netns`. Namespaces are per thread on Linux: only threads and children
    created by this thread afterwards inherit it. Needs CAP_SYS_ADMIN (root)."""
    old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    if _libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        os.close(old)
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return old


def leave_netns(handle: int) -> None:
    if _libc.setns(handle, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(original net namespace): {os.strerror(err)}")
    os.close(handle)

