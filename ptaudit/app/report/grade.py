"""The scores table of a graded run (grade.json; docs/grading.md), for the text and HTML
reports. grade.json may be missing keys (older or hand-edited files): every reader falls
back to showing the raw document rather than failing the report."""

from __future__ import annotations

import json
from html import escape as e
from typing import Any


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.1f}%"


def _rows(g: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, b in sorted(g["benchmarks"].items()):
        w = b.get("weight")
        rows.append([str(name), str(b.get("type", "")), str(b["n"]), _pct(b["accuracy"]), _pct(b.get("base_accuracy")),
                     _pct(b.get("instruct_accuracy")), "-" if w is None else f"{float(w):.3f}"])
    return rows


HEAD = ["benchmark", "type", "n", "accuracy", "base", "instruct", "weight"]


def _status(g: dict[str, Any]) -> str:
    rep, audit = g.get("reported") or {}, g.get("audit") or {}
    return (f"aggregate {_pct(g.get('aggregate'))} · reported {_pct(rep.get('aggregate'))} ({rep.get('status')}, "
            f"audit verdict {audit.get('verdict')}, on_fail {audit.get('on_fail')}) · "
            f"{float(g.get('tokens_per_s') or 0):,.0f} tok/s ({g.get('backend')})")


def _probes(g: dict[str, Any]) -> list[str]:
    out = []
    for name, p in sorted((g.get("probe") or {}).items()):
        comp = ", ".join(f"{k} p={float(v['p']):.2g}" for k, v in sorted((p.get("comparisons") or {}).items()))
        out.append(f"memorization probe {name}: {'MEMORIZED' if p.get('significant') else 'no evidence'} "
                   f"({_pct((p.get('final') or {}).get('mean_run'))} of second halves reproduced"
                   f"{'; ' + comp if comp else ''})")
    return out


def summary_lines(g: Any) -> list[str]:
    """Plain lines: the scores table, what is reported under the audit, the probe."""
    if not isinstance(g, dict):
        return [f"grade: {str(g)[:200]}"]
    if g.get("error"):
        return [f"grade: not graded: {g['error']}"]
    try:
        rows = [HEAD, *_rows(g)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                 for r in rows]
        return [*lines, _status(g), *_probes(g)]
    except (KeyError, TypeError, ValueError, AttributeError):
        return [f"grade: {json.dumps(g, sort_keys=True, default=str)[:200]}"]


def grade_section(g: Any) -> str:
    """The HTML section (id s-grade), or "" when the run was not graded."""
    if g is None:
        return ""
    if not isinstance(g, dict) or g.get("error") or "benchmarks" not in g:
        return (f'<section id="s-grade"><h2>Grade</h2><p class="note">'
                f'{e(str(g.get("error") if isinstance(g, dict) and g.get("error") else json.dumps(g, default=str)[:400]))}'
                f"</p></section>")
    try:
        head = "".join(f"<th>{h}</th>" for h in HEAD)
        body = "".join("<tr>" + "".join(f'<td{" class=n" if i > 1 else ""}>{e(c)}</td>' for i, c in enumerate(r))
                       + "</tr>" for r in _rows(g))
        status = (g.get("reported") or {}).get("status")
        cls = "ok" if status == "counted" else "bad"
        notes = "".join(f'<p class="note">{e(x)}</p>' for x in _probes(g))
        return (f'<section id="s-grade"><h2>Grade</h2><p><span class="{cls}">{e(str(status))}</span> · '
                f"{e(_status(g))}</p><table class=\"small\"><tr>{head}</tr>{body}</table>{notes}</section>")
    except (KeyError, TypeError, ValueError, AttributeError):
        return f'<section id="s-grade"><h2>Grade</h2><pre>{e(json.dumps(g, default=str)[:2000])}</pre></section>'
