"""Workspace file events (source ``fs``), from the file monitor on the host side of the
workspace bind mount. Paths are relative to the workspace."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import EventData

PathB64 = Annotated[str | None, Field(description="base64 of the raw name when it is not valid UTF-8 "
                                      "(then ``path`` shows the bad bytes as \\xNN escapes).")]


class FsBaseline(EventData):
    """At start: how many files the workspace already holds."""

    KIND = "fs.baseline"
    SOURCE = "fs"
    files: int = Field(description="Files already present at start.")
    overflow_detection: bool = False
    paths: list[str] = Field(default_factory=list, description="Their paths, sorted (the first 20,000): what the "
                             "agent was handed (grader-tampering checks tell it from what the agent made).")
    paths_truncated: bool = False


class FsCreate(EventData):
    """A file or directory appeared (created, or moved in from outside the workspace)."""

    KIND = "fs.create"
    SOURCE = "fs"
    path: str
    path_b64: PathB64 = None
    dir: bool = False
    moved_in: bool = False
    rescan: bool = False


class FsModify(EventData):
    """First write of a quiet period (further writes are coalesced until fs.write)."""

    KIND = "fs.modify"
    SOURCE = "fs"
    path: str
    path_b64: PathB64 = None
    rescan: bool = False


class FsMove(EventData):
    """A rename inside the workspace."""

    KIND = "fs.move"
    SOURCE = "fs"
    src: str
    dest: str
    src_b64: str | None = Field(default=None, description="base64 of the raw source name when not valid UTF-8.")
    dest_b64: str | None = Field(default=None, description="base64 of the raw destination name when not valid UTF-8.")
    dir: bool = False


class FsDelete(EventData):
    """A file or directory went away (deleted, or moved out of the workspace)."""

    KIND = "fs.delete"
    SOURCE = "fs"
    path: str
    path_b64: PathB64 = None
    dir: bool = False
    moved_out: bool = False
    rescan: bool = False


class FileState(EventData):
    """What a file holds: shared by fs.write (it went quiet) and fs.final_scan (run end)."""

    path: str
    path_b64: PathB64 = None
    size: int | None = None
    sha256: str | None = Field(default=None, description="Of the whole file; null if it could not be hashed.")
    type: str = Field(default="unknown", description="Sniffed content type; symlink, special, empty.")
    blobs: list[str] = Field(default_factory=list, description="Blob of its content, if stored.")
    blob_truncated: bool = False
    hash_timeout: bool = False
    error: str | None = None
    store_error: str | None = Field(default=None, description="Storing the content failed (e.g. disk full): "
                                    "why. The run is lossy.")
    target: str | None = Field(default=None, description="Symlinks: where it points.")
    mode: int | None = Field(default=None, description="Special files: st_mode.")


class FsWrite(FileState):
    """A file has been quiet for the debounce time: its content, hashed (and stored up to
    policy monitors.fs_store_max)."""

    KIND = "fs.write"
    SOURCE = "fs"


class FsFinalScan(FileState):
    """Every file at run end (the reconciliation pass)."""

    KIND = "fs.final_scan"
    SOURCE = "fs"
    blob: str | None = None


class ContentHit(EventData):
    """One test item found in a file by the leakage scanner (the best match of the item)."""

    item: int = Field(description="Index of the item in the test set.")
    id: str = Field(description="The item's id.")
    length: int = Field(description="Normalised characters in common.")
    words: int = Field(description="Whole item words in common.")
    field: str = Field(description="The item's field that matched.")
    where: str = Field(description="The stream inside the file (archive member, column).")
    offset: int | None = Field(default=None, description="Byte offset of the match in that stream.")
    path: list[str] = Field(default_factory=list, description="Decoding path down to line/row and JSON field.")
    excerpt: str | None = Field(default=None, description="The decoded text around the match (strongest items).")
    span: list[int] | None = Field(default=None, description="The common part in the excerpt: [start, end).")
    doc_start: int = Field(default=0, description="Where the common part starts in the item (normalised).")


class FsContentScan(EventData):
    """A file too large to store as a blob, streamed from disk through the leakage scanner
    (one event per enabled leakage rule): what it holds of each benchmark's test set."""

    KIND = "fs.content_scan"
    SOURCE = "fs"
    path: str
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8.")
    sha256: str | None = Field(default=None, description="Of the version scanned.")
    rule: str | None = Field(default=None, description="The leakage rule whose parameters were used.")
    bytes_scanned: int = 0
    notes: list[str] = Field(default_factory=list, description="What was not scanned (caps, errors): each is a gap.")
    hits: dict[str, list[ContentHit]] = Field(default_factory=dict, description="Benchmark -> items found.")


class FsMissed(EventData):
    """The final scan found a difference the live watch did not report."""

    KIND = "fs.missed"
    SOURCE = "fs"
    path: str
    path_b64: PathB64 = None
    change: str = Field(description="created, modified or deleted.")


class FsFinalSummary(EventData):
    """End of the final scan: files seen, differences the live watch missed, inotify overflows."""

    KIND = "fs.final_summary"
    SOURCE = "fs"
    files: int
    missed: int
    overflows: int = 0
