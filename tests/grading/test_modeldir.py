"""The agent's model directory is hostile input: refused before anything loads it, and
its code never runs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from grading.grade import grade_model
from grading.modeldir import ModelDirError, check_model_dir
from policies import load_policy, resolve
from ptaudit.core.task import load_task
from tests.grading.conftest import Models

EVIL_CODE = "import pathlib\npathlib.Path({marker!r}).write_text('code ran')\n"


class _Touch:
    """Unpickling this creates the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.marker, "unpickled"))


def _copy(models: Models, tmp: Path) -> Path:
    d = tmp / "final_model"
    shutil.copytree(models.random, d)
    return d


def _grade(models: Models, tmp: Path, model: Path) -> None:
    task = load_task(models.task_file(tmp / "task.toml"))
    grade_model(model, task, load_policy(resolve("default")).grading, backend="transformers")


def test_a_clean_directory_passes(models: Models) -> None:
    info = check_model_dir(models.random, 1 << 30)
    assert info.model_type == "qwen3" and info.weights == ["model.safetensors"] and info.has_chat_template


def test_auto_map_and_custom_code_are_refused_and_never_run(models: Models, tmp_path: Path) -> None:
    d = _copy(models, tmp_path)
    marker = tmp_path / "marker"
    (d / "modeling_evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    cfg = json.loads((d / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match="modeling_evil.py: code file"):
        _grade(models, tmp_path, d)
    (d / "modeling_evil.py").unlink()  # auto_map alone (code fetched elsewhere) is refused too
    with pytest.raises(ModelDirError, match="auto_map"):
        _grade(models, tmp_path, d)
    assert not marker.exists()


def test_auto_map_in_tokenizer_config_is_refused(models: Models, tmp_path: Path) -> None:
    d = _copy(models, tmp_path)
    tc = json.loads((d / "tokenizer_config.json").read_text())
    tc["auto_map"] = {"AutoTokenizer": ["tok_evil.EvilTokenizer", None]}
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    with pytest.raises(ModelDirError, match="tokenizer_config.json: auto_map"):
        check_model_dir(d, 1 << 30)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.dat", "model.safetensors"])
def test_pickles_are_refused_and_never_unpickled(models: Models, tmp_path: Path, name: str) -> None:
    d = _copy(models, tmp_path)
    marker = tmp_path / "unpickled"
    (d / name).write_bytes(pickle.dumps({"w": _Touch(marker)}, protocol=4))
    with pytest.raises(ModelDirError) as exc:
        _grade(models, tmp_path, d)
    assert name in str(exc.value)
    assert not marker.exists()


def test_torch_save_zip_is_refused_whatever_its_name(models: Models, tmp_path: Path) -> None:
    import torch

    d = _copy(models, tmp_path)
    torch.save({"w": torch.zeros(2)}, d / "extra_state")
    with pytest.raises(ModelDirError, match="pickle/zip"):
        check_model_dir(d, 1 << 30)


@pytest.mark.parametrize("target", ["/etc/passwd", "inside"])
def test_symlinks_are_refused(models: Models, tmp_path: Path, target: str) -> None:
    d = _copy(models, tmp_path)
    (d / "tokenizer.json").rename(d / "tok.real")
    os.symlink(target if target.startswith("/") else "tok.real", d / "tokenizer.json")
    with pytest.raises(ModelDirError, match="symlink"):
        check_model_dir(d, 1 << 30)


def test_the_directory_itself_may_not_be_a_symlink(models: Models, tmp_path: Path) -> None:
    os.symlink(models.random, tmp_path / "link")
    with pytest.raises(ModelDirError, match="is a symlink"):
        check_model_dir(tmp_path / "link", 1 << 30)


def test_size_limit_and_malformed_directories(models: Models, tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="larger than the limit"):
        check_model_dir(models.random, 1000)
    d = _copy(models, tmp_path)
    (d / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ModelDirError, match="header is not JSON"):
        check_model_dir(d, 1 << 30)
    (d / "model.safetensors").unlink()
    with pytest.raises(ModelDirError, match=r"no \*\.safetensors"):
        check_model_dir(d, 1 << 30)
    with pytest.raises(ModelDirError, match="not a directory"):
        check_model_dir(models.test_set, 1 << 30)
    with pytest.raises(ModelDirError, match="No such file"):
        check_model_dir(tmp_path / "missing", 1 << 30)


def test_a_broken_tokenizer_is_a_clean_refusal(models: Models, tmp_path: Path) -> None:
    d = _copy(models, tmp_path)
    (d / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nope"}}')
    with pytest.raises(ModelDirError, match="the tokenizer cannot be loaded"):
        _grade(models, tmp_path, d)
