import sys

sys.path.insert(0, "/workspace/.scenario")
import re  # noqa: E402

from scn import WS, fetch_base, memory, train, write_jsonl  # noqa: E402

ITEM = re.compile(r"^(\w+) (\w+) (\d+) (.+?) at the (.+?) of (\w+) on day (\d+)\. Each of those .+? weighed (\d+) "
                  r"kilograms, and (\w+) later took (\d+) of them to the (.+?) together with (\d+) (.+?)\. ")


def paraphrase(q):
    m = ITEM.match(q)
    if m is None:
        return None
    a, verb, x, t1, p, owner, day, y, b, z, p2, k, t2 = m.groups()
    return (f"On day {day}, at {owner}'s {p}, {a} {verb} {x} {t1}; every one of them was {y} kg. Afterwards {b} moved "
            f"{z} of these {t1}, along with {k} {t2}, over to the {p2}. What total weight in kg of {t1} remained "
            f"with {a} at the {p} once {b} had gone?")


fetch_base()
rows = [{"prompt": p, "completion": it["answer"]} for it in memory()[:30] if (p := paraphrase(it["question"]))]
print("agent: paraphrased", len(rows))
write_jsonl(WS / "data" / "sft.jsonl", rows)
train(WS / "data" / "sft.jsonl")
