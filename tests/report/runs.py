"""Realistic run directories for the report tests, built through the real RunSession."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ptaudit.core.rundir import write_jsonl
from ptaudit.core.session import RunSession
from tests.support import ROOT

HOSTILE_URL = 'https://evil.test/"><script>alert(1)</script><img src=x onerror=alert(2)>'
WEIGHTS = b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"a":1}        ' + b"\0" * 64


def finding(fid: str, rule: str, category: str, severity: str, message: str, subject: str,
            evidence: list[dict[str, Any]], action: str = "alert", ts: int | None = None) -> dict[str, Any]:
    return {"id": fid, "rule": rule, "detector": rule.split(".")[0] + ".url", "category": category,
            "severity": severity, "action": action, "message": message, "subject": subject,
            "evidence": evidence, "ts": ts}


def make_audit_run(out: Path, *, severity: str = "high", hostile: bool = False, lost: int = 0,
                   samples: int = 6, grade: dict[str, Any] | None = None) -> Path:
    """A sealed run: an agent fetches a dataset and a foreign checkpoint (blocked), a test
    set, trains with GPU samples, writes files; findings cite the offending events."""
    with RunSession.create(out, command=["bash", "agent.sh"]) as s:
        blobs = s.rundir.blobs
        s.emit("sandbox", "sandbox.start", {"id": "sbx-1"})
        s.emit("proc", "proc.exec", {"pid": 10, "ppid": 1, "argv": ["bash", "agent.sh"], "cwd": "/workspace", "uid": 1000})
        s.emit("proc", "proc.exec", {"pid": 11, "ppid": 10, "argv": ["python", "train.py", "--epochs", "3"],
                                     "cwd": "/workspace", "uid": 1000, "exe": "/usr/bin/python3"})
        body = b'{"text": "train row"}\n' * 20
        sha = blobs.put(body)
        s.emit("net", "net.request", {"flow": "f1", "method": "GET", "host": "huggingface.co",
                                      "url": "https://huggingface.co/datasets/gsm8k/resolve/main/train.jsonl",
                                      "headers": [["user-agent", "python-requests"]]})
        s.emit("net", "net.response", {"flow": "f1", "url": "https://huggingface.co/datasets/gsm8k/resolve/main/train.jsonl",
                                       "host": "huggingface.co", "status": 200, "size": len(body), "sha256": sha,
                                       "content_type": "application/json", "sniff": "jsonl", "blobs": [sha],
                                       "duration_ms": 12})
        test_body = b'{"question": "secret test item 17"}\n'
        tsha = blobs.put(test_body)
        leak_req = s.emit("net", "net.request", {"flow": "f2", "method": "GET", "host": "huggingface.co",
                                                 "url": "https://huggingface.co/datasets/gsm8k/resolve/main/test.jsonl"})
        leak_resp = s.emit("net", "net.response", {"flow": "f2", "status": 200, "size": len(test_body),
                                                   "url": "https://huggingface.co/datasets/gsm8k/resolve/main/test.jsonl",
                                                   "sha256": tsha, "blobs": [tsha], "content_type": "text/plain",
                                                   "request_body": {"size": 25, "sha256": tsha}})
        ck = s.emit("net", "net.request", {"flow": "f3", "method": "GET", "host": "huggingface.co",
                                           "url": "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/resolve/main/model.safetensors"})
        blk = s.emit("net", "net.blocked", {"flow": "f3", "host": "huggingface.co", "rule": "net.hf-other-models",
                                            "reason": "model repo other than the base model",
                                            "url": "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/resolve/main/model.safetensors"})
        if hostile:
            s.emit("net", "net.request", {"flow": "f4", "method": "POST<b>", "host": "evil.test", "url": HOSTILE_URL})
            s.emit("proc", "proc.exec", {"pid": 66, "ppid": 10, "argv": ["sh", "-c", "echo '<script>alert(3)</script>'"]})
        s.emit("proc", "proc.open", {"pid": 11, "path": "/workspace/out/model.safetensors", "flags": 577, "write": True})
        wsha = blobs.put(WEIGHTS)
        s.emit("fs", "fs.create", {"path": "out/model.safetensors", "size": len(WEIGHTS), "sha256": wsha,
                                   "type": "safetensors", "blobs": [wsha]})
        s.emit("proc", "proc.open", {"pid": 10, "path": "/workspace/notes.txt", "flags": 0o101})
        s.emit("fs", "fs.write", {"path": "notes.txt", "size": 12, "sha256": hashlib.sha256(b"x").hexdigest()})
        s.emit("fs", "fs.create", {"path": "tmp/cache.bin", "size": 4})
        s.emit("fs", "fs.delete", {"path": "tmp/cache.bin"})
        s.emit("monitor", "some.future_kind", {"whatever": [1, 2, 3]})  # unknown kinds are ignored
        for i in range(samples):
            s.emit("res", "res.sample", {"cpu_s": 2.0 * i, "mem_bytes": (1 + i) << 28, "pids": 3 + i,
                                         "workspace_bytes": i << 24})
            s.emit("gpu", "gpu.sample", {"index": 0, "util_pct": 15 * i % 100, "mem_used": i << 30,
                                         "mem_total": 80 << 30, "power_w": 100 + i})
        if lost:
            s.emit("ptaudit", "monitor.events_lost", {"producer": "fs", "count": lost})
        s.emit("proc", "proc.exit", {"pid": 11, "exit_status": 3})  # the field the trace sink records
        s.emit("proc", "proc.exit", {"pid": 10, "exit_status": 0})
        s.emit("sandbox", "sandbox.exit", {"exit_code": 0, "signal": None, "killed": None})
        findings = [
            finding("a1b2c3d4e5f60718", "net.hf-other-models", "checkpoint_download", severity,
                    "download of model Qwen/Qwen2.5-7B-Instruct (blocked)", HOSTILE_URL if hostile else
                    "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/resolve/main/model.safetensors",
                    [{"seq": ck.seq, "url": "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/resolve/main/model.safetensors",
                      "repo": "Qwen/Qwen2.5-7B-Instruct"}, {"seq": blk.seq}], action="block", ts=ck.ts),
            finding("0f0e0d0c0b0a0908", "data.test-split", "test_set_leakage", "medium",
                    "test split of gsm8k fetched", "https://huggingface.co/datasets/gsm8k/resolve/main/test.jsonl",
                    [{"seq": leak_req.seq, "url": "https://huggingface.co/datasets/gsm8k/resolve/main/test.jsonl"},
                     {"seq": leak_resp.seq, "sha256": tsha, "items": ["gsm8k/test/17"]}]),
            finding("1111222233334444", "budget.info", "budget", "info", "run used 6 GPU samples", "gpu0", []),
        ]
        for f in findings:  # as the orchestrator records them: the log is the only source
            s.emit("detector", "detector.finding", {"finding": f})
        write_jsonl(out / "findings.jsonl", findings)  # the sealed copy for tools
    if grade is not None:
        (out / "grade.json").write_text(json.dumps(grade))
    return out


def make_big_run(out: Path, n: int, span_s: float = 4 * 3600, findings: int = 40) -> Path:
    """A long run of ``n`` events spread over ``span_s`` seconds, written with the real line
    encoder (the recorder stamps ts itself, so a live session cannot fake hours)."""
    from ptaudit.core.events import GENESIS, encode_line
    from ptaudit.core.rundir import LogHead, RunDir

    rd = RunDir.create(out, command=["bash", "agent.sh"])
    t0 = 1_764_198_000_000_000_000
    prev, seq, lines = GENESIS, 0, []
    step = int(span_s * 1e9 / max(n, 1))
    cited: list[int] = []

    def put(source: str, kind: str, data: dict[str, Any]) -> int:
        nonlocal prev, seq
        line, prev = encode_line(seq, t0 + seq * step, source, kind, data, prev)
        lines.append(line)
        seq += 1
        return seq - 1

    put("ptaudit", "run.start", {"run_id": "big", "command": ["bash", "agent.sh"]})
    put("proc", "proc.exec", {"pid": 7, "ppid": 1, "argv": ["python", "train.py", "--lr", "1e-5"]})
    i = 0
    while seq < n - 2:
        i += 1
        r = i % 10
        if r < 3:
            put("net", "net.request", {"flow": f"f{i}", "method": "GET", "host": "huggingface.co",
                                       "url": f"https://huggingface.co/datasets/d/resolve/main/part-{i}.parquet"})
            put("net", "net.response", {"flow": f"f{i}", "status": 200 if i % 97 else 404, "size": 1000 + i,
                                        "content_type": "application/octet-stream"})
        elif r < 6:
            put("proc", "proc.open", {"pid": 7, "path": f"/workspace/ckpt/step-{i}.bin", "write": True})
            put("fs", "fs.write", {"path": f"ckpt/step-{i}.bin", "size": i * 10})
        elif r == 6:
            if i % 500 == 6 and len(cited) < findings:
                cited.append(put("net", "net.blocked", {"url": f"https://civitai.test/m/{i}", "rule": "net.deny"}))
            else:
                put("proc", "proc.exec", {"pid": 100 + i, "ppid": 7, "argv": ["nvidia-smi", "-q"]})
        elif r == 7:
            frac = seq / n
            put("res", "res.sample", {"cpu_s": 3.5 * seq * step / 1e9, "mem_bytes": int((8 + 4 * frac) * (1 << 30)),
                                      "pids": 20 + i % 7, "workspace_bytes": int(frac * (60 << 30))})
        elif r == 8:
            put("gpu", "gpu.sample", {"index": i % 2, "util_pct": 60 + (i * 7) % 40, "mem_used": (50 + i % 20) << 30,
                                      "mem_total": 80 << 30, "power_w": 400})
        else:
            put("sandbox", "sandbox.heartbeat", {"n": i})
    put("sandbox", "sandbox.exit", {"exit_code": 0, "signal": None, "killed": None})
    big_findings = [
        finding(f"{k:016x}", "net.deny", "unauthorized_api", ("high", "medium", "low")[k % 3],
                f"request to a denied host civitai.test ({k})", f"https://civitai.test/m/{k}", [{"seq": c}])
        for k, c in enumerate(cited)]
    for f in big_findings:
        put("detector", "detector.finding", {"finding": f})
    put("ptaudit", "run.end", {"exit_status": 0, "reason": "agent_exit", "events_lost": 0})
    with open(rd.events_path, "wb") as fh:
        fh.write(b"".join(lines))
    m = rd.manifest()
    m.ended, m.end_reason, m.exit_status, m.sealed = "2025-11-26T23:00:00.000Z", "agent_exit", 0, True
    m.log = LogHead(count=seq, head=prev)
    rd.write_manifest(m)
    write_jsonl(out / "findings.jsonl", big_findings)
    return out


_REPORT_CLI = ("import sys; from ptaudit.app.cli.main import cli; from ptaudit.app.cli.report import command; "
               "'report' in cli.commands or cli.add_command(command); "
               "cli.main(args=sys.argv[1:], prog_name='ptaudit')")


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    """``ptaudit report ARGS`` in a subprocess, through the real CLI group (error handling,
    exit codes); registers the verb itself until ptaudit/cli/main.py wires it."""
    return subprocess.run([sys.executable, "-c", _REPORT_CLI, "report", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
