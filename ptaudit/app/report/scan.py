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

from detectors.flowproc import ProxyClients
from detectors.prov_graph import ProvGraph
from monitors.base import lanes
from ptaudit.core.events import (
    DetectorFinding,
    EventData,
    EventDataError,
    EventsLost,
    FsCreate,
    FsDelete,
    FsModify,
    FsMove,
    FsWrite,
    GpuSample,
    GpuUnavailable,
    NetBlocked,
    NetError,
    NetRequest,
    NetResponse,
    ProcConnect,
    ProcContext,
    ProcExec,
    ProcExit,
    ResSample,
    RunEnd,
    RunStart,
    SandboxExit,
    parse_payload,
)
from ptaudit.core.verdict import AuditFacts

from .attrib import ProcIndex

FLOW_CAP = 5_000
FILE_CAP = 20_000
DISTINCT_CAP = 200_000
MARKERS_PER_LANE = 600
SPECIAL_CAP = 400
SERIES_CAP = 1_200
KIND_CAP = 500
CITED_CAP = 2_000
REFUSED_CAP = 2_000
# Refusals by the host allow-list (not by a URL or content rule: those are findings)
HOST_RULES = ("network.default", "network.deny_hosts", "network.allow_hosts", "network.private_address",
              "network.upstream_address", "world.unmapped")


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
    invalid_events: int = 0  # lines whose data does not fit their kind's model
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
    refused: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> {count, first_seq, first_ts, rule}
    refused_more: int = 0
    clients: ProxyClients = field(default_factory=ProxyClients)
    facts: AuditFacts = field(default_factory=AuditFacts)  # whether the audit completed (ptaudit.core.verdict)
    prov: ProvGraph = field(default_factory=lambda: ProvGraph(max_edges=500_000, max_nodes=200_000))
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


def host_of(host: str | None, url: str | None) -> str:
    if not host:
        try:
            host = urlsplit(url or "").hostname or ""
        except ValueError:
            host = ""
    return host[:253] or "?"


def label(kind: str, p: EventData | None) -> str:
    """One short line describing an event (for markers and tables)."""
    for k in ("url", "path", "reason"):
        v = getattr(p, k, None)
        if isinstance(v, str) and v:
            return f"{kind} {v}"
    if isinstance(p, ProcConnect):
        a = p.address
        return f"{kind} {a.get('host') or a.get('path') or a.get('raw') or ''}:{a.get('port') or ''}".rstrip(":")
    if isinstance(p, ProcExec) and p.argv:
        return f"{kind} {' '.join(p.argv)}"
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
                s.facts.unreadable += 1
                continue
            s.facts.feed(kind, data)
            try:
                payload = parse_payload(kind, data)
            except EventDataError:
                s.invalid_events += 1  # counted and shown; the report goes on
                s.facts.unreadable += 1
                payload = None
            _feed(s, seq, ts, source, kind, payload)
            if seq in cited and len(s.cited) < CITED_CAP:
                s.cited[seq] = {"seq": seq, "ts": ts, "source": source, "kind": kind, "data": data}
    return s


def _feed(s: Scan, seq: int, ts: int, source: str, kind: str, p: EventData | None) -> None:
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
    dec.add((ts, seq, kind, label(kind, p)[:160]))
    if p is None:
        return
    s.prov.add(seq, ts, p)
    if isinstance(p, NetRequest | NetResponse | NetBlocked | NetError):
        _net(s, seq, ts, p)
    elif isinstance(p, FsCreate | FsModify | FsWrite | FsMove | FsDelete):
        _fs(s, seq, p)
    elif isinstance(p, ProcContext):
        s.procs.feed(seq, ts, p)
        s.clients.add(ts, p)
        if isinstance(p, ProcExit) and p.exit_status not in (None, 0):
            s.specials.add((ts, seq, "proc", f"{kind} pid {p.pid} exit {p.exit_status}"))
    elif isinstance(p, ResSample):
        s.res.add((ts, p.cpu_s, _num(p.mem_bytes), _num(p.pids), _num(p.workspace_bytes)))
    elif isinstance(p, GpuSample):
        if p.index in s.gpu or len(s.gpu) < 16:
            s.gpu.setdefault(p.index, Decimator(SERIES_CAP)).add((ts, p.util_pct, _num(p.mem_used), _num(p.mem_total)))
    elif isinstance(p, GpuUnavailable):
        s.gpu_unavailable = p.reason or "unavailable"
    elif isinstance(p, SandboxExit):
        s.sandbox_exit = {"exit_code": p.exit_code, "signal": p.signal, "killed": p.killed}
        s.specials.add((ts, seq, "sandbox", label(kind, p)))
    elif isinstance(p, EventsLost):
        producer = (p.producer or "?")[:64]
        if p.count < 0:
            s.loss_unknown = True
            s.lost_by_producer[producer] += 0  # listed, with an unknown number
        else:
            s.events_lost += p.count
            s.lost_by_producer[producer] += p.count
        what = "an unknown number of" if p.count < 0 else str(p.count)
        s.specials.add((ts, seq, lane, f"{what} events lost by {p.producer}"))
    elif isinstance(p, RunStart):
        s.run_start = p.to_data()
    elif isinstance(p, RunEnd):
        s.run_end = p.to_data()
    elif isinstance(p, DetectorFinding):
        if len(s.log_findings) < 10_000:
            s.log_findings.append(p.finding.model_dump())


