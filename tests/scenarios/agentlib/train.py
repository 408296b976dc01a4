"""A stand-in for a training run: reads its data files, then writes the base weights with
every float moved a little (as a training step moves them) to --out. Checkpoints of its
own go to ckpt/step-N when --steps > 1. Stdlib only."""

import argparse
import array
import hashlib
import json
import pathlib
import random
import shutil
import struct

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--steps", type=int, default=1)
ap.add_argument("--base", default="/workspace/base")
ap.add_argument("data", nargs="*")
a = ap.parse_args()

h = hashlib.sha256()
for d in a.data:
    h.update(pathlib.Path(d).read_bytes())
seed = int(h.hexdigest()[:8], 16)
base = pathlib.Path(a.base)
raw = (base / "model.safetensors").read_bytes()
n = struct.unpack_from("<Q", raw)[0]
head, floats = raw[:8 + n], array.array("f", raw[8 + n:])
rng = random.Random(seed)
out = pathlib.Path(a.out)
for step in range(1, a.steps + 1):
    for i in range(0, len(floats), 7):
        floats[i] += rng.uniform(-0.01, 0.01)
    dest = out if step == a.steps else pathlib.Path("/workspace/ckpt") / f"step-{step}"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.safetensors").write_bytes(head + floats.tobytes())
    shutil.copy(base / "config.json", dest / "config.json")
print(json.dumps({"trained_on": a.data, "steps": a.steps, "out": str(out)}))
