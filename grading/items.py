"""Benchmark items for grading: the question, the reference, and what a scorer needs.

Rows come from the same reader the leakage index uses (JSONL, JSON, CSV, Parquet). Each
type has default field names, matching the public releases:

| type | question | reference | also |
|---|---|---|---|
| gsm8k | ``question`` | ``answer`` (number after ``####``, or the value) | |
| aime | ``problem`` | ``answer`` (integer 0-999) | |
| multiple_choice | ``question`` | ``answer`` (letter, or index into ``choices``) | ``choices`` list or ``A``..``J`` fields |
| bfcl | ``question`` (text or BFCL message lists) | ``ground_truth`` (BFCL possible answers) | ``function`` (docs) |
| humaneval | ``prompt`` | ``test`` | ``entry_point`` |
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.testset import MAX_TEST_SET_BYTES, _rows, text_of
from ptaudit.core.errors import InputError
from ptaudit.core.task import Benchmark, BenchmarkGrading

DEFAULT_FIELDS: dict[str, tuple[str, str]] = {
    "gsm8k": ("question", "answer"),
    "aime": ("problem", "answer"),
    "multiple_choice": ("question", "answer"),
    "bfcl": ("question", "ground_truth"),
    "humaneval": ("prompt", "test"),
}
LETTERS = string.ascii_uppercase[:10]


@dataclass
class Item:
    id: str
    question: str
    reference: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _question(value: Any) -> str:
    # BFCL stores [[{"role": "user", "content": ...}]]: keep the user turns' text.
    if isinstance(value, list):
        turns = [m for m in _flatten(value) if isinstance(m, dict) and "content" in m]
        if turns:
            return "\n".join(str(m["content"]) for m in turns if m.get("role", "user") != "system")
    return text_of(value)


def _flatten(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in value:
        out.extend(_flatten(v) if isinstance(v, list) else [v])
    return out


def _choices(row: dict[str, Any]) -> list[str]:
    if isinstance(row.get("choices"), list):
        return [text_of(c) for c in row["choices"]]
    return [text_of(row[k]) for k in LETTERS if row.get(k) not in (None, "")]


def _reference(kind: str, row: dict[str, Any], key: str, choices: list[str]) -> Any:
    ref = row.get(key)
    if kind == "multiple_choice":
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(choices):
            return LETTERS[ref]
        ref = text_of(ref).strip().upper()
        if len(ref) == 1 and ref in LETTERS[: max(len(choices), 1)]:
            return ref
        if text_of(row.get(key)) in choices:
            return LETTERS[choices.index(text_of(row.get(key)))]
        raise ValueError(f"answer {row.get(key)!r} is neither a choice letter nor a choice")
    if kind == "bfcl":
        if isinstance(ref, str):
            ref = json.loads(ref)
        if not isinstance(ref, list):
            raise ValueError("ground_truth must be a list of {function: {arg: [possible values]}}")
        return ref
    if ref is None:
        raise ValueError(f"no {key!r} field")
    return ref


def load_items(path: Path, kind: str, g: BenchmarkGrading, id_field: str | None, limit: int | None) -> list[Item]:
    """Read up to ``limit`` items; a bad row is an InputError naming file and row."""
    qkey, akey = DEFAULT_FIELDS[kind]
    qkey, akey = g.prompt_field or qkey, g.answer_field or akey
    if kind == "aime" and not g.prompt_field:
        qkey = "problem"
    if path.stat().st_size > MAX_TEST_SET_BYTES:
        raise InputError(f"{path}: larger than 1 GiB")
    items: list[Item] = []
    try:
        rows = list(_rows(path, path.read_bytes()))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for n, row in enumerate(rows, 1):
        if limit is not None and len(items) >= limit:
            break
        q = row.get(qkey) if qkey in row else row.get("question")
        if q is None:
            raise InputError(f"{path}: row {n}: no {qkey!r} field")
        extra: dict[str, Any] = {}
        choices = _choices(row) if kind == "multiple_choice" else []
        if kind == "multiple_choice":
            if len(choices) < 2:
                raise InputError(f"{path}: row {n}: multiple_choice needs a choices list or A, B, ... fields")
            extra["choices"] = choices
        if kind == "bfcl":
            fn = row.get("function")
            extra["functions"] = json.loads(fn) if isinstance(fn, str) else (fn or [])
        if kind == "humaneval":
            extra["entry_point"] = str(row.get("entry_point") or "")
            if not extra["entry_point"]:
                raise InputError(f"{path}: row {n}: humaneval needs entry_point")
        try:
            ref = _reference(kind, row, akey, choices)
        except ValueError as exc:
            raise InputError(f"{path}: row {n}: {exc}") from None
        ident = str(row.get(id_field, n)) if id_field else str(row.get("task_id") or row.get("id") or n)
        items.append(Item(ident, _question(q) if kind != "humaneval" else str(q), ref, extra))
    if not items:
        raise InputError(f"{path}: no items to grade")
    return items


def benchmark_items(b: Benchmark) -> list[Item]:
    g = b.grading
    assert g is not None
    return load_items(g.path or b.test_set, g.type, g, b.id_field, g.items)


def few_shot_items(b: Benchmark) -> list[Item]:
    g = b.grading
    if g is None or not g.few_shot or g.few_shot_set is None:
        return []
    return load_items(g.few_shot_set, g.type, g, None, g.few_shot)
