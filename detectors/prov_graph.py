"""The provenance graph of a run: what every process read and wrote, what it spawned, which
pipes and flows connect them, built from the log (live and in replay, same code).

Nodes are processes (``p:<pid>.<generation>``: a pid reused after exit is a new node),
workspace and sandbox files (``f:<path>``, workspace files by their path relative to the
workspace, others absolute) and network flows (``n:<flow id>``). Edges:

    read   file  -> process   proc.open without write
    write  process -> file    proc.open for writing (until the file's next version)
    spawn  parent -> child    proc.clone
    pipe   process -> process a pipe made one's stdout and the other's stdin (proc.dup)
    recv   flow -> process    the process whose connection to the proxy carried the flow
    send   process -> flow    (attributed by timing: see ``attribute_flows``)
    copy   flow -> file       a file whose content hash equals a flow body's hash

Memory is bounded by aggregation: one edge per (source, target, kind) with its first and
last time and seq and a count, whatever the number of opens (a million opens of one file
by one process is one edge); at most ``max_edges`` distinct edges and ``max_nodes``
process and file nodes, beyond which new ones are counted in ``overflow`` and the graph
is marked incomplete. What the trace points cannot see is not in the graph: data passed
through memory (shared memory, sockets between processes, a parent reading its child's
output through a pipe is recorded but not followed, see :mod:`detectors.provenance`),
reads under the trace sink's quiet prefixes (/usr, /proc, ...), renames (the file
monitor's fs.move is followed), and opens beyond the trace sink's cap (its summary says).
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from typing import Any

from ptaudit.core.events import (
    Event,
    EventData,
    FsFinalScan,
    FsMove,
    FsWrite,
    NetError,
    NetRequest,
    NetResponse,
    ProcClone,
    ProcConnect,
    ProcDup,
    ProcExec,
    ProcExit,
    ProcOpen,
    TraceSummary,
)
from ptaudit.core.sniff import WEIGHT_KINDS

WORKSPACE = "/workspace/"
O_DIRECTORY = 0o200000
# Mounted read-only into every sandbox (curated /etc, the guest helper): nothing the agent
# does can change them, so reading them carries no taint.
READ_ONLY_PREFIXES = ("/etc/", "/opt/ptaudit/")
EDGE_KINDS = ("read", "write", "spawn", "pipe", "recv", "send", "copy")


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    kind: str
    first_ts: int
    first_seq: int
    last_ts: int
    last_seq: int
    count: int = 1
    inferred: bool = False  # attributed by timing, not observed directly


@dataclass
class Proc:
    node: str
    pid: int
    argv: list[str] = field(default_factory=list)
    ppid: int | None = None
    start_ts: int = 0
    start_seq: int = 0
    end_ts: int | None = None
    root: bool = False  # the agent command itself (the first program init.py starts)

    @property
    def label(self) -> str:
        return " ".join(self.argv)[:200] if self.argv else f"pid {self.pid}"


@dataclass
class Flow:
    node: str
    url: str
    host: str
    ts: int
    seq: int
    client: tuple[Any, ...] | None = None
    response_sha: str | None = None
    request_sha: str | None = None
    end_ts: int | None = None


class ProvGraph:
    def __init__(self, proxy_port: int = 3128, max_edges: int = 1_000_000, max_nodes: int = 1_000_000):
        self.proxy_port, self.max_edges, self.max_nodes = proxy_port, max_edges, max_nodes
        self.procs: dict[str, Proc] = {}
        self._live: dict[int, Proc] = {}  # pid -> its current node
        self._gen: dict[int, int] = {}
        self.files: dict[str, list[tuple[int, int, str | None]]] = {}  # path -> versions (ts, seq, sha256)
        self.weight_files: set[str] = set()  # paths whose content sniffed as model weights
        self.flows: dict[str, Flow] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self._pipes: dict[str, list[tuple[int, int, int, str]]] = {}  # pipe -> [(fd, ts, seq, proc node)]
        self._proxy_connects: list[tuple[int, int, str]] = []  # (ts, seq, proc node)
        self.overflow = 0
        self.trace_gaps: list[str] = []  # what the trace sink says it did not record
        self.events = 0
        self.last_ts = 0

    # -- nodes ---------------------------------------------------------------------------
    def proc(self, pid: int, ts: int, seq: int, fresh: bool = False) -> Proc:
        p = self._live.get(pid)
        if p is None or fresh or p.end_ts is not None:
            gen = self._gen[pid] = self._gen.get(pid, -1) + 1
            node = sys.intern(f"p:{pid}.{gen}")
            p = Proc(node, pid, start_ts=ts, start_seq=seq)
            if len(self.procs) < self.max_nodes:
                self.procs[node] = p
            else:
                self.overflow += 1
            self._live[pid] = p
        return p

    @staticmethod
    def file_node(path: str) -> str:
        if path.startswith(WORKSPACE):
            path = path[len(WORKSPACE):]
        elif path == WORKSPACE.rstrip("/"):
            path = "."
        return sys.intern("f:" + path)  # one string per path, shared by all its edges

    def edge(self, src: str, dst: str, kind: str, ts: int, seq: int, inferred: bool = False) -> None:
        key = (src, dst, kind)
        e = self.edges.get(key)
        if e is not None:
            e.last_ts, e.last_seq, e.count = ts, seq, e.count + 1
        elif len(self.edges) < self.max_edges:
            self.edges[key] = Edge(src, dst, kind, ts, seq, ts, seq, inferred=inferred)
        else:
            self.overflow += 1

    # -- events --------------------------------------------------------------------------
    def feed(self, event: Event) -> None:
        """Consume one event (invalid payloads are the engine's to report, not ours)."""
        try:
            p = event.payload
        except ValueError:
            return
        if p is not None:
            self.add(event.seq, event.ts, p)

    def add(self, seq: int, ts: int, p: EventData) -> None:
        self.events += 1
        self.last_ts = max(self.last_ts, ts)
        if isinstance(p, ProcOpen) and p.pid is not None:
            if p.result is not None and p.result < 0:
                return  # the open failed: nothing was read or written
            if not p.write and ((p.flags or 0) & O_DIRECTORY or p.path.startswith(READ_ONLY_PREFIXES)):
                return  # a directory listing, or the sandbox's read-only config: no data flows in
            proc = self.proc(p.pid, ts, seq).node
            f = self.file_node(p.path)
            if p.write:
                self.edge(proc, f, "write", ts, seq)
            else:
                self.edge(f, proc, "read", ts, seq)
        elif isinstance(p, ProcClone) and p.pid is not None:
            parent = self.proc(p.pid, ts, seq)
            child = self.proc(p.child_pid, ts, seq, fresh=True)
            child.ppid, child.argv = p.pid, list(parent.argv)
            self.edge(parent.node, child.node, "spawn", ts, seq)
        elif isinstance(p, ProcExec) and p.pid is not None:
            proc = self.proc(p.pid, ts, seq)
            proc.argv = list(p.argv)
            if p.ppid == 1 and not any(q.root for q in self.procs.values()):
                proc.root = True  # init.py (pid 1) starts the agent command; that is the harness
        elif isinstance(p, ProcExit) and p.pid is not None:
            proc = self._live.get(p.pid)
            if proc is not None:
                proc.end_ts = ts
        elif isinstance(p, ProcDup) and p.pid is not None:
            self._pipe(p, ts, seq)
        elif isinstance(p, ProcConnect) and p.pid is not None:
            a = p.address
            if a.get("family") in ("inet", "inet6") and a.get("port") == self.proxy_port and \
                    str(a.get("host", "")).startswith(("127.", "::1")):
                self._proxy_connects.append((ts, seq, self.proc(p.pid, ts, seq).node))
                del self._proxy_connects[:-100_000]
        elif isinstance(p, FsWrite | FsFinalScan):
            self._version(p.path, ts, seq, p.sha256)
            if p.type in WEIGHT_KINDS and len(self.weight_files) < self.max_nodes:
                self.weight_files.add(p.path)
        elif isinstance(p, FsMove):
            self.edge(self.file_node(p.src), self.file_node(p.dest), "copy", ts, seq)
        elif isinstance(p, NetRequest) and p.flow:
            if p.flow not in self.flows and len(self.flows) < self.max_nodes:
                client = tuple(p.client) if p.client else None
                self.flows[p.flow] = Flow("n:" + p.flow, p.url, p.host, ts, seq, client)
        elif isinstance(p, NetResponse | NetError) and p.flow and p.flow in self.flows:
            fl = self.flows[p.flow]
            fl.end_ts = ts
            if isinstance(p, NetResponse):
                fl.response_sha = p.sha256
            if p.request_body is not None:
                fl.request_sha = p.request_body.sha256
        elif isinstance(p, TraceSummary):
            if p.opens_suppressed:
                self.trace_gaps.append(f"{p.opens_suppressed} opens beyond the trace sink's cap were not recorded")
            if p.runsc_dropped or p.queue_dropped:
                self.trace_gaps.append(f"{p.runsc_dropped + p.queue_dropped} trace points were dropped")

    def _version(self, path: str, ts: int, seq: int, sha: str | None) -> None:
        versions = self.files.setdefault(path, [])
        if not versions or versions[-1][2] != sha:
            versions.append((ts, seq, sha))
            del versions[:-16]  # the latest versions are the ones chains need

    def _pipe(self, p: ProcDup, ts: int, seq: int) -> None:
        node = self.proc(p.pid or 0, ts, seq).node
        ends = self._pipes.setdefault(p.fd_path, [])
        # A shell wires both ends of a pipeline around the same time; pipe ids are reused
        # later, so only the most recent ends are paired.
        for fd, _ts, _seq, other in reversed(ends[-8:]):
            if other == node:
                continue
            if fd in (1, 2) and p.new_fd == 0:
                self.edge(other, node, "pipe", ts, seq)
            elif fd == 0 and p.new_fd in (1, 2):
                self.edge(node, other, "pipe", ts, seq)
        ends.append((p.new_fd, ts, seq, node))
        del ends[:-8]

    # -- after the last event -------------------------------------------------------------
    def attribute_flows(self, window_ns: int = 3_000_000_000) -> None:
        """Join flows to processes: a flow's client connection (the relay's address) to the
        nearest unclaimed connect to the proxy port inside the sandbox, within ``window_ns``.
        Inferred edges, marked so. Every flow on one client connection has the same process."""
        by_client: dict[tuple[Any, ...], str] = {}
        connects = sorted(self._proxy_connects)
        used: set[int] = set()
        for fl in sorted(self.flows.values(), key=lambda f: f.seq):
            proc = by_client.get(fl.client) if fl.client else None
            if proc is None:
                best, best_i = None, -1
                for i, (ts, _seq, node) in enumerate(connects):
                    if i in used or abs(ts - fl.ts) > window_ns:
                        continue
                    if best is None or abs(ts - fl.ts) < abs(best[0] - fl.ts):
                        best, best_i = (ts, node), i
                if best is None:
                    continue
                used.add(best_i)
                proc = best[1]
                if fl.client:
                    by_client[fl.client] = proc
            self.edge(fl.node, proc, "recv", fl.end_ts or fl.ts, fl.seq, inferred=True)
            self.edge(proc, fl.node, "send", fl.ts, fl.seq, inferred=True)

    def link_content(self) -> None:
        """copy edges: a file version whose hash equals a flow's response body hash."""
        by_sha: dict[str, Flow] = {}
        for fl in self.flows.values():
            if fl.response_sha and fl.response_sha not in by_sha:
                by_sha[fl.response_sha] = fl
        for path, versions in self.files.items():
            for ts, seq, sha in versions:
                fl = by_sha.get(sha or "")
                if fl is not None and ts >= fl.ts:
                    self.edge(fl.node, self.file_node(path), "copy", ts, seq)

    def write_until(self, e: Edge) -> int:
        """A write edge carries taint written up to the file's last version after the open
        (the writer may keep the file open long after opening it)."""
        path = e.dst[2:]
        until = e.last_ts
        for ts, _seq, _sha in self.files.get(path, ()):
            if ts >= e.first_ts:
                until = max(until, ts)
        return until

    def matching_files(self, globs: list[str]) -> list[str]:
        """File nodes whose workspace path matches any glob (``eval/`` means everything under it)."""
        pats = [g.rstrip("/") + "/**" if g.endswith("/") else g for g in globs]
        paths = set(self.files) | {k[0][2:] for k in self.edges if k[0].startswith("f:")} | \
            {k[1][2:] for k in self.edges if k[1].startswith("f:")}
        return sorted("f:" + p for p in paths if any(_glob(p, pat) for pat in pats))

    def tree(self, node: str, forward: bool = False, depth: int = 6, fanout: int = 12) -> dict[str, Any]:
        """Where ``node`` came from (or, ``forward``, what was derived from it) as a nested
        dict {node, label, edges: [{via, seq, inferred, more..., child: {...}}]}, respecting
        time (only inputs that came before an output), bounded in depth and fan-out."""
        index: dict[str, list[Edge]] = {}
        for e in self.edges.values():
            index.setdefault(e.src if forward else e.dst, []).append(e)
        return self._tree(node, forward, depth, fanout, index, None if forward else 1 << 62, set())

    def _tree(self, node: str, forward: bool, depth: int, fanout: int, index: dict[str, list[Edge]],
              when: int | None, path: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"node": node, "label": self.label(node), "edges": []}
        if depth <= 0 or node in path:
            out["truncated"] = depth <= 0
            out["cycle"] = node in path
            return out
        edges = index.get(node, [])
        if when is not None:  # backward: only what happened before; forward: only after
            edges = [e for e in edges if (e.first_ts <= when if not forward else e.last_ts >= when)]
        edges = sorted(edges, key=lambda e: (e.first_ts, e.kind))
        for e in edges[:fanout]:
            nxt = e.dst if forward else e.src
            t = e.last_ts if not forward else e.first_ts
            out["edges"].append({"via": e.kind, "seq": e.first_seq, "count": e.count,
                                 **({"inferred": True} if e.inferred else {}),
                                 "child": self._tree(nxt, forward, depth - 1, fanout, index, t, path | {node})})
        if len(edges) > fanout:
            out["more"] = len(edges) - fanout
        return out

    def label(self, node: str) -> str:
        if node.startswith("p:"):
            p = self.procs.get(node)
            return p.label if p else node
        if node.startswith("n:"):
            fl = self.flows.get(node[2:])
            return fl.url[:200] if fl else node
        return node[2:]


def _glob(path: str, pat: str) -> bool:
    if pat.endswith("/**"):
        base = pat[:-3]
        return path == base or path.startswith(base + "/")
    return fnmatch.fnmatchcase(path, pat)
