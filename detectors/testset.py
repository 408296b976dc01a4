"""Loading a benchmark's test items (JSONL, JSON, CSV, Parquet) for the leakage index.

Only ptaudit reads these files; they are never mounted into the sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_TEST_SET_BYTES = 1 << 30


@dataclass(frozen=True)
class TestItem:
    """One test item: its id and the text of each indexed field (missing fields omitted)."""

    __test__ = False  # not a pytest class

    id: str
    texts: dict[str, str]


def text_of(value: Any) -> str:
    """The text of a field value: strings as is, lists and dicts as their strings joined."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(t for t in (text_of(v) for v in value.values()) if t)
    if isinstance(value, list | tuple):
        return "\n".join(t for t in (text_of(v) for v in value) if t)
    return str(value)


def _rows(path: Path, data: bytes) -> Iterable[dict[str, Any]]:
    suffix = "".join(path.suffixes[-2:]).lower()
    if data[:4] == b"PAR1" or path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(io.BytesIO(data)).to_pylist()
    elif path.suffix.lower() == ".csv":
        yield from csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    elif path.suffix.lower() == ".json" and not suffix.endswith(".jsonl"):
        obj = json.loads(data)
        if isinstance(obj, dict):  # {"data": [...]} or {id: item}
            lists = [v for v in obj.values() if isinstance(v, list)]
            obj = lists[0] if len(lists) == 1 else [dict(v, _key=k) if isinstance(v, dict) else {"_key": k, "text": v}
                                                     for k, v in obj.items()]
        yield from (r for r in obj if isinstance(r, dict))
    else:
        for lineno, line in enumerate(data.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}: line {lineno}: not JSON: {exc}") from None
                if isinstance(row, dict):
                    yield row


def load_test_items(path: Path, fields: list[str], id_field: str | None = None) -> tuple[list[TestItem], str]:
    """Read a test set; returns (items, sha256 of the file). Item ids are ``id_field``
    values, or the 1-based row number when the task names none."""
    path = Path(path)
    if path.stat().st_size > MAX_TEST_SET_BYTES:
        raise ValueError(f"{path}: test set larger than 1 GiB")
    data = path.read_bytes()
    items: list[TestItem] = []
    for n, row in enumerate(_rows(path, data), 1):
        ident = str(row.get(id_field, n)) if id_field else str(n)
        texts = {f: text_of(row.get(f)) for f in fields if row.get(f) is not None}
        items.append(TestItem(ident, {f: t for f, t in texts.items() if t.strip()}))
    return items, hashlib.sha256(data).hexdigest()


class TestSetError(ValueError):
    """A test set that cannot be used: unreadable, unparseable, or indexing nothing."""

    __test__ = False


def index_summary(bench: Any) -> dict[str, Any]:
    """Parse a benchmark's test set as the leakage index will, and check that it indexes
    something: every field in ``fields`` (and ``id_field``) must occur in some item, and
    some item must have text. Returns the summary ``run.start`` records (TestSetIndex);
    raises TestSetError naming the benchmark, the file and the field."""
    path, fields, id_field = Path(bench.test_set), list(bench.fields), bench.id_field
    where = f"benchmark {bench.name!r}: test_set {path}"
    try:
        if not path.is_file():
            raise TestSetError(f"{where}: {'is a directory, not a file' if path.is_dir() else 'is not a regular file'}")
        if path.stat().st_size > MAX_TEST_SET_BYTES:
            raise TestSetError(f"{where}: larger than 1 GiB")
        data = path.read_bytes()
        seen: dict[str, int] = {}
        per_field = dict.fromkeys(fields, 0)
        items = indexed = chars = 0
        ids = 0
        for row in _rows(path, data):
            items += 1
            for k in row:
                if len(seen) < 200 or k in seen:
                    seen[k] = seen.get(k, 0) + 1
            any_text = False
            for f in fields:
                t = text_of(row.get(f)).strip()
                if t:
                    per_field[f] += 1
                    chars += len(t)
                    any_text = True
            indexed += any_text
            ids += id_field is not None and row.get(id_field) is not None
    except TestSetError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise TestSetError(f"{where}: cannot read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser's error: one line naming the file
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TestSetError(f"{where}: not parseable as {path.suffix or 'JSONL'}: {msg.removeprefix(str(path) + ': ')}") from None
    known = ", ".join(sorted(seen)[:20]) or "none"
    if items == 0:
        raise TestSetError(f"{where}: holds no items (rows of objects); nothing would be indexed")
    for f, n in per_field.items():
        if n == 0:
            raise TestSetError(f"{where}: field {f!r} (in fields) has text in none of its {items} items "
                               f"(fields there: {known})")
    if id_field is not None and ids == 0:
        raise TestSetError(f"{where}: id_field {id_field!r} is in none of its {items} items (fields there: {known})")
    if chars == 0:
        raise TestSetError(f"{where}: the index would be empty")
    return {"benchmark": bench.name, "file": str(path), "sha256": hashlib.sha256(data).hexdigest(), "items": items,
            "indexed_items": indexed, "fields": per_field, "chars": chars}
