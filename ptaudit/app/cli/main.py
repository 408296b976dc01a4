"""Entry point. Exit codes everywhere: 0 ok/clean, 1 violations or failed verification,
2 usage or input error, 3 infrastructure failure. User errors print one line, no traceback."""

from __future__ import annotations

import sys
from typing import Any

import click

from ptaudit import __version__
from ptaudit.core.errors import PtauditError

from .output import err


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PtauditError as exc:
            for line in str(exc).splitlines():
                err.print(f"ptaudit: error: {line}", markup=False)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ptaudit")
def cli() -> None:
    """Audited runs of AI agents that post-train LLMs: sandbox, record, detect, report."""


def _register() -> None:
    from . import demo, doctor, grade, policy, provenance, replay, report, run, scan, verify

    for mod in (run, grade, report, replay, verify, scan, provenance, policy, doctor, demo):
        cli.add_command(mod.command)
    from . import fleet

    cli.add_command(fleet.command)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ptaudit", standalone_mode=True)
    except KeyboardInterrupt:
        err.print("ptaudit: interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
