"""Domain errors raised at the edges; the CLI maps each to a documented exit code."""


class PtauditError(Exception):
    """Base for errors shown to users as one short message (no traceback)."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(PtauditError):
    """A user input (file, option, run directory) is wrong: exit 2."""

    exit_code = 2


class InfraError(PtauditError):
    """Something the machine lacks or that broke underneath us: exit 3."""

    exit_code = 3


class LogIntegrityError(PtauditError):
    """The run log or its blobs fail verification: exit 1."""

    exit_code = 1
