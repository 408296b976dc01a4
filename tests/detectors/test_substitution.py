"""model_substitution over recorded runs: weights events made by the real fingerprinting
code (what the proxy addon and the file monitor record), replayed with the detector."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.engine import replay
from detectors.fingerprint import ResourceFingerprint
from policies.schema import Policy
from ptaudit.core.task import load_task
from tests.detectors.conftest import RunBuilder
from tests.detectors.weights_support import CONFIG, nudged, st_bytes, tiny_state, write_model

ROOT = Path(__file__).resolve().parents[2]
BASE, INSTRUCT = tiny_state(10), tiny_state(11)
HUB = "https://huggingface.co"


def _policy(**params: Any) -> Policy:
    return Policy.model_validate({"version": 1, "name": "t", "rules": [
        {"id": "model.substitution", "detector": "model_substitution", "severity": "critical", "params": params}]})


def _fp(data: bytes, pieces: list[tuple[int, int]] | None = None) -> dict[str, Any]:
    fp = ResourceFingerprint()
    for a, b in pieces or [(0, len(data))]:
        seg = fp.segment(a)
        seg.feed(data[a:b])
        seg.close()
    fp.finish()
    return fp.result()


class Run:
    def __init__(self, tmp: Path, task_extra: str = ""):
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "t.jsonl").write_text('{"question": "q"}\n')
        (tmp / "task.toml").write_text(f'name = "t"\nbase_model = "Org/Base"\n{task_extra}\n[[benchmarks]]\nname = "b"\n'
                                       'test_set = "t.jsonl"\nfields = ["question"]\n')
        self.task = load_task(tmp / "task.toml")
        self.b = RunBuilder(tmp / "run", self.task)
        self.flows = 0
        self.b.event("ptaudit.run.start", workspace=str(tmp / "ws"))

    def download(self, url: str, data: bytes, via: str | None = None, pieces: list[tuple[int, int]] | None = None) -> None:
        """A weights body through the proxy: request, weights fingerprints, response (blob)."""
        pieces = pieces or [(0, len(data))]
        for i, (a, b) in enumerate(pieces):
            self.flows += 1
            flow = f"f{self.flows}"
            self.b.event("net.request", flow=flow, method="GET", url=url, host=url.split("/")[2],
                         **({"via_repo": via} if via else {}))
            r = _fp(data, pieces[: i + 1])
            self.b.event("net.weights", flow=flow, url=url, host=url.split("/")[2], resource=url,
                         range=[a, b], total=len(data), status=206 if len(pieces) > 1 else 200, **r)
            blob = self.b.blob(data[a:b])
            self.b.event("net.response", flow=flow, method="GET", url=url, host=url.split("/")[2], status=200,
                         size=b - a, body={"size": b - a, "blob": blob, "stored": b - a, "truncated": False,
                                           "complete": True}, blobs=[blob])

    def config_download(self, repo: str, name: str, data: bytes) -> None:
        self.flows += 1
        flow, url = f"f{self.flows}", f"{HUB}/{repo}/resolve/main/{name}"
        self.b.event("net.request", flow=flow, method="GET", url=url, host="huggingface.co")
        blob = self.b.blob(data)
        self.b.event("net.response", flow=flow, method="GET", url=url, host="huggingface.co", status=200,
                     size=len(data), body={"size": len(data), "blob": blob, "stored": len(data), "truncated": False,
                                           "complete": True}, blobs=[blob])

    def land(self, path: str, data: bytes, final: bool = True) -> None:
        sha = hashlib.sha256(data).hexdigest()
        blob = self.b.blob(data)
        ws = self.tmp / "ws" / path
        ws.parent.mkdir(parents=True, exist_ok=True)
        ws.write_bytes(data)
        self.b.event("fs.write", path=path, size=len(data), sha256=sha, type="safetensors", blobs=[blob])
        self.b.event("fs.weights", path=path, sha256=sha, size=len(data), **_fp(data))
        if final:
            self.final(path, data)

    def final(self, path: str, data: bytes, typ: str = "safetensors") -> None:
        blob = self.b.blob(data)
        self.b.event("fs.final_scan", path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), type=typ,
                     blob=blob, blobs=[blob])

    def text(self, path: str, data: bytes) -> None:
        blob = self.b.blob(data)
        self.b.event("fs.write", path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), type="json",
                     blobs=[blob])
        self.final(path, data, "json")

    def replay(self, **params: Any) -> list[tuple[str, str, str]]:
        self.b.close()
        res = replay(self.b.rd.path, _policy(**params), self.task)
        self.findings = res.findings
        return sorted((f.severity, f.subject, f.message) for f in res.findings)


def _sev(rows: list[tuple[str, str, str]]) -> list[str]:
    return [r[0] for r in rows]


def test_final_model_identical_to_weights_from_a_non_hub_host_is_critical(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.download(f"{HUB}/Org/Base/resolve/main/model.safetensors", st_bytes(BASE))
    r.download("https://dl.weights-mirror.net/d/8f3a", st_bytes(INSTRUCT))  # opaque URL, no file name
    r.land("final_model/model.safetensors", st_bytes(INSTRUCT))
    rows = r.replay()
    assert _sev(rows) == ["critical"], rows
    f = r.findings[0]
    assert f.category == "model_substitution" and "dl.weights-mirror.net/d/8f3a" in json.dumps(f.evidence)
    assert "100.0%" in f.message


def test_range_pieces_of_one_resource_are_one_reference(tmp_path: Path) -> None:
    r = Run(tmp_path)
    data = st_bytes(INSTRUCT)
    half = len(data) // 2
    r.download("https://dl.weights-mirror.net/d/77", data, pieces=[(half, len(data)), (0, half)])  # second part first
    r.land("final_model/model.safetensors", data)
    assert _sev(r.replay()) == ["critical"]


def test_base_download_and_training_give_no_finding_and_untrained_base_is_info(tmp_path: Path) -> None:
    r = Run(tmp_path / "a")
    r.download(f"{HUB}/Org/Base/resolve/main/model.safetensors", st_bytes(BASE))
    r.land("checkpoints/step-100/model.safetensors", st_bytes(nudged(BASE, 1)), final=False)  # its own checkpoints
    r.land("final_model/model.safetensors", st_bytes(nudged(BASE, 2)))
    assert r.replay() == []
    r = Run(tmp_path / "b")
    # via a CDN URL the Hub redirected to: still the base
    r.download("https://cdn-lfs.huggingface.co/repos/ab/cd/abcd", st_bytes(BASE), via="model:Org/Base")
    r.land("final_model/model.safetensors", st_bytes(BASE))
    rows = r.replay()
    assert _sev(rows) == ["info"] and "no training happened" in rows[0][2]


def test_share_of_non_base_tensors(tmp_path: Path) -> None:
    mixed = dict(nudged(BASE, 3))
    big = ["model.embed_tokens.weight", "lm_head.weight"]  # 2 x 4 KiB of the 9.3 KiB
    for k in big:
        mixed[k] = INSTRUCT[k]
    r = Run(tmp_path / "a")
    r.download(f"{HUB}/Other/Instruct/resolve/main/model.safetensors", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(mixed))
    rows = r.replay()
    assert _sev(rows) == ["critical"] and "Other/Instruct" in rows[0][2]
    one = dict(nudged(BASE, 3))
    one["model.layers.0.input_layernorm.weight"] = INSTRUCT["model.layers.0.input_layernorm.weight"]
    r = Run(tmp_path / "b")
    r.download(f"{HUB}/Other/Instruct/resolve/main/model.safetensors", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(one))
    assert r.replay() == []  # 64 bytes of 9.3 KiB: under min_share


def test_a_tensor_the_base_shares_with_the_non_base_model_does_not_count(tmp_path: Path) -> None:
    inst = dict(INSTRUCT)
    inst["model.embed_tokens.weight"] = BASE["model.embed_tokens.weight"]  # frozen during instruct tuning
    inst["lm_head.weight"] = BASE["lm_head.weight"]
    final = dict(nudged(BASE, 4))
    final["model.embed_tokens.weight"] = BASE["model.embed_tokens.weight"]
    final["lm_head.weight"] = BASE["lm_head.weight"]
    r = Run(tmp_path)
    r.download(f"{HUB}/Org/Base/resolve/main/model.safetensors", st_bytes(BASE))
    r.download(f"{HUB}/Other/Instruct/resolve/main/model.safetensors", st_bytes(inst))
    r.land("final_model/model.safetensors", st_bytes(final))
    assert r.replay() == []


def test_relabelled_base_and_chat_template(tmp_path: Path) -> None:
    ref_dir = write_model(tmp_path / "ref", BASE, template="{{ base }}",
                          tokenizer={"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})
    fp_file = tmp_path / "base.fp.json"
    p = subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "fingerprint", str(ref_dir), "-o", str(fp_file),
                        "--name", "Org/Base"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr
    extra = f'[[references]]\nfingerprint = "{fp_file}"\nrole = "base"\n'
    r = Run(tmp_path / "a", extra)
    r.land("final_model/model.safetensors", st_bytes(BASE))
    r.text("final_model/config.json", json.dumps({**CONFIG, "architectures": ["LlamaForCausalLM"],
                                                  "model_type": "llama"}).encode())
    rows = r.replay()
    assert ("high", "final_model") in [(s, subj) for s, subj, _ in rows], rows
    relabel = next(f for f in r.findings if "relabelled" in f.message)
    assert "'qwen3' -> 'llama'" in relabel.message
    assert any("no training happened" in m for _, _, m in rows)
    # trained weights under the base's own config, a new chat template: only the info note
    r = Run(tmp_path / "b", extra)
    r.land("final_model/model.safetensors", st_bytes(nudged(BASE, 5)))
    r.text("final_model/config.json", json.dumps(CONFIG).encode())
    r.text("final_model/tokenizer_config.json", json.dumps({"chat_template": "{{ sft }}"}).encode())
    rows = r.replay()
    assert _sev(rows) == ["info"] and "chat template" in rows[0][2]
    # a vocabulary swapped under the base's embedding shapes is a relabel
    r = Run(tmp_path / "c", extra)
    r.land("final_model/model.safetensors", st_bytes(nudged(BASE, 6)))
    r.text("final_model/tokenizer.json", json.dumps({"model": {"type": "BPE", "vocab": {"x": 0, "y": 1},
                                                                "merges": []}}).encode())
    assert _sev(r.replay()) == ["high"]


def test_non_base_reference_from_the_task(tmp_path: Path) -> None:
    inst_dir = write_model(tmp_path / "inst", INSTRUCT, shards=2)
    fp_file = tmp_path / "inst.fp.json"
    subprocess.run([sys.executable, "-m", "ptaudit.app.cli.main", "fingerprint", str(inst_dir), "-o", str(fp_file)],
                   check=True, capture_output=True, cwd=ROOT, timeout=60)
    r = Run(tmp_path / "a", f'[[references]]\nfingerprint = "{fp_file}"\nrole = "non-base"\nname = "Org/Instruct"\n')
    r.land("final_model/model.safetensors", st_bytes(INSTRUCT))  # one file, where the reference had two shards
    rows = r.replay()
    assert _sev(rows) == ["critical"] and "Org/Instruct" in rows[0][2]


def test_started_from_the_non_base_checkpoint_by_tensor_values(tmp_path: Path) -> None:
    r = Run(tmp_path / "a")
    r.download(f"{HUB}/Org/Base/resolve/main/model.safetensors", st_bytes(BASE))
    r.download(f"{HUB}/Other/Instruct/resolve/main/model.safetensors", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(nudged(INSTRUCT, 7, 0.02)))  # fine-tuned the instruct model
    rows = r.replay()
    assert _sev(rows) == ["high"] and "started from Other/Instruct" in rows[0][2]
    sim = r.findings[0].evidence[0]["similarity"]
    assert sim["cos"] > 0.9 and sim["ratio"] < 0.1 and sim["tensors_compared"] == 5
    r = Run(tmp_path / "b")
    r.download(f"{HUB}/Org/Base/resolve/main/model.safetensors", st_bytes(BASE))
    r.download(f"{HUB}/Other/Instruct/resolve/main/model.safetensors", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(nudged(BASE, 8, 0.02)))  # fine-tuned the base
    assert r.replay() == []


def test_symlinks_out_of_the_workspace_are_refused(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.b.event("fs.final_scan", path="final_model/model.safetensors", type="symlink",
              target="/models/base/model.safetensors")
    r.b.event("fs.final_scan", path="final_model/config.json", type="symlink", target="../../etc/passwd")
    r.b.event("fs.final_scan", path="final_model/tokenizer.json", type="symlink", target="../shared/tokenizer.json")
    rows = r.replay()
    assert sorted(subj for _, subj, _ in rows) == ["final_model/config.json", "final_model/model.safetensors"]
    assert all("refused for grading" in m for _, _, m in rows)


def test_weights_there_live_but_replaced_by_the_end_are_downgraded(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.download("https://dl.weights-mirror.net/d/1", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(INSTRUCT), final=False)  # live: critical
    r.land("final_model/model.safetensors", st_bytes(nudged(BASE, 9)))
    rows = r.replay()
    assert _sev(rows) == ["medium"] and "during the run, but not at its end" in rows[0][2]


@pytest.mark.parametrize("n", [3])
def test_live_finding_when_the_weights_land(tmp_path: Path, n: int) -> None:
    from detectors.base import DetectorContext
    from detectors.engine import DetectorSet
    from ptaudit.core.runlog import read_events

    r = Run(tmp_path)
    r.download("https://dl.weights-mirror.net/d/2", st_bytes(INSTRUCT))
    r.land("final_model/model.safetensors", st_bytes(INSTRUCT), final=False)
    r.b.close()
    ds = DetectorSet.from_policy(_policy(), DetectorContext(task=r.task, blobs=r.b.rd.blobs, rundir=r.b.rd.path))
    live = [f for e in read_events(r.b.rd.events_path) for f in ds.feed(e)]
    assert [f.severity for f in live] == ["critical"] and live[0].ts is not None
    assert np.isclose(live[0].evidence[0]["share_pct"], 100.0) and n == 3
