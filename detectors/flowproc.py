"""Which sandbox process (likely) sent a request: the last process that connected to the
in-sandbox proxy forwarder before the request reached the proxy.

The proxy sees the forwarder's connection, not the process behind it; the trace monitor
sees the process's ``connect(127.0.0.1:3128)`` but not the request. Joining them by time
is an attribution, not a proof: a connection kept alive and reused, or two processes
connecting within the slack, can name the wrong process. Findings call it "likely".
"""

from __future__ import annotations

import bisect
from typing import Any

from ptaudit.core.events import Event, ProcClone, ProcConnect, ProcExec, ProcExit
from ptaudit.core.proctree import ProcTree

# sandbox/bundle.py PROXY_URL: the forwarder init.py binds inside every sandbox
PROXY_ADDRESS = ("127.0.0.1", 3128)
SLACK_NS = 1_000_000_000  # the two monitors' events reach the recorder in either order
MAX_CONNECTS = 200_000


class ProxyClients:
    """Feed every event; ``at(ts)`` names the process most likely behind a request at ``ts``."""

    def __init__(self) -> None:
        self.tree = ProcTree()
        self._ts: list[int] = []
        self._who: list[tuple[int | None, str | None]] = []

    def feed(self, event: Event) -> None:
        self.add(event.ts, event.payload)

    def add(self, ts: int, p: object) -> None:
        """One event's typed payload, with the event's ``ts``."""
        if isinstance(p, ProcExec | ProcClone | ProcExit):
            self.tree.update(p)
        elif isinstance(p, ProcConnect):
            a = p.address
            if (a.get("host"), a.get("port")) == PROXY_ADDRESS and len(self._ts) < MAX_CONNECTS:
                i = bisect.bisect_right(self._ts, ts)
                self._ts.insert(i, ts)
                self._who.insert(i, (p.pid, p.comm))

    def at(self, ts: int) -> dict[str, Any] | None:
        i = bisect.bisect_right(self._ts, ts + SLACK_NS)
        if i == 0:
            return None
        pid, comm = self._who[i - 1]
        out: dict[str, Any] = {"pid": pid, "comm": comm}
        if pid is not None and (cmd := self.tree.cmdline(pid)):
            out["cmdline"] = cmd[:300]
        return out
