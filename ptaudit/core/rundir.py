"""The run directory: one per audited run.

    RUNDIR/manifest.json   what ran, with which versions and input hashes; sealed at the end
    RUNDIR/events.jsonl    the hash-chained event log (see ptaudit.core.events)
    RUNDIR/blobs/          content-addressed bodies and file snapshots (see ptaudit.core.blobs)
    RUNDIR/findings.jsonl  findings, one JSON object per line
    RUNDIR/report.json, report.html, grade.json   written later by report and grade

Sealing: at the end of a run the manifest records the log's count and head, and the
sha256 of every other file a reader trusts (``artifacts``: findings.jsonl,
honeytokens.json, the reports, and grade.json once grading adds it with
:meth:`RunDir.seal_artifacts`); ``ptaudit verify`` checks each one.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from .. import __version__
from .blobs import BlobStore
from .errors import InputError
from .events import SCHEMA_VERSION

MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
FINDINGS = "findings.jsonl"
BLOBS = "blobs"
TRUSTED = ("findings.jsonl", "honeytokens.json", "report.json", "report.html", "grade.json")
"""Files of a run directory a reader may trust, besides the log: sealed by hash."""


class InputRef(BaseModel):
    """An input file of the run, by path and content hash."""

    path: str
    sha256: str
    name: str | None = None


class LogHead(BaseModel):
    count: int = Field(description="Number of records when the run was sealed.")
    head: str = Field(description="hash of the last record when sealed.")


class Manifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    ptaudit_version: str = __version__
    versions: dict[str, str | None] = Field(default_factory=dict, description="python, runsc, mitmproxy, ...")
    task: InputRef | None = None
    policy: InputRef | None = None
    world: InputRef | None = None
    command: list[str] = Field(default_factory=list)
    started: str
    ended: str | None = None
    exit_status: int | None = None
    end_reason: str | None = None
    lossy: bool = False
    events_lost: int = 0
    sealed: bool = False
    log: LogHead | None = None
    artifacts: dict[str, str] | None = Field(
        default=None, description="sha256 of each sealed file (findings.jsonl, honeytokens.json, reports, grade.json); "
                                  "null in runs made before artifacts were sealed.")
    extra: dict[str, Any] = Field(default_factory=dict)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def base_versions() -> dict[str, str | None]:
    return {"python": platform.python_version(), "ptaudit": __version__}


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS

    @property
    def findings_path(self) -> Path:
        return self.path / FINDINGS

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def blobs(self) -> BlobStore:
        return BlobStore(self.path / BLOBS)

    @classmethod
    def create(cls, path: Path, **manifest_fields: Any) -> RunDir:
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise InputError(f"{path}: run directory exists and is not empty; choose a new --out")
        (path / BLOBS).mkdir(parents=True, exist_ok=True)
        rd = cls(path)
        manifest_fields.setdefault("run_id", new_run_id())
        manifest_fields.setdefault("started", utc_now())
        manifest_fields.setdefault("versions", base_versions())
        rd.write_manifest(Manifest(**manifest_fields))
        return rd

    @classmethod
    def open(cls, path: Path) -> RunDir:
        path = Path(path)
        if not (path / MANIFEST).is_file() or not (path / EVENTS).is_file():
            raise InputError(f"{path}: not a run directory (needs {MANIFEST} and {EVENTS})")
        return cls(path)

    def manifest(self) -> Manifest:
        try:
            return Manifest.model_validate_json(self.manifest_path.read_bytes())
        except ValidationError as exc:
            # One line: the first problem with its key, not pydantic's multi-line dump.
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
            more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise InputError(f"{self.manifest_path}: not a valid manifest: {where}: {err.get('msg')}{more}") from None
        except (ValueError, OSError) as exc:
            raise InputError(f"{self.manifest_path}: unreadable manifest: {str(exc).splitlines()[0]}") from None

    def artifact_hashes(self, names: tuple[str, ...] = TRUSTED) -> dict[str, str]:
        """sha256 of each trusted file of ``names`` that exists."""
        from .blobs import file_sha256

        return {n: file_sha256(self.path / n) for n in names if (self.path / n).is_file()}

    def seal_artifacts(self, names: tuple[str, ...] = TRUSTED) -> dict[str, str]:
        """Record the sha256 of the trusted files of ``names`` that exist in the manifest
        (added to those already sealed); returns the manifest's artifacts. Grading calls
        this after writing grade.json."""
        m = self.manifest()
        m.artifacts = {**(m.artifacts or {}), **self.artifact_hashes(names)}
        self.write_manifest(m)
        return m.artifacts

    def write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.manifest_path, manifest.model_dump_json(indent=2).encode() + b"\n")


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file + rename so a crash never leaves a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide reports from reviewers
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_atomic(path, b"".join(json.dumps(r, sort_keys=True, separators=(",", ":")).encode() + b"\n" for r in rows))
