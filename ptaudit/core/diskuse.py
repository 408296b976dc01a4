"""Disk usage of a directory tree like `du`, with a bounded walk (the sandbox's workspace cap
and the resources monitor both measure the workspace with it)."""
from __future__ import annotations

import os
from pathlib import Path

MAX_ENTRIES = 2_000_000  # bound one sample's cost on pathological trees


def disk_usage(root: Path, stop_above: int | None = None) -> tuple[int, int]:
    """(bytes on disk, entries seen); stops early once above stop_above."""
    total, seen, stack = 0, 0, [str(root)]
    while stack and seen < MAX_ENTRIES:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue  # vanished or unreadable: the agent races us, that is fine
        with it:
            for entry in it:
                seen += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
        if stop_above is not None and total > stop_above:
            break
    return total, seen
