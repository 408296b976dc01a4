"""Human units in input files: durations ("10h", "90s") and sizes ("64MiB")."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DUR_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.I)
_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "10h", "30m", "45s", "1.5d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as \"10h\" or \"90s\"")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DUR.match(str(value))
        if not m:
            raise ValueError(f"invalid duration {value!r}: use a number with ms, s, m, h or d (e.g. \"10h\")")
        seconds = float(m.group(1)) * _DUR_UNITS[m.group(2)]
    if seconds < 0:
        raise ValueError("duration must not be negative")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from a number or a string like "64MiB", "1GB"."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as \"64MiB\"")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise ValueError(f"invalid size {value!r}: use a number with B, KiB, MiB, GiB, KB, MB, GB (e.g. \"64MiB\")")
        n = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "B").upper()])
    if n < 0:
        raise ValueError("size must not be negative")
    return n


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
