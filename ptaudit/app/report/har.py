"""HAR 1.2 export of a run's network traffic (``ptaudit report RUNDIR --format har``).

Built only from recorded events (net.request + net.response/net.error, joined on the
flow id) and stored blobs: a HAR shows what the audit saw, never a re-fetch. Bodies
larger than what was stored are cut at the stored prefix; ``_ptaudit`` carries the
whole-stream sha256 and size so a reader knows.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ptaudit import __version__
from ptaudit.core.blobs import BlobStore
from ptaudit.core.events import Body, Event, NetError, NetRequest, NetResponse
from ptaudit.core.runlog import read_events

_KINDS = (NetRequest.KIND, NetResponse.KIND, NetError.KIND)
_TEXT = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(pairs: list[list[str]]) -> list[dict[str, str]]:
    return [{"name": h[0], "value": h[1]} for h in pairs if len(h) == 2]


def _content(store: BlobStore, body: Body | None, mime: str, max_body: int) -> dict[str, Any]:
    out: dict[str, Any] = {"size": (body.size if body else None) or 0, "mimeType": mime}
    if body is not None and body.blob and store.has(body.blob):
        data = store.read(body.blob, limit=max_body)
        if mime.startswith(_TEXT):
            try:
                out["text"] = data.decode()
                return out
            except UnicodeDecodeError:
                pass
        out["text"], out["encoding"] = base64.b64encode(data).decode(), "base64"
    return out


def _header(headers: list[list[str]], name: str) -> str:
    return next((h[1] for h in headers if len(h) == 2 and h[0].lower() == name), "")


def export_har(rundir: str | Path, max_body: int = 1 << 20, comment: str | None = None) -> dict[str, Any]:
    """HAR 1.2 dict of every recorded request; bodies up to ``max_body`` bytes each.
    ``comment`` (the run's verdict and its reason) becomes the log's comment."""
    rundir = Path(rundir)
    store = BlobStore(rundir / "blobs")
    requests: dict[str, tuple[Event, NetRequest]] = {}
    endings: dict[str, tuple[Event, NetResponse | NetError]] = {}
    for ev in read_events(rundir / "events.jsonl", bad=[]):
        if ev.kind not in _KINDS:
            continue
        p = ev.payload
        if isinstance(p, NetRequest) and p.flow:
            requests[p.flow] = (ev, p)
        elif isinstance(p, NetResponse | NetError) and p.flow and p.flow not in endings:
            endings[p.flow] = (ev, p)
    entries = []
    for flow, (req, r) in requests.items():
        end, d = endings.get(flow, (None, None))
        timing = (d.timing if isinstance(d, NetResponse) else None) or {}
        u = urlsplit(r.url)
        reqb = d.request_body if d is not None else None
        req_mime = _header(r.headers, "content-type")
        request = {"method": r.method, "url": r.url, "httpVersion": r.http_version or "HTTP/1.1",
                   "cookies": [], "headers": _headers(r.headers),
                   "queryString": [{"name": k, "value": v} for k, v in parse_qsl(u.query, keep_blank_values=True)],
                   "headersSize": -1, "bodySize": (reqb.size if reqb else None) or 0}
        if reqb:
            pd = _content(store, reqb, req_mime, max_body)
            request["postData"] = {"mimeType": req_mime, "text": pd.get("text", ""), **(
                {"encoding": "base64"} if pd.get("encoding") else {})}
        if isinstance(d, NetResponse):
            mime = d.content_type or ""
            response = {"status": d.status, "statusText": d.reason or "",
                        "httpVersion": d.http_version or "HTTP/1.1", "cookies": [],
                        "headers": _headers(d.headers), "content": _content(store, d.body, mime, max_body),
                        "redirectURL": _header(d.headers, "location"), "headersSize": -1, "bodySize": d.size}
        else:  # no response: blocked before one, failed, or the run ended mid-flow
            error = d.error if isinstance(d, NetError) else None
            response = {"status": 0, "statusText": error or "no response recorded", "httpVersion": "",
                        "cookies": [], "headers": [], "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                        "headersSize": -1, "bodySize": -1, "_error": error}
        start = timing.get("start") or req.ts / 1e9
        total = float(timing.get("total_ms") or 0.0)
        wait = float(timing["ttfb_ms"]) if timing.get("ttfb_ms") is not None else -1.0
        entries.append({
            "startedDateTime": _iso(start), "time": total, "request": request, "response": response, "cache": {},
            "timings": {"send": 0, "wait": wait, "receive": max(total - wait, 0) if wait >= 0 else total},
            "_ptaudit": {"flow": flow, "request_seq": req.seq, "response_seq": end.seq if end else None,
                         "sha256": d.sha256 if isinstance(d, NetResponse) else None,
                         "blocked": bool(r.blocked or (d is not None and d.blocked)),
                         "rule": r.rule or (d.rule if isinstance(d, NetResponse) else None), "upstream": r.upstream,
                         "sniff": d.sniff if isinstance(d, NetResponse) else None},
        })
    entries.sort(key=lambda e: str(e["startedDateTime"]))
    log: dict[str, Any] = {"version": "1.2", "creator": {"name": "ptaudit", "version": __version__},
                           "pages": [], "entries": entries}
    if comment:
        log["comment"] = comment
    return {"log": log}
