"""Progress of a grading run: a rich bar per phase with items done and tokens/s.

``Progress`` is what :mod:`grading.grade` reports to; ``RichProgress`` draws it on a
terminal (and prints plain lines when the console is not one); ``None`` shows nothing.
"""

from __future__ import annotations

import time
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.progress import Progress as _RichBar
from rich.text import Text


class Progress(Protocol):
    def phase(self, name: str, total: int) -> None: ...

    def advance(self, items: int, tokens: int) -> None: ...

    def done(self) -> None: ...


class _TokensPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("tok_s")
        return Text(f"{rate:,.0f} tok/s" if rate else "- tok/s", style="cyan")


class RichProgress:
    """One bar per phase (a benchmark on a model, or the probe)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = _RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("items"), _TokensPerSecond(), TimeElapsedColumn(), console=console,
                            transient=False, disable=not console.is_terminal)
        self._task: int | None = None
        self._name = ""
        self._tokens = self._items = 0
        self._t0 = 0.0
        self.bar.start()

    def phase(self, name: str, total: int) -> None:
        self.done()
        self._name, self._tokens, self._items, self._t0 = name, 0, 0, time.monotonic()
        self._task = self.bar.add_task(name, total=total, tok_s=None)

    def advance(self, items: int, tokens: int) -> None:
        if self._task is None:
            return
        self._tokens += tokens
        self._items += items
        rate = self._tokens / max(time.monotonic() - self._t0, 1e-9)
        self.bar.update(self._task, advance=items, tok_s=rate)

    def done(self) -> None:
        if self._task is None:
            return
        if not self.console.is_terminal:
            dt = max(time.monotonic() - self._t0, 1e-9)
            self.console.print(f"grade: {self._name}: {self._items} items, "
                               f"{self._tokens / dt:,.0f} tok/s", markup=False)
        self._task = None

    def stop(self) -> None:
        self.done()
        self.bar.stop()
