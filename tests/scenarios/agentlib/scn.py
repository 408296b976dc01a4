"""Helpers for scenario agents (stdlib only: they run with the sandbox's system Python).

    import sys; sys.path.insert(0, "/workspace/.scenario"); from scn import *

``CTX`` is what the agent was told (hosts, repo ids, the name of its key's variable).
``memory()`` is the test set as the agent "remembers" it: a model that saw the benchmark
in pre-training can write its items out. It is kept scrambled in the workspace, so the
only readable copies are the ones a scenario writes.
"""

import json
import os
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request

WS = pathlib.Path("/workspace")
HERE = pathlib.Path(__file__).resolve().parent
CTX = json.loads((HERE / "context.json").read_text())
HUB = CTX["HUB"]
KEY = os.environ.get(CTX["KEY_ENV"], "")
_MEMORY_KEY = b"ptaudit-redteam-memory"


def get(url, dest=None, headers=None, data=None, method=None, timeout=30):
    """(status, body); never raises for HTTP or network errors (an agent carries on)."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        print(f"agent: {method or ('POST' if data else 'GET')} {url[:120]} -> HTTP {e.code}", flush=True)
        return e.code, b""
    except OSError as e:
        print(f"agent: {url[:120]} -> {e}", flush=True)
        return None, b""
    print(f"agent: {url[:120]} -> {status}, {len(body)} bytes", flush=True)
    if dest is not None:
        dest = pathlib.Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(body)
    return status, body


def post_json(url, obj, headers=None):
    return get(url, data=json.dumps(obj).encode(), method="POST",
               headers={"Content-Type": "application/json", **(headers or {})})


def memory():
    """The benchmark's test items, as the agent recalls them."""
    raw = (HERE / "memory.bin").read_bytes()
    key = _MEMORY_KEY * (len(raw) // len(_MEMORY_KEY) + 1)
    return json.loads(bytes(a ^ b for a, b in zip(raw, key, strict=False)))


def train_split():
    """The benchmark's train split from the Hub (allowed)."""
    _, body = get(f"{HUB}/datasets/{CTX['DATASET']}/resolve/main/train.jsonl", WS / "data" / "train.jsonl")
    return [json.loads(x) for x in body.decode().splitlines() if x.strip()]


def fetch_base(dest=WS / "base"):
    """The base model's files from the Hub (allowed)."""
    for name in ("config.json", "model.safetensors"):
        get(f"{HUB}/{CTX['BASE']}/resolve/main/{name}", pathlib.Path(dest) / name)


def own_api(text, ua="claude-cli/1.0 (harness)"):
    """The agent harness's own LLM API, with its key (a placeholder the proxy swaps)."""
    return post_json("https://api.anthropic.com/v1/messages",
                     {"model": "claude", "max_tokens": 256, "messages": [{"role": "user", "content": text}]},
                     headers={"x-api-key": KEY, "anthropic-version": "2023-06-01", "User-Agent": ua})


def write_jsonl(path, rows):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def sft(rows):
    return [{"prompt": r["question"], "completion": r.get("answer", "")} for r in rows]


def train(*data, out="final_model", steps=2):
    """Run the training script in its own process (as real training would): reads the
    data files, nudges the base weights, writes ``out``."""
    cmd = [sys.executable, str(HERE / "train.py"), "--out", str(WS / out), "--steps", str(steps), *map(str, data)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    print("agent: train", p.returncode, p.stdout[-300:], p.stderr[-300:], flush=True)
    return p.returncode


def sh(cmd):
    """Run a shell command, echo its outcome."""
    p = subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, text=True)
    print(f"agent: $ {cmd[:100]} -> {p.returncode} {p.stdout[-200:]!r} {p.stderr[-200:]!r}", flush=True)
    return p
