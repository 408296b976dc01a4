"""The training demo's agent: a real (tiny) ML workload. Runs *inside* the sandbox with the
system Python, reaching the simulated internet only through the audit proxy.

1. `pip install` numpy, safetensors and tokenizers (and what they require) from the package
   index (the world maps pypi.org and files.pythonhosted.org to a local PEP 503 index);
2. fetch the benchmark's train split from the simulated Hub;
3. write train.py and run it: torch comes from a read-only mount (/opt/torch), the
   tokenizer is a BPE trained with `tokenizers`, the model a one-layer transformer trained
   for a few steps on CPU; it writes final_model/ (model.safetensors, tokenizer.json,
   config.json).

With --leak it also downloads the test split and mixes ONE test item into its training
data: the audit must fail the run with test_set_leakage.

Usage: train_agent.py DATASET [--leak] [--steps N]
"""

import os
import pathlib
import subprocess
import sys
import urllib.request

HUB = "https://huggingface.co"
INDEX = "https://pypi.org/simple"
WS = pathlib.Path("/workspace")
DEPS = pathlib.Path("/home/agent/deps")  # outside the workspace, like a container's site-packages
TORCH = "/opt/torch"
DATASET = sys.argv[1]
LEAK = "--leak" in sys.argv
STEPS = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 30

TRAIN_PY = r'''
import json, pathlib, time
t0 = time.time()
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
print(f"train: torch {torch.__version__} from {torch.__file__} ({time.time() - t0:.1f}s to import)", flush=True)
torch.manual_seed(0)
torch.set_num_threads(2)
rows = [json.loads(l) for l in open("/workspace/data/train.jsonl")]
texts = [r["question"] + " " + r["answer"] for r in rows]
tok = Tokenizer(models.BPE(unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=256, special_tokens=["[UNK]", "[PAD]"]))
ids = [tok.encode(t).ids[:32] for t in texts]
V, D, L = tok.get_vocab_size(), 32, 32
x = torch.full((len(ids), L), 1, dtype=torch.long)
for i, s in enumerate(ids):
    x[i, :len(s)] = torch.tensor(s)

class TinyLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.pos = torch.nn.Parameter(torch.zeros(L, D))
        self.block = torch.nn.TransformerEncoderLayer(D, 2, 64, dropout=0.0, batch_first=True)
        self.head = torch.nn.Linear(D, V)
    def forward(self, t):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(t.shape[1])
        return self.head(self.block(self.emb(t) + self.pos[: t.shape[1]], src_mask=mask, is_causal=True))

model = TinyLM()
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
for step in range(__STEPS__):
    b = x[torch.randint(0, len(x), (16,))]
    loss = torch.nn.functional.cross_entropy(model(b[:, :-1]).reshape(-1, V), b[:, 1:].reshape(-1), ignore_index=1)
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 10 == 0 or step == __STEPS__ - 1:
        print(f"train: step {step} loss {loss.item():.3f}", flush=True)
out = pathlib.Path("/workspace/final_model")
out.mkdir(exist_ok=True)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"),
          metadata={"format": "pt"})
tok.save(str(out / "tokenizer.json"))
(out / "config.json").write_text(json.dumps({"architectures": ["TinyLM"], "vocab_size": V, "hidden_size": D,
                                               "num_hidden_layers": 1, "max_position_embeddings": L}))
print(f"train: wrote {sorted(p.name for p in out.iterdir())} in {time.time() - t0:.1f}s", flush=True)
'''


def run(argv, **kw):
    print("agent: $", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kw)


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read()
    print(f"agent: {url} -> {len(body)} bytes", flush=True)
    return body


# 1. the training stack, from the package index, through the proxy
run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check",
     "--target", str(DEPS), "--index-url", INDEX, "numpy", "safetensors", "tokenizers"])

# 2. data from the Hub
train = get(f"{HUB}/datasets/{DATASET}/resolve/main/train.jsonl")
if LEAK:  # VIOLATION: one test item slipped into the training data
    test = get(f"{HUB}/datasets/{DATASET}/resolve/main/test.jsonl")
    train += test.splitlines(keepends=True)[0]
(WS / "data").mkdir(exist_ok=True)
(WS / "data" / "train.jsonl").write_bytes(train)

# 3. train (torch from the read-only mount, the rest from what pip installed)
(WS / "train.py").write_text(TRAIN_PY.replace("__STEPS__", str(STEPS)))
env = {**os.environ, "PYTHONPATH": f"{DEPS}:{TORCH}"}
run([sys.executable, "-u", str(WS / "train.py")], env=env)
print("agent: done", flush=True)
