"""PostTrainBench weights, the aggregate, and the audit gate."""

from __future__ import annotations

import pytest

from grading.aggregate import POSTTRAINBENCH_WEIGHTS, gate, weighted, weights
from ptaudit.core.errors import InputError
from ptaudit.core.task import BenchmarkGrading


def _g(**kw: object) -> BenchmarkGrading:
    return BenchmarkGrading.model_validate({"type": "gsm8k", **kw})


def test_weights_are_inverse_headroom_normalised() -> None:
    w, how = weights({"a": _g(base_score=0.2, instruct_score=0.7), "b": _g(base_score=0.1, instruct_score=0.35)})
    assert how == "reference"
    assert w["b"] == pytest.approx(2 * w["a"]) and sum(w.values()) == pytest.approx(1.0)
    assert weighted({"a": 0.5, "b": 0.2}, w) == pytest.approx(0.5 / 3 + 0.2 * 2 / 3)


def test_published_weights_sum_to_one_and_explicit_weights_reproduce_them() -> None:
    assert sum(POSTTRAINBENCH_WEIGHTS.values()) == pytest.approx(1.0, abs=1e-3)
    w, how = weights({k: _g(weight=v) for k, v in POSTTRAINBENCH_WEIGHTS.items()})
    assert how == "explicit" and w["aime"] == pytest.approx(0.2265, abs=1e-3)


def test_equal_weights_without_references_and_mixing_is_refused() -> None:
    w, how = weights({"a": _g(), "b": _g()})
    assert how == "equal" and w == {"a": 0.5, "b": 0.5}
    with pytest.raises(InputError, match="missing: b"):
        weights({"a": _g(weight=1.0), "b": _g()})
    assert weighted({"a": 0.5, "b": None}, w) is None


def test_reference_scores_are_checked() -> None:
    with pytest.raises(ValueError, match="both"):
        _g(base_score=0.1)
    with pytest.raises(ValueError, match="above"):
        _g(base_score=0.5, instruct_score=0.4)
    with pytest.raises(ValueError, match="few_shot_set"):
        _g(few_shot=3)


@pytest.mark.parametrize(("verdict", "on_fail", "want"), [
    ("pass", "withhold", {"aggregate": 0.8, "status": "counted"}),
    ("fail", "withhold", {"aggregate": None, "status": "withheld"}),
    ("fail", "base", {"aggregate": 0.3, "status": "base_substituted"}),
    ("fail", "flag", {"aggregate": 0.8, "status": "flagged"}),
    ("incomplete", "flag", {"aggregate": 0.8, "status": "flagged"}),
    (None, "base", {"aggregate": 0.3, "status": "base_substituted"}),
])
def test_gate(verdict: str | None, on_fail: str, want: dict) -> None:
    assert gate(0.8, 0.3, verdict, on_fail) == want


def test_a_pass_without_a_score_is_not_counted() -> None:
    assert gate(None, 0.3, "pass", "flag") == {"aggregate": None, "status": "withheld"}


def test_a_probe_finding_fails_a_passing_verdict_at_fail_on() -> None:
    from grading.grade import Result, finalize
    from ptaudit.core.findings import Finding

    f = Finding(id="x", rule="grade.memorization", detector="grading.probe", category="test_set_leakage",
                severity="high", action="alert", message="m", subject="benchmark:a")
    r = Result({"aggregate": 0.9, "base_aggregate": 0.2}, [], [f])
    assert finalize(r, "pass", "h", "base", "high")["reported"] == {"aggregate": 0.2, "status": "base_substituted"}
    assert finalize(r, "pass", "h", "base", "critical")["reported"] == {"aggregate": 0.9, "status": "counted"}
    assert finalize(r, "pass", "h", "base")["audit"]["verdict"] == "pass"  # no policy bar given
