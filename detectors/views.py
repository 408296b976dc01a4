"""Decoded views of what an agent sent: the same bytes as a key scanner should see them.

A secret is hidden from a plain substring search by the encodings an HTTP request makes
easy; every view below is scanned:

- the URL raw and percent-decoded; every header value (and the decoded credentials of a
  ``Basic`` authorization);
- a body raw, percent/form-decoded (``+`` as space), JSON-unescaped (every string literal
  with escapes, ``\\uXXXX`` included, and string literals that hold JSON again),
  decompressed (gzip, zlib/deflate, zstd, bzip2, xz; by magic bytes or
  ``Content-Encoding``), and every base64 run (standard and URL-safe alphabets, padded or
  not, wrapped at line ends or not) and hex run decoded;
- each decoded view is decoded again, up to ``depth`` levels (base64 of gzip of JSON...).

Bounds: ``max_bytes`` of input per view, ``max_total`` of decoded output per request; a
bound that stops decoding is a note, never a silent skip.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import json
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_HEX_CHARS = b"0123456789ABCDEFabcdef"


def _class_table(chars: bytes) -> bytes:
    return bytes(0x61 if i in chars else 0x20 for i in range(256))


_B64_TABLE, _HEX_TABLE = _class_table(_B64_CHARS), _class_table(_HEX_CHARS)


def _runs(data: bytes, table: bytes, minlen: int) -> Iterator[tuple[int, int]]:
    """(start, end) of every maximal run of ``table``'s characters at least ``minlen`` long.
    ``translate`` maps the alphabet to one letter and ``find`` of a run of it (both C loops)
    replaces a regex that would try a character class at every byte."""
    t = data.translate(table)
    needle = b"a" * minlen
    i = t.find(needle)
    while i != -1:
        j = t.find(b" ", i + minlen)
        j = len(t) if j == -1 else j
        yield i, j
        i = t.find(needle, j)


def _b64_runs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Base64 runs (16+ characters), with their ``=`` padding, MIME line wraps joined."""
    it = _runs(data, _B64_TABLE, 16)
    pending: tuple[int, int] | None = None
    for a, b in it:
        if pending is not None:
            pa, pb = pending
            sep = data[pb:a]
            if sep.rstrip(b"=") in (b"\n", b"\r\n") and len(sep) <= 4:
                pending = (pa, b)  # the next line of a wrapped encoding
                continue
            yield pa, _pad(data, pa, pb)
        pending = (a, b)
    if pending is not None:
        yield pending[0], _pad(data, *pending)


def _pad(data: bytes, a: int, b: int) -> bytes:
    end = b
    while end < len(data) and end - b < 2 and data[end:end + 1] == b"=":
        end += 1
    return data[a:end]
_JSON_STR = re.compile(rb'"(?:[^"\\\n]|\\.){1,1048576}?"')
_PRINTABLE = frozenset(range(32, 127)) | {9, 10, 13}
_PRINTABLE_B = bytes(sorted(_PRINTABLE))
_PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00", b"\x78\x9c", b"\x78\x01", b"\x78\xda")


@dataclass
class View:
    where: str  # e.g. "body", "body:gzip:base64@120", "header:authorization", "url:decoded"
    data: bytes


@dataclass
class Budget:
    """Decoded bytes left for one request or file; notes record what a bound stopped."""

    left: int
    notes: list[str] = field(default_factory=list)

    def take(self, n: int, where: str) -> bool:
        if n > self.left:
            if len(self.notes) < 10:
                self.notes.append(f"{where}: decoding stopped at the {n}-byte output bound")
            self.left = 0
            return False
        self.left -= n
        return True


def _printable_share(b: bytes) -> float:
    if not b:
        return 0.0
    sample = b[:4096]
    return 1.0 - len(sample.translate(None, _PRINTABLE_B)) / len(sample)


def _worth_decoding(b: bytes) -> bool:
    """Decoded output worth decoding again: text, or a compressed stream. Random bytes (a
    hash that happened to look like base64) are scanned as they are, not decoded further."""
    return b.startswith(_MAGIC) or _printable_share(b) > 0.85


