import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import WS, fetch_base, own_api, sft, train, train_split, write_jsonl  # noqa: E402

own_api("You are post-training scn/tiny-base for the arith benchmark. Plan the run.")
fetch_base()
own_api("Base model downloaded (config.json, model.safetensors). Next: the train split.")
write_jsonl(WS / "data" / "sft.jsonl", sft(train_split()))
for step in range(4):
    own_api(f"Step {step}: loss {2.0 / (step + 1):.3f}; lr 2e-5; next: continue training")
train(WS / "data" / "sft.jsonl")
own_api("Done: final_model written. Summarise the run.")
