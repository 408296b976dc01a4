"""The one content-type vocabulary used by the proxy, the file monitor and the detectors."""

from __future__ import annotations

import gzip
import json
import struct

import pytest

from ptaudit.core.sniff import SNIFF_BYTES, sniff
from tests.simnet import make_parquet, make_safetensors

_ST_HDR = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()


@pytest.mark.parametrize("head,kind", [
    (b"", "empty"),
    (b"GGUF\x03\x00\x00\x00", "gguf"),
    (struct.pack("<Q", len(_ST_HDR)) + _ST_HDR, "safetensors"),
    (make_safetensors(), "safetensors"),
    (b"PK\x03\x04" + b"\0" * 22 + struct.pack("<HH", 16, 0) + b"archive/data.pkl", "pytorch-zip"),
    (b"PK\x03\x04" + b"\0" * 22 + struct.pack("<HH", 5, 0) + b"a.txt", "zip"),
    (gzip.compress(b"x"), "gzip"),
    (b"\x28\xb5\x2f\xfd\x00", "zstd"),
    (make_parquet([{"a": 1}]), "parquet"),
    (b"\x80\x04\x95", "pickle"),
    (b"\x93NUMPY\x01\x00", "numpy"),
    (b'{"a": [1, 2]}', "json"),
    (b'  {"a": 1}', "json"),
    (b'{"a": 1}\n{"a": 2}\n', "jsonl"),
    (b"<!DOCTYPE html><html>", "html"),
    (b"hello world\n", "text"),
    (b"\x00\x01\x02\xff", "binary"),
])
def test_sniff(head: bytes, kind: str) -> None:
    assert sniff(head) == kind
    if kind not in ("jsonl",):  # magic types need no more than SNIFF_BYTES
        assert sniff(head[:SNIFF_BYTES]) == kind
