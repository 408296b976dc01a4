"""Scanning files on disk with every core: jobs of bounded size in a process pool.

A job is one file, one byte range of a large plain-text file (cut at line starts, read
``overlap`` bytes past its end so an item that straddles the cut is still whole in one
job), or a share of a large Parquet file's row groups. Results come back in job order and
the parts of one file are merged into one :class:`ScanResult`, equal to scanning the file
in one piece (offsets, lines and the best hit per item). Memory per worker: the index
(shared copy-on-write when the pool forks) plus a few chunks.

Workers fork when this process has a single thread (the CLI); a threaded process (a
live run) uses a fork server, whose workers build the index once from the same items.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .leak_decode import HEAD, Limits, looks_json
from .leak_index import LeakIndex, cached_index
from .leak_scan import Scanner, ScanResult
from .testset import TestItem

RANGE_BYTES = 64 << 20  # plain-text files above twice this are split into ranges of this size
_PLAIN_NO = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00", b"PK\x03\x04", b"PK\x05\x06", b"PAR1",
             b"ARROW1", b"\xff\xff\xff\xff")


@dataclass(frozen=True)
class IndexSpec:
    """What a worker needs to build (or find in its cache) one benchmark's index."""

    bench: str
    key: tuple[Any, ...]
    items: tuple[TestItem, ...]
    anchor: int
    char_window: int
    ngram: int

    def build(self) -> LeakIndex:
        return cached_index(self.key, self.items, self.anchor, self.char_window, self.ngram)


@dataclass(frozen=True)
class Job:
    """One unit of work: ``path`` (labelled ``label``), whole or a part."""

    path: str
    label: str
    start: int = 0
    stop: int | None = None  # plain-text range [start, stop), read ``overlap`` bytes further
    row_groups: tuple[int, ...] | None = None
    size: int = 0  # bytes this job accounts for (progress)
    escaped: bool | None = None  # ranges: JSON escapes, as the file's head says


