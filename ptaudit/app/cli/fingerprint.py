from __future__ import annotations

from pathlib import Path

import click

from ptaudit.core.errors import InputError

from .output import out


@click.command("fingerprint")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--output", "-o", "output", type=click.Path(path_type=Path), help="Write the fingerprint file here "
              "(default: stdout).")
@click.option("--name", help="What the checkpoint is (e.g. its Hub id), shown in findings.")
def command(directory: Path, output: Path | None, name: str | None) -> None:
    """Per-tensor fingerprints of a model directory (every weights file: safetensors, GGUF,
    PyTorch, NumPy; shards and index files) and its identity configs, as a fingerprint file a
    task names as a reference checkpoint (docs/task.md). Exit 1 if a weights file could not be
    fingerprinted whole."""
    from detectors.modeldir import fingerprint_dir

    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    fpf = fingerprint_dir(directory, name)
    if not any(f.tensors for f in fpf.files):
        raise InputError(f"{directory}: no model weights found (safetensors, GGUF, PyTorch zip, NumPy)")
    text = fpf.model_dump_json(indent=1) + "\n"
    if output is not None:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
    tensors = sum(len(f.tensors) for f in fpf.files)
    size = sum(t.bytes for f in fpf.files for t in f.tensors)
    bad = [f for f in fpf.files if f.format != "index" and not f.complete]
    summary = f"{directory}: {len(fpf.files)} weights files, {tensors} tensors, {size / 2**20:.1f} MiB fingerprinted"
    if output is not None:
        out.print(f"{summary} -> {output}", markup=False)
    else:
        click.echo(summary, err=True)  # stdout holds the file
    for f in bad:
        click.echo(f"ptaudit: warning: {f.path}: not fingerprinted whole: {'; '.join(f.notes[:3])}", err=True)
    raise SystemExit(1 if bad else 0)
