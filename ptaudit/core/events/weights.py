"""Model weights seen by content (sources ``net`` and ``fs``): the tensor table and per-tensor
fingerprints of a weights file, whether it streamed through the proxy (``net.weights``) or
landed in the workspace (``fs.weights``).

Computed by detectors/fingerprint.py (fingerprints: xxh3-128 over 1 MiB blocks of each
tensor's bytes, independent of the file around the tensor) so that detectors in replay
see exactly what the monitors saw. docs/detectors.md explains the scheme.
"""

from __future__ import annotations

from pydantic import Field

from .base import EventData


class TensorFp(EventData):
    """One tensor of a weights file."""

    name: str
    dtype: str
    shape: list[int] = Field(default_factory=list)
    bytes: int = 0
    fp: str | None = Field(default=None, description="Fingerprint (32 hex digits); null while bytes are missing.")


class WeightsInfo(EventData):
    """What a weights file holds (shared by net.weights and fs.weights)."""

    format: str = Field(description="safetensors, gguf, pytorch-zip, numpy, pickle, index or unknown.")
    tensors: list[TensorFp] = Field(default_factory=list)
    tensors_total: int = 0
    complete: bool = Field(default=False, description="Every tensor of a fully read table has its fingerprint.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Header metadata (bounded).")
    pieces: list[list[int]] = Field(default_factory=list, description="Byte ranges seen so far, merged.")
    notes: list[str] = Field(default_factory=list, description="Caps, parse failures, missing bytes.")
    index: dict[str, int] | None = Field(default=None, description="Index files: shard file -> tensors in it.")
    index_tensors: int | None = None


class NetWeights(WeightsInfo):
    """A weights body that passed the proxy (or part of one: a Range response). Every body of
    the same resource adds to one set of fingerprints; each event carries all of them so far."""

    KIND = "net.weights"
    SOURCE = "net"
    flow: str | None = None
    url: str = ""
    host: str = ""
    resource: str = Field(default="", description="Joins the pieces of one resource: host, path, size, ETag.")
    range: list[int] | None = Field(default=None, description="[start, end) of the file this body held.")
    total: int | None = Field(default=None, description="The resource's full size, when known.")
    status: int | None = None
    blocked: bool = False


class FsWeights(WeightsInfo):
    """A weights file in the workspace, fingerprinted in the same pass that hashed it."""

    KIND = "fs.weights"
    SOURCE = "fs"
    path: str
    sha256: str | None = None
    size: int | None = None
