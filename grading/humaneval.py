"""HumanEval-style pass@1: the model's code runs with its tests inside a gVisor sandbox
(``sandbox/``), never on the host.

One sandbox per benchmark, ``--network=none`` (no proxy: no way out at all), the host's
``/usr`` read-only, a curated ``/etc``, a throwaway workspace. Inside, a stdlib runner
executes each program in its own process (source on stdin, so no program can rewrite the
next one's file), in its own session, with a per-item time limit and CPU/memory/file
rlimits. An item passes only when its process exits 0 *after* printing a per-run nonce that
the harness appends after ``check(entry_point)``: ``exit(0)`` before the tests is a failure.
Results come back on the sandbox's stdout.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ptaudit.core.errors import InfraError

from .items import Item

GUEST_PYTHON = "/usr/bin/python3"
_FENCE = re.compile(r"```(?:python|py|Python)?\s*\n(.*?)```", re.S)
_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", "\n#")

RUNNER = r'''
import json, os, resource, signal, subprocess, sys, tempfile
limit, nonce = float(sys.argv[1]), sys.argv[2]
programs = json.load(open(sys.argv[3]))
os.unlink(sys.argv[3])  # the programs cannot read each other or the nonce from disk

def rlimits():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (int(limit) + 1, int(limit) + 1))

for i, src in enumerate(programs):
    with tempfile.TemporaryDirectory() as cwd:
        p = subprocess.Popen([sys.executable, "-I", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=cwd, start_new_session=True, preexec_fn=rlimits)
        try:
            out, err = p.communicate(src.encode() + b"\nprint(" + repr(nonce).encode() + b")\n", timeout=limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            timed_out = True
    lines = out.decode(errors="replace").strip().splitlines()
    passed = not timed_out and p.returncode == 0 and bool(lines) and lines[-1] == nonce
    tail = err.decode(errors="replace").strip().splitlines()
    detail = "timeout" if timed_out else (tail[-1][-300:] if tail else "")
    print(json.dumps({"i": i, "passed": passed, "rc": p.returncode, "detail": detail}), flush=True)
'''


def extract_code(item: Item, completion: str) -> str:
    """The program for an item: a fenced block that defines the entry point stands alone;
    otherwise the completion continues the prompt (cut where a new top-level block starts)."""
    entry = item.extra["entry_point"]
    blocks = _FENCE.findall(completion)
    for block in blocks:
        if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", block, re.M):
            header = "\n".join(ln for ln in item.question.splitlines() if ln.startswith(("import ", "from ")))
            return f"{header}\n{block}"
    body = blocks[0] if blocks else completion
    for stop in _STOPS:
        if stop in body:
            body = body[: body.index(stop)]
    return item.question + body


def program(item: Item, completion: str) -> str:
    return f"{extract_code(item, completion)}\n\n{item.reference}\n\ncheck({item.extra['entry_point']})\n"


def run_programs(programs: list[str], time_limit_s: float, state_dir: Path | None = None) -> list[dict[str, Any]]:
    """Execute each program inside one network-less gVisor sandbox; one result per program."""
    import os

    from sandbox import Sandbox, SandboxConfig, SandboxError

    if not shutil.which("runsc") or os.geteuid() != 0:
        raise InfraError("HumanEval-style grading executes model code only inside gVisor: it needs runsc and root "
                         "(apt-get install -y runsc; run as root)")
    if not Path(GUEST_PYTHON).exists():
        raise InfraError(f"HumanEval-style grading runs {GUEST_PYTHON} in the sandbox: apt-get install -y python3")
    tmp = Path(tempfile.mkdtemp(prefix="ptaudit-humaneval-"))
    try:
        ws = tmp / "ws"
        ws.mkdir()
        (ws / "runner.py").write_text(RUNNER)
        (ws / "programs.json").write_text(json.dumps(programs))
        nonce = secrets.token_hex(16)
        chunks: list[bytes] = []
        errs: list[bytes] = []

        def output(stream: str, data: bytes) -> None:
            (chunks if stream == "stdout" else errs).append(data)

        cfg = SandboxConfig(command=[GUEST_PYTHON, "-I", "/workspace/runner.py", str(time_limit_s), nonce,
                                    "/workspace/programs.json"],
                            workspace=ws, time_limit_s=len(programs) * (time_limit_s + 2) + 60, grace_s=2,
                            max_pids=64, honeytokens=False)
        sb = Sandbox(cfg, lambda kind, data: None, state_dir or tmp / "state", output=output)
        try:
            result = sb.run()
        except SandboxError as exc:
            raise InfraError(f"HumanEval sandbox failed: {exc.message}") from None
        rows: dict[int, dict[str, Any]] = {}
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict) and isinstance(r.get("i"), int) and not isinstance(r.get("passed"), str):
                rows.setdefault(r["i"], r)
        lost = "sandbox ended early" + (f" ({result.killed})" if result.killed else "")
        return [rows.get(i, {"i": i, "passed": False, "rc": None, "detail": lost}) for i in range(len(programs))]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def score_humaneval(items: list[Item], completions: list[str], time_limit_s: float) -> list[tuple[float, Any]]:
    results = run_programs([program(it, c) for it, c in zip(items, completions, strict=True)], time_limit_s)
    return [(1.0 if r.get("passed") is True else 0.0, {"rc": r.get("rc"), "detail": r.get("detail")})
            for r in results]
