"""``report.html``: one self-contained page (inline CSS, SVG and a few lines of JS; no fetches).

Sections: verdict and run facts; counts; the timeline; findings with their evidence
(expandable, linked to the cited events and blobs); the cited events; flows; file
activity per process; processes; resource charts. Everything from the run is escaped
with ``html.escape`` (the agent controls URLs, paths and command lines); hrefs are only
in-page anchors built from integers or ``blobs/aa/<sha256>`` links whose hash was checked
to be 64 hex digits. Tables stop at a cap and say how many rows they left out.
"""

from __future__ import annotations

import json
import os
from html import escape as e
from pathlib import Path
from typing import Any

from ptaudit.core.findings import SEVERITIES, severity_rank

from .activity import Page as _Page
from .activity import counts, files, flows, procs, resources
from .grade import grade_section
from .model import Report
from .provenance import section as provenance_section
from .style import CSS, JS, JS_HASH
from .svg import SEV_COLOR, fmt_dur, timeline
from .text import human_bytes, is_match, marked

EVENT_ROWS = 400
_EVENT_KEYS = ("method", "url", "path", "status", "rule", "reason", "address", "pid")
OPEN_FINDINGS = 5
_NAV = (("grade", "Grade"), ("findings", "Findings"), ("timeline", "Timeline"), ("provenance", "Provenance"),
        ("flows", "Flows"), ("files", "Files"),
        ("resources", "Resources"), ("processes", "Processes"), ("events", "Cited events"), ("counts", "Counts"))


def _verdict(p: _Page) -> str:
    d = p.d
    run, pol, v, st = d["run"], d["policy"], d["verify"], d["stats"]
    ok = d["verdict"] == "pass"
    rows = [("run", e(d["run_id"])),
            ("policy", (f"{e(str(pol.get('name') or pol.get('path')))} · " if pol.get("name") or pol.get("path")
                        else "none recorded · ")
             + f"fails on <b>{e(pol['fail_on'])}</b> or above (from {e(pol['fail_on_source'])})"),
            ("task", e(str((d.get("task") or {}).get("name") or (d.get("task") or {}).get("path") or "-"))),
            ("command", f'<code>{e(" ".join(map(str, run.get("command") or [])) or "-")}</code>'),
            ("time", f"{e(str(run.get('started')))} → {e(str(run.get('ended') or 'not ended'))} "
                     f"({fmt_dur(st['duration_s'])})"),
            ("end", f"{e(str(run.get('end_reason') or '-'))}, exit status {e(str(run.get('exit_status') if run.get('exit_status') is not None else '-'))}"
                    + (f", sandbox exit {e(json.dumps(run['sandbox_exit'], sort_keys=True))}" if run.get("sandbox_exit") else "")),
            ("log", (f'<span class="ok">verified</span> {v["records"]} records, head <span class="mono">'
                     f'{e(v["head"][:16])}</span>, {v["blobs_checked"]} blobs'
                     + ("" if v["sealed"] else ' <span class="warn">not sealed</span>'))
             if v["ok"] else f'<span class="bad">VERIFICATION FAILED</span> {e(str(v["problem"]))}')]
    if d.get("grade") is not None:
        rep = (d["grade"].get("reported") or {}) if isinstance(d["grade"], dict) else {}
        rows.append(("grade", f'<a href="#s-grade">{e(str(rep.get("status") or "see below"))}</a>'))
    facts = "".join(f"<tr><th>{k}</th><td>{val}</td></tr>" for k, val in rows)
    n = st["findings"]
    worst = d["findings"][0]["severity"] if d["findings"] else None
    sub = (f"{n} finding{'s' if n != 1 else ''}" + (f", worst <b>{e(worst)}</b>" if worst else "")
           + f"; fails on {e(pol['fail_on'])} or above")
    lossy = ""
    if d["lossy"]:
        lossy = (f'<div class="banner warnbg">Lossy run: {st["events_lost"]} events were lost'
                 + (f", {st['unreadable_lines']} log lines unreadable" if st["unreadable_lines"] else "")
                 + ". Findings may be incomplete.</div>")
    if not v["ok"]:
        lossy += f'<div class="banner badbg">The event log failed verification: {e(str(v["problem"]))}</div>'
    return (f'<header class="{"pass" if ok else "fail"}"><div class="verdict">{"PASS" if ok else "FAIL"}</div>'
            f'<div class="vsub">{sub}</div></header>{lossy}<table class="facts">{facts}</table>')


