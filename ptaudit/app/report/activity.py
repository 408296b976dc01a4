"""The HTML report's activity sections: flows, file writes per process, processes, resource
charts, event counts; and :class:`Page`, the escaping helpers every section shares."""

from __future__ import annotations

import re
from html import escape as e
from typing import Any

from .model import Report
from .scan import Flow
from .svg import line_chart
from .text import human_bytes

FLOW_ROWS = 300
HOST_ROWS = 30
FILE_ROWS = 40
PROC_ROWS = 150
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Page:
    """The report plus link helpers: blob links only for 64-hex names, seq links only to cited events."""

    def __init__(self, report: Report, blob_prefix: str):
        self.r, self.d, self.s = report, report.data, report.scan
        self.prefix = blob_prefix
        self.store = report.rundir / "blobs"

    def blob(self, sha: Any) -> str:
        if not isinstance(sha, str):
            return ""
        if _HEX64.fullmatch(sha) and (self.store / sha[:2] / sha).is_file():
            return f'<a class="blob" href="{e(self.prefix)}{sha[:2]}/{sha}" title="{sha}">{sha[:12]}…</a>'
        return f'<span class="mono" title="{e(sha)}">{e(sha[:12])}{"…" if len(sha) > 12 else ""}</span>'

    def seq(self, seq: Any) -> str:
        if isinstance(seq, int) and not isinstance(seq, bool):
            if str(seq) in self.d["events"]:
                return f'<a href="#e-{seq}">#{seq}</a>'
            return f"#{seq}"
        return e(str(seq))



