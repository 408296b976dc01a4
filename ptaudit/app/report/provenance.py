"""The provenance part of the reports: a finding's chain as lines (text report), and the
derivation tree of each sink (the final model, training data named by findings) as
collapsible HTML, with the nodes on a finding's chain marked. Built from the graph the
report's one pass over the log fills (``Scan.prov``); bounded like the rest of the page."""

from __future__ import annotations

from html import escape as e
from typing import Any

from detectors.prov_graph import ProvGraph

SINKS_SHOWN = 12
DEPTH = 6
FANOUT = 10


def chain_lines(chain: list[dict[str, Any]]) -> list[str]:
    """``source ← reason`` then one ``→ via (seq N) node`` per hop."""
    out: list[str] = []
    for hop in chain:
        if "source" in hop:
            out.append(f"{hop['node']}  [source: {hop['source']}]")
        else:
            how = f"{hop.get('via')}{', inferred' if hop.get('inferred') else ''}, seq {hop.get('seq')}"
            out.append(f"→ ({how}) {hop['node']}")
    return out


def _flagged(findings: list[dict[str, Any]]) -> set[str]:
    """Labels of the nodes on provenance findings' chains, and of the sinks they reached."""
    out: set[str] = set()
    for f in findings:
        if f["detector"] != "provenance":
            continue
        for ev in f["evidence"]:
            out.update(h["node"] for h in ev.get("chain", []) if isinstance(h, dict) and isinstance(h.get("node"), str))
            out.update(s for s in ev.get("sinks", []) if isinstance(s, str))
    return out


def _sinks(g: ProvGraph, findings: list[dict[str, Any]], final_model: str) -> list[str]:
    named = [s for f in findings if f["detector"] == "provenance" for ev in f["evidence"]
             for s in ev.get("sinks", []) if isinstance(s, str)]
    final = sorted(p for p in g.files if p == final_model or p.startswith(final_model.rstrip("/") + "/"))
    return list(dict.fromkeys(named + final))


def section(g: ProvGraph, findings: list[dict[str, Any]], seq_link: Any, final_model: str = "final_model") -> str:
    sinks = _sinks(g, findings, final_model)
    if not sinks:
        return ""
    g.attribute_flows()
    g.link_content()
    flagged = _flagged(findings)
    out = ['<section id="s-provenance"><h2>Provenance</h2><p class="note">Where the final model and the '
           "training data named by findings came from: the processes that wrote them, what those read, spawned, "
           "were piped or received, back in time. Marked: nodes on a provenance finding's chain. "
           f"{DEPTH} hops, {FANOUT} inputs per node at most; <code>ptaudit provenance RUNDIR PATH</code> shows more.</p>"]
    for path in sinks[:SINKS_SHOWN]:
        tree = g.tree(g.file_node(path), depth=DEPTH, fanout=FANOUT)
        open_ = " open" if path in flagged else ""
        out.append(f'<details class="prov"{open_}><summary>{_node(tree, flagged)}</summary>'
                   f"{_children(tree, flagged, seq_link)}</details>")
    if len(sinks) > SINKS_SHOWN:
        out.append(f'<p class="note">{len(sinks) - SINKS_SHOWN} more sinks: use ptaudit provenance</p>')
    for note in g.trace_gaps + ([f"{g.overflow} edges or nodes beyond the memory bound"] if g.overflow else []):
        out.append(f'<p class="note">incomplete: {e(note)}</p>')
    out.append("</section>")
    return "".join(out)


def _node(t: dict[str, Any], flagged: set[str]) -> str:
    kind = {"p": "process", "f": "file", "n": "flow"}[t["node"][0]]
    cls = ' class="tainted"' if t["label"] in flagged else ""
    tail = " (cycle)" if t.get("cycle") else (" …" if t.get("truncated") else "")
    return f'<span class="note">{kind}</span> <span{cls}><span class="mono">{e(t["label"])}</span></span>{tail}'


def _children(t: dict[str, Any], flagged: set[str], seq_link: Any) -> str:
    if not t["edges"]:
        return ""
    items = []
    for edge in t["edges"]:
        how = f'{e(edge["via"])}{" (inferred)" if edge.get("inferred") else ""} {seq_link(edge["seq"])}'
        items.append(f"<li>{how} {_node(edge['child'], flagged)}{_children(edge['child'], flagged, seq_link)}</li>")
    more = f'<li class="note">… {t["more"]} more</li>' if t.get("more") else ""
    return f'<ul class="tree">{"".join(items)}{more}</ul>'