def _num(v: int | None) -> float | None:
    return None if v is None else float(v)


def _net(s: Scan, seq: int, ts: int, p: NetRequest | NetResponse | NetBlocked | NetError) -> None:
    key = p.flow if p.flow is not None else f"seq{seq}"  # joins a flow's request, response, blocked, error
    if isinstance(p, NetResponse | NetError) and p.request_body is not None:
        s.bytes_out += p.request_body.size or 0  # request bodies are measured as they stream
    if isinstance(p, NetRequest):
        s.flows_total += 1
        host = host_of(p.host, p.url)
        s.host(host)[0] += 1
        if p.blocked and p.rule in HOST_RULES:
            _refused(s, host, seq, ts, p.rule)
        if key not in s.flows and len(s.flows) >= FLOW_CAP:
            s.flows_more += 1
            return
        f = Flow(key, seq, ts, p.method, p.url, host)
        if p.blocked:
            f.blocked = p.rule or "blocked"
        s.flows[key] = f
        s._flow_by_url[f.url] = key
    elif isinstance(p, NetResponse):
        s.bytes_in += p.size
        h = s.host(s.flows[key].host if key in s.flows and s.flows[key].host else host_of(p.host, p.url))
        h[1] += p.size
        h[3] += 1 if (p.status or 0) >= 400 else 0
        fr = s.flows.get(key) if p.flow is not None else None
        if fr is None:
            if len(s.flows) >= FLOW_CAP:
                return
            fr = s.flows[key] = Flow(key, seq, ts, "", p.url, host_of(p.host, p.url))
        fr.status, fr.size, fr.response_seq = p.status, p.size, seq
        fr.type = (p.sniff or p.content_type or "")[:80]
        fr.blob = p.blobs[0] if p.blobs else None
    elif isinstance(p, NetBlocked):
        s.blocked += 1
        if p.stage == "server_connect" and p.rule in HOST_RULES:  # raw tunnels: no request was recorded
            _refused(s, host_of(p.host, p.url), seq, ts, p.rule)
        url = p.url or ""
        s.host(host_of(p.host, url))[2] += 1
        why = p.rule or p.reason or "blocked"
        s.specials.add((ts, seq, "net", f"blocked {url}"[:160]))
        fb: Flow | None = s.flows.get(key) if p.flow is not None else None
        if fb is None and url in s._flow_by_url:
            fb = s.flows.get(s._flow_by_url[url])
        if fb is None:
            s.flows_total += 1
            if len(s.flows) >= FLOW_CAP:
                s.flows_more += 1
                return
            fb = s.flows[key] = Flow(key, seq, ts, p.method or "", url, host_of(p.host, url))
        fb.blocked = why


def _refused(s: Scan, host: str, seq: int, ts: int, rule: str | None) -> None:
    row = s.refused.get(host)
    if row is None:
        if len(s.refused) >= REFUSED_CAP:
            s.refused_more += 1
            return
        row = s.refused[host] = {"host": host, "count": 0, "first_seq": seq, "first_ts": ts, "rule": rule,
                                 "process": s.clients.at(ts)}
    row["count"] += 1


def _fs(s: Scan, seq: int, p: FsCreate | FsModify | FsWrite | FsMove | FsDelete) -> None:
    if isinstance(p, FsDelete):
        if len(s.deleted) < DISTINCT_CAP:
            s.deleted.add(p.path)
        if p.path in s.files:
            s.files[p.path].deleted = True
        return
    path = p.dest if isinstance(p, FsMove) else p.path
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
    if isinstance(p, FsWrite):
        info.size = p.size if p.size is not None else info.size
        info.sha256 = p.sha256 or info.sha256
        info.blob = (p.blobs[0] if p.blobs else None) or info.blob
    info.deleted = False
    if proc is not None:
        info.writer = proc.cmdline