def flows(p: Page) -> str:
    s = p.s
    flows = list(s.flows.values())
    if not flows:
        return ""
    blocked = [f for f in flows if f.blocked][:FLOW_ROWS]
    rest = [f for f in flows if not f.blocked][: FLOW_ROWS - len(blocked)]
    shown: list[Flow] = sorted(blocked + rest, key=lambda f: f.seq)
    left = s.flows_total - len(shown)
    rows = "".join(
        f'<tr class="{"blockedrow" if f.blocked else ""}"><td>{p.seq(f.seq)}</td><td>{e(f.method)}</td>'
        f'<td class="url">{e(f.url[:300])}</td><td class="{"warn" if (f.status or 0) >= 400 else ""}">'
        f'{"" if f.status is None else f.status}</td>'
        f'<td>{human_bytes(f.size) if f.size is not None else ""}</td><td>{e(f.type)}</td>'
        f'<td>{e(f.blocked)}</td><td>{p.blob(f.blob) if f.blob else ""}</td></tr>' for f in shown)
    more = f'<p class="note">{left:,} more flows not shown (see events.jsonl).</p>' if left > 0 else ""
    hosts = sorted(s.hosts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    hrows = "".join(f'<tr class="{"blockedrow" if v[2] else ""}"><td class="url">{e(h)}</td><td class="n">{v[0]:,}</td>'
                    f'<td class="n">{human_bytes(v[1])}</td><td class="n">{v[2] or ""}</td><td class="n">{v[3] or ""}</td></tr>'
                    for h, v in hosts[:HOST_ROWS])
    hmore = f'<p class="note">{len(hosts) - HOST_ROWS} more hosts.</p>' if len(hosts) > HOST_ROWS else ""
    open_ = " open" if len(shown) <= 40 else ""
    return (f'<section id="s-flows"><h2>Network flows</h2><table class="small hosts"><tr><th>host</th><th>requests</th>'
            f'<th>bytes in</th><th>blocked</th><th>errors (4xx/5xx)</th></tr>{hrows}</table>{hmore}'
            f'<details{open_}><summary>{len(shown):,} flows (blocked ones first to be kept; {s.flows_total:,} in all)'
            f'</summary><table class="small"><tr><th>seq</th><th>method</th><th>URL</th>'
            f'<th>status</th><th>size</th><th>type</th><th>blocked</th><th>body</th></tr>{rows}</table>{more}'
            f'</details></section>')


def files(p: Page) -> str:
    s = p.s
    if not s.files:
        return ""
    info = s.files
    out = ['<section id="s-files"><h2>File activity per process</h2><p class="note">Files written, by the command line '
           'that opened them for writing (matched from proc.open to fs events).</p>']
    shown = 0
    for proc in s.procs.order:
        if not proc.files or shown >= PROC_ROWS:
            continue
        shown += 1
        items = "".join(_file_li(p, info.get(path), path) for path in list(proc.files)[:FILE_ROWS])
        extra = len(proc.files) - FILE_ROWS + proc.files_more
        more = f"<li class='note'>{extra} more</li>" if extra > 0 else ""
        out.append(f'<div class="proc"><code>{e(proc.cmdline[:500])}</code> <span class="note">pid {proc.pid}</span>'
                   f"<ul>{items}{more}</ul></div>")
    orphans = [f for f in info.values() if f.writer is None]
    if orphans:
        items = "".join(_file_li(p, f, f.path) for f in orphans[:FILE_ROWS])
        more = f"<li class='note'>{len(orphans) - FILE_ROWS} more</li>" if len(orphans) > FILE_ROWS else ""
        out.append(f'<div class="proc"><i>no matching process</i><ul>{items}{more}</ul></div>')
    if s.files_more:
        out.append(f'<p class="note">{s.files_more:,} more file events beyond the table cap.</p>')
    out.append("</section>")
    return "".join(out)


def _file_li(p: Page, f: Any, path: str) -> str:
    if f is None:
        return f'<li class="mono">{e(path[:300])}</li>'
    bits = [f"{f.writes}×"] + ([human_bytes(f.size)] if f.size is not None else [])
    if f.deleted:
        bits.append("deleted")
    blob = (" " + p.blob(f.blob or f.sha256)) if (f.blob or f.sha256) else ""
    return f'<li><span class="mono">{e(path[:300])}</span> <span class="note">{", ".join(bits)}</span>{blob}</li>'


def procs(p: Page) -> str:
    order = p.s.procs.order
    if not order:
        return ""
    groups: dict[str, list[Any]] = {}  # command line -> [first proc, count, failed]
    for x in order:
        g = groups.get(x.cmdline)
        if g is None:
            if len(groups) >= PROC_ROWS:
                continue
            g = groups[x.cmdline] = [x, 0, 0]
        g[1] += 1
        g[2] += 1 if x.exit_code not in (None, 0) else 0
    rows = "".join(f'<tr><td>{p.seq(x.seq)}</td><td>{x.pid}</td><td>{"" if x.ppid is None else x.ppid}</td>'
                   f'<td class="n">{n}</td><td class="url"><code>{e(cmd[:400])}</code></td>'
                   f'<td class="{"bad" if bad else ""}">{bad or ""}</td></tr>' for cmd, (x, n, bad) in groups.items())
    more = f'<p class="note">More distinct command lines than the {PROC_ROWS} shown.</p>' \
        if len(groups) >= PROC_ROWS else ""
    return (f'<section id="s-processes"><h2>Processes</h2><p class="note">{p.s.procs.exec_count:,} execs, grouped by '
            f'command line (first seq, pid and parent shown).</p><table class="small procs"><tr><th>seq</th>'
            f'<th>pid</th><th>ppid</th><th>runs</th><th>command line</th><th>failed</th></tr>{rows}</table>{more}'
            f'</section>')


def resources(p: Page) -> str:
    s = p.s
    if s.first_ts is None or s.last_ts is None or (not s.res.items and not s.gpu):
        return f'<section id="s-resources"><h2>Resources</h2><p class="note">No samples.{_gpu_note(p)}</p></section>' \
            if s.gpu_unavailable else ""
    t0, t1 = s.first_ts, s.last_ts
    res = s.res.items
    cpu = [(b[0], (b[1] - a[1]) / max((b[0] - a[0]) / 1e9, 1e-9)) for a, b in zip(res, res[1:], strict=False)
           if a[1] is not None and b[1] is not None and b[0] > a[0]]
    col = [[(r[0], r[i]) for r in res if r[i] is not None] for i in range(5)]
    w = 590
    charts = [line_chart("CPU (cores busy)", [("cpu", "#1b6ca8", cpu)], t0, t1, lambda v: f"{v:.1f}", width=w),
              line_chart("Memory", [("rss", "#8e6c8a", col[2])], t0, t1, human_bytes, width=w),
              line_chart("Processes", [("pids", "#2a9d8f", col[3])], t0, t1, lambda v: f"{v:.0f}", width=w),
              line_chart("Workspace size", [("workspace", "#264653", col[4])], t0, t1, human_bytes, width=w)]
    palette = ("#e76f51", "#f4a261", "#e9c46a", "#2a9d8f", "#1b6ca8", "#8e6c8a", "#264653", "#6c757d")
    gpus = sorted(s.gpu.items())
    if gpus:
        util = [(f"gpu{i}", palette[n % 8], [(g[0], g[1]) for g in d.items if g[1] is not None])
                for n, (i, d) in enumerate(gpus)]
        mem = [(f"gpu{i}", palette[n % 8], [(g[0], g[2]) for g in d.items if g[2] is not None])
               for n, (i, d) in enumerate(gpus)]
        total = max((g[3] for _, d in gpus for g in d.items if g[3]), default=None)
        charts += [line_chart("GPU utilisation (%)", util, t0, t1, lambda v: f"{v:.0f}%", ymax=100, width=w),
                   line_chart("GPU memory", mem, t0, t1, human_bytes, ymax=total, width=w)]
    return (f'<section id="s-resources"><h2>Resources</h2><div class="charts">{"".join(charts)}</div>'
            f'<p class="note">{_gpu_note(p)}</p></section>')


def _gpu_note(p: Page) -> str:
    return f" GPU monitoring unavailable: {e(p.s.gpu_unavailable)}." if p.s.gpu_unavailable else ""


def counts(p: Page) -> str:
    st = p.d["stats"]
    src = "".join(f"<tr><td>{e(k)}</td><td>{v:,}</td></tr>" for k, v in sorted(st["events_by_source"].items()))
    kinds = "".join(f"<tr><td>{e(k)}</td><td>{v:,}</td></tr>" for k, v in sorted(st["events_by_kind"].items()))
    return (f'<section id="s-counts"><h2>Event counts</h2><div class="cols"><table class="small"><tr><th>source</th><th>events</th>'
            f'</tr>{src}</table><table class="small"><tr><th>kind</th><th>events</th></tr>{kinds}</table></div></section>'
            f'<footer>ptaudit report v{p.d["report_version"]} · run {e(p.d["run_id"])} · report.json holds the same '
            f'data in machine-readable form</footer>')
