"""Strict TOML loading with errors that name the file, the key path and the line.

tomllib gives positions for syntax errors only; for validation errors we find the line
of the offending key ourselves by walking the file's table headers and keys. That is a
best effort (it handles the tables, arrays of tables and dotted keys our files use) and
a message without a line is still correct.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InputError

M = TypeVar("M", bound=BaseModel)
MAX_INPUT_BYTES = 4 << 20  # input files are small; refuse anything larger rather than parse it

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-" ]+?)\s*=""")


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise InputError(f"{path}: larger than {MAX_INPUT_BYTES >> 20} MiB; not a ptaudit input file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None


def load_model(path: Path, model: type[M], what: str,
               context: dict[str, Any] | None = None) -> tuple[M, dict[str, Any]]:
    """Validate a TOML file against ``model``; ``context`` reaches its validators."""
    data, text = read_toml(path)
    try:
        return model.model_validate(data, context=context), data
    except ValidationError as exc:
        raise InputError(format_validation(path, text, data, exc, what)) from None


class NestedError(ValueError):
    """Raised by a validator that checks part of a table against something else (a policy
    rule against the detector registry), so the error can name the key and its line."""

    def __init__(self, loc: tuple[Any, ...], msg: str):
        super().__init__(msg)
        self.loc = loc


def format_validation(path: Path, text: str, data: dict[str, Any], exc: ValidationError, what: str) -> str:
    lines = []
    for err in exc.errors()[:10]:
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, NestedError):
            loc += list(inner.loc)
        keypath = _keypath(loc, data)
        line = key_line(text, loc, data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f'unknown key "{loc[-1]}"'
        elif err["type"] == "missing":
            msg = f'missing required key "{loc[-1]}"'
            keypath = _keypath(loc[:-1], data) or "(top level)"
            line = key_line(text, loc[:-1], data) if loc[:-1] else None  # the table that lacks it
        where = f" (line {line})" if line else ""
        lines.append(f"{path}: {what} {keypath}: {msg}{where}" if keypath else f"{path}: {msg}{where}")
    if len(exc.errors()) > 10:
        lines.append(f"{path}: ... and {len(exc.errors()) - 10} more errors")
    return "\n".join(lines)


def _keypath(loc: list[Any], data: Any) -> str:
    """Readable key path; array items named by their id/name when they have one."""
    out: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            label = node.get("id") or node.get("name") if isinstance(node, dict) else None
            out[-1] = f'{out[-1]}[{part}]' + (f' ("{label}")' if label else "")
            continue
        out.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(out)


def key_line(text: str, loc: list[Any], data: dict[str, Any]) -> int | None:
    """Line number (1-based) where the key at ``loc`` is written, if we can find it."""
    counts: dict[str, int] = {}
    # Split loc into the table path (with array indices) and the final key.
    parts = list(loc)
    while parts and isinstance(parts[-1], int):
        parts.pop()
    if not parts:
        return None
    key = str(parts[-1])
    table_path = loc[: len(parts) - 1]
    target = ".".join(str(p) for p in table_path if not isinstance(p, int))
    target_index = next((p for p in reversed(table_path) if isinstance(p, int)), None)
    current = ""
    current_index = -1
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _HEADER.match(raw)
        if m:
            current = m.group(2).replace('"', "").replace(" ", "")
            if current == (f"{target}.{key}" if target else key) and (
                    target_index is None or counts.get(target) == target_index):
                return lineno  # the key is a table: its header
            if m.group(1) == "[[":
                counts[current] = counts.get(current, -1) + 1
                current_index = counts[current]
            elif not any(current == t or current.startswith(t + ".") for t in counts):
                current_index = -1
            continue
        km = _KEY.match(raw)
        if not km:
            continue
        written = km.group(1).strip().strip("\"'")
        full = f"{current}.{written}" if current else written
        if full.split(".")[-1] != key:
            continue
        prefix = full.rsplit(".", 1)[0] if "." in full else ""
        if prefix == target and (target_index is None or current_index == target_index or current_index < 0):
            return lineno
    return None
