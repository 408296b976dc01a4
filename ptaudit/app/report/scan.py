"""One bounded pass over ``events.jsonl``: counts, flows, file activity, resource series.

Memory and output stay bounded for million-event runs: tables keep their first N rows
(with a count of the rest), time series and timeline markers are decimated by an even
stride (:class:`Decimator`), and only the events that findings cite are kept whole.
Unknown kinds are counted and otherwise ignored; missing or mistyped fields are skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitors.base import lanes
from ptaudit.core.events import LOST_KIND, lost_count

from .attrib import ProcIndex

FLOW_CAP = 5_000
FILE_CAP = 20_000
DISTINCT_CAP = 200_000
MARKERS_PER_LANE = 600
SPECIAL_CAP = 400
SERIES_CAP = 1_200
KIND_CAP = 500
CITED_CAP = 2_000
_WRITE_KINDS = ("fs.create", "fs.modify", "fs.write", "fs.move")


class Decimator:
    """Keeps every ``stride``-th item, doubling the stride whenever it holds more than cap."""

    def __init__(self, cap: int):
        self.cap, self.stride, self.seen = cap, 1, 0
        self.items: list[Any] = []

    def add(self, item: Any) -> None:
        if self.seen % self.stride == 0:
            self.items.append(item)
            if len(self.items) > self.cap:
                self.items, self.stride = self.items[::2], self.stride * 2
        self.seen += 1


@dataclass
class Flow:
    key: str
    seq: int
    ts: int
    method: str = ""
    url: str = ""
    host: str = ""
    status: int | None = None
    size: int | None = None
    type: str = ""
    blocked: str = ""  # the rule or reason when blocked
    response_seq: int | None = None
    blob: str | None = None


@dataclass
class FileInfo:
    path: str
    seq: int
    writes: int = 0
    size: int | None = None
    sha256: str | None = None
    blob: str | None = None
    deleted: bool = False
    writer: str | None = None  # command line of the attributed process


@dataclass
class Scan:
    """What the report needs from the log; every list is capped (see the *_more counters)."""

    events: int = 0
    unreadable_lines: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    by_source: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    flows: dict[str, Flow] = field(default_factory=dict)
    flows_total: int = 0
    flows_more: int = 0
    blocked: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    files: dict[str, FileInfo] = field(default_factory=dict)
    files_more: int = 0
    written: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    distinct_capped: bool = False
    procs: ProcIndex = field(default_factory=ProcIndex)
    events_lost: int = 0
    loss_unknown: bool = False
    lost_by_producer: Counter[str] = field(default_factory=Counter)
    run_start: dict[str, Any] = field(default_factory=dict)
    run_end: dict[str, Any] = field(default_factory=dict)
    sandbox_exit: dict[str, Any] | None = None
    gpu_unavailable: str | None = None
    log_findings: list[dict[str, Any]] = field(default_factory=list)
    cited: dict[int, dict[str, Any]] = field(default_factory=dict)
    markers: dict[str, Decimator] = field(default_factory=dict)
    specials: Decimator = field(default_factory=lambda: Decimator(SPECIAL_CAP))
    res: Decimator = field(default_factory=lambda: Decimator(SERIES_CAP))
    gpu: dict[int, Decimator] = field(default_factory=dict)
    lane_order: list[str] = field(default_factory=lanes)  # the monitor registry's sources, in order
    lanes: frozenset[str] = frozenset()
    hosts: dict[str, list[int]] = field(default_factory=dict)  # host -> [requests, bytes in, blocked, errors]
    _flow_by_url: dict[str, str] = field(default_factory=dict)

    def host(self, name: str) -> list[int]:
        row = self.hosts.get(name)
        if row is None:
            row = [0, 0, 0, 0] if len(self.hosts) < 2000 else self.hosts.setdefault("(other hosts)", [0, 0, 0, 0])
            if len(self.hosts) < 2000:
                self.hosts[name] = row
        return row

    @property
    def duration_s(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return round((self.last_ts - self.first_ts) / 1e9, 3)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def host_of(d: dict[str, Any]) -> str:
    host = _str(d.get("host"))
    if not host:
        try:
            host = urlsplit(_str(d.get("url"))).hostname or ""
        except ValueError:
            host = ""
    return host[:253] or "?"


def first_blob(data: dict[str, Any]) -> str | None:
    blobs = data.get("blobs")
    if isinstance(blobs, list):
        for b in blobs:
            if isinstance(b, str):
                return b
    b = data.get("blob")
    return b if isinstance(b, str) else None


def label(kind: str, data: dict[str, Any]) -> str:
    """One short line describing an event (for markers and tables)."""
    for k in ("url", "path", "address", "reason"):
        if isinstance(data.get(k), str):
            return f"{kind} {data[k]}"
    argv = data.get("argv")
    if isinstance(argv, list):
        return f"{kind} {' '.join(map(str, argv))}"
    return kind


def scan_events(path: Path, cited: set[int]) -> Scan:
    """Read the log once. ``cited`` are the seqs findings refer to; those events are kept."""
    s = Scan()
    s.lanes = frozenset(s.lane_order)
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn last line after a crash (verify reports it)
            try:
                ev = json.loads(raw)
                seq, ts, source, kind = ev["seq"], ev["ts"], ev["source"], ev["kind"]
                data = ev.get("data")
                if not isinstance(data, dict) or not isinstance(seq, int) or not isinstance(ts, int):
                    raise ValueError
                source, kind = str(source), str(kind)
            except (ValueError, KeyError, TypeError):
                s.unreadable_lines += 1
                continue
            _feed(s, seq, ts, source, kind, data)
            if seq in cited and len(s.cited) < CITED_CAP:
                s.cited[seq] = {"seq": seq, "ts": ts, "source": source, "kind": kind, "data": data}
    return s


def _feed(s: Scan, seq: int, ts: int, source: str, kind: str, data: dict[str, Any]) -> None:
    s.events += 1
    s.first_ts = ts if s.first_ts is None else s.first_ts
    s.last_ts = ts
    s.by_source[source] += 1
    if kind in s.by_kind or len(s.by_kind) < KIND_CAP:
        s.by_kind[kind] += 1
    lane = source if source in s.lanes else "other"
    dec = s.markers.get(lane)
    if dec is None:
        dec = s.markers[lane] = Decimator(MARKERS_PER_LANE)
    dec.add((ts, seq, kind, label(kind, data)[:160]))
    if kind.startswith("net."):
        _net(s, seq, ts, kind, data)
    elif kind.startswith("fs."):
        _fs(s, seq, kind, data)
    elif kind.startswith("proc."):
        s.procs.feed(kind, seq, ts, data)
        if kind == "proc.exit" and _int(data.get("exit_status")) not in (None, 0):
            s.specials.add((ts, seq, "proc", f"{kind} pid {data.get('pid')} exit {data.get('exit_status')}"))
    elif kind == "res.sample":
        s.res.add((ts, _num(data.get("cpu_s")), _num(data.get("mem_bytes")), _num(data.get("pids")),
                   _num(data.get("workspace_bytes"))))
    elif kind == "gpu.sample":
        idx = _int(data.get("index")) or 0
        if idx in s.gpu or len(s.gpu) < 16:
            s.gpu.setdefault(idx, Decimator(SERIES_CAP)).add(
                (ts, _num(data.get("util_pct")), _num(data.get("mem_used")), _num(data.get("mem_total"))))
    elif kind == "gpu.unavailable":
        s.gpu_unavailable = _str(data.get("reason")) or "unavailable"
    elif kind == "sandbox.exit":
        s.sandbox_exit = {k: data.get(k) for k in ("exit_code", "signal", "killed")}
        s.specials.add((ts, seq, "sandbox", label(kind, data)))
    elif kind == LOST_KIND:
        n = lost_count(data)
        producer = _str(data.get("producer"))[:64] or "?"
        if n is None:
            s.loss_unknown = True
            s.lost_by_producer[producer] += 0  # listed, with an unknown number
        else:
            s.events_lost += n
            s.lost_by_producer[producer] += n
        what = "an unknown number of" if n is None else str(n)
        s.specials.add((ts, seq, lane, f"{what} events lost by {_str(data.get('producer'))}"))
    elif kind == "run.start":
        s.run_start = data
    elif kind == "run.end":
        s.run_end = data
    elif kind == "detector.finding" and isinstance(data.get("finding"), dict):
        if len(s.log_findings) < 10_000:
            s.log_findings.append(data["finding"])


def _net(s: Scan, seq: int, ts: int, kind: str, d: dict[str, Any]) -> None:
    fid = d.get("flow")  # joins a flow's net.request, net.response, net.blocked and net.error
    key = _str(fid) if fid is not None else f"seq{seq}"
    rb = d.get("request_body")
    if kind in ("net.response", "net.error") and isinstance(rb, dict):
        s.bytes_out += _int(rb.get("size")) or 0  # request bodies are measured as they stream
    if kind == "net.request":
        s.flows_total += 1
        s.host(host_of(d))[0] += 1
        if key not in s.flows and len(s.flows) >= FLOW_CAP:
            s.flows_more += 1
            return
        f = Flow(key, seq, ts, _str(d.get("method")), _str(d.get("url")), host_of(d))
        if d.get("blocked"):
            f.blocked = _str(d.get("rule")) or "blocked"
        s.flows[key] = f
        s._flow_by_url[f.url] = key
    elif kind == "net.response":
        s.bytes_in += _int(d.get("size")) or 0
        h = s.host(s.flows[key].host if key in s.flows and s.flows[key].host else host_of(d))
        h[1] += _int(d.get("size")) or 0
        h[3] += 1 if (_int(d.get("status")) or 0) >= 400 else 0
        fr = s.flows.get(key) if fid is not None else None
        if fr is None:
            if len(s.flows) >= FLOW_CAP:
                return
            fr = s.flows[key] = Flow(key, seq, ts, "", _str(d.get("url")), host_of(d))
        fr.status, fr.size, fr.response_seq = _int(d.get("status")), _int(d.get("size")), seq
        fr.type = _str(d.get("sniffed") or d.get("sniff") or d.get("content_type"))[:80]
        fr.blob = first_blob(d)
    elif kind == "net.blocked":
        s.blocked += 1
        s.host(host_of(d))[2] += 1
        why = _str(d.get("rule")) or _str(d.get("reason")) or "blocked"
        s.specials.add((ts, seq, "net", f"blocked {_str(d.get('url'))}"[:160]))
        fb: Flow | None = s.flows.get(key) if fid is not None else None
        if fb is None and _str(d.get("url")) in s._flow_by_url:
            fb = s.flows.get(s._flow_by_url[_str(d.get("url"))])
        if fb is None:
            s.flows_total += 1
            if len(s.flows) >= FLOW_CAP:
                s.flows_more += 1
                return
            fb = s.flows[key] = Flow(key, seq, ts, _str(d.get("method")), _str(d.get("url")), host_of(d))
        fb.blocked = why


def _fs(s: Scan, seq: int, kind: str, d: dict[str, Any]) -> None:
    if kind in _WRITE_KINDS:
        path = _str(d.get("dest") or d.get("dest_path") or d.get("path"))
        if not path:
            return
        if len(s.written) < DISTINCT_CAP:
            s.written.add(path)
        else:
            s.distinct_capped = True
        proc = s.procs.attribute(path)
        info = s.files.get(path)
        if info is None:
            if len(s.files) >= FILE_CAP:
                s.files_more += 1
                return
            info = s.files[path] = FileInfo(path, seq)
        info.writes += 1
        info.size = _int(d.get("size")) if d.get("size") is not None else info.size
        info.sha256 = _str(d.get("sha256")) or info.sha256
        info.blob = first_blob(d) or info.blob
        info.deleted = False
        if proc is not None:
            info.writer = proc.cmdline
    elif kind == "fs.delete":
        path = _str(d.get("path"))
        if path and len(s.deleted) < DISTINCT_CAP:
            s.deleted.add(path)
        if path in s.files:
            s.files[path].deleted = True
