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


class Event(BaseModel):
    """One record of the run log, as read back from ``events.jsonl``."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(description="Position in the log, gapless from 0.")
    ts: int = Field(description="UTC time the recorder appended it, ns since the epoch.")
    source: str = Field(description="Producer family: ptaudit, net, fs, proc, gpu, res, sandbox, detector.")
    kind: str = Field(description="Hierarchical kind, e.g. net.request, fs.write, sandbox.exit.")
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific payload.")
    prev: str = Field(description="hash of the previous line (64 zeros for seq 0).")
    hash: str = Field(description="sha256 of this line without its hash member.")

    @cached_property
    def payload(self) -> EventData | None:
        """``data`` as its kind's typed model (validated once, then cached); None for a
        kind without one. Raises EventDataError when the data does not fit the model."""
        return parse_payload(self.kind, self.data)


def now_ns() -> int:
    return time.time_ns()


def dumps(obj: Any) -> str:
    """Deterministic compact JSON used everywhere in the run directory."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)


def encode_line(seq: int, ts: int, source: str, kind: str, data: dict[str, Any], prev: str) -> tuple[bytes, str]:
    """Serialise one record; returns (line bytes including the newline, its hash)."""
    body = (
        f'{{"seq":{seq},"ts":{ts},"source":{json.dumps(source)},"kind":{json.dumps(kind)},'
        f'"data":{dumps(data)},"prev":"{prev}"}}'
    ).encode()
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + f',"hash":"{digest}"}}\n'.encode(), digest


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