def plan(files: Sequence[tuple[Path, str]], workers: int, range_bytes: int = RANGE_BYTES) -> list[Job]:
    """Jobs for ``files`` ((path, label) pairs, in order): large plain-text files split in
    ranges, large Parquet files split by row groups when there are several workers."""
    jobs: list[Job] = []
    for path, label in files:
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                head = fh.read(HEAD)
        except OSError:
            jobs.append(Job(str(path), label))
            continue
        plain = not head.startswith(_PLAIN_NO) and head[257:262] != b"ustar" and not label.lower().endswith((".py", ".pyw"))
        if plain and workers > 1 and size > 2 * range_bytes:
            bounds = _line_starts(Path(path), range(range_bytes, size, range_bytes))
            starts = [0] + [b for b in bounds if 0 < b < size]
            esc = looks_json(head) or label.lower().endswith((".json", ".jsonl", ".ipynb"))
            for s, e in zip(starts, starts[1:] + [size], strict=True):
                jobs.append(Job(str(path), label, s, e, size=e - s, escaped=esc))
        elif head.startswith(b"PAR1") and workers > 1 and size > 2 * range_bytes:
            groups = _parquet_groups(Path(path))
            if groups is None or len(groups) < 2:
                jobs.append(Job(str(path), label, size=size))
                continue
            share = _split_groups(groups, max(2, size // range_bytes))
            for part in share:
                jobs.append(Job(str(path), label, row_groups=tuple(g for g, _ in part),
                                size=sum(n for _, n in part)))
        else:
            jobs.append(Job(str(path), label, size=size))
    return jobs


def _line_starts(path: Path, nominal: range) -> list[int]:
    """For each nominal offset, the start of the first line at or after it."""
    out = []
    with open(path, "rb") as fh:
        for off in nominal:
            fh.seek(off - 1)
            buf = fh.read(1 << 20)
            i = buf.find(b"\n")
            out.append(off - 1 + i + 1 if i >= 0 else off)
    return sorted(set(out))


def _parquet_groups(path: Path) -> list[tuple[int, int]] | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        return [(g, meta.row_group(g).total_byte_size) for g in range(meta.num_row_groups)]
    except Exception:  # noqa: BLE001 - unreadable: the scan reports it
        return None


def _split_groups(groups: list[tuple[int, int]], parts: int) -> list[list[tuple[int, int]]]:
    total = sum(n for _, n in groups) or 1
    out: list[list[tuple[int, int]]] = [[]]
    acc = 0
    for g in groups:
        if out[-1] and acc >= total * len(out) / parts:
            out.append([])
        out[-1].append(g)
        acc += g[1]
    return out


class _Range(io.RawIOBase):
    """Bytes [start, stop + extra) of a file, the part past ``stop`` ending at a line end;
    counts the newlines before ``stop``."""

    def __init__(self, fh: io.BufferedReader, start: int, stop: int, extra: int):
        self._fh, self._pos, self._stop, self._extra = fh, start, stop, extra
        self._done = False
        self.newlines = 0
        fh.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if self._done:
            return b""
        if self._pos < self._stop:
            want = self._stop - self._pos if n < 0 else min(n, self._stop - self._pos)
            data = self._fh.read(want)
            self._pos += len(data)
            self.newlines += data.count(b"\n")
            if data:
                return data
        # past the range: up to ``extra`` bytes more, ending at a line end
        self._done = True
        tail = self._fh.read(self._extra)
        if len(tail) == self._extra:
            nl = tail.rfind(b"\n")
            tail = tail[:nl + 1] if nl >= 0 else tail
        return tail


# -- workers ------------------------------------------------------------------------------
_WORKER: Scanner | None = None
_TICKS: Any = None  # a queue of (job number, bytes) for the parent's progress


def _init(specs: tuple[IndexSpec, ...], limits: Limits, engine: str, ticks: Any = None) -> None:
    global _WORKER, _TICKS
    _WORKER = Scanner({s.bench: s.build() for s in specs}, limits, engine)
    _TICKS = ticks


def _run(k: int, job: Job) -> tuple[ScanResult, int, int]:
    assert _WORKER is not None
    ticks = _TICKS
    return scan_job(_WORKER, job, (lambda n: ticks.put((k, n))) if ticks is not None else None)


def scan_job(scanner: Scanner, job: Job, progress: Callable[[int], None] | None = None) -> tuple[ScanResult, int, int]:
    """Scan one job; returns its result, the newlines before its range end (ranges) and
    the bytes already reported to ``progress``."""
    done = [0]

    def tick(n: int) -> None:
        n = min(n, job.size - done[0])
        if n > 0 and progress is not None:
            done[0] += n
            progress(n)

    scanner.on_bytes = tick if progress is not None else None
    try:
        result, newlines = _scan_job(scanner, job)
    finally:
        scanner.on_bytes = None
    return result, newlines, done[0]


def _scan_job(scanner: Scanner, job: Job) -> tuple[ScanResult, int]:
    with open(job.path, "rb") as fh:
        if job.stop is not None:
            extra = max(1 << 20, 8 * scanner.overlap)
            rng = _Range(fh, job.start, job.stop, extra)  # type: ignore[arg-type]
            result = scanner.scan(rng, job.label, size=job.stop - job.start,  # type: ignore[arg-type]
                                  base=job.start, escaped=job.escaped)
            return result, rng.newlines
        return scanner.scan(fh, job.label, row_groups=list(job.row_groups) if job.row_groups else None), 0


_LINE = re.compile(r"^line ([\d,]+)$")


def _shift_lines(result: ScanResult, lines: int) -> None:
    """Turn range-relative line numbers into file line numbers."""
    if not lines:
        return
    for items in result.hits.values():
        for h in items.values():
            if len(h.path) > 1 and (m := _LINE.match(h.path[1])):
                n = int(m.group(1).replace(",", "")) + lines
                h.path = (h.path[0], f"line {n:,}", *h.path[2:])


def scan_files(scanner: Scanner, specs: Sequence[IndexSpec], files: Sequence[tuple[Path, str]], workers: int,
               progress: Callable[[int], None] | None = None,
               range_bytes: int = RANGE_BYTES) -> Iterator[tuple[Path, str, ScanResult]]:
    """(path, label, result) for each file, in order, scanning with ``workers`` processes
    (1: in this process). ``progress`` is called with the bytes of each finished job."""
    jobs = plan(files, workers, range_bytes)
    by_file: dict[str, list[Job]] = {}
    for j in jobs:
        by_file.setdefault(j.path, []).append(j)
    if workers <= 1 or len(jobs) <= 1:
        results: Iterator[tuple[ScanResult, int, int]] = (scan_job(scanner, j, progress) for j in jobs)
        yield from _assemble(files, by_file, jobs, results, progress)
        return
    ctx = mp.get_context("fork" if threading.active_count() == 1 else "forkserver")
    ticks = ctx.SimpleQueue() if progress is not None else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init,
                             initargs=(tuple(specs), scanner.limits, scanner.engine, ticks)) as pool:
        # Submit a bounded window ahead so memory stays flat however many files there are.
        futures: list[tuple[int, Future[tuple[ScanResult, int, int]]]] = []
        it = iter(enumerate(jobs))
        seen: dict[int, int] = {}  # job number -> bytes reported while it ran

        def fill() -> None:
            while len(futures) < 4 * workers:
                nxt = next(it, None)
                if nxt is None:
                    return
                futures.append((nxt[0], pool.submit(_run, *nxt)))

        def drain() -> None:
            while ticks is not None and not ticks.empty():
                k, n = ticks.get()
                if k in seen:  # a tick that arrives after its job was accounted for is dropped
                    seen[k] += n
                    assert progress is not None
                    progress(n)

        def results_in_order() -> Iterator[tuple[ScanResult, int, int]]:
            fill()
            for k, _ in futures:
                seen.setdefault(k, 0)
            while futures:
                k, f = futures.pop(0)
                while not f.done():
                    drain()
                    wait([f], timeout=0.1)
                drain()
                res, newlines, _ = f.result()
                yield res, newlines, seen.pop(k, 0)
                fill()
                for j, _ in futures:
                    seen.setdefault(j, 0)

        yield from _assemble(files, by_file, jobs, results_in_order(), progress)


def _assemble(files: Sequence[tuple[Path, str]], by_file: dict[str, list[Job]], jobs: list[Job],
              results: Iterator[tuple[ScanResult, int, int]], progress: Callable[[int], None] | None
              ) -> Iterator[tuple[Path, str, ScanResult]]:
    for path, label in files:
        merged: ScanResult | None = None
        lines = 0
        for job in by_file.get(str(path), []):
            res, newlines, reported = next(results)
            _shift_lines(res, lines)
            lines += newlines
            if merged is None:
                merged = res
            else:
                merged.merge(res)
            if progress is not None and job.size > reported:
                progress(job.size - reported)
        yield path, label, merged if merged is not None else ScanResult()
