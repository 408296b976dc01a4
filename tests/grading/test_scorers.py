"""Answer extraction on hand-checked completions, tricky formats included."""

from __future__ import annotations

import pytest

from grading.bfcl import parse_calls, score_bfcl
from grading.scorers import extract_aime, extract_choice, extract_gsm8k, score_aime, score_choice, score_gsm8k


@pytest.mark.parametrize(("completion", "ref", "ok"), [
    ("She has 3 + 4 = 7 apples.\n#### 7", "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 7", True),
    ("The total is $1,234.", "1234", True),                      # currency and thousands separator
    ("#### 1,000,000", "1000000", True),
    ("So the answer is 18 kilograms.", "18", True),              # trailing unit
    ("It costs 5.50 dollars, so 11 in total.", "11", True),      # last number wins
    ("Answer: 42.", "42", True),                                  # trailing period
    ("<think>maybe 12? no, 13</think>The answer is 14", "14", True),  # reasoning dropped
    ("#### 7\nCheck: 3 + 5 = 8", "7", True),                     # #### wins over later numbers
    ("The answer is \\boxed{-3}", "-3", True),
    ("#### 7.0", "7", True),                                      # same value
    ("I think 8", "7", False),
    ("no numbers here", "7", False),
    ("#### 70", "7", False),
])
def test_gsm8k(completion: str, ref: str, ok: bool) -> None:
    assert score_gsm8k(completion, ref)[0] == (1.0 if ok else 0.0)


def test_gsm8k_extracted_value_is_json_friendly() -> None:
    assert score_gsm8k("#### 1,234", "1234")[1] == 1234
    assert extract_gsm8k("none") is None


@pytest.mark.parametrize(("completion", "want"), [
    ("Thus the answer is \\boxed{204}.", 204),
    ("\\boxed{\\frac{1}{2}} then 33", None),   # boxed non-integer: no answer, not a later number
    ("so we get 017", 17),
    ("The answer is 1000", None),              # out of 0-999
    ("value 12.5", None),
    ("First 5, then \\boxed{ 9 }", 9),
])
def test_aime(completion: str, want: int | None) -> None:
    assert extract_aime(completion) == want


def test_aime_scores_against_integer_reference() -> None:
    assert score_aime("\\boxed{33}", "033")[0] == 1.0
    assert score_aime("\\boxed{33}", 34)[0] == 0.0


@pytest.mark.parametrize(("completion", "want"), [
    ("The answer is (C).", "C"),
    ("B", "B"),
    ("(D)", "D"),
    ("A cell divides... Therefore the answer is B", "B"),     # the article "A" must not win
    ("Answer: **C**", "C"),
    ("I would pick option d because...", "D"),
    ("At first glance C looks right, but it is actually A.", "A"),
    ("\\boxed{B}", "B"),
    ("The answer is (E).", None),                               # only four choices
    ("I am not sure.", None),
])
def test_multiple_choice(completion: str, want: str | None) -> None:
    assert extract_choice(completion, 4) == want


def test_multiple_choice_score() -> None:
    assert score_choice("The answer is (B)", "B", 4)[0] == 1.0
    assert score_choice("The answer is (B)", "C", 4)[0] == 0.0


FUNCS = [{"name": "calculate_area", "parameters": {"type": "dict", "properties": {
    "base": {"type": "integer"}, "height": {"type": "float"}, "unit": {"type": "string"}},
    "required": ["base", "height"]}}]
TRUTH = [{"calculate_area": {"base": [10], "height": [5.0], "unit": ["units", "cm", ""]}}]


@pytest.mark.parametrize(("completion", "ok"), [
    ("[calculate_area(base=10, height=5)]", True),                     # int accepted for float
    ("calculate_area(base=10, height=5.0, unit='CM')", True),          # string case-insensitive
    ("```python\n[calculate_area(base=10, height=5.0, unit='units')]\n```", True),
    ('<tool_call>\n{"name": "calculate_area", "arguments": {"base": 10, "height": 5}}\n</tool_call>', True),
    ('{"name": "calculate_area", "arguments": "{\\"base\\": 10, \\"height\\": 5.0}"}', True),
    ("[calculate_area(base=10.0, height=5)]", False),                  # float where int is documented
    ("[calculate_area(base=10)]", False),                              # required height missing
    ("[calculate_area(base=10, height=5, colour='red')]", False),       # unknown parameter
    ("[calculate_area(base=11, height=5)]", False),                    # wrong value
    ("[calculate_area(10, 5)]", False),                                # positional
    ("[calculate_area(base=10, height=5), calculate_area(base=1, height=1)]", False),  # extra call
    ("[calculate_area(base=10, height=", False),                       # malformed
    ("I would call calculate_area with base 10", False),               # prose
    ("[calculate_area(base=x, height=5)]", False),                     # not a literal
    ("[area(base=10, height=5)]", False),                              # wrong function
])
def test_bfcl(completion: str, ok: bool) -> None:
    assert score_bfcl(completion, TRUTH, FUNCS)[0] == (1.0 if ok else 0.0)


def test_bfcl_parallel_calls_match_in_any_order() -> None:
    funcs = [{"name": "weather", "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    truth = [{"weather": {"city": ["Paris"]}}, {"weather": {"city": ["New York", "NYC"]}}]
    assert score_bfcl('[weather(city="new york"), weather(city="Paris")]', truth, funcs)[0] == 1.0
    assert score_bfcl('[weather(city="Paris"), weather(city="Paris")]', truth, funcs)[0] == 0.0


def test_bfcl_nested_values_and_dotted_names() -> None:
    funcs = [{"name": "math.hypot", "parameters": {"properties": {"point": {"type": "array"},
                                                                 "opts": {"type": "dict"}}}}]
    truth = [{"math.hypot": {"point": [[3, 4]], "opts": [{"round": [True], "digits": [2, ""]}]}}]
    assert score_bfcl("math.hypot(point=[3, 4], opts={'round': True})", truth, funcs)[0] == 1.0
    assert score_bfcl("math.hypot(point=[4, 3], opts={'round': True})", truth, funcs)[0] == 0.0
    assert parse_calls("[math.hypot(point=(3, 4))]") == [("math.hypot", {"point": (3, 4)})]


def test_bfcl_malformed_reason_is_recorded() -> None:
    score, got = score_bfcl("[f(x=", TRUTH, FUNCS)
    assert score == 0.0 and "malformed" in got
