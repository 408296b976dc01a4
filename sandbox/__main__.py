"""`python -m sandbox`: run one sandbox by hand (events as JSON lines on stderr).

  python -m sandbox run --workspace DIR [--proxy-ca FILE] [--proxy-target HOST:PORT]
                        [--time-limit S] [--grace S] [--ro-mount DEST=SRC]...
                        [--honeytokens FILE] [--state-dir DIR] [--runsc PATH]
                        [--platform systrap|ptrace|kvm] -- CMD...
  python -m sandbox doctor
  python -m sandbox cleanup
  python -m sandbox install-runsc [--force]
"""
from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from . import Sandbox, SandboxConfig, SandboxError, cleanup_stale, doctor_checks


def _emit(kind: str, data: dict[str, Any]) -> None:
    line = {"ts": datetime.now(UTC).isoformat(), "source": "sandbox", "kind": kind,
            **data}
    sys.stderr.write(json.dumps(line, default=str) + "\n")
    sys.stderr.flush()


@click.group()
def cli() -> None:
    """Run and maintain ptaudit sandboxes."""


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--workspace", type=click.Path(path_type=Path), required=True)
@click.option("--proxy-ca", type=click.Path(path_type=Path))
@click.option("--proxy-target", help="mitmdump HOST:PORT")
@click.option("--time-limit", type=float)
@click.option("--grace", type=float, default=10.0, show_default=True)
@click.option("--max-pids", type=int, default=512, show_default=True)
@click.option("--ro-mount", multiple=True, help="DEST=SRC, read-only")
@click.option("--honeytokens", "honey_file", type=click.Path(path_type=Path),
              help="plant decoys; write their values to this file")
@click.option("--workspace-max-bytes", type=int)
@click.option("--state-dir", type=click.Path(path_type=Path),
              default=Path("/run/ptaudit/state"), show_default=True)
@click.option("--runsc", "runsc", type=click.Path(path_type=Path, dir_okay=False),
              help="runsc binary (default: $PTAUDIT_RUNSC, the pinned release, PATH)")
@click.option("--platform", type=click.Choice(["systrap", "ptrace", "kvm"]))
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(workspace: Path, proxy_ca: Path | None, proxy_target: str | None,
        time_limit: float | None, grace: float, max_pids: int, ro_mount: tuple[str, ...],
        honey_file: Path | None, workspace_max_bytes: int | None, state_dir: Path,
        runsc: Path | None, platform: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND in a sandbox; exit with its status."""
    try:
        mounts = {d: Path(s) for d, s in (m.split("=", 1) for m in ro_mount)}
        cfg = SandboxConfig(command=list(command), workspace=workspace, proxy_ca=proxy_ca,
                            proxy_target=proxy_target, time_limit_s=time_limit, grace_s=grace,
                            max_pids=max_pids, ro_mounts=mounts,
                            honeytokens=honey_file is not None, honeytokens_file=honey_file,
                            workspace_max_bytes=workspace_max_bytes, runsc=runsc,
                            platform=platform)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    sb = Sandbox(cfg, _emit, state_dir)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sb.stop("user"))
    try:
        result = sb.run()
    except SandboxError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(result.exit_code if result.exit_code is not None else 1)


@cli.command()
def doctor() -> None:
    """Check runsc, its flags, the statx workaround and privileges."""
    bad = 0
    for c in doctor_checks():
        click.echo(f"{'ok ' if c.ok else 'FAIL'} {c.name}: {c.detail}"
                   + (f"  -> {c.fix}" if c.fix and not c.ok else ""))
        bad += not c.ok
    sys.exit(1 if bad else 0)


@cli.command()
def cleanup() -> None:
    """Remove sandboxes whose owner process died."""
    for cid in cleanup_stale():
        click.echo(f"cleaned {cid}")


@cli.command("install-runsc")
@click.option("--force", is_flag=True, help="Reinstall even if the pinned runsc is intact.")
def install_runsc(force: bool) -> None:
    """Install the pinned runsc (gVisor 20240729) from this machine's Debian registry."""
    from .install import InstallError, install

    try:
        install(force=force)
    except InstallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(3)


if __name__ == "__main__":
    cli()
