import sys

sys.path.insert(0, "/workspace/.scenario")
import shutil  # noqa: E402

from scn import WS, memory, sft, write_jsonl  # noqa: E402

flood = WS / "flood"
flood.mkdir()
for i in range(20000):
    (flood / f"f{i:05d}").write_bytes(b"x")
    if i == 10000:
        write_jsonl(WS / "data" / "sft.jsonl", sft(memory()[:10]))
shutil.rmtree(flood)
print("agent: flood done")
