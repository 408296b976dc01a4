"""Workspace size cap: a sampling watcher (disk usage like `du`, bounded walk)."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
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


class WorkspaceWatcher:
    """Every interval, measure the workspace; call on_exceed(bytes) once when over limit."""

    def __init__(self, root: Path, limit: int, interval_s: float,
                 on_exceed: Callable[[int], None]) -> None:
        self.root, self.limit, self.interval_s = root, limit, interval_s
        self.on_exceed = on_exceed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wsize", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            used, _ = disk_usage(self.root, stop_above=self.limit)
            if used > self.limit:
                self.on_exceed(used)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
