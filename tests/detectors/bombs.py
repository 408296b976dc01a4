"""Decompression bombs, built in a second or two without compressing gigabytes: a deflate
stream of zeros after a full flush repeats byte for byte, so one compressed 64 MiB block
is repeated; CRCs are combined arithmetically (zlib's crc32_combine, in Python).

* ``gzip_zeros(n)``: a .gz of n zero bytes;
* ``zip_bomb(members, member_size)``: a .zip whose members each expand to member_size zeros;
* ``nested_zip_bomb(copies, inner)``: a .zip of ``copies`` deflated copies of ``inner``;
* ``deep_json(depth)``: JSON nested ``depth`` arrays deep.
"""

from __future__ import annotations

import struct
import zlib

BLOCK = 64 << 20


def _gf2_times(mat: list[int], vec: int) -> int:
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """crc32 of A+B from crc32(A), crc32(B) and len(B) (zlib's algorithm)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def deflate_zeros(n: int) -> tuple[bytes, int]:
    """(raw deflate stream of n zero bytes, crc32 of them); n a multiple of 1 MiB."""
    block = min(BLOCK, n)
    assert n % block == 0
    zeros = bytes(block)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)  # no back-reference crosses a full flush
    k = n // block
    stream = piece * k + zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc_block, crc = zlib.crc32(zeros), 0
    for _ in range(k):
        crc = crc32_combine(crc, crc_block, block)
    return stream, crc


def gzip_zeros(n: int) -> bytes:
    stream, crc = deflate_zeros(n)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream + struct.pack("<II", crc, n & 0xFFFFFFFF)


def _zip(entries: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """entries: (name, compressed data, method, crc, uncompressed size); sizes < 4 GiB."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        nb = name.encode()
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(nb), 0)
        out += nb + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(nb), 0, 0, 0, 0, 0, off) + nb
    cd_off = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_off, 0)
    return bytes(out)


def zip_bomb(members: int, member_size: int) -> bytes:
    stream, crc = deflate_zeros(member_size)
    return _zip([(f"part-{i:03d}.jsonl", stream, 8, crc, member_size) for i in range(members)])


def nested_zip_bomb(copies: int, inner: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(inner) + c.flush()
    crc = zlib.crc32(inner)
    return _zip([(f"inner-{i:03d}.zip", data, 8, crc, len(inner)) for i in range(copies)])


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth
