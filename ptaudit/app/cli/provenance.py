from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.tree import Tree

from detectors.prov_graph import ProvGraph
from ptaudit.core.errors import InputError
from ptaudit.core.events import DetectorFinding
from ptaudit.core.rundir import RunDir
from ptaudit.core.runlog import read_events

from .output import out


@click.command("provenance")
@click.argument("rundir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("path")
@click.option("--forward", is_flag=True, help="What was derived from PATH, instead of where it came from.")
@click.option("--depth", default=6, show_default=True, type=click.IntRange(1, 50), help="Hops to follow.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(rundir: Path, path: str, forward: bool, depth: int, fmt: str) -> None:
    """Where a workspace file came from: the processes that wrote it, what they read, spawned
    and received, back to the start (or, with --forward, what was derived from it). Nodes on
    a provenance finding's chain are marked. PATH is workspace-relative (final_model/x) or
    /workspace/...; a URL names a flow."""
    rd = RunDir.open(rundir)
    g = ProvGraph()
    flagged: set[str] = set()
    bad: list[int] = []
    for ev in read_events(rd.events_path, bad=bad):
        g.feed(ev)
        p = ev.payload if ev.kind == DetectorFinding.KIND else None
        if isinstance(p, DetectorFinding) and p.finding.detector == "provenance":
            for e in p.finding.evidence:
                flagged.update(h["node"] for h in e.get("chain", []) if isinstance(h, dict) and "node" in h)
    g.attribute_flows()
    g.link_content()
    node = _node(g, path)
    tree = g.tree(node, forward=forward, depth=depth)
    notes = g.trace_gaps + ([f"{g.overflow} edges or nodes beyond the memory bound"] if g.overflow else []) + (
        [f"{len(bad)} damaged log lines skipped (first: line {bad[0]}; ptaudit verify names them)"] if bad else [])
    if fmt == "json":
        out.print_json(json.dumps({"path": path, "forward": forward, "tree": tree, "flagged": sorted(flagged),
                                   "incomplete": notes}))
        return
    top = Tree(_label(tree, flagged))
    _render(top, tree, flagged)
    out.print(top)
    for note in notes:
        out.print(f"incomplete: {note}", markup=False)


def _node(g: ProvGraph, path: str) -> str:
    if "://" in path:
        for fl in g.flows.values():
            if fl.url == path or fl.url.split("?")[0] == path:
                return fl.node
        raise InputError(f"no flow with URL {path} in this run")
    node = g.file_node(path)
    known = {n for e in g.edges.values() for n in (e.src, e.dst) if n.startswith("f:")} | \
        {"f:" + p for p in g.files}
    if node not in known:
        near = difflib.get_close_matches(node, sorted(known), n=3)
        hint = f"; did you mean {', '.join(n[2:] for n in near)}?" if near else ""
        raise InputError(f"{path}: not in this run's provenance graph (no process opened it, no file event){hint}")
    return node


def _label(t: dict[str, Any], flagged: set[str]) -> str:
    kind = {"p": "process", "f": "file", "n": "flow"}[t["node"][0]]
    mark = " [bold red](on a provenance finding's chain)[/]" if t["label"] in flagged else ""
    extra = " [dim](cycle)[/]" if t.get("cycle") else (" [dim]…[/]" if t.get("truncated") else "")
    return f"[dim]{kind}[/] {escape(t['label'])}{mark}{extra}"


def _render(branch: Tree, t: dict[str, Any], flagged: set[str]) -> None:
    for e in t["edges"]:
        how = f"{e['via']}{' (inferred)' if e.get('inferred') else ''} seq {e['seq']}" + \
              (f" ×{e['count']}" if e["count"] > 1 else "")
        sub = branch.add(f"[cyan]{how}[/] {_label(e['child'], flagged)}")
        _render(sub, e["child"], flagged)
    if t.get("more"):
        branch.add(f"[dim]… {t['more']} more[/]")

