"""Console helpers: rich on a terminal, plain text when piped (rich decides per stream)."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
