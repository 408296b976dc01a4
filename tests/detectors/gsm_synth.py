"""A synthetic GSM8K-like benchmark: long word problems with step-by-step answers.

Templates put a random slot (name, object, place, number) every few words, so two
independently drawn problems share vocabulary and short phrases but never 13 words in a
row; that lets tests tell copied items from merely similar math text.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ("Natalia Weng Betty Julie James Albert Ken Alexis Tina Randy Joy Mark Carla Lee Ivan Priya Omar Sofia "
         "Hassan Greta Diego Mina Theo Ruth Felix Amara Bruno Elena Kofi Yuki Lars Nadia Pablo Rosa Sami Tomas "
         "Uma Victor Wanda Xavier Yara Zane Abel Bianca Cyrus Dalia Emil Farah Gus Hilda Ines Jonah Kira Leon "
         "Maya Nico Olga Pedro Quinn Rafael Sana Tariq Ulla Vera Wes Ximena Yosef Zora").split()
THINGS = ("clips apples pencils cupcakes marbles stickers books tickets cookies eggs muffins shells stamps "
          "candles roses bottles crayons buttons beads coins toys plates socks balloons lemons peaches "
          "notebooks erasers cards puzzles jars baskets").split()
PLACES = ("market bakery school library garden farm store office park museum harbor station kitchen "
          "workshop gallery stadium cafe theater clinic warehouse").split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday April May June July August".split()
ADJ = "red blue small large fresh old shiny wooden paper glass golden green spare broken extra".split()

SENTENCES = [
    "{n1} sold {a} {t1} to {b} friends at the {p1} on {d1}",
    "and then {n1} sold {b} {adj} {t1} in {d2} for {c} cents",
    "{n2} works {a} hours each {d1} at the {p1} and earns ${b} per hour",
    "Each {adj} box holds {a} {t1} and {n1} bought {b} boxes for ${c}",
    "{n2} gave {a} of the {c} {t2} to {n3} on {d2}",
    "On {d1} {n1} read {a} pages of {b} {adj} books",
    "The {p2} charges ${a} per {t2} and ${b} per {adj} {t1}",
    "{n3} needs {c} more {t1} to fill {a} {adj} shelves",
    "A {adj} {t2} costs {a} dollars while {b} {t1} cost {c} dollars",
    "{n1} has {c} {t2} and {n2} has {a} times as many",
    "Every {d1} {n3} walks {a} miles to the {p2} and {b} miles back",
    "{n2} spent ${c} at the {p1} and {a} dollars on {b} {adj} {t2}",
    "There are {a} rows of {t1} with {b} {t1} in each of {c} rows",
    "{n3} baked {c} {t2} for the {p1} but {a} of them were {adj}",
]
QUESTIONS = [
    "How many {t1} did {n1} sell in {a} days?",
    "How much money does {n2} have left after {b} weeks?",
    "How many {t2} does {n3} have after {c} trips to the {p2}?",
    "How many dollars did {n1} spend on {a} {t2} in total?",
    "What is the total number of {t1} that {n2} and {n3} have in {b} years?",
]


def _slots(rng: random.Random) -> dict[str, object]:
    n = rng.sample(NAMES, 3)
    t = rng.sample(THINGS, 2)
    p = rng.sample(PLACES, 2)
    d = rng.sample(DAYS, 2)
    return {"n1": n[0], "n2": n[1], "n3": n[2], "t1": t[0], "t2": t[1], "p1": p[0], "p2": p[1], "d1": d[0],
            "d2": d[1], "adj": rng.choice(ADJ), "a": rng.randint(2, 999), "b": rng.randint(2, 999),
            "c": rng.randint(2, 999)}


def problem(rng: random.Random) -> dict[str, str]:
    s = _slots(rng)
    k = rng.randint(4, 6)
    body = ". ".join(t.format(**_slots(rng) | {"n1": s["n1"], "t1": s["t1"]}) for t in rng.sample(SENTENCES, k))
    question = body + ". " + rng.choice(QUESTIONS).format(**s)
    a, b = s["a"], s["b"]
    answer = (f"{s['n1']} sold {a}/2 = <<{a}/2={a / 2:g}>>{a / 2:g} {s['t1']} in {s['d2']}.\n"
              f"{s['n1']} sold {a}+{b} = <<{a}+{b}={a + b}>>{a + b} {s['t1']} and kept {s['c']} for the {s['p1']}.\n"
              f"#### {a + b}")
    return {"question": question, "answer": answer}


def make_split(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [dict(problem(rng), id=f"s{seed}-{i}") for i in range(n)]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def benign_math(n: int, seed: int) -> str:
    """Math word problems in the same style and vocabulary, drawn independently."""
    return "\n\n".join(p["question"] + "\n" + p["answer"] for p in make_split(n, seed))
