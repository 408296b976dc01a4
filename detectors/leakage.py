"""The ``leakage`` detector: benchmark test items entering or landing in the run.

Flags (category ``test_set_leakage``):

* content: any response body or workspace file (at every write and at the final scan)
  that, after decoding (``leak_decode``) and hard normalisation (``leak_norm``), shares
  with a test item at least ``char_window`` normalised characters, or ``ngram`` whole
  words, or a whole indexed field. One finding per benchmark and source (URL or path)
  once ``min_items`` items and ``min_coverage_pct`` of the test set are hit;
* by name (``names = true``): requests for a benchmark's Hub dataset outside its
  ``allowed_splits``, for a PyPI package in ``pypi_packages``, and opens, commands or
  URLs naming the test set's host path or file name.

Does not flag: paraphrases and translations (no shared normalised span), items shorter
than the anchor (20 normalised characters), data it cannot read (bodies or files that
were not stored, encryption, formats it does not decode). Known false positives: text
that legitimately quotes test items (papers, model cards, forum threads), common
boilerplate fields indexed by mistake, and any file whose name equals the test set's file
name. See docs/detectors.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ptaudit.core.events import Event, FileState, NetBlocked, NetRequest, NetResponse, ProcExec, ProcOpen

from .base import Detector, DetectorContext, Finding, register
from .leak_decode import Limits
from .leak_index import LeakIndex, cached_index
from .leak_names import hub_dataset_ref, hub_verdict, mentions_path, pypi_package
from .leak_scan import ItemHit, Scanner, ScanResult
from .testset import load_test_items

CATEGORY = "test_set_leakage"


class LeakageParams(BaseModel):
    """Policy ``params`` of a ``leakage`` rule."""

    model_config = ConfigDict(extra="forbid")

    ngram: int = Field(default=13, ge=3, description="Whole item words in common that make a match.")
    char_window: int = Field(default=50, ge=16, le=4096, description="Normalised characters in common that make a match.")
    anchor: int = Field(default=20, ge=8, le=64, description="Indexed substring length (<= char_window); shorter finds shorter items, costs more.")
    min_items: int = Field(default=1, ge=1, description="Items a source must contain to be reported.")
    min_coverage_pct: float = Field(default=0.0, ge=0, le=100, description="Share of the test set a source must contain.")
    decode_depth: int = Field(default=4, ge=0, le=16, description="Nested containers/encodings decoded.")
    max_scan_bytes: int = Field(default=256 << 20, ge=1 << 10, description="Decoded bytes read per stream (body, file, member).")
    max_total_bytes: int = Field(default=1 << 30, ge=1 << 10, description="Decoded bytes read per blob or file in all.")
    max_members: int = Field(default=10_000, ge=1, description="Archive members read per archive.")
    chunk_bytes: int = Field(default=4 << 20, ge=1 << 10, description="Scan chunk; items straddling chunks are still found.")
    names: bool = Field(default=True, description="Also flag Hub ids, PyPI packages and test-set paths by name.")
    max_item_ids: int = Field(default=50, ge=0, description="Item ids listed in a finding's evidence.")
    semantic: bool = Field(default=False, description="Embedding-based paraphrase layer (not built in this version).")

    @field_validator("semantic")
    @classmethod
    def _no_semantic(cls, v: bool) -> bool:
        if v:
            raise ValueError("the semantic (embedding) layer is not available in this build; set semantic = false")
        return v


@dataclass
class _Source:
    """What one source (URL or path) has shown of one benchmark so far."""

    bench: str
    source: str
    what: str
    items: dict[int, tuple[ItemHit, int | None]] = field(default_factory=dict)  # item -> (hit, seq)
    notes: list[str] = field(default_factory=list)
    first_ts: int | None = None
    emitted_items: int = 0


@register
class LeakageDetector(Detector):
    """Finds benchmark test items, and requests for them by name, in a run."""

    name = "leakage"
    Params = LeakageParams

    def __init__(self, rule: Any, ctx: DetectorContext):
        super().__init__(rule, ctx)
        p: LeakageParams = self.params
        if p.anchor > p.char_window:
            raise ValueError(f"rule {rule.id!r}: anchor ({p.anchor}) must not exceed char_window ({p.char_window})")
        self.benchmarks = list(ctx.task.benchmarks) if ctx.task is not None else []
        self.limits = Limits(max_bytes=p.max_scan_bytes, max_total=p.max_total_bytes, depth=p.decode_depth,
                             max_members=p.max_members, chunk=p.chunk_bytes)
        self._scanner: Scanner | None = None
        self._cache: OrderedDict[tuple[str, str], ScanResult] = OrderedDict()
        self._sources: dict[tuple[str, str], _Source] = {}
        self._named: set[str] = set()

    # -- index -------------------------------------------------------------------
    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            p: LeakageParams = self.params
            indexes: dict[str, LeakIndex] = {}
            for b in self.benchmarks:
                items, sha = load_test_items(b.test_set, b.fields, b.id_field)
                key = (sha, tuple(b.fields), b.id_field)
                indexes[b.name] = cached_index(key, items, p.anchor, p.char_window, p.ngram)
            self._scanner = Scanner(indexes, self.limits)
        return self._scanner

    def prepare(self) -> None:
        """Build the index now (``ptaudit run`` calls this before the agent starts)."""
        _ = self.scanner

    # -- events ------------------------------------------------------------------
    def on_event(self, event: Event) -> Iterable[Finding]:
        if not self.benchmarks:
            return []
        p = event.payload
        out: list[Finding] = []
        if isinstance(p, NetRequest | NetBlocked):
            if self.params.names:
                out += self._by_url(event, p.url or "")
        elif isinstance(p, NetResponse):
            out += self._content(event, p.blobs, truncated=bool(p.body and p.body.truncated), source=p.url,
                                 what="response body of", where=p.url.split("?")[0])
        elif isinstance(p, FileState):
            out += self._content(event, p.blobs, truncated=p.blob_truncated, source=p.path, what="workspace file",
                                 where=p.path)
        elif isinstance(p, ProcOpen) and self.params.names:
            out += self._by_path(event, p.path, "opened", p.pid)
        elif isinstance(p, ProcExec) and self.params.names:
            if any(self._mentions(a) for a in p.argv):
                out += self._by_path(event, " ".join(p.argv)[:500], "command names", p.pid)
        return out

    def finish(self) -> Iterable[Finding]:
        """Re-emit findings whose sources showed more items after they were first reported."""
        out = []
        for st in self._sources.values():
            if st.emitted_items and len(st.items) > st.emitted_items:
                f = self._content_finding(st)
                if f is not None:
                    out.append(f)
        return out

    def scan_file(self, path: Path, label: str) -> list[Finding]:
        """Scan one file outside a run (``ptaudit scan``); ``label`` names it in findings."""
        with open(path, "rb") as fh:
            result = self.scanner.scan(fh, label)
        return self._accumulate(result, label, "file", None, None)

    # -- content -----------------------------------------------------------------
    def _content(self, event: Event, refs: list[str], truncated: bool, source: str, what: str,
                 where: str) -> list[Finding]:
        blobs = self.ctx.blobs
        out: list[Finding] = []
        for sha in refs:
            key = (sha, where)
            result = self._cache.get(key)
            if result is None:
                if blobs is None or not blobs.has(sha):
                    result = ScanResult(notes=[f"blob {sha[:12]} not stored; not scanned"])
                else:
                    with blobs.open(sha) as fh:
                        result = self.scanner.scan(fh, where)
                    if truncated:
                        result.notes.append(f"{where}: only the stored prefix ({result.bytes_scanned} bytes) was scanned")
                self._cache[key] = result
                if len(self._cache) > 1024:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            out += self._accumulate(result, source, what, event.seq, event.ts)
        return out

    def _accumulate(self, result: ScanResult, source: str, what: str, seq: int | None,
                    ts: int | None) -> list[Finding]:
        out = []
        for bench, hits in result.hits.items():
            st = self._sources.get((bench, source))
            if st is None:
                st = self._sources[(bench, source)] = _Source(bench, source, what)
            for item, hit in hits.items():
                prev = st.items.get(item)
                if prev is None or prev[0].length < hit.length:
                    st.items[item] = (hit, seq if prev is None else prev[1])
            for n in result.notes:
                if n not in st.notes and len(st.notes) < 20:
                    st.notes.append(n)
            if not st.emitted_items and self._over_threshold(st):
                st.first_ts = ts
                f = self._content_finding(st)
                if f is not None:
                    out.append(f)
        return out

    def _over_threshold(self, st: _Source) -> bool:
        idx = self.scanner.indexes[st.bench]
        pct = 100.0 * len(st.items) / max(1, idx.n_items)
        return len(st.items) >= self.params.min_items and pct >= self.params.min_coverage_pct

    def _content_finding(self, st: _Source) -> Finding | None:
        idx = self.scanner.indexes[st.bench]
        st.emitted_items = len(st.items)
        order = sorted(st.items)
        longest = max(h.length for h, _ in st.items.values())
        pct = 100.0 * len(order) / max(1, idx.n_items)
        summary: dict[str, Any] = {
            "benchmark": st.bench, "items_hit": len(order), "items_total": idx.n_items,
            "coverage_pct": round(pct, 2), "longest_match": longest,
            "max_words": max(h.words for h, _ in st.items.values()),
            "item_ids": [idx.item_ids[i] for i in order[: self.params.max_item_ids]],
        }
        if st.notes:
            summary["notes"] = list(st.notes)
        places: dict[tuple[int | None, str], dict[str, Any]] = {}
        for i in order:
            hit, seq = st.items[i]
            loc = places.setdefault((seq, hit.where), {"seq": seq, "source": st.source, "where": hit.where,
                                                        "offset": hit.offset, "items": []})
            if len(loc["items"]) < 20:
                loc["items"].append(idx.item_ids[i])
        evidence = [summary] + [places[k] for k in list(places)[:20]]
        msg = (f"{st.bench}: {len(order)}/{idx.n_items} test items ({pct:.1f}%) in {st.what} {st.source}; "
               f"longest match {longest} normalised chars")
        return self.finding(CATEGORY, st.source, msg, evidence, key=f"content\0{st.bench}\0{st.source}", ts=st.first_ts)

    # -- by name -----------------------------------------------------------------
    def _mentions(self, text: str) -> bool:
        return any(mentions_path(text, str(b.test_set)) for b in self.benchmarks)

    def _named_finding(self, key: str, subject: str, msg: str, ev: dict[str, Any], ts: int) -> list[Finding]:
        if key in self._named:
            return []
        self._named.add(key)
        f = self.finding(CATEGORY, subject, msg, [ev], key=key, ts=ts)
        return [f] if f is not None else []

    def _by_url(self, event: Event, url: str) -> list[Finding]:
        out: list[Finding] = []
        blocked = event.kind == "net.blocked"
        base = {"seq": event.seq, "kind": event.kind, "url": url, "blocked": blocked}
        for b in self.benchmarks:
            ref = hub_dataset_ref(url, b.hub_ids)
            if ref is not None:
                reason = hub_verdict(ref[1], b.allowed_splits)
                if reason is not None:
                    out += self._named_finding(f"hub\0{b.name}\0{url}", url,
                                               f"{b.name}: request for Hub dataset {ref[0]} ({reason}): {url}",
                                               {**base, "benchmark": b.name, "hub_id": ref[0], "reason": reason},
                                               event.ts)
            pkg = pypi_package(url, b.pypi_packages)
            if pkg is not None:
                out += self._named_finding(f"pypi\0{b.name}\0{url}", url,
                                           f"{b.name}: download of PyPI package {pkg}, which ships the test set: {url}",
                                           {**base, "benchmark": b.name, "package": pkg}, event.ts)
            if mentions_path(url.split("?")[0], str(b.test_set)):
                out += self._named_finding(f"read\0{b.name}\0{url}", url,
                                           f"{b.name}: URL names the test set file {b.test_set.name}: {url}",
                                           {**base, "benchmark": b.name, "test_set": str(b.test_set)}, event.ts)
        return out

    def _by_path(self, event: Event, text: str, verb: str, pid: int | None) -> list[Finding]:
        out: list[Finding] = []
        for b in self.benchmarks:
            if mentions_path(text, str(b.test_set)):
                ev = {"seq": event.seq, "kind": event.kind, "text": text, "benchmark": b.name,
                      "test_set": str(b.test_set), "pid": pid}
                out += self._named_finding(f"read\0{b.name}\0{text}", text,
                                           f"{b.name}: {verb} the test set ({b.test_set.name}): {text}", ev, event.ts)
        return out