def _cards(p: _Page) -> str:
    st = p.d["stats"]
    cards = [("events", f"{st['events']:,}"), ("duration", fmt_dur(st["duration_s"])),
             ("flows", f"{st['flows']:,}"), ("blocked", f"{st['requests_blocked']:,}"),
             ("bytes in", human_bytes(st["bytes_in"])), ("bytes out", human_bytes(st["bytes_out"])),
             ("files written", f"{st['files_written']:,}"), ("processes", f"{st['processes']:,}"),
             ("events lost", f"{st['events_lost']:,}")]
    html = "".join(f'<div class="card"><div class="cv">{v}</div><div class="ck">{k}</div></div>' for k, v in cards)
    sevs = list(reversed(SEVERITIES))
    grid: dict[str, dict[str, int]] = {}
    for f in p.d["findings"]:
        row = grid.setdefault(f["category"], {})
        row[f["severity"]] = row.get(f["severity"], 0) + 1
    head = "".join(f'<th><span class="sev" style="background:{SEV_COLOR[s]}">{s}</span></th>' for s in sevs)
    rows = "".join(f"<tr><td>{e(c)}</td>" + "".join(f'<td class="n">{row.get(s, "") or ""}</td>' for s in sevs)
                   + f'<td class="n"><b>{sum(row.values())}</b></td></tr>' for c, row in sorted(grid.items()))
    totals = "".join(f'<td class="n"><b>{st["findings_by_severity"].get(s, 0)}</b></td>' for s in sevs)
    matrix = (f'<table class="small matrix"><tr><th>findings by category</th>{head}<th>all</th></tr>{rows}'
              f'<tr><td><b>all</b></td>{totals}<td class="n"><b>{st["findings"]}</b></td></tr></table>')
    return f'<section><div class="cards">{html}</div>{matrix}</section>'


def _finding_ts(p: _Page, f: dict[str, Any]) -> int | None:
    if isinstance(f.get("ts"), int):
        return int(f["ts"])
    for item in f["evidence"]:
        ev = p.d["events"].get(str(item.get("seq")))
        if ev:
            return int(ev["ts"])
    return None


def _timeline(p: _Page) -> str:
    s = p.s
    if s.first_ts is None or s.last_ts is None:
        return ""
    order = {name: i for i, name in enumerate(s.lane_order)}
    lanes = {k: (dec.items, dec.stride) for k, dec in sorted(s.markers.items(), key=lambda kv: order.get(kv[0], 1 << 30))}
    fnd = []
    for i, f in enumerate(p.d["findings"]):
        ts = _finding_ts(p, f)
        if ts is not None:
            fnd.append((ts, i, f["severity"], f"{f['severity']}: {f['message']}"[:200]))
    svg = timeline(lanes, s.specials.items, fnd, s.first_ts, s.last_ts)
    note = "" if all(d.stride == 1 for d in s.markers.values()) else \
        " Busy lanes are downsampled: the shaded strip is the event density, ticks are a sample."
    return (f'<section id="s-timeline"><h2>Timeline</h2><p class="note">One lane per source; hover a tick for the event, '
            f'click a diamond for its finding. Red bars: blocked requests, failed processes, lost events.{note}</p>'
            f'{svg}</section>')


def _evidence(p: _Page, item: dict[str, Any]) -> str:
    cells = []
    for k in sorted(item):
        if k == "seq":
            continue
        val = item[k]
        if k in ("sha256", "blob"):
            cells.append(f"{e(k)} {p.blob(val)}")
        elif k == "blobs" and isinstance(val, list):
            cells.append("blobs " + " ".join(p.blob(b) for b in val[:8]))
        else:
            text = val if isinstance(val, str) else json.dumps(val, sort_keys=True)
            cells.append(f'{e(k)} <span class="mono">{e(text[:300])}</span>')
    ev = p.d["events"].get(str(item.get("seq")))
    kind = ""
    if ev:
        kind = f'<span class="kind">{e(ev["kind"])}</span> '
        data = ev["data"] if isinstance(ev["data"], dict) else {}
        for k in _EVENT_KEYS:
            if k not in item and isinstance(data.get(k), str | int) and not isinstance(data.get(k), bool):
                cells.append(f'<span class="note">{e(k)}</span> <span class="mono">{e(str(data[k])[:300])}</span>')
    return f"<tr><td>{p.seq(item.get('seq'))}</td><td>{kind}{' · '.join(cells)}</td></tr>"


def _marked(text: str, span: Any) -> str:
    b, m, a = marked(text, span, width=600)
    return f"{e(b)}<mark>{e(m)}</mark>{e(a)}"


def _match(p: _Page, item: dict[str, Any]) -> str:
    """The test item and the text found, side by side, the common span highlighted."""
    kind = "paraphrase" if "paraphrase" in item else "match"
    path = " › ".join(e(str(x)) for x in item.get("path") or [])
    off = f' · byte <span class="mono">{item["offset"]:,}</span>' if isinstance(item.get("offset"), int) else ""
    how = (f"score {e(str(item.get('score')))}, numbers {e(str(item.get('numbers')))}" if kind == "paraphrase"
           else f"{e(str(item.get('length')))} normalised chars, {e(str(item.get('words')))} words in common")
    return (f'<div class="match"><div class="mhead"><b>{kind}</b> <span class="mono">{e(str(item.get(kind)))}</span>'
            f' ({e(str(item.get("field")))}; {how}) · {p.seq(item.get("seq"))} · <span class="mono">{path}</span>{off}'
            f'</div><div class="side"><div><div class="note">test item</div><pre>'
            f'{_marked(item["item_text"], item.get("item_span"))}</pre></div><div><div class="note">found</div><pre>'
            f'{_marked(item["excerpt"], item.get("span"))}</pre></div></div></div>')


