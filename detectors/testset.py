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
