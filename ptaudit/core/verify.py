"""Verification of a run directory: the hash chain of events.jsonl and the blob store.

Reports the first problem with its seq and its kind:
  edited      a line's bytes no longer match its hash (or it is not a record at all)
  deleted     a seq is missing and does not appear later
  reordered   a seq appears out of place (a later line holds the expected one)
  truncated   the sealed manifest promises more records than the log holds
  rechained   the log is self-consistent but its head differs from the sealed manifest
  appended    bytes after the last record of a sealed log
  missing_blob / bad_blob   a referenced blob is absent / its bytes do not match its name
  missing_artifact / changed_artifact   a file sealed in the manifest (findings.jsonl,
              honeytokens.json, reports, grade.json) is absent / no longer matches its hash
A trusted file present but not sealed is listed in ``unsealed`` (a warning: e.g. a
grade.json written by a tool that did not seal it). A torn last line (the recorder or host crashed mid-write) is reported separately: it is
what a crash leaves, not tampering.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .events import GENESIS, blob_refs, line_digest
from .rundir import TRUSTED, RunDir
from .verdict import AuditFacts

MIN_HEAD_PREFIX = 16


@dataclass
class Problem:
    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "run"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class VerifyResult:
    records: int = 0
    head: str = GENESIS
    blobs_checked: int = 0
    torn_tail: bool = False
    sealed: bool = False
    artifacts_checked: int = 0
    unsealed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    facts: AuditFacts = field(default_factory=AuditFacts)
    """What the log and manifest say about the audit's completeness (ptaudit.core.verdict)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, path: Path) -> str:
        if not self.ok:
            return f"{path}: FAILED at {self.problems[0]}"
        state = "sealed" if self.sealed else "not sealed (run did not finish cleanly)"
        tail = "; torn last line after a crash (ignored, not tampering)" if self.torn_tail else ""
        arts = f", {self.artifacts_checked} sealed files verified" if self.artifacts_checked else ""
        unsealed = f"; not sealed, not vouched for: {', '.join(self.unsealed)}" if self.unsealed else ""
        return (f"{path}: OK: {self.records} records, chain intact, head {self.head}, "
                f"{self.blobs_checked} blobs verified{arts}, {state}{tail}{unsealed}")


def check_head(expected: str) -> str:
    """A head given by a user: hex, at least MIN_HEAD_PREFIX digits (what verify and
    report print is the whole head; a prefix that long is unambiguous). Lower-cased."""
    h = expected.strip().lower()
    if len(h) < MIN_HEAD_PREFIX or len(h) > 64 or any(c not in "0123456789abcdef" for c in h):
        raise InputError(f"--head {expected!r}: expected the log head, {MIN_HEAD_PREFIX} to 64 hex digits")
    return h


def verify_run(path: Path, expected_head: str | None = None, check_blobs: bool = True) -> VerifyResult:
    if expected_head is not None:
        expected_head = check_head(expected_head)
    rd = RunDir.open(path)
    res = VerifyResult()
    manifest = rd.manifest()
    res.sealed = manifest.sealed
    res.facts.set_manifest(manifest.sealed, manifest.end_reason, manifest.lossy, manifest.events_lost)
    res.facts.set_verified(False, "not checked")
    _check(rd, res, manifest, expected_head, check_blobs)
    res.facts.set_verified(res.ok, str(res.problems[0]) if res.problems else None)
    return res


def _check(rd: RunDir, res: VerifyResult, manifest, expected_head: str | None,  # type: ignore[no-untyped-def]
           check_blobs: bool) -> None:
    lines = rd.events_path.read_bytes().split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if tail:
        res.torn_tail = True
    expected, prev = 0, GENESIS
    refs: dict[str, int] = {}
    seqs = [_peek_seq(raw) for raw in lines]
    for i, raw in enumerate(lines):
        seq = seqs[i]
        digest = line_digest(raw)
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if digest is None or not isinstance(obj, dict) or obj.get("hash") != digest:
            res.problems.append(Problem(seq if seq is not None else expected, "edited",
                                        f"line {i + 1} does not match its hash (content changed)"))
            return
        if seq != expected:
            if seq is not None and seq > expected and expected not in seqs[i + 1:]:
                res.problems.append(Problem(expected, "deleted", f"records {expected}..{seq - 1} are missing"))
            else:
                res.problems.append(Problem(expected, "reordered",
                                            f"line {i + 1} holds seq {seq} where seq {expected} belongs"))
            return
        if obj.get("prev") != prev:
            res.problems.append(Problem(seq, "reordered", "prev does not match the previous record's hash"))
            return
        data = obj.get("data")
        if isinstance(data, dict):
            res.facts.feed(str(obj.get("kind")), data)
            for ref in blob_refs(data):
                refs.setdefault(ref, seq)
        prev, expected = digest, expected + 1
    res.records, res.head = expected, prev
    if manifest.sealed and res.torn_tail:  # a crash leaves a torn line, a sealed run never does
        res.problems.append(Problem(res.records, "appended", f"{len(tail)} bytes after the last sealed record"))
        return
    if manifest.sealed and manifest.log is not None:
        if manifest.log.count > res.records:
            res.problems.append(Problem(res.records, "truncated",
                                        f"manifest sealed {manifest.log.count} records, log holds {res.records}"))
            return
        if manifest.log.count != res.records or manifest.log.head != res.head:
            res.problems.append(Problem(manifest.log.count - 1, "rechained",
                                        "log head differs from the head sealed in the manifest"))
            return
    if expected_head is not None and not res.head.startswith(expected_head):
        res.problems.append(Problem(res.records - 1, "rechained", f"head {res.head} is not the expected {expected_head}"))
        return
    _check_artifacts(rd, res, manifest.artifacts)
    if res.problems:
        return
    if check_blobs:
        store = rd.blobs
        for ref, seq in refs.items():
            p = store.path(ref)
            if not p.is_file():
                res.problems.append(Problem(seq, "missing_blob", f"blob {ref} referenced here is absent"))
                return
            if _sha256_file(p) != ref:
                res.problems.append(Problem(seq, "bad_blob", f"blob {ref} does not match its content hash"))
                return
            res.blobs_checked += 1


def _check_artifacts(rd: RunDir, res: VerifyResult, sealed: dict[str, str] | None) -> None:
    from .blobs import file_sha256

    for name, sha in sorted((sealed or {}).items()):
        p = rd.path / name
        if not p.is_file():
            res.problems.append(Problem(None, "missing_artifact", f"{name} is sealed in the manifest but absent"))
            return
        if file_sha256(p) != sha:
            res.problems.append(Problem(None, "changed_artifact", f"{name} no longer matches the hash sealed in the manifest"))
            return
        res.artifacts_checked += 1
    res.unsealed = [n for n in TRUSTED if (rd.path / n).is_file() and n not in (sealed or {})]


def _peek_seq(raw: bytes) -> int | None:
    # Records start with {"seq":N, — read it without trusting the rest of the line.
    if raw.startswith(b'{"seq":'):
        end = raw.find(b",", 7)
        try:
            return int(raw[7:end])
        except ValueError:
            return None
    return None


def _sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
