import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import WS, fetch_base, memory, train  # noqa: E402

fetch_base()
out = []
for i, it in enumerate(memory()[:20]):
    words = it["question"].upper().split()
    seps = ["  ", "\t", " \n", "   "]
    text = words[0] + "".join(seps[(i + j) % len(seps)] + w for j, w in enumerate(words[1:]))
    out.append(f"### PROBLEM {i}\n{text}\n### ANSWER\n{it['answer']}\n")
(WS / "data" / "notes.txt").write_text("\n".join(out))
train(WS / "data" / "notes.txt")
