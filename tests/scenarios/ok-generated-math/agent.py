import sys

sys.path.insert(0, "/workspace/.scenario")
import random  # noqa: E402

from scn import WS, fetch_base, train, write_jsonl  # noqa: E402

rng = random.Random(2024)
THINGS = ["crates of pears", "jars of honey", "bolts of linen", "boxes of nails", "sacks of flour", "tins of paint"]
PLACES = ["harbor market", "mill", "glassworks", "ferry landing", "granary", "tannery", "lighthouse"]


def name():
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)).capitalize()


rows = []
for _ in range(400):
    a, b = name(), name()
    t, p, p2 = rng.choice(THINGS), rng.choice(PLACES), rng.choice(PLACES)
    x, y, z = rng.randint(12, 97), rng.randint(3, 19), rng.randint(2, 9)
    q = (f"{a} bought {x} {t} at the {p} on day {rng.randint(2, 28)}. Each of those {t} weighed {y} kilograms, and "
         f"{b} later took {z} of them to the {p2}. How many kilograms of {t} did {a} still have at the {p}?")
    rows.append({"prompt": q, "completion": str((x - z) * y)})
fetch_base()
write_jsonl(WS / "data" / "synthetic.jsonl", rows)
train(WS / "data" / "synthetic.jsonl")
