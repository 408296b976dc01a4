"""Live progress of ``ptaudit run``: a rich live panel on a terminal, plain log lines
otherwise (CI logs, pipes). Reads the orchestrator's counters; never blocks the run."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ptaudit.core.events import Event

if TYPE_CHECKING:
    from ptaudit.core.findings import Finding

_SEV_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _fmt(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Stats:
    """Live counters fed by the log writer (cheap: runs under the writer's lock)."""

    def __init__(self) -> None:
        self.by_source: dict[str, int] = {}
        self.flows = self.blocked = self.files = self.procs = 0
        self.gpu_util: float | None = None
        self.findings: dict[str, Finding] = {}  # latest version of each, by id
        self.last: Event | None = None

    def __call__(self, e: Event) -> None:
        self.by_source[e.source] = self.by_source.get(e.source, 0) + 1
        self.last = e
        k = e.kind
        if k == "net.response":
            self.flows += 1
        elif k == "net.blocked":
            self.blocked += 1
        elif k in ("fs.create", "fs.write"):
            self.files += 1
        elif k == "proc.exec":
            self.procs += 1
        elif k == "gpu.sample":
            self.gpu_util = e.payload.util_pct  # type: ignore[union-attr]


class Progress:
    def __init__(self, console: Console | None = None, interval: float = 10.0, show_agent_output: bool = True):
        self.console = console or Console(stderr=True)
        self.tty = self.console.is_terminal
        self.interval = interval
        self.show_agent_output = show_agent_output
        self.stats: Stats | None = None
        self.limit = 0.0
        self.t0 = time.monotonic()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tail: list[str] = []
        self._partial = b""
        self._phase_stop: threading.Event | None = None

    def start(self, stats: Stats, time_limit: float) -> None:
        self.stats = stats
        self.limit = time_limit
        self.t0 = time.monotonic()
        if self.tty:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self._live:
            self._live.update(self._render())
            self._live.stop()
        else:
            self.console.print(self._line(), markup=False)

    def phase(self, name: str | None) -> None:
        """The run's end: say what ptaudit is doing (final scans and detectors can take a
        while on large runs) and, every ``interval``, that it is still at it. None ends it."""
        if self._phase_stop is not None:
            self._phase_stop.set()
            self._phase_stop = None
        if name is None:
            return
        t0, stop = time.monotonic(), threading.Event()
        self._phase_stop = stop
        self.console.print(f"finishing: {name}…", markup=False, highlight=False)

        def tick() -> None:
            while not stop.wait(self.interval):
                self.console.print(f"finishing: {name}: still working ({_fmt(time.monotonic() - t0)})",
                                   markup=False, highlight=False)

        threading.Thread(target=tick, name="progress-phase", daemon=True).start()

    def finding(self, f: Finding) -> None:
        msg = f"finding [{f.severity}] {f.category} {f.rule}: {f.message}"
        if self._live:
            self._tail.append(msg)
        else:
            self.console.print(msg, markup=False, highlight=False)

    def agent_output(self, stream: str, chunk: bytes) -> None:
        if not self.show_agent_output:
            return
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            line = "agent| " + raw.decode(errors="replace")[:300]
            if self._live:
                self._tail = (self._tail + [line])[-8:]
            else:
                self.console.print(line, markup=False, highlight=False)

    # -- rendering -------------------------------------------------------------------
    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.25):
            if self._live:
                self._live.update(self._render())
            elif time.monotonic() - last >= self.interval:
                last = time.monotonic()
                self.console.print(self._line(), markup=False)

    def _line(self) -> str:
        st = self.stats
        assert st is not None
        gpu = f"{st.gpu_util:.0f}%" if st.gpu_util is not None else "n/a"
        return (f"[{_fmt(time.monotonic() - self.t0)} / {_fmt(self.limit)}] flows {st.flows} "
                f"(blocked {st.blocked}) files {st.files} processes {st.procs} gpu {gpu} "
                f"findings {len(st.findings)} events {sum(st.by_source.values())}")

    def _render(self) -> Any:
        st = self.stats
        assert st is not None
        elapsed = time.monotonic() - self.t0
        t = Table.grid(padding=(0, 2))
        t.add_row("elapsed", f"{_fmt(elapsed)} / {_fmt(self.limit)} ({min(100, 100 * elapsed / max(self.limit, 1)):.0f}%)")
        t.add_row("network", f"{st.flows} flows, {st.blocked} blocked")
        t.add_row("files", f"{st.files} written")
        t.add_row("processes", str(st.procs))
        t.add_row("gpu", f"{st.gpu_util:.0f}% util" if st.gpu_util is not None else "n/a")
        t.add_row("events", ", ".join(f"{k} {v}" for k, v in sorted(st.by_source.items())))
        findings = sorted(st.findings.values(), key=lambda f: f.id)
        ft = Table.grid(padding=(0, 1))
        for f in findings[-8:]:
            ft.add_row(Text(f.severity, style=_SEV_STYLE.get(f.severity, "")), f.category, Text(f.message))
        tail = Text("\n".join(self._tail[-8:]), style="dim")
        return Group(Text(f"ptaudit run: {len(findings)} findings so far", style="bold"), t, ft, tail)
