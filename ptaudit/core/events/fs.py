"""Workspace file events (source ``fs``), from the file monitor on the host side of the
workspace bind mount. Paths are relative to the workspace."""

from __future__ import annotations

from pydantic import Field

from .base import EventData


class FsBaseline(EventData):
    """At start: how many files the workspace already holds."""

    KIND = "fs.baseline"
    SOURCE = "fs"
    files: int = Field(description="Files already present at start.")
    overflow_detection: bool = False


class FsCreate(EventData):
    """A file or directory appeared (created, or moved in from outside the workspace)."""

    KIND = "fs.create"
    SOURCE = "fs"
    path: str
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8 "
                                 "(then ``path`` shows the bad bytes as \\xNN escapes).")
    dir: bool = False
    moved_in: bool = False
    rescan: bool = False


class FsModify(EventData):
    """First write of a quiet period (further writes are coalesced until fs.write)."""

    KIND = "fs.modify"
    SOURCE = "fs"
    path: str
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8 "
                                 "(then ``path`` shows the bad bytes as \\xNN escapes).")
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
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8 "
                                 "(then ``path`` shows the bad bytes as \\xNN escapes).")
    dir: bool = False
    moved_out: bool = False
    rescan: bool = False


class FileState(EventData):
    """What a file holds: shared by fs.write (it went quiet) and fs.final_scan (run end)."""

    path: str
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8 "
                                 "(then ``path`` shows the bad bytes as \\xNN escapes).")
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


class FsMissed(EventData):
    """The final scan found a difference the live watch did not report."""

    KIND = "fs.missed"
    SOURCE = "fs"
    path: str
    path_b64: str | None = Field(default=None, description="base64 of the raw name when it is not valid UTF-8 "
                                 "(then ``path`` shows the bad bytes as \\xNN escapes).")
    change: str = Field(description="created, modified or deleted.")


class FsFinalSummary(EventData):
    """End of the final scan: files seen, differences the live watch missed, inotify overflows."""

    KIND = "fs.final_summary"
    SOURCE = "fs"
    files: int
    missed: int
    overflows: int = 0
