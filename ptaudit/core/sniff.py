"""One content-type sniffer for every layer: the proxy (response and request bodies), the
file monitor (workspace files) and the detectors all name types with this vocabulary:

    safetensors gguf pytorch-zip zip gzip zstd bzip2 xz parquet pickle numpy hdf5
    png pdf elf html jsonl json text binary empty

From the first bytes only (a few KiB at most is useful; ``SNIFF_BYTES`` is enough for every
magic-number type, more lets json/jsonl/text be told apart).
"""

from __future__ import annotations

import struct

SNIFF_BYTES = 64

# Types that are model weights (or can carry them): content rules block these.
WEIGHT_KINDS = ("safetensors", "gguf", "pytorch-zip", "pickle", "numpy", "hdf5")

_MAGIC = (
    (b"GGUF", "gguf"), (b"PAR1", "parquet"), (b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x93NUMPY", "numpy"), (b"\x89HDF", "hdf5"), (b"\x89PNG", "png"), (b"%PDF", "pdf"),
    (b"\x7fELF", "elf"), (b"BZh", "bzip2"), (b"\xfd7zXZ", "xz"),
)
# torch.save writes a zip whose first member is "<archive>/data.pkl" (or these, by version)
_TORCH_MEMBERS = (b"data.pkl", b"/version", b"/byteorder", b"/.format_version")


def sniff(head: bytes) -> str:
    if not head:
        return "empty"
    if len(head) >= 10 and head[8:9] == b"{" and head[9:10] in (b'"', b"}", b" "):
        (n,) = struct.unpack_from("<Q", head)
        if 2 <= n < 100 << 20:  # u64 header length, then a JSON header
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        n = struct.unpack_from("<H", head, 26)[0] if len(head) >= 30 else 0
        return "pytorch-zip" if head[30:30 + n].endswith(_TORCH_MEMBERS) else "zip"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if b"\x00" in head:
        return "binary"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "binary"
        text = head[:exc.start].decode("utf-8")
    s = text.lstrip()
    if s[:1] in ("{", "["):
        lines = [ln for ln in s.splitlines() if ln.strip()]
        if len(lines) >= 2 and all(ln.lstrip()[:1] in ("{", "[") for ln in lines[:-1][:8]):
            return "jsonl"
        return "json"
    if s[:14].lower().startswith(("<!doctype html", "<html")):
        return "html"
    return "text"
