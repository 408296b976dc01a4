"""Judging outcomes against expectations, and the numbers a reviewer reads: pass/fail per
scenario, recall per category, false positives, and the difference between two policies.

- An attack is **caught** when every category it expects (its ``if_blocked`` categories
  when the proxy refused a matching request) appears in a finding of severity ``low`` or
  above. ``info`` findings are notes (e.g. "the evaluation was run"), not detections.
- A benign scenario is **clean** when its run's verdict is ``pass``: no finding at or above
  the policy's ``fail_on``, and the audit complete.
- A run that produced no report, or that ptaudit could not finish, is an **error**: it
  counts as a failure of the scenario.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ptaudit.core.findings import CATEGORIES, severity_rank

from .runner import Outcome, PolicyRef
from .scenario import Scenario

DETECTED = severity_rank("low")


@dataclass
class Result:
    scenario: str
    kind: str
    group: str
    policy: str
    claimed: bool
    status: str  # pass | fail | error
    expected: list[str]
    found: list[str]
    missing: list[str]
    via_if_blocked: bool
    verdict: str | None
    seconds: float
    blocking: list[str] = field(default_factory=list)  # benign: the findings that failed it
    refused: list[str] = field(default_factory=list)  # URLs the proxy refused
    error: str | None = None
    rundir: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)


def judge(scn: Scenario, o: Outcome, pol: PolicyRef) -> Result:
    found = sorted({f["category"] for f in o.findings if severity_rank(f["severity"]) >= DETECTED})
    expected, via = scn.expected(o.blocked)
    missing = sorted(set(expected) - set(found))
    bar = severity_rank(pol.fail_on)
    blocking = sorted({f"{f['category']}:{f['rule']}" for f in o.findings if severity_rank(f["severity"]) >= bar})
    if o.error is not None or o.verdict is None:
        status = "error"
    elif scn.kind == "attack":
        status = "fail" if missing else "pass"
    else:
        status = "pass" if o.verdict == "pass" and not blocking else "fail"
    return Result(scn.name, scn.kind, scn.group, pol.label, pol.label in scn.claims, status, sorted(expected), found,
                  missing, via, o.verdict, o.seconds, blocking if scn.kind == "benign" else [], o.blocked, o.error,
                  o.rundir, o.findings)


@dataclass
class Summary:
    policy: str
    attacks: int
    attacks_caught: int
    benign: int
    benign_clean: int
    errors: int
    recall: dict[str, tuple[int, int]]  # category -> (caught, expected)
    caught_by_category: dict[str, list[str]]
    missed_by_category: dict[str, list[str]]
    false_positives: list[str]
    claimed_failures: list[str]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["recall"] = {c: {"caught": a, "expected": b, "recall": round(a / b, 3) if b else None}
                       for c, (a, b) in self.recall.items()}
        return d


def summarize(policy: str, results: list[Result]) -> Summary:
    rs = [r for r in results if r.policy == policy]
    attacks = [r for r in rs if r.kind == "attack"]
    benign = [r for r in rs if r.kind == "benign"]
    caught: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    missed: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for r in attacks:
        for c in r.expected:
            (caught if c in r.found and r.status != "error" else missed)[c].append(r.scenario)
    recall = {c: (len(caught[c]), len(caught[c]) + len(missed[c])) for c in CATEGORIES if caught[c] or missed[c]}
    return Summary(policy, len(attacks), sum(r.status == "pass" for r in attacks), len(benign),
                   sum(r.status == "pass" for r in benign), sum(r.status == "error" for r in rs), recall,
                   {c: v for c, v in caught.items() if c in recall}, {c: v for c, v in missed.items() if c in recall},
                   [r.scenario for r in benign if r.status != "pass"],
                   [r.scenario for r in rs if r.claimed and r.status != "pass"], round(sum(r.seconds for r in rs), 1))


@dataclass
class Diff:
    """``edited`` against ``baseline``: per category the scenarios it catches that the
    baseline missed (gained) and the reverse (lost); the same for false positives."""

    baseline: str
    edited: str
    recall: dict[str, dict[str, Any]]
    fp_gained: list[str]
    fp_lost: list[str]

    @property
    def worse(self) -> bool:
        return bool(self.fp_gained) or any(v["lost"] for v in self.recall.values())


def diff(base: Summary, edited: Summary) -> Diff:
    rec: dict[str, dict[str, Any]] = {}
    for c in sorted(set(base.recall) | set(edited.recall), key=CATEGORIES.index):
        b, e = set(base.caught_by_category.get(c, [])), set(edited.caught_by_category.get(c, []))
        rec[c] = {"baseline": base.recall.get(c, (0, 0)), "edited": edited.recall.get(c, (0, 0)),
                  "gained": sorted(e - b), "lost": sorted(b - e)}
    fb, fe = set(base.false_positives), set(edited.false_positives)
    return Diff(base.policy, edited.policy, rec, sorted(fe - fb), sorted(fb - fe))
