"""Monitor supervision, as run policy: a monitor that dies stops the run (fail closed)
unless the policy says ``monitors.on_failure = "continue"``, in which case the run goes on
labelled lossy (a ``monitor.events_lost`` event with an unknown count says so)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from monitors.base import Monitor
from ptaudit.core.events import EventData, EventsLost, MonitorFailed


class Supervisor:
    """Polls ``status()`` of every monitor ``monitors()`` returns, from its own thread,
    until ``done`` is set. Each monitor is reported once."""

    def __init__(self, monitors: Callable[[], list[Monitor]], on_failure: Literal["stop", "continue"],
                 record: Callable[[EventData], Any], stop_run: Callable[[str], None],
                 done: threading.Event, interval: float = 1.0):
        self.monitors, self.on_failure, self.record, self.stop_run = monitors, on_failure, record, stop_run
        self.done, self.interval = done, interval
        self.failed: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="monitor-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        reported: set[int] = set()
        while not self.done.wait(self.interval):
            for m in list(self.monitors()):
                if id(m) in reported:
                    continue
                try:
                    st = m.status()
                    healthy, detail = st.healthy, st.detail
                except Exception as exc:  # noqa: BLE001 - a monitor whose status raises is not healthy
                    healthy, detail = False, f"status() raised {exc!r}"
                if healthy:
                    continue
                reported.add(id(m))
                self.failed.append(m.name)
                try:
                    self.record(MonitorFailed(monitor=type(m).__name__, detail=detail))
                    if self.on_failure == "continue":
                        self.record(EventsLost(producer=type(m).__name__, count=-1,
                                               reason="monitor died; run continues (policy)"))
                except Exception:  # noqa: BLE001, S110 - the log itself failed: the run is ending incomplete
                    pass
                if self.on_failure == "stop":
                    self.stop_run(f"monitor_failed: {type(m).__name__}")
