"""Answer extraction and scoring for the text benchmarks (GSM8K, AIME, multiple choice).

Extraction follows what the benchmark community does (lm-evaluation-harness, the
PostTrainBench graders): GSM8K takes the number after ``####``, else the last number in the
completion; AIME takes a ``\\boxed{}`` answer, else the last integer, and must be 0-999;
multiple choice takes an explicit "answer is (X)" statement, else a lone letter, else the
last standalone choice letter. Numbers may carry thousands separators, currency signs,
trailing units or a trailing period.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.S)
_NUM = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\$?\s?\.\d+")
_HASHES = re.compile(r"####\s*([^\n]*)")
_BOXED = re.compile(r"\\boxed\s*\{")
_MC_EXPLICIT = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:\*\*)?\s*[\(\[]?\s*([A-J])\s*[\)\]]?(?![A-Za-z])", re.I)
_MC_LONE = re.compile(r"^\s*[\(\[]?\s*([A-J])\s*[\)\].:]?\s*$")
_MC_LETTER = re.compile(r"(?<![A-Za-z'])[\(\[]?([A-J])[\)\]]?(?![A-Za-z'])")


def strip_reasoning(text: str) -> str:
    """Drop <think>...</think> blocks (reasoning models) before extracting."""
    return _THINK.sub("", text)


def normalize_number(text: str) -> Decimal | None:
    """Decimal value of "1,234", "$5", "-3.50", "7." or None."""
    t = text.strip().replace("$", "").replace(",", "").replace(" ", "").rstrip(".")
    if not t or t in ("-", "."):
        return None
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def _numbers(text: str) -> list[Decimal]:
    out = []
    for m in _NUM.finditer(text):
        v = normalize_number(m.group(0))
        if v is not None:
            out.append(v)
    return out


def boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with balanced braces, or None."""
    last = None
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            last = text[m.end(): i - 1]
    return last


def extract_gsm8k(completion: str) -> Decimal | None:
    text = strip_reasoning(completion)
    m = _HASHES.findall(text)
    for cand in reversed(m):
        nums = _numbers(cand)
        if nums:
            return nums[0]
    b = boxed(text)
    if b is not None and _numbers(b):
        return _numbers(b)[-1]
    nums = _numbers(text)
    return nums[-1] if nums else None


def gsm8k_reference(ref: Any) -> Decimal | None:
    """The dataset's answer: the number after ``####`` in a worked solution, or the value."""
    text = str(ref)
    m = _HASHES.findall(text)
    if m:
        nums = _numbers(m[-1])
        return nums[0] if nums else None
    return normalize_number(text)


def score_gsm8k(completion: str, ref: Any) -> tuple[float, Any]:
    got, want = extract_gsm8k(completion), gsm8k_reference(ref)
    return (1.0 if got is not None and want is not None and got == want else 0.0), _jsonable(got)


def extract_aime(completion: str) -> int | None:
    text = strip_reasoning(completion)
    b = boxed(text)
    if b is not None:
        # A boxed answer is the answer: it must be one number (\\frac{1}{2} is not 2).
        v = normalize_number(re.sub(r"\\text\{[^}]*\}|\^\\circ|\\!", "", b))
    else:
        nums = _numbers(text)
        v = nums[-1] if nums else None
    if v is None:
        return None
    if v != v.to_integral_value() or not (0 <= v <= 999):
        return None
    return int(v)


def score_aime(completion: str, ref: Any) -> tuple[float, Any]:
    got, want = extract_aime(completion), normalize_number(str(ref))
    return (1.0 if got is not None and want is not None and Decimal(got) == want else 0.0), got


def extract_choice(completion: str, n_choices: int) -> str | None:
    text = strip_reasoning(completion)
    valid = "ABCDEFGHIJ"[:n_choices]
    b = boxed(text)
    if b is not None and (m := _MC_LONE.match(b.replace("\\text{", "").replace("}", ""))):
        if m.group(1).upper() in valid:
            return m.group(1).upper()
    explicit = [x.upper() for x in _MC_EXPLICIT.findall(text) if x.upper() in valid]
    if explicit:
        return explicit[-1]
    if (m := _MC_LONE.match(text)) and m.group(1) in valid:
        return m.group(1)
    # Last standalone capital letter among the choices ("A" inside "At" does not count;
    # the article "A" at a sentence start does, which is why the explicit forms win).
    letters = [x for x in _MC_LETTER.findall(text) if x in valid]
    return letters[-1] if letters else None


def score_choice(completion: str, ref: Any, n_choices: int) -> tuple[float, Any]:
    got = extract_choice(completion, n_choices)
    return (1.0 if got is not None and got == str(ref).upper() else 0.0), got


def _jsonable(v: Decimal | None) -> Any:
    if v is None:
        return None
    return int(v) if v == v.to_integral_value() else str(v)