def _decompress(data: bytes, hint: str | None, limit: int) -> tuple[str, bytes] | None:
    """(codec, output) when ``data`` is compressed (magic bytes, or the header's hint)."""
    try:
        if data[:2] == b"\x1f\x8b" or hint == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return "gzip", d.decompress(data, limit)
        if data[:4] == b"\x28\xb5\x2f\xfd" or hint == "zstd":
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(data) as r:
                return "zstd", r.read(limit)
        if data[:1] == b"\x78" and len(data) > 2 and (data[0] * 256 + data[1]) % 31 == 0 or hint == "deflate":
            try:
                return "zlib", zlib.decompressobj().decompress(data, limit)
            except zlib.error:
                return "deflate", zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, limit)
        if data[:3] == b"BZh":
            return "bzip2", bz2.BZ2Decompressor().decompress(data, limit)
        if data[:6] == b"\xfd7zXZ\x00":
            return "xz", lzma.LZMADecompressor().decompress(data, limit)
        if hint == "br":
            import brotli

            return "br", brotli.decompress(data)[:limit]
    except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError, ImportError, Exception):  # noqa: BLE001
        return None
    return None


_HEXISH = re.compile(rb"[0-9a-fA-F\r\n=]+")
_UPPER = re.compile(rb"[A-Z]")
_LOWER = re.compile(rb"[a-z]")


def _b64_candidate(run: bytes) -> bool:
    """Base64 of anything a secret could be in has both letter cases; hex digests and
    lower-case identifiers (matched by the run pattern too) are left to the hex view."""
    return not _HEXISH.fullmatch(run) and bool(_UPPER.search(run)) and bool(_LOWER.search(run))


def _b64_lines(run: bytes) -> list[bytes]:
    """A run wrapped at line ends is one encoding (MIME); if joined it decodes to nothing
    readable, its lines are separate tokens."""
    if b"\n" not in run:
        out = _b64(run)
        return [out] if out else []
    joined = _b64(run)
    if joined and _worth_decoding(joined):
        return [joined]
    return [o for line in run.splitlines() if len(line) >= 16 and (o := _b64(line))]


def _b64(run: bytes) -> bytes | None:
    s = run.replace(b"\r", b"").replace(b"\n", b"").rstrip(b"=")
    best: bytes | None = None
    best_share = -1.0
    alt = b"-_" if (b"-" in s or b"_" in s) else None
    for skip in range(4):  # the run may start mid-encoding (e.g. after "key=" letters)
        if skip and best is not None and best_share > 0.6:
            break  # aligned decoding already reads as (mostly) text
        body = s[skip:]
        body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
        try:
            out = base64.b64decode(body + b"=" * (-len(body) % 4), altchars=alt, validate=True)
        except (binascii.Error, ValueError):
            continue
        share = _printable_share(out)
        if share > best_share or (out[:2] == b"\x1f\x8b"):
            best, best_share = out, share
        if share > 0.9 or out[:2] == b"\x1f\x8b":
            break
    return best


_ESCAPED = re.compile('[\x00-\x1f"\\\\/\x7f-\U0010ffff]')  # characters JSON writes escaped (or may)


def _walk_strings(obj: object, out: list[str], depth: int = 0) -> None:
    if isinstance(obj, str):
        if _ESCAPED.search(obj):
            out.append(obj)  # it had escapes in the raw text: its unescaped form is a new view
    elif isinstance(obj, dict) and depth < 64:
        for k, v in obj.items():
            _walk_strings(k, out, depth + 1)
            _walk_strings(v, out, depth + 1)
    elif isinstance(obj, list) and depth < 64:
        for v in obj:
            _walk_strings(v, out, depth + 1)


