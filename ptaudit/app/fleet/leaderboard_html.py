"""``results/leaderboard.html``: one self-contained page (inline CSS, SVG and one small script;
no fetches) with the agents' leaderboard, every run, and every attempt not counted.

Each table sorts by a click on its header (or from the address: ``#sort=TABLE:COLUMN:asc``).
A cell links to the report.html of each of its counted runs; findings by category are
small bars, one colour per category, scaled across the page. Every string from the runs is
escaped; links are relative paths built from validated run keys, so the page works
wherever the fleet directory is copied.
"""

from __future__ import annotations

import base64
import hashlib
import os
from html import escape as e
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .aggregate import Tables
from .collect import CheckedAttempt
from .leaderboard_text import pct

PALETTE = ("#c1121f", "#e76f51", "#f4a261", "#9b5de5", "#3a86ff", "#8d99ae", "#2a9d8f", "#6d597a", "#495057")
VERDICT_CLASS = {"pass": "pass", "fail": "fail"}
STATUS_TEXT = {"counted": "counted", "flagged": "flagged ⚑", "base_substituted": "base score substituted",
               "withheld": "withheld", "no_grade": "not graded",
               "grade_mismatch": "grade.json is for another log", "not_counted": "not counted"}

CSS = """
:root{--fg:#1d2327;--muted:#6b7378;--line:#e3e6e8;--bg:#f6f7f8;--pass:#1f8a4c;--fail:#c1121f;--warn:#b7791f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1400px;margin:0 auto;padding:20px 24px 40px}
header{padding:16px 22px;border-radius:10px;background:#243b53;color:#fff}
header h1{margin:0;font-size:24px} header p{margin:4px 0 0;opacity:.9}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px;margin-top:16px;overflow-x:auto}
h2{font-size:17px;margin:0 0 10px}
table{border-collapse:collapse;font-size:13px;width:100%}
th{text-align:left;background:#f1f3f4;padding:6px 8px;font-weight:600;cursor:pointer;white-space:nowrap;user-select:none}
th.sorted-asc::after{content:" ▲";font-size:10px} th.sorted-desc::after{content:" ▼";font-size:10px}
td{padding:5px 8px;border-top:1px solid var(--line);vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.score{font-weight:700;font-size:15px}
.v{display:inline-block;border-radius:4px;padding:0 6px;font-size:11.5px;font-weight:700;color:#fff;background:var(--warn);margin:1px 2px 1px 0;text-decoration:none}
.v.pass{background:var(--pass)} .v.fail{background:var(--fail)} .v.none{background:#adb5bd}
.flag{color:var(--fail);font-weight:700}.base{color:var(--warn);font-weight:700}
.note{color:var(--muted);font-size:12px}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:-1px}
svg{display:block}
.bars{display:flex;align-items:flex-end;gap:6px}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
"""

# Sorts a table by the clicked column (data-v holds the sort key; numbers sort as numbers).
JS = """
function sortTable(t,i,dir){var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
rows.sort(function(x,y){var a=x.cells[i].getAttribute('data-v'),c=y.cells[i].getAttribute('data-v');
var na=a===''||a===null,nc=c===''||c===null;if(na||nc){return na===nc?0:(na?1:-1);}
var fa=parseFloat(a),fc=parseFloat(c),r=(!isNaN(fa)&&!isNaN(fc)&&String(fa)===a&&String(fc)===c)?fa-fc:a.localeCompare(c);
return dir==='asc'?r:-r;});rows.forEach(function(r){b.appendChild(r);});
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,j){h.className=j===i?'sorted-'+dir:'';});}
document.querySelectorAll('table.sortable').forEach(function(t){
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){h.addEventListener('click',function(){
sortTable(t,i,h.className==='sorted-desc'?'asc':'desc');});});});
var m=/^#sort=([a-z]+):([a-z0-9_-]+):(asc|desc)$/.exec(location.hash);
if(m){var t=document.getElementById(m[1]);if(t){Array.prototype.forEach.call(t.tHead.rows[0].cells,function(h,i){
if(h.getAttribute('data-col')===m[2]){sortTable(t,i,m[3]);}});}}
"""

JS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()


def _num(x: float | int | None) -> str:
    return "" if x is None else repr(float(x)) if isinstance(x, float) else str(x)


