"""Generated inputs of the demo: a tiny synthetic benchmark, a tiny base model and its
instruct variant. Deterministic (seeded), so demo runs are comparable.

Benchmark items are composed from random names, objects and numbers every few words, so
every 13-word window of a test item is unique to it: the train split, written from the
same vocabulary with another seed, shares words and phrases but no item text.
"""

from __future__ import annotations

import json
import random

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "st", "th"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
THINGS = ["crates of pears", "jars of honey", "bolts of linen", "boxes of nails", "sacks of flour",
          "baskets of plums", "rolls of twine", "tins of paint", "bundles of reeds", "cases of lanterns",
          "coils of rope", "barrels of cider", "reams of paper", "spools of thread", "trays of figs"]
PLACES = ["harbor market", "mill", "glassworks", "ferry landing", "orchard stall", "weaving hall", "granary",
          "apothecary", "riverside depot", "clock tower", "salt pans", "tannery", "lighthouse", "fairground"]
VERBS = ["bought", "carried", "sold", "stacked", "counted", "traded", "loaded", "repaired"]


def _name(rng: random.Random) -> str:
    # Random names, so any 50-character stretch of an item is its own (no chance collisions
    # between the splits, which would be the generator's fault, not a leak).
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3))).capitalize()


def _item(rng: random.Random, idx: int) -> dict[str, str]:
    a, b = _name(rng), _name(rng)
    t1, t2 = rng.sample(THINGS, 2)
    p, p2 = rng.sample(PLACES, 2)
    x, y, z = rng.randint(12, 97), rng.randint(3, 19), rng.randint(2, 9)
    v = rng.choice(VERBS)
    q = (f"{a} {v} {x} {t1} at the {p} of {_name(rng)} on day {rng.randint(2, 28)}. Each of those {t1} weighed "
         f"{y} kilograms, and {b} later took {z} of them to the {p2} together with {rng.randint(4, 60)} {t2}. "
         f"How many kilograms of {t1} did {a} still have at the {p} after {b} left with {z}?")
    return {"id": f"arith-{idx:04d}", "question": q, "answer": str((x - z) * y)}


def benchmark(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [_item(rng, i) for i in range(n)]


def jsonl(rows: list[dict[str, str]]) -> bytes:
    return b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in rows)