def _findings(p: _Page) -> str:
    fs = p.d["findings"]
    if not fs:
        return '<section id="s-findings"><h2>Findings</h2><p class="okbox">No findings.</p></section>'
    bar = severity_rank(p.d["policy"]["fail_on"])
    out = ['<section id="s-findings"><h2>Findings</h2>']
    for i, f in enumerate(fs):
        open_ = " open" if severity_rank(f["severity"]) >= bar and i < OPEN_FINDINGS else ""
        plain = [x for x in f["evidence"] if not is_match(x)]
        rows = "".join(_evidence(p, item) for item in plain[:50])
        more = f'<p class="note">{len(plain) - 50} more evidence items in report.json</p>' \
            if len(plain) > 50 else ""
        more += "".join(_match(p, item) for item in f["evidence"] if is_match(item))
        out.append(
            f'<details class="finding" id="f-{i}"{open_}><summary>'
            f'<span class="sev" style="background:{SEV_COLOR[f["severity"]]}">{e(f["severity"])}</span> '
            f'<span class="cat">{e(f["category"])}</span> <span class="msg">{e(f["message"])}</span></summary>'
            f'<div class="meta"><span class="note">subject</span> <span class="mono">{e(f["subject"])}</span><br>'
            f'<span class="note">rule</span> {e(f["rule"])} <span class="note">detector</span> {e(f["detector"])} '
            f'<span class="note">action</span> {e(f["action"])} <span class="note">id</span> '
            f'<span class="mono">{e(f["id"])}</span></div>'
            f'<table class="small ev"><tr><th>event</th><th>evidence</th></tr>{rows}</table>{more}</details>')
    out.append("</section>")
    return "".join(out)


def _provenance(p: _Page) -> str:
    task = p.d.get("task") or {}
    return provenance_section(p.s.prov, p.d["findings"], p.seq, str(task.get("final_model") or "final_model"))


def _events(p: _Page) -> str:
    evs = list(p.d["events"].values())
    if not evs:
        return ""
    out = ['<section id="s-events"><h2>Cited events</h2><p class="note">Each event a finding cites, as recorded in events.jsonl.</p>']
    for ev in evs[:EVENT_ROWS]:
        blobs = [b for b in ev["data"].get("blobs") or [] if isinstance(b, str)] if isinstance(ev["data"], dict) else []
        links = (" · blobs " + " ".join(p.blob(b) for b in blobs[:8])) if blobs else ""
        body = json.dumps(ev["data"], sort_keys=True, indent=1, ensure_ascii=False)
        if len(body) > 4000:
            body = body[:4000] + "\n… (truncated; see events.jsonl)"
        out.append(f'<div class="event" id="e-{int(ev["seq"])}"><div><b>#{int(ev["seq"])}</b> '
                   f'<span class="kind">{e(ev["kind"])}</span> source {e(ev["source"])}{links}</div>'
                   f"<pre>{e(body)}</pre></div>")
    if len(evs) > EVENT_ROWS:
        out.append(f'<p class="note">{len(evs) - EVENT_ROWS} more cited events in report.json</p>')
    out.append("</section>")
    return "".join(out)


def _grade(p: _Page) -> str:
    return grade_section(p.d.get("grade"))


def render_html(report: Report, out_dir: Path | None = None) -> str:
    """The page; blob links are relative to ``out_dir`` (default: the run directory)."""
    rel = os.path.relpath(report.rundir / "blobs", out_dir or report.rundir).replace(os.sep, "/")
    p = _Page(report, rel.rstrip("/") + "/")
    parts = [part(p) for part in (_verdict, _cards, _grade, _timeline, _findings, _provenance, flows, files,
                                  resources, procs, _events, counts)]
    links = [(k, t) for k, t in _NAV if f'id="s-{k}"' in "".join(parts)]
    nav = '<nav>' + "".join(f'<a href="#s-{k}">{t}</a>' for k, t in links) + "</nav>"
    body = parts[0] + nav + "".join(parts[1:])
    title = f"ptaudit {report.data['verdict'].upper()} · {report.data['run_id']}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            f'script-src \'{JS_HASH}\'; img-src data:">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)}</title>'
            f"<style>{CSS}</style></head><body><main>{body}</main><script>{JS}</script></body></html>\n")