class _Page:
    def __init__(self, t: Tables, root: Path, out: Path):
        self.t = t
        self.root = root
        self.base = os.path.relpath(root, out.parent)
        seen = [c for c in t.categories if any(r.get(c) for r in t.runs)]
        self.cats = seen
        self.color = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(t.categories)}
        self.run_max = max([r.get(c) or 0 for r in t.runs for c in seen] + [1])
        self.agent_max = max([a.get(c) or 0 for a in t.leaderboard for c in seen] + [1])

    def link(self, rundir: str) -> str | None:
        if not (self.root / rundir / "report.html").is_file():
            return None
        return quote(f"{self.base}/{rundir}/report.html".replace(os.sep, "/"))

    def bars(self, row: dict[str, Any], top: int) -> str:
        """One small bar per category (scaled to ``top``), then the total."""
        if not self.cats:
            return ""
        w, gap, h = 9, 3, 22
        parts = []
        for i, c in enumerate(self.cats):
            n = row.get(c) or 0
            bh = 0 if not n else max(2, round(h * n / top))
            x = i * (w + gap)
            parts.append(f'<rect x="{x}" y="{h - bh}" width="{w}" height="{bh}" fill="{self.color[c]}">'
                         f"<title>{e(c)}: {n}</title></rect>"
                         f'<rect x="{x}" y="{h}" width="{w}" height="1" fill="#ced4da"/>')
        width = len(self.cats) * (w + gap)
        label = ", ".join(f"{c} {row.get(c)}" for c in self.cats if row.get(c)) or "no findings"
        total = sum(row.get(c) or 0 for c in self.cats)
        return (f'<div class="bars"><svg width="{width}" height="{h + 1}" role="img" aria-label="{e(label)}">'
                f'{"".join(parts)}</svg><span class="note">{total}</span></div>')

    def legend(self) -> str:
        if not self.cats:
            return '<p class="note">No findings in any counted run.</p>'
        return ('<p class="legend">' + "".join(f'<span><i style="background:{self.color[c]}"></i>{e(c)}</span>'
                                               for c in self.cats) + "</p>")


def _w(cells: dict[tuple[str, str], dict[str, Any]], task: str) -> str:
    w = next(c["weight"] for (_, t), c in cells.items() if t == task)
    return f"{w:g}"


def _verdict_badge(verdict: str | None, href: str | None, text: str, title: str) -> str:
    cls = VERDICT_CLASS.get(verdict or "", "none" if verdict is None else "")
    if href:
        return f'<a class="v {cls}" href="{href}" title="{e(title)}">{e(text)}</a>'
    return f'<span class="v {cls}" title="{e(title)}">{e(text)}</span>'


