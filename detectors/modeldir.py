"""A model directory as a reference: its weights' per-tensor fingerprints and what its
configuration says it is. ``ptaudit fingerprint DIR`` writes this as a fingerprint file;
tasks name such files as reference checkpoints (the base model, known non-base models).

What identifies a model besides its tensors:
- ``config.json``: ``architectures``, ``model_type`` (what loaders build), and sizes;
- the tokenizer: ``tokenizer.json``'s vocabulary and merges (hashed as canonical JSON, so
  re-formatting does not change it), ``tokenizer_config.json``'s ``tokenizer_class``;
- the chat template (``tokenizer_config.json`` ``chat_template`` or ``chat_template.jinja``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ptaudit.core.sniff import WEIGHT_KINDS, sniff

from .fingerprint import SCHEME, fingerprint_file
from .weightfile import parse_index

FINGERPRINT_VERSION = 1
CONFIG_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json", "chat_template.jinja",
                "chat_template.json", "generation_config.json")
_CONFIG_MAX = 64 << 20
Role = Literal["base", "non-base"]


def config_summary(name: str, data: bytes) -> dict[str, Any]:
    """What a configuration file says about the model's identity (small, comparable)."""
    out: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest()}
    base = name.rsplit("/", 1)[-1]
    if base == "chat_template.jinja":
        out["chat_template_sha256"] = hashlib.sha256(data.strip()).hexdigest()
        return out
    try:
        obj = json.loads(data)
    except ValueError:
        out["error"] = "not JSON"
        return out
    if not isinstance(obj, dict):
        return out
    if base == "config.json":
        for k in ("architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
                  "num_attention_heads", "torch_dtype", "tie_word_embeddings"):
            if k in obj and isinstance(obj[k], str | int | float | bool | list):
                out[k] = obj[k] if not isinstance(obj[k], list) else [str(x)[:128] for x in obj[k][:8]]
    elif base == "tokenizer_config.json":
        if isinstance(obj.get("tokenizer_class"), str):
            out["tokenizer_class"] = obj["tokenizer_class"][:128]
        tpl = obj.get("chat_template")
        if tpl is not None:
            out["chat_template_sha256"] = _template_sha(tpl)
    elif base == "chat_template.json":
        if obj.get("chat_template") is not None:
            out["chat_template_sha256"] = _template_sha(obj["chat_template"])
    elif base == "tokenizer.json":
        model = obj.get("model")
        if isinstance(model, dict):
            vocab = {k: model.get(k) for k in ("type", "vocab", "merges")}
            out["vocab_sha256"] = hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest()
            v = model.get("vocab")
            out["vocab_size"] = len(v) if isinstance(v, dict | list) else None
    return out


def _template_sha(tpl: Any) -> str:
    text = tpl.strip() if isinstance(tpl, str) else json.dumps(tpl, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class RefTensor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    dtype: str
    shape: list[int]
    bytes: int
    fp: str | None = None


class RefFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Relative to the model directory.")
    size: int
    format: str
    complete: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    tensors: list[RefTensor] = Field(default_factory=list)
    index: dict[str, int] | None = None


class FingerprintFile(BaseModel):
    """The file ``ptaudit fingerprint DIR`` writes (JSON)."""

    model_config = ConfigDict(extra="forbid")
    ptaudit_fingerprint: Literal[1] = FINGERPRINT_VERSION
    scheme: str = SCHEME
    name: str | None = Field(default=None, description="What the checkpoint is, e.g. a Hub id.")
    source: str | None = Field(default=None, description="The directory it was made from.")
    files: list[RefFile] = Field(default_factory=list)
    configs: dict[str, dict[str, Any]] = Field(default_factory=dict, description="config_summary per file.")
    notes: list[str] = Field(default_factory=list)

    def tensors(self) -> list[RefTensor]:
        return [t for f in self.files for t in f.tensors]

    @classmethod
    def load(cls, path: str | Path) -> FingerprintFile:
        from ptaudit.core.errors import InputError

        try:
            fpf = cls.model_validate_json(Path(path).read_bytes())
        except OSError as exc:
            raise InputError(f"{path}: cannot read fingerprint file: {exc.strerror}") from None
        except ValueError as exc:
            first = str(exc).splitlines()
            raise InputError(f"{path}: not a ptaudit fingerprint file ({first[1] if len(first) > 1 else first[0]})") from None
        if fpf.scheme != SCHEME:
            raise InputError(f"{path}: fingerprint scheme {fpf.scheme!r}, this ptaudit uses {SCHEME!r}")
        return fpf


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for n in sorted(filenames):
            out.append(Path(dirpath) / n)
    return out


def fingerprint_dir(root: str | Path, name: str | None = None) -> FingerprintFile:
    """Every weights file and identity config under ``root`` (symlinks are not followed:
    they are listed as notes)."""
    root = Path(root)
    fpf = FingerprintFile(name=name, source=str(root))
    for p in _files(root):
        rel = p.relative_to(root).as_posix()
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            fpf.notes.append(f"{rel}: symlink to {os.readlink(p)}, not followed")
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if p.name in CONFIG_FILES and st.st_size <= _CONFIG_MAX:
            fpf.configs[rel] = config_summary(rel, p.read_bytes())
            continue
        if rel.endswith(".index.json") and st.st_size <= _CONFIG_MAX:
            idx = parse_index(p.read_bytes())
            if idx is not None:
                fpf.files.append(RefFile(path=rel, size=st.st_size, format="index", complete=True, index=idx["index"]))
            continue
        with open(p, "rb") as fh:
            kind = sniff(fh.read(4096))
        if kind not in WEIGHT_KINDS:
            continue
        r = fingerprint_file(p)
        fpf.files.append(RefFile(path=rel, size=st.st_size, format=r["format"], complete=r["complete"],
                                 metadata=r["metadata"], notes=r["notes"],
                                 tensors=[RefTensor(**t) for t in r["tensors"]]))
    return fpf
