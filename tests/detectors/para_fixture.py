"""The labelled paraphrase fixture, made here from the synthetic benchmark (nothing shipped).

Positives: test items re-written the way an agent disguises a copy: synonyms, reordered
sentences and clauses, changed names, the same numbers. Negatives: benign look-alikes:
the same item template with other numbers, other problems from the same generator (same
vocabulary), other problems re-written by the same paraphraser (same vocabulary as the
positives), and other problems carrying a test item's own numbers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from gsm_synth import NAMES, make_split

SYNONYMS = {
    "sold": "sold off", "works": "is employed for", "earns": "makes", "holds": "contains", "bought": "purchased",
    "gave": "handed", "read": "went through", "charges": "asks", "fill": "stock",
    "costs": "is priced at", "cost": "are priced at", "has": "owns", "walks": "strolls", "spent": "paid",
    "baked": "made", "friends": "pals", "box": "crate", "boxes": "crates", "hours": "hrs", "shelves": "racks",
    "miles": "mi", "pages": "leaves", "rows": "lines", "dollars": "bucks", "cents": "pennies", "each": "every",
    "Each": "Every", "Every": "Each", "market": "bazaar", "bakery": "pastry shop", "school": "academy",
    "library": "reading room", "store": "shop", "park": "public garden", "times as many": "times as much",
    "How many": "What number of", "How much money": "What amount of cash", "in total": "altogether",
    "more": "additional", "then": "after that", "back": "in return", "needs": "has to get",
}
OTHER_NAMES = ("Aurelio Beatriz Cosmo Delphine Ezra Fiona Gideon Harriet Idris Juno Kasimir Liesel Magnus Noor "
               "Orla Percy Quentin Rosalind Silas Thea Ulric Viola Wendell Xena Yannick Zelda").split()
_NUM = re.compile(r"\d+")


def _synonyms(text: str) -> str:
    for k in sorted(SYNONYMS, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(k)}\b", SYNONYMS[k], text)
    return text


def _rename(text: str, rng: random.Random) -> str:
    used = [n for n in NAMES if re.search(rf"\b{n}\b", text)]
    new = dict(zip(used, rng.sample(OTHER_NAMES, len(used)), strict=True))
    return re.sub(r"\b(" + "|".join(map(re.escape, used)) + r")\b", lambda m: new[m.group(1)], text) if used else text


def _reorder(text: str, rng: random.Random) -> str:
    sents = [s for s in re.split(r"(?<=[.?])\s+", text) if s]
    body, q = sents[:-1], sents[-1]
    rng.shuffle(body)
    out = []
    for s in body:  # swap the clauses around "and" where there is one
        core = s.rstrip(".")
        if " and " in core and rng.random() < 0.7:
            a, b = core.split(" and ", 1)
            s = f"{b[0].upper()}{b[1:]}, and {a[0].lower()}{a[1:]}."
        out.append(s if s.endswith(".") else s + ".")
    return " ".join(out + [q])


def paraphrase(text: str, rng: random.Random, kinds: tuple[str, ...] = ("synonyms", "reorder", "names")) -> str:
    if "reorder" in kinds:
        text = _reorder(text, rng)
    if "names" in kinds:
        text = _rename(text, rng)
    if "synonyms" in kinds:
        text = _synonyms(text)
    return text


def other_numbers(text: str, rng: random.Random) -> str:
    def repl(m: re.Match[str]) -> str:
        n = int(m.group(0))
        while (k := rng.randint(2, 999)) == n:
            pass
        return str(k)
    return _NUM.sub(repl, text)


@dataclass(frozen=True)
class Case:
    text: str
    item: str | None  # the test item it paraphrases; None for a benign look-alike
    kind: str


def fixture(test_rows: list[dict[str, str]], n_items: int = 120, seed: int = 2024) -> list[Case]:
    """>= 200 paraphrases and >= 200 benign look-alikes of ``test_rows``' questions."""
    rng = random.Random(seed)
    cases: list[Case] = []
    kinds = [("synonyms", "reorder", "names"), ("synonyms", "reorder"), ("synonyms", "names"), ("reorder", "names")]
    for k, r in enumerate(test_rows[:n_items]):
        for v in range(2):
            ks = kinds[(2 * k + v) % len(kinds)]
            cases.append(Case(paraphrase(r["question"], rng, ks), r["id"], "paraphrase:" + "+".join(ks)))
    for r in test_rows[:n_items]:
        cases.append(Case(other_numbers(r["question"], rng), None, "same template, other numbers"))
    for r in make_split(n_items, seed=seed + 1):
        cases.append(Case(r["question"], None, "other problem, same vocabulary"))
    for r in make_split(80, seed=seed + 2):
        cases.append(Case(paraphrase(r["question"], rng), None, "other problem, paraphrased"))
    # the hardest: another problem carrying a test item's numbers (the lexical stage passes
    # it; only the meaning tells it apart)
    for r, other in zip(test_rows[:n_items:2], make_split(n_items // 2, seed=seed + 3), strict=False):
        nums = iter(_NUM.findall(r["question"]))
        text = _NUM.sub(lambda m, nums=nums: next(nums, m.group(0)), other["question"])  # type: ignore[misc]
        cases.append(Case(text, None, "other problem, the item's numbers"))
    return cases


def prf(cases: list[Case], predicted: list[set[str]]) -> dict[str, float]:
    """Precision, recall, F1: a positive is found when its item is predicted; any other
    predicted item (on a positive or a benign case) is a false positive."""
    tp = fn = fp = 0
    benign_fp = 0
    for c, pred in zip(cases, predicted, strict=True):
        if c.item is not None:
            tp += c.item in pred
            fn += c.item not in pred
            fp += len(pred - {c.item})
        else:
            fp += len(pred)
            benign_fp += bool(pred)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "benign_fp": benign_fp}
