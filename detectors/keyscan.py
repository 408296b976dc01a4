"""Finding credentials in bytes: provider API key patterns and exact secret values.

Provider patterns have a fixed prefix or an embedded marker, a length, an alphabet and
boundaries; none is an entropy-only rule, so random hashes, base64 blobs and UUIDs do not
match. Each pattern is a *core* (what Hyperscan looks for, with leftmost start offsets)
and a *full* regex checked in a window around the core with boundary and marker checks:

| id | shape |
|---|---|
| openai | ``sk-`` / ``sk-proj-`` / ``sk-svcacct-`` / ``sk-admin-``, 20+ chars, ``T3BlbkFJ``, 20+ chars |
| anthropic | ``sk-ant-api03-`` (or ``admin01``) + 93 chars + ``AA`` |
| huggingface | ``hf_`` + 34 letters/digits, mixed case |
| google | ``AIza`` + 35 chars |
| aws | ``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16 base32 characters (not the documentation's ``…EXAMPLE``) |
| groq | ``gsk_`` + 52 letters/digits |
| openrouter | ``sk-or-v1-`` + 64 hex |
| github | ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` + 36, or ``github_pat_`` + 22 + ``_`` + 59 |
| wandb | ``wandb_v1_`` + 20-40 + ``_`` + 40-60 (current keys); a legacy 40-hex key only with ``wandb`` at most 64 characters before it |

Exact values (the run's key placeholder, planted honeytokens) are literals in the same
Hyperscan database. Without Hyperscan (``hyperscan`` is a PyPI wheel for x86-64/arm64
Linux and macOS) the same cores are found with one Python ``re`` alternation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

try:  # pragma: no cover - the fallback is tested by forcing it
    import hyperscan
except ImportError:  # pragma: no cover
    hyperscan = None

_KEYCH = rb"A-Za-z0-9_\-"


@dataclass(frozen=True)
class KeyPattern:
    id: str
    provider: str
    core: bytes  # Hyperscan pattern (no lookaround), found first
    full: re.Pattern[bytes]  # the whole key, searched in a window around the core
    before: int  # window: bytes before the core's start
    after: int  # window: bytes after the core's end
    left: bytes = _KEYCH  # characters that must not precede the key
    right: bytes = _KEYCH  # characters that must not follow it


def _p(id_: str, provider: str, core: bytes, full: bytes, before: int, after: int,
       left: bytes = _KEYCH, right: bytes = _KEYCH, flags: int = 0) -> KeyPattern:
    return KeyPattern(id_, provider, core, re.compile(full, flags), before, after, left, right)


PATTERNS: tuple[KeyPattern, ...] = (
    _p("openai", "OpenAI", rb"T3BlbkFJ", rb"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,220}T3BlbkFJ[A-Za-z0-9_\-]{20,220}",
       240, 240),
    _p("anthropic", "Anthropic", rb"sk-ant-(?:api03|admin01)-", rb"sk-ant-(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA", 0, 120),
    _p("huggingface", "Hugging Face", rb"hf_[A-Za-z0-9]{34}", rb"hf_(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{34}",
       0, 40, left=rb"A-Za-z0-9_", right=rb"A-Za-z0-9_"),
    _p("google", "Google", rb"AIza[0-9A-Za-z_\-]{35}", rb"AIza[0-9A-Za-z_\-]{35}", 0, 40),
    _p("aws", "AWS", rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", 0, 24,
       left=rb"A-Za-z0-9", right=rb"A-Za-z0-9"),
    _p("groq", "Groq", rb"gsk_[A-Za-z0-9]{52}", rb"gsk_[A-Za-z0-9]{52}", 0, 60, right=rb"A-Za-z0-9_"),
    _p("openrouter", "OpenRouter", rb"sk-or-v1-[0-9a-f]{64}", rb"sk-or-v1-[0-9a-f]{64}", 0, 80, right=rb"A-Za-z0-9_"),
    _p("github", "GitHub", rb"gh[pousr]_[A-Za-z0-9]{36}", rb"gh[pousr]_[A-Za-z0-9]{36}", 0, 40,
       left=rb"A-Za-z0-9_", right=rb"A-Za-z0-9_"),
    _p("github", "GitHub", rb"github_pat_[A-Za-z0-9]{22}_", rb"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", 0, 100,
       right=rb"A-Za-z0-9_"),
    _p("wandb", "Weights & Biases", rb"wandb_v1_[A-Za-z0-9]{20}", rb"wandb_v1_[A-Za-z0-9]{20,40}_[A-Za-z0-9]{40,60}", 0, 110,
       right=rb"A-Za-z0-9_"),
    _p("wandb", "Weights & Biases", rb"(?i:wandb)", rb"(?i:wandb)[^\n]{0,64}?(?<![0-9a-fA-F])([0-9a-f]{40})(?![0-9a-fA-F])",
       0, 120, left=b"", right=b""),
)

# Published example keys (AWS documentation) that fixtures and docs are full of.
_EXAMPLES = re.compile(rb"EXAMPLE$")


@dataclass(frozen=True)
class Hit:
    kind: str  # "secret" (an exact value) or a provider pattern id
    name: str  # the secret's name, or the provider
    start: int
    end: int
    value: bytes

    @property
    def redacted(self) -> str:
        """Safe to show: a short prefix and a hash of the value."""
        v = self.value.decode("latin-1")
        return f"{v[:7]}…[{len(v)} chars, sha256 {hashlib.sha256(self.value).hexdigest()[:12]}]"


class KeyScanner:
    """Provider key patterns plus exact ``secrets`` (value -> name), compiled once."""

    def __init__(self, secrets: dict[str, str] | None = None, use_hyperscan: bool = True):
        self.secrets = {v.encode(): n for v, n in (secrets or {}).items() if v}
        self.engine = "hyperscan" if (use_hyperscan and hyperscan is not None) else "re"
        cores = [p.core for p in PATTERNS] + [re.escape(s) for s in self.secrets]
        self._n = len(PATTERNS)
        self._secret_list = list(self.secrets)
        if self.engine == "hyperscan":
            self._db = hyperscan.Database()
            self._db.compile(expressions=cores, ids=list(range(len(cores))),
                             flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(cores))
        else:
            # one pattern per core: each starts with a literal, which re scans for quickly
            # (an alternation of all of them tries every branch at every byte)
            self._res = [re.compile(c) for c in cores]

    def _cores(self, data: bytes) -> Iterable[tuple[int, int, int]]:
        """(pattern id, start, end) of every core match."""
        if self.engine == "hyperscan":
            out: list[tuple[int, int, int]] = []

            def on(i: int, start: int, end: int, _flags: int, _ctx: object) -> None:
                out.append((i, start, end))
            self._db.scan(data, match_event_handler=on)
            return out
        return [(i, m.start(), m.end()) for i, rx in enumerate(self._res) for m in rx.finditer(data)]

    def scan(self, data: bytes) -> list[Hit]:
        """Every key and secret in ``data`` (each distinct position once)."""
        hits: dict[tuple[int, int], Hit] = {}
        found: dict[tuple[int, int], Hit] = {}  # exact secrets
        for i, start, end in self._cores(data):
            if i >= self._n:
                s = self._secret_list[i - self._n]
                found.setdefault((start, end), Hit("secret", self.secrets[s], start, end, s))
                continue
            p = PATTERNS[i]
            lo, hi = max(0, start - p.before), min(len(data), end + p.after)
            for m in p.full.finditer(data, lo, hi):
                g = 1 if m.re.groups else 0
                s, e = m.start(g), m.end(g)
                if not (s <= start < m.end() or m.start() <= start < e):
                    continue
                if p.left and s > 0 and re.match(b"[" + p.left + b"]", data[s - 1:s]):
                    continue
                if p.right and e < len(data) and re.match(b"[" + p.right + b"]", data[e:e + 1]):
                    continue
                value = data[s:e]
                if p.id == "aws" and _EXAMPLES.search(value):
                    continue
                hits.setdefault((s, e), Hit(p.id, p.provider, s, e, value))
        # a secret shaped like a provider key (honeytokens are) is reported as the secret
        keys = [h for k, h in hits.items() if not any(a <= k[0] and k[1] <= b for a, b in found)]
        return sorted([*found.values(), *keys], key=lambda h: (h.start, h.kind))
