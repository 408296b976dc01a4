"""The event model and the byte-exact line format of ``events.jsonl``.

Each line is one JSON object with the keys, in this order::

    {"seq":N,"ts":NS,"source":"net","kind":"net.request","data":{...},"prev":"<hex>","hash":"<hex>"}

``hash`` is the sha256 of the line's own bytes *without* the ``,"hash":"..."`` member
(that is: the line up to ``,"prev":"<hex>"`` followed by ``}``), and ``prev`` is the
previous line's ``hash`` (64 zeros for seq 0). Hashing raw bytes rather than a
re-serialisation means verification never depends on a JSON library's formatting:
any changed byte breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import cached_property
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .base import EventData, parse_payload

GENESIS = "0" * 64
SCHEMA_VERSION = 1
_HASH_SUFFIX_LEN = len(',"hash":"') + 64 + len('"}')

# The vocabulary of event sources (who produced the event) the recorder accepts by
# default; ``ptaudit run`` adds the sources of the monitors it builds.
SOURCES = ("ptaudit", "net", "fs", "proc", "gpu", "res", "sandbox", "detector")

LOST_KIND = "monitor.events_lost"
"""A producer's record of events it could not deliver: ``count`` (-1: an unknown number)."""


def lost_count(data: dict[str, Any]) -> int | None:
    """The number a ``monitor.events_lost`` event reports; None for "unknown" (-1) or garbage.
    Unknown must never be added as -1: that would lower a total and could clear ``lossy``."""
    n = data.get("count")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return None
    return n


class _payload_property(cached_property):  # type: ignore[type-arg]
    """cached_property without the per-instance-access lock Python 3.11's takes (replay
    reads one payload per event; the value is the same whichever thread computes it)."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__["payload"] = value
        return value


class Event(BaseModel):
    """One record of the run log, as read back from ``events.jsonl``."""

    model_config = ConfigDict(frozen=True, ignored_types=(_payload_property,))

    seq: int = Field(description="Position in the log, gapless from 0.")
    ts: int = Field(description="UTC time the recorder appended it, ns since the epoch.")
    source: str = Field(description="Producer family: ptaudit, net, fs, proc, gpu, res, sandbox, detector.")
    kind: str = Field(description="Hierarchical kind, e.g. net.request, fs.write, sandbox.exit.")
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific payload.")
    prev: str = Field(description="hash of the previous line (64 zeros for seq 0).")
    hash: str = Field(description="sha256 of this line without its hash member.")

    @_payload_property
    def payload(self) -> EventData | None:
        """``data`` as its kind's typed model (validated once, then cached); None for a
        kind without one. Raises EventDataError when the data does not fit the model."""
        return parse_payload(self.kind, self.data)


def now_ns() -> int:
    return time.time_ns()


def dumps(obj: Any) -> str:
    """Deterministic compact JSON used everywhere in the run directory."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)


_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_names: dict[str, bytes] = {}  # source/kind -> its JSON string (a few dozen distinct values)


def _name(s: str) -> bytes:
    b = _names.get(s)
    if b is None:
        b = json.dumps(s).encode()
        if len(_names) < 4096:
            _names[s] = b
    return b


def dumps_data(data: dict[str, Any]) -> bytes:
    """``data`` as compact JSON with sorted keys (the ``data`` member of a line). orjson
    where it can; the json module for what orjson refuses (integers beyond 64 bits),
    which also raises what both refuse. Non-finite floats are not JSON: written as null."""
    try:
        return orjson.dumps(data, option=_ORJSON_OPTS, default=str)
    except (TypeError, orjson.JSONEncodeError):
        return dumps(data).encode()


def encode_line(seq: int, ts: int, source: str, kind: str, data: dict[str, Any], prev: str) -> tuple[bytes, str]:
    """Serialise one record; returns (line bytes including the newline, its hash)."""
    body = b"".join((b'{"seq":%d,"ts":%d,"source":' % (seq, ts), _name(source), b',"kind":', _name(kind),
                     b',"data":', dumps_data(data), b',"prev":"', prev.encode(), b'"'))
    digest = hashlib.sha256(body + b"}").hexdigest()
    return b"".join((body, b',"hash":"', digest.encode(), b'"}\n')), digest


_EVENT_FIELDS = frozenset(Event.model_fields)
_new, _set = object.__new__, object.__setattr__


def trusted_event(obj: dict[str, Any]) -> Event:
    """An Event from a dict already known to have exactly its fields with their types
    (one the writer just built, or a stored line whose shape the reader checked): skips
    pydantic's validation, which would only copy it. Equal to ``Event.model_validate(obj)``
    (tests/core/test_runlog.py); ``obj`` becomes the event's own dict."""
    ev = _new(Event)
    _set(ev, "__dict__", obj)
    _set(ev, "__pydantic_fields_set__", _EVENT_FIELDS)
    _set(ev, "__pydantic_extra__", None)
    _set(ev, "__pydantic_private__", None)
    return ev


def line_digest(line: bytes) -> str | None:
    """Recompute the hash of a stored line (without its newline); None if it has no hash member."""
    if len(line) < _HASH_SUFFIX_LEN or not line.endswith(b'"}'):
        return None
    suffix = line[-_HASH_SUFFIX_LEN:]
    if not suffix.startswith(b',"hash":"'):
        return None
    return hashlib.sha256(line[:-_HASH_SUFFIX_LEN] + b"}").hexdigest()


def blob_refs(data: dict[str, Any]) -> list[str]:
    """Blob hashes an event refers to: the ``blobs`` list by convention."""
    refs = data.get("blobs")
    if isinstance(refs, list):
        return [r for r in refs if isinstance(r, str)]
    return []