def _board(p: _Page) -> str:
    t = p.t
    tasks = list(dict.fromkeys(c["task"] for c in t.cells))
    cells = {(c["agent"], c["task"]): c for c in t.cells}
    runs_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in t.runs:
        runs_of.setdefault((r["agent"], r["task"]), []).append(r)
    head = ('<tr><th data-col="rank">#</th><th data-col="agent">agent</th><th data-col="score">score</th>'
            + "".join(f'<th data-col="task-{i}">{e(task)} <span class="note">×{_w(cells, task)}</span></th>'
                      for i, task in enumerate(tasks))
            + '<th data-col="counted">runs counted</th><th data-col="pass">pass</th><th data-col="fail">fail</th>'
              '<th data-col="incomplete">incomplete</th><th data-col="findings">findings by category</th></tr>')
    rows = []
    for rank, a in enumerate(t.leaderboard, 1):
        tds = [f'<td class="n" data-v="{rank}">{rank}</td>', f'<td data-v="{e(a["agent"])}"><b>{e(a["agent"])}</b></td>']
        flag = '<span class="flag" title="includes runs whose audit did not pass">⚑</span>' if a["flagged"] else ""
        missing = "" if a["score"] is not None else (
            f'<div class="note">{a["tasks"] - a["tasks_scored"]} of {a["tasks"]} tasks without a score</div>')
        tds.append(f'<td class="n" data-v="{_num(a["score"])}"><span class="score">{pct(a["score"]) or "—"}</span>'
                   f"{flag}{missing}</td>")
        for task in tasks:
            c = cells[(a["agent"], task)]
            marks = ('<span class="flag" title="flagged runs counted">⚑</span>' if c["flagged"] else "") + (
                '<span class="base" title="base model score substituted">ᵇ</span>' if c["base_substituted"] else "")
            badges = []
            for r in runs_of[(a["agent"], task)]:
                href = p.link(r["rundir"]) if r["rundir"] else None
                text = f"s{r['seed']}"
                title = (f"{r['key']}: {r['verdict'] or r['status']}, score {pct(r['score']) or '—'} "
                         f"({STATUS_TEXT[r['score_status']]})")
                badges.append(_verdict_badge(r["verdict"], href, text, title))
            sub = f'<div class="note">{c["scored"]}/{c["runs"]} scored</div>' if c["scored"] < c["runs"] else ""
            tds.append(f'<td class="n" data-v="{_num(c["score"])}"><span class="score">{pct(c["score"]) or "—"}</span>'
                       f'{marks}<div>{"".join(badges)}</div>{sub}</td>')
        tds += [f'<td class="n" data-v="{a["counted"]}">{a["counted"]}/{a["runs"]}</td>',
                f'<td class="n" data-v="{a["pass"]}">{a["pass"]}</td>',
                f'<td class="n" data-v="{a["fail"]}">{a["fail"]}</td>',
                f'<td class="n" data-v="{a["incomplete"]}">{a["incomplete"]}</td>',
                f'<td data-v="{a["findings"] or 0}">{p.bars(a, p.agent_max)}</td>']
        rows.append("<tr>" + "".join(tds) + "</tr>")
    policy = {"withhold": "a run whose audit did not pass has no score (withheld)",
              "base": "a run whose audit did not pass scores as its base model",
              "flag": "a run whose audit did not pass keeps its score, marked ⚑"}[t.on_fail]
    return (f'<section><h2>Leaderboard</h2><p class="note">Scores in %: the weighted average of each agent\'s '
            f"tasks (mean over seeds); on_fail = <b>{e(t.on_fail)}</b>: {e(policy)}. Each badge links to that "
            f"run's report.</p>{p.legend()}"
            f'<table id="board" class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _runs(p: _Page) -> str:
    cols = (("run", "run"), ("attempt", "attempt"), ("verdict", "verdict"), ("lossy", "lossy"),
            ("findings", "findings by category"), ("score", "score"), ("raw", "model's score"),
            ("scorestatus", "score status"),
            ("status", "fleet state"))
    head = "<tr>" + "".join(f'<th data-col="{k}">{e(v)}</th>' for k, v in cols) + "</tr>"
    rows = []
    for r in p.t.runs:
        href = p.link(r["rundir"]) if r["rundir"] else None
        run = f'<a href="{href}">{e(r["key"])}</a>' if href else e(r["key"])
        verdict = r["verdict"] or "—"
        rows.append(
            f'<tr><td data-v="{e(r["key"])}" class="mono">{run}</td>'
            f'<td class="n" data-v="{_num(r["counted_attempt"])}">{r["counted_attempt"] or "—"}</td>'
            f'<td data-v="{e(verdict)}">{_verdict_badge(r["verdict"], None, verdict, verdict)}</td>'
            f'<td data-v="{"1" if r["lossy"] else "0"}">{"lossy" if r["lossy"] else ""}</td>'
            f'<td data-v="{r["findings"] or 0}">{p.bars(r, p.run_max)}</td>'
            f'<td class="n" data-v="{_num(r["score"])}">{pct(r["score"]) or "—"}</td>'
            f'<td class="n" data-v="{_num(r["raw_score"])}">{pct(r["raw_score"]) or "—"}</td>'
            f'<td data-v="{e(r["score_status"])}">{e(STATUS_TEXT[r["score_status"]])}</td>'
            f'<td data-v="{e(r["status"])}">{e(r["status"])}</td></tr>')
    return (f'<section><h2>Runs</h2><table id="runs" class="sortable"><thead>{head}</thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _attempts(p: _Page, checked: list[CheckedAttempt]) -> str:
    rows = []
    for c in checked:
        if c.counted:
            continue
        where = (f'<a href="{quote(p.base + "/" + c.rundir)}">{e(c.rundir)}</a>'
                 if (p.root / c.rundir).is_dir() else e(c.rundir))
        rows.append(f'<tr><td data-v="{e(c.key)}" class="mono">{e(c.key)}</td>'
                    f'<td class="n" data-v="{c.attempt}">{c.attempt}</td><td data-v="{e(c.rundir)}" class="mono">{where}</td>'
                    f'<td data-v="{e(c.reason)}">{e(c.reason)}</td><td data-v="{e(c.verify)}" class="note">{e(c.verify)}</td></tr>')
    if not rows:
        return ""
    head = ('<tr><th data-col="run">run</th><th data-col="attempt">attempt</th><th data-col="rundir">run directory</th>'
            '<th data-col="reason">why not counted</th><th data-col="verify">ptaudit verify</th></tr>')
    return (f'<section><h2>Attempts not counted</h2><p class="note">Partial attempts are labelled beside their run '
            f'directory (<span class="mono">attempt-K.partial.json</span>) and never counted.</p>'
            f'<table id="attempts" class="sortable"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></section>')


def render_leaderboard_html(t: Tables, checked: list[CheckedAttempt], name: str, root: Path, out: Path) -> str:
    p = _Page(t, root, out)
    n_runs, n_counted = len(t.runs), sum(1 for r in t.runs if r["counted_attempt"] is not None)
    sub = (f"{n_runs} runs planned, {n_counted} counted (verified against the heads kept by the fleet), "
           f"{sum(1 for c in checked if not c.counted)} attempts not counted")
    body = (f"<header><h1>ptaudit fleet {e(name)}</h1><p>{e(sub)}</p></header>"
            + _board(p) + _runs(p) + _attempts(p, checked))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
            f'script-src \'{JS_HASH}\'; img-src data:">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>ptaudit fleet {e(name)}</title>'
            f"<style>{CSS}</style></head><body><main>{body}</main><script>{JS}</script></body></html>\n")
