"""Never trust the agent's model directory: check it completely before anything loads it.

The agent writes the final model, so its directory is hostile input. Loading goes through
transformers/vLLM, which would run a repository's Python (``auto_map`` with
``trust_remote_code``) or unpickle ``*.bin`` weights: both are code execution on the
grading host. So, before any loader sees the directory:

- no symlinks or special files anywhere (a link could point at host files);
- no code: no ``*.py``/compiled/shared-object files, no ``auto_map`` in any JSON config;
- no pickle: weights only as ``*.safetensors`` whose header parses; any file that is a
  pickle or a zip (``torch.save``) by its bytes is refused, whatever its name;
- bounded: total size, file count, JSON config sizes.

Every refusal is a :class:`ModelDirError` (exit 2) naming the file and the reason.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ptaudit.core.errors import InputError

MAX_FILES = 10_000
MAX_JSON_BYTES = 64 << 20  # tokenizer.json of large vocabularies reaches tens of MB
MAX_SAFETENSORS_HEADER = 100 << 20
_CODE_SUFFIXES = {".py", ".pyc", ".pyo", ".pyd", ".so", ".dylib", ".dll", ".sh", ".ipynb"}
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".msgpack"}
# Files a model directory may also hold that are never executed or unpickled.
_CONFIGS_WITH_AUTOMAP = ("config.json", "tokenizer_config.json", "processor_config.json",
                         "preprocessor_config.json", "generation_config.json")


class ModelDirError(InputError):
    """The model directory is refused (exit 2)."""


@dataclass
class ModelDirInfo:
    path: Path
    total_bytes: int
    files: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    model_type: str | None = None
    has_chat_template: bool = False


def _refuse(path: Path, why: str) -> ModelDirError:
    return ModelDirError(f"model directory refused: {path}: {why}")


def _sniff(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(8)


def _looks_pickled(head: bytes) -> bool:
    # Pickle protocol 2+ starts with PROTO (0x80) and the version; torch.save writes a zip.
    return (len(head) >= 2 and head[0] == 0x80 and head[1] in range(2, 6)) or head.startswith(b"PK\x03\x04")


def _check_json(path: Path, root: Path) -> dict[str, object] | None:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise _refuse(path, f"{size} bytes of JSON (limit {MAX_JSON_BYTES})")
    try:
        obj = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refuse(path, f"not valid JSON ({exc})") from None
    if path.name in _CONFIGS_WITH_AUTOMAP or path.parent == root:
        if isinstance(obj, dict) and ("auto_map" in obj or obj.get("trust_remote_code")):
            raise _refuse(path, "auto_map/trust_remote_code: the model wants its own Python code run")
    return obj if isinstance(obj, dict) else None


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise _refuse(path, "truncated safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_SAFETENSORS_HEADER or n + 8 > size:
            raise _refuse(path, "not a safetensors file (header length out of range)")
        try:
            header = json.loads(fh.read(n))
        except (ValueError, UnicodeDecodeError):
            raise _refuse(path, "not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise _refuse(path, "not a safetensors file (header is not an object)")
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(meta, dict) or "data_offsets" not in meta:
            raise _refuse(path, f"not a safetensors file (tensor {name[:80]!r} has no offsets)")
        start, end = meta["data_offsets"]
        if not (0 <= start <= end <= size - 8 - n):
            raise _refuse(path, f"tensor {name[:80]!r} points outside the file")


def check_model_dir(path: str | Path, max_bytes: int) -> ModelDirInfo:
    """Walk the directory without following links; refuse anything unsafe; return a summary."""
    root = Path(path)
    try:
        st = os.lstat(root)
    except OSError as exc:
        raise ModelDirError(f"model directory {root}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(root, "is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise ModelDirError(f"model directory {root}: not a directory")
    info = ModelDirInfo(path=root.resolve(), total_bytes=0)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            mode = os.lstat(p).st_mode
            if stat.S_ISLNK(mode):
                raise _refuse(p, "symlink (it could point at host files)")
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise _refuse(p, "not a regular file")
        for name in filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            info.files.append(rel)
            if len(info.files) > MAX_FILES:
                raise _refuse(root, f"more than {MAX_FILES} files")
            info.total_bytes += p.stat().st_size
            if info.total_bytes > max_bytes:
                raise _refuse(root, f"larger than the limit of {max_bytes} bytes (task grading.max_model_size)")
            suffix = p.suffix.lower()
            if suffix in _CODE_SUFFIXES:
                raise _refuse(p, "code file: custom model code is never run")
            if suffix in _PICKLE_SUFFIXES:
                raise _refuse(p, "pickle-format weights: only *.safetensors is loaded")
            if suffix == ".safetensors":
                _check_safetensors(p)
                info.weights.append(rel)
                continue
            if _looks_pickled(_sniff(p)):
                raise _refuse(p, "a pickle/zip archive by its content: only *.safetensors is loaded")
            if suffix == ".json":
                obj = _check_json(p, root)
                if rel == "config.json" and obj is not None:
                    mt = obj.get("model_type")
                    info.model_type = mt if isinstance(mt, str) else None
                if rel == "tokenizer_config.json" and obj is not None:
                    info.has_chat_template = bool(obj.get("chat_template")) or info.has_chat_template
            if rel == "chat_template.jinja":
                info.has_chat_template = True
    if "config.json" not in info.files:
        raise _refuse(root, "no config.json")
    if info.model_type is None:
        raise _refuse(root / "config.json", "no model_type")
    if not info.weights:
        raise _refuse(root, "no *.safetensors weights")
    if "tokenizer.json" not in info.files and "tokenizer.model" not in info.files:
        raise _refuse(root, "no tokenizer (tokenizer.json or tokenizer.model)")
    info.files.sort()
    return info
