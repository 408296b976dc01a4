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
from ptaudit.core.runlog import read_events

_TEXT = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(pairs: list[list[str]] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs or []]


def _content(store: BlobStore, body: dict[str, Any] | None, mime: str, max_body: int) -> dict[str, Any]:
    out: dict[str, Any] = {"size": (body or {}).get("size", 0), "mimeType": mime}
    blob = (body or {}).get("blob")
    if blob and store.has(blob):
        data = store.read(blob, limit=max_body)
        if mime.startswith(_TEXT):
            try:
                out["text"] = data.decode()
                return out
            except UnicodeDecodeError:
                pass
        out["text"], out["encoding"] = base64.b64encode(data).decode(), "base64"
    return out


def export_har(rundir: str | Path, max_body: int = 1 << 20) -> dict[str, Any]:
    """HAR 1.2 dict of every recorded request; bodies up to ``max_body`` bytes each."""
    rundir = Path(rundir)
    store = BlobStore(rundir / "blobs")
    requests: dict[str, Any] = {}
    endings: dict[str, Any] = {}
    for ev in read_events(rundir / "events.jsonl"):
        flow = ev.data.get("flow")
        if not flow:
            continue
        if ev.kind == "net.request":
            requests[flow] = ev
        elif ev.kind in ("net.response", "net.error") and flow not in endings:
            endings[flow] = ev
    entries = []
    for flow, req in requests.items():
        r, end = req.data, endings.get(flow)
        d = end.data if end else {}
        timing = d.get("timing") or {}
        u = urlsplit(r["url"])
        reqb = d.get("request_body")
        req_mime = next((v for k, v in r.get("headers") or [] if k.lower() == "content-type"), "")
        request = {"method": r["method"], "url": r["url"], "httpVersion": r.get("http_version") or "HTTP/1.1",
                   "cookies": [], "headers": _headers(r.get("headers")),
                   "queryString": [{"name": k, "value": v} for k, v in parse_qsl(u.query, keep_blank_values=True)],
                   "headersSize": -1, "bodySize": (reqb or {}).get("size", 0)}
        if reqb:
            pd = _content(store, reqb, req_mime, max_body)
            request["postData"] = {"mimeType": req_mime, "text": pd.get("text", ""), **(
                {"encoding": "base64"} if pd.get("encoding") else {})}
        if end is not None and end.kind == "net.response":
            mime = d.get("content_type") or ""
            response = {"status": d["status"], "statusText": d.get("reason") or "",
                        "httpVersion": d.get("http_version") or "HTTP/1.1", "cookies": [],
                        "headers": _headers(d.get("headers")), "content": _content(store, d.get("body"), mime, max_body),
                        "redirectURL": next((v for k, v in d.get("headers") or [] if k.lower() == "location"), ""),
                        "headersSize": -1, "bodySize": d.get("size", 0)}
        else:  # no response: blocked before one, failed, or the run ended mid-flow
            response = {"status": 0, "statusText": d.get("error", "no response recorded"), "httpVersion": "",
                        "cookies": [], "headers": [], "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                        "headersSize": -1, "bodySize": -1, "_error": d.get("error")}
        start = timing.get("start") or req.ts / 1e9
        total = float(timing.get("total_ms") or 0.0)
        wait = float(timing["ttfb_ms"]) if timing.get("ttfb_ms") is not None else -1.0
        entries.append({
            "startedDateTime": _iso(start), "time": total, "request": request, "response": response, "cache": {},
            "timings": {"send": 0, "wait": wait, "receive": max(total - wait, 0) if wait >= 0 else total},
            "_ptaudit": {"flow": flow, "request_seq": req.seq, "response_seq": end.seq if end else None,
                         "sha256": d.get("sha256"), "blocked": bool(r.get("blocked") or d.get("blocked")),
                         "rule": r.get("rule") or d.get("rule"), "upstream": r.get("upstream"), "sniff": d.get("sniff")},
        })
    entries.sort(key=lambda e: str(e["startedDateTime"]))
    return {"log": {"version": "1.2", "creator": {"name": "ptaudit", "version": __version__},
                    "pages": [], "entries": entries}}