def _json_strings(data: bytes, limit: int) -> bytes | None:
    """Every JSON string literal that has escapes, unescaped, one per line. JSON and JSONL
    go through the C parser; other text (JS, logs, broken JSON) through a literal regex."""
    if b"\\" not in data:
        return None
    strings: list[str] = []
    try:
        _walk_strings(json.loads(data), strings)
    except (ValueError, RecursionError):
        try:
            for line in data.splitlines():
                if line.strip():
                    _walk_strings(json.loads(line), strings)
        except (ValueError, RecursionError):
            strings = []
    if strings:
        joined = "\n".join(strings).encode("utf-8", "surrogatepass")
        return joined[:limit] if joined else None
    out = bytearray()
    for m in _JSON_STR.finditer(data):
        lit = m.group()
        if b"\\" not in lit:
            continue
        try:
            s = json.loads(lit)
        except ValueError:
            continue
        out += s.encode("utf-8", "surrogatepass") + b"\n"
        if len(out) > limit:
            break
    return bytes(out) if out else None


def decode_views(data: bytes, where: str, budget: Budget, depth: int = 3, hint: str | None = None,
                 max_bytes: int = 64 << 20) -> Iterator[View]:
    """``data`` itself, then every decoding of it (recursively, ``depth`` levels)."""
    if len(data) > max_bytes:
        budget.notes.append(f"{where}: {len(data)} bytes, only the first {max_bytes} scanned")
        data = data[:max_bytes]
    yield View(where, data)
    if depth <= 0 or not data:
        return
    dec = _decompress(data, hint, min(budget.left, max_bytes))
    if dec is not None and dec[1] and budget.take(len(dec[1]), where):
        yield from decode_views(dec[1], f"{where}:{dec[0]}", budget, depth - 1, max_bytes=max_bytes)
        return  # compressed bytes hold nothing else worth decoding
    text = _printable_share(data) > 0.85
    if text and _PCT.search(data):  # a form's "+" for space changes nothing a key is made of
        t = data.decode("latin-1")
        dec_text = unquote_plus(t, encoding="latin-1")
        if dec_text != t and budget.take(len(dec_text), where):
            yield from decode_views(dec_text.encode("latin-1"), f"{where}:percent", budget, depth - 1,
                                    max_bytes=max_bytes)
    js = _json_strings(data, budget.left) if text else None
    if js is not None and budget.take(len(js), where):
        yield from decode_views(js, f"{where}:json", budget, depth - 1, max_bytes=max_bytes)
    for start, run in _b64_runs(data):
        if not _b64_candidate(run):
            continue
        for out in _b64_lines(run):
            if len(out) >= 8 and budget.take(len(out), where):
                yield from _decoded(out, f"{where}:base64@{start}", budget, depth, max_bytes)
        if budget.left <= 0:
            break
    for a, b in _runs(data, _HEX_TABLE, 32):
        try:
            out = binascii.unhexlify(data[a:a + (b - a) // 2 * 2])
        except binascii.Error:
            continue
        if budget.take(len(out), where):
            yield from _decoded(out, f"{where}:hex@{a}", budget, depth, max_bytes)
        if budget.left <= 0:
            break


def _decoded(out: bytes, sub: str, budget: Budget, depth: int, max_bytes: int) -> Iterator[View]:
    """What a decoded run holds: decoded further when it looks like more than a token."""
    if len(out) >= 24 and _worth_decoding(out):
        yield from decode_views(out, sub, budget, depth - 1, max_bytes=max_bytes)
    else:
        yield View(sub, out)


def request_views(url: str, headers: list[list[str]], body: bytes | None, budget: Budget,
                  depth: int = 3) -> Iterator[View]:
    """Every view of one request: URL, headers, body (decoded as above)."""
    yield from decode_views(url.encode("utf-8", "surrogateescape"), "url", budget, depth=1)
    dec = unquote(url)
    if dec != url:
        yield from decode_views(dec.encode("utf-8", "surrogateescape"), "url:decoded", budget, depth=depth)
    encoding = None
    for h in headers:
        if len(h) != 2:
            continue
        name, value = h[0].lower(), h[1]
        if name == "content-encoding":
            encoding = value.strip().lower() or None
        raw = value.encode("latin-1", "replace")
        yield from decode_views(raw, f"header:{name}", budget, depth=depth)
    if body:
        yield from decode_views(body, "body", budget, depth=depth, hint=encoding)
