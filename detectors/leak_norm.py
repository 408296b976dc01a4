"""Hard normalisation shared by the leakage index and the scanner.

Both sides must normalise identically, so this module is the only place that says what
"the same text" means: compatibility-decomposed (NFKD, which includes NFKC's folding),
diacritics dropped, casefolded, non-ASCII decimal digits mapped to ASCII, a few LaTeX
spacing commands removed, and then every character that is not a letter or digit
deleted. Whitespace and punctuation runs therefore vanish entirely: re-wrapping, JSON or
CSV quoting, Python string concatenation and changed spacing do not hide a copied item.

The result is UTF-8 bytes. ASCII input (nearly all training data) takes a fast path of
two C-level ``bytes.translate`` calls; anything else takes the Unicode path.
"""

from __future__ import annotations

import re
import unicodedata

# ASCII fast path: upper -> lower, delete everything that is not [0-9a-z].
_KEEP = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz")
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_DELETE = bytes(c for c in range(256) if c not in _KEEP and not 65 <= c <= 90)

# LaTeX: spacing commands and sizing wrappers carry no content but are what a copier
# changes first; \dfrac and \tfrac render like \frac.
_LATEX = re.compile(rb"\\(?:[,;:!> ]|q?quad(?![a-zA-Z])|left(?![a-zA-Z])|right(?![a-zA-Z])|"
                    rb"displaystyle|textstyle|mathrm|text(?![a-zA-Z])|[dt](?=frac))")
_LATEX_S = re.compile(_LATEX.pattern.decode())
_MARKS = re.compile(r"[\u0300-\u036f]+")
_NON_WORD = re.compile(r"[\W_]+")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_WORD = re.compile(r"[^\W_]+")

# JSON (and Python) string escapes, resolved before normalising JSON-looking content so
# that "\n" or "\u2019" inside a value does not leave a stray "n" or "u2019" behind.
# Escaped backslashes are parked on NUL first so that "\\frac" stays \frac.
_WS_ESCAPES = (b"\\n", b"\\r", b"\\t", b"\\b", b"\\f")
_UX = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))")
# The usual case (only \n, \t, ... escapes): one regex pass instead of seven replaces.
_WS_ESC = re.compile(rb"\\[nrtbf]")
_HARD_ESC = re.compile(rb"\\[\\ux]")


def _ux(m: re.Match[bytes]) -> bytes:
    cp = int(m.group(1) or m.group(2), 16)
    return b" " if 0xD800 <= cp <= 0xDFFF else chr(cp).encode()


def unescape(data: bytes) -> bytes:
    """Resolve JSON/Python string escapes in raw bytes (a no-op without backslashes).
    Quote and slash escapes need nothing: normalisation deletes the backslash."""
    if b"\\" not in data:
        return data
    if b"\x00" not in data and _HARD_ESC.search(data) is None:
        return _WS_ESC.sub(b" ", data)  # same result as the general path below
    d = _WS_ESC.sub(b" ", data.replace(b"\\\\", b"\x00"))  # one pass = the five replaces of _WS_ESCAPES
    if b"\\u" in d or b"\\x" in d:
        d = _UX.sub(_ux, d)
    return d.replace(b"\x00", b"\\")


def _fold(text: str) -> str:
    text = _LATEX_S.sub("", text)
    text = unicodedata.normalize("NFKD", text)
    text = _MARKS.sub("", text).casefold()
    if not text.isascii():
        text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.digit(m.group(0), 0)), text)
    return text


# Mostly-ASCII text: every step is per character except the LaTeX patterns, which are
# ASCII-only and look no further back than their backslash, so normalising the ASCII runs
# (fast path) and the non-ASCII runs (Unicode path) apart gives the same bytes as
# normalising the whole; a run of bytes >= 0x80 holds whole UTF-8 sequences.
_HIGH_TO_FF = bytes(range(128)) + b"\xff" * 128
_DELETE_KEEP_FF = _DELETE.replace(b"\xff", b"")


def normalize_bytes(data: bytes) -> bytes:
    """Normalise raw bytes (UTF-8, errors replaced) to the index's alphabet."""
    if data.isascii():
        if b"\\" in data:
            data = _LATEX.sub(b"", data)
        return data.translate(_LOWER, _DELETE)
    marks = data.translate(_HIGH_TO_FF)
    if marks.count(b"\xff") * 512 < len(data):  # a few non-ASCII characters: split them off
        # ASCII runs (fast path, all in one pass) and runs of bytes >= 0x80 (Unicode path).
        lows = marks.split(b"\xff")
        ascii_runs, high_runs, pos = [lows[0]], [], len(lows[0])
        for low in lows[1:]:
            if ascii_runs[-1] == b"" and high_runs and len(ascii_runs) > 1:  # consecutive high bytes
                ascii_runs.pop()
                high_runs[-1] += data[pos:pos + 1]
            else:
                high_runs.append(data[pos:pos + 1])
            ascii_runs.append(low)
            pos += 1 + len(low)
        # Joined on 0xff: not ASCII, so no LaTeX pattern spans it and its lookaheads see a
        # non-letter, as beside the original run.
        ascii_ = b"\xff".join(ascii_runs)
        if b"\\" in ascii_:
            ascii_ = _LATEX.sub(b"", ascii_)
        fast = ascii_.translate(_LOWER, _DELETE_KEEP_FF).split(b"\xff")
        out = [fast[0]]
        for hi, lo in zip(high_runs, fast[1:], strict=True):
            out.append(normalize_text(hi.decode("utf-8", "replace")))
            out.append(lo)
        return b"".join(out)
    return normalize_text(data.decode("utf-8", "replace"))


def normalize_text(text: str) -> bytes:
    """Normalise a str; equal to ``normalize_bytes(text.encode())``."""
    if text.isascii():
        return normalize_bytes(text.encode("ascii"))
    return _NON_WORD.sub("", _fold(text)).encode("utf-8")


def words(text: str) -> list[bytes]:
    """The normalised words of ``text``; ``b"".join(words(t)) == normalize_text(t)``."""
    if text.isascii():
        raw = text.encode("ascii")
        if b"\\" in raw:
            raw = _LATEX.sub(b"", raw)
        return [w.translate(_LOWER, _DELETE) for w in re.findall(rb"[A-Za-z0-9]+", raw)]
    return [w.encode("utf-8") for w in _WORD.findall(_fold(text))]
