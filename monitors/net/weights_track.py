"""Fingerprints of model weights as response bodies stream through the proxy.

One :class:`ResourceFingerprint` (detectors/fingerprint.py) per *resource*: a URL's host
and path, joined with the file's total size (``Content-Range``) and its ETag when given,
so the Range pieces of one file, fetched in any order and over any number of flows,
fingerprint the same tensors as the whole file. Each body is one contiguous piece at the
offset its ``Content-Range`` names (0 for a plain 200).

Which bodies: a 200/206 response whose first bytes are a weights format
(detectors/weightfile.py ``detect``), or any piece of a resource already known to be
weights; a 206 piece that starts past byte 0 of a resource not seen yet is kept (parked,
bounded) in case its header piece comes later. Bounded: at most ``max_resources``
resources (least recently used dropped first, with a note on the next event of theirs),
and each resource parks at most ``max_pending`` bytes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from detectors.fingerprint import ResourceFingerprint, Segment
from detectors.weightfile import detect
from ptaudit.core.events import NetWeights

_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_SNIFF = 16


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """(start, end exclusive, total or None) of a ``Content-Range`` header."""
    m = _RANGE.match(value or "")
    if not m:
        return None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)) + 1, total


def resource_key(url: str, total: int | None, etag: str | None) -> str:
    u = urlsplit(url)
    return f"{(u.hostname or '').lower()}{u.path}|{total if total is not None else '?'}|{etag or ''}"


@dataclass
class _Resource:
    fp: ResourceFingerprint
    weights: bool  # a piece with a weights header was seen


class WeightsBody:
    """One response body: ``feed`` every chunk as forwarded, then ``finish``."""

    def __init__(self, tracker: WeightsTracker, key: str, offset: int, total: int | None, url: str, host: str,
                 flow: str | None, status: int):
        self.tracker, self.key, self.offset, self.total = tracker, key, offset, total
        self.url, self.host, self.flow, self.status = url, host, flow, status
        self.early = bytearray()  # a body's first bytes, until the format can be told
        self.seg: Segment | None = None
        self.off = False  # not weights: stop looking
        self.seen = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.off or not chunk:
            return
        if self.seg is None and not self._start(chunk):
            return
        assert self.seg is not None
        self.seg.feed(chunk)
        self.seen += len(chunk)

    def _start(self, chunk: bytes | memoryview) -> bool:
        """Decide whether this body is followed; True when ``chunk`` is still to be fed."""
        t = self.tracker
        if self.offset == 0:
            self.early += chunk
            if len(self.early) < _SNIFF:
                return False
            if detect(bytes(self.early[:_SNIFF])) is None:
                self.off, self.early = True, bytearray()
                return False
            res = t._resource(self.key)
            res.weights = True
            self.seg = res.fp.segment(0)
            self.seg.feed(self.early)  # includes this chunk
            self.seen, self.early = len(self.early), bytearray()
            return False
        if self.total is None and not t._known(self.key):
            self.off = True  # a piece of something unknown and unsized: nothing to join it with
            return False
        self.seg = t._resource(self.key).fp.segment(self.offset)
        return True

    def finish(self, blocked: bool = False) -> NetWeights | None:
        """The body ended (or was cut): the weights event, or None if it was not weights."""
        if self.seg is None:
            return None
        self.seg.close()
        res = self.tracker.resources.get(self.key)
        if res is None or not res.weights:
            return None  # a piece of something whose header piece has not come (it is parked)
        self.tracker.resources.move_to_end(self.key)
        fp = res.fp
        whole = (self.total is not None and fp.pieces == [(0, self.total)]) or \
            (self.total is None and self.offset == 0 and not blocked)
        if whole:
            fp.finish()  # every byte seen: a short file's header parses now, parked bytes are hashed
        return NetWeights(flow=self.flow, url=self.url, host=self.host, resource=self.key,
                          range=[self.offset, self.offset + self.seen], total=self.total, status=self.status,
                          blocked=blocked, **fp.result())


class WeightsTracker:
    """The proxy's weights resources (one per proxy process)."""

    def __init__(self, max_resources: int = 256, max_pending: int = 64 << 20):
        self.resources: OrderedDict[str, _Resource] = OrderedDict()
        self.max_resources = max_resources
        self.max_pending = max_pending
        self.dropped = 0

    def _known(self, key: str) -> bool:
        r = self.resources.get(key)
        return r is not None and r.weights

    def _resource(self, key: str) -> _Resource:
        r = self.resources.get(key)
        if r is None:
            while len(self.resources) >= self.max_resources:
                self.resources.popitem(last=False)
                self.dropped += 1
            r = self.resources[key] = _Resource(ResourceFingerprint(max_pending=self.max_pending), False)
        return r

    def body(self, url: str, host: str, flow: str | None, status: int, method: str,
             headers: dict[str, str]) -> WeightsBody | None:
        """A watcher for a response body, or None when it cannot be weights (not 200/206, HEAD)."""
        if method == "HEAD" or status not in (200, 206):
            return None
        offset, total = 0, None
        if status == 206:
            cr = content_range(headers.get("content-range"))
            if cr is None:
                return None  # multipart/byteranges: not followed
            offset, _end, total = cr
        else:
            try:
                total = int(headers["content-length"]) if "content-length" in headers else None
            except ValueError:
                total = None
            if headers.get("content-encoding", "identity").lower() not in ("identity", ""):
                return None  # compressed on the wire: the file is fingerprinted where it lands
        etag = headers.get("etag") or headers.get("x-linked-etag")
        return WeightsBody(self, resource_key(url, total, etag), offset, total, url, host, flow, status)

    def status(self) -> dict[str, Any]:
        return {"resources": len(self.resources), "dropped": self.dropped}
