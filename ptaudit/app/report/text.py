"""The terminal report: verdict first, then counts, each finding with its evidence.

Rich styles it on a terminal; piped, the same lines come out as plain text. Every string
from the run is escaped before it reaches rich markup (the agent controls URLs and paths).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ptaudit.core.findings import SEVERITIES

from .grade import summary_lines
from .model import Report
from .provenance import chain_lines

SEV_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
_EVIDENCE_SHOWN = 5


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def evidence_line(item: dict[str, Any], event: dict[str, Any] | None) -> str:
    """One plain line per evidence item: seq, kind, the URL/path, then the other fields."""
    parts: list[str] = []
    if "seq" in item:
        parts.append(f"seq {item['seq']}")
    data = (event or {}).get("data") or {}
    if event:
        parts.append(str(event.get("kind")))
    shown = set()
    for key in ("url", "path", "address"):
        val = item.get(key, data.get(key))
        if isinstance(val, str):
            parts.append(val)
            shown.add(key)
            break
    for key in sorted(item):
        if key in ("seq", *shown):
            continue
        val = item[key]
        if key in ("sha256", "blob") and isinstance(val, str):
            val = val[:16]
        parts.append(f"{key}={_short(val)}")
    for key in ("sha256",):
        if key not in item and isinstance(data.get(key), str):
            parts.append(f"{key}={data[key][:16]}")
    return "  ".join(parts)


def _short(val: Any, n: int = 120) -> str:
    text = val if isinstance(val, str) else str(val)
    return text if len(text) <= n else text[: n - 1] + "…"


def render_text(report: Report, console: Console) -> None:
    d = report.data
    st = d["stats"]
    p = console.print
    ok = d["verdict"] == "pass"
    badge = "[bold white on green] PASS [/]" if ok else "[bold white on red] FAIL [/]"
    p(f"{badge}  run {escape(d['run_id'])}  (fail_on={d['policy']['fail_on']}, "
      f"{st['findings']} finding{'s' if st['findings'] != 1 else ''})")
    if d["policy"].get("name") or d["policy"].get("path"):
        p(f"policy: {escape(str(d['policy'].get('name') or d['policy'].get('path')))}")
    v = d["verify"]
    if v["ok"]:
        p(f"log: [green]verified[/] {v['records']} records, head {v['head'][:16]}, "
          f"{v['blobs_checked']} blobs{'' if v['sealed'] else ', [yellow]not sealed[/]'}")
    else:
        p(f"log: [bold red]VERIFICATION FAILED[/] {escape(str(v['problem']))}")
    if d["lossy"]:
        p(f"[bold yellow]warning: lossy run[/]: {st['events_lost']} events lost"
          f"{', ' + str(st['unreadable_lines']) + ' unreadable lines' if st['unreadable_lines'] else ''}"
          " — findings may be incomplete")
    p(f"{st['events']} events in {st['duration_s']:.1f}s · {st['flows']} flows "
      f"({st['requests_blocked']} blocked, in {human_bytes(st['bytes_in'])}, out {human_bytes(st['bytes_out'])}) · "
      f"{st['files_written']} files written · {st['processes']} processes")
    sev = "  ".join(f"[{SEV_STYLE[s]}]{s}[/] {st['findings_by_severity'].get(s, 0)}" for s in reversed(SEVERITIES))
    p(f"by severity: {sev}")
    if st["findings_by_category"]:
        cats = "  ".join(f"{escape(c)} {n}" for c, n in sorted(st["findings_by_category"].items()))
        p(f"by category: {cats}")
    if d.get("grade") is not None:
        for line in summary_lines(d["grade"]):
            p(escape(line))
    events = d.get("events", {})
    for f in d["findings"]:
        p("")
        p(f"[{SEV_STYLE[f['severity']]}]{f['severity'].upper()}[/] [bold]{escape(f['category'])}[/] "
          f"{escape(f['rule'])} ({escape(f['action'])}) id {escape(f['id'])}")
        p(f"  {escape(_short(f['message'], 300))}")
        p(f"  subject: {escape(_short(f['subject'], 200))}")
        plain = [x for x in f["evidence"] if not is_match(x)]
        for item in plain[:_EVIDENCE_SHOWN]:
            if isinstance(item.get("chain"), list):  # a provenance chain: one hop per line
                p("    · chain:")
                for line in chain_lines(item["chain"]):
                    p(f"        {escape(_short(line, 300))}")
                continue
            seq = item.get("seq")
            line = evidence_line(item, events.get(str(seq)) if isinstance(seq, int) else None)
            p(f"    · {escape(_short(line, 300))}")
        if len(plain) > _EVIDENCE_SHOWN:
            p(f"    · … {len(plain) - _EVIDENCE_SHOWN} more evidence items in report.json")
        for item in [x for x in f["evidence"] if is_match(x)]:
            for line in match_lines(item):
                p(line)
    if d.get("workload"):
        from .workload import render_text as render_workload

        render_workload(d["workload"], console)


def is_match(item: dict[str, Any]) -> bool:
    """An evidence item that shows a test item beside the text found (leakage findings)."""
    return isinstance(item.get("excerpt"), str) and isinstance(item.get("item_text"), str)


def marked(text: str, span: Any, width: int = 110) -> tuple[str, str, str]:
    """(before, span, after) of ``text``, the context trimmed to ``width`` characters a side."""
    try:
        s, e = int(span[0]), int(span[1])
    except (TypeError, ValueError, IndexError):
        s, e = 0, len(text)
    s, e = max(0, min(s, len(text))), max(0, min(e, len(text)))
    before, mid, after = text[:s], text[s:e], text[e:]
    if len(before) > width:
        before = "…" + before[-width:]
    if len(after) > width:
        after = after[:width] + "…"
    if len(mid) > 4 * width:
        mid = mid[: 2 * width] + " … " + mid[-2 * width:]
    return before, mid, after


def _flat(s: str) -> str:
    return " ".join(s.split("\n"))


def match_lines(item: dict[str, Any]) -> list[str]:
    """Rich markup lines: the item and the excerpt, each with the common span marked «…»."""
    kind = "paraphrase" if "paraphrase" in item else "match"
    ident = item.get(kind)
    path = " › ".join(str(x) for x in item.get("path") or [])
    where = f" at {path}" if path else ""
    if isinstance(item.get("offset"), int):
        where += f" (byte {item['offset']:,})"
    how = (f"score {item.get('score')}, numbers {item.get('numbers')}" if kind == "paraphrase"
           else f"{item.get('length')} normalised chars, {item.get('words')} words")
    out = [f"    [bold]{kind}[/] {escape(str(ident))} ({escape(str(item.get('field')))}; {escape(how)})"
           f"{escape(where)}"]
    for label, text, span in (("item  ", item["item_text"], item.get("item_span")),
                              ("source", item["excerpt"], item.get("span"))):
        b, m, a = (escape(_flat(x)) for x in marked(text, span))
        out.append(f"      {label}: {b}[reverse]«{m}»[/]{a}")
    return out
