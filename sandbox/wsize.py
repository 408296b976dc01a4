"""Workspace size cap: a sampling watcher over :func:`ptaudit.core.diskuse.disk_usage`."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ptaudit.core.diskuse import disk_usage


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
