"""The sandbox's warden: the agent never outlives ptaudit.

``Sandbox.run`` starts one warden per sandbox before anything else, in its own session
(a signal for ptaudit's terminal or process group does not reach it), holding the read
end of a pipe whose only write end is in ptaudit. However ptaudit ends -- normally,
SIGKILL, the OOM killer, a crash -- the kernel closes that end and the warden reads EOF.
If the sandbox's registry record is still there (ptaudit did not get to clean up), it
tears the sandbox down (``registry.teardown``: SIGKILL to ``runsc run`` and the relay,
``runsc kill --all``, ``runsc delete --force``, the per-run state) and removes the record.
After a normal run the record is gone first and the warden just exits.

It is the second line: ``runsc run`` itself is started with PDEATHSIG=SIGKILL, and runsc
kills an attached sandbox (with every agent process in it) when ``runsc run`` dies; the
warden also finishes the clean-up (container state, relay) and covers a ``runsc run``
that did not die with its parent.

    python -m sandbox.warden REGISTRY_DIR CONTAINER_ID     (prints "ready", then waits on stdin)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sandbox.warden REGISTRY_DIR CONTAINER_ID", file=sys.stderr)
        return 2
    registry_dir, cid = Path(argv[0]), argv[1]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # only EOF on stdin ends the watch
    from . import registry  # imported before "ready": a warden that cannot act must not be trusted

    print("ready", flush=True)
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    path = registry_dir / f"{cid}.json"
    try:
        rec = registry.Record.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return 0  # cleaned up by its owner (or never written): nothing to do
    registry.teardown(rec)
    registry.remove(cid, registry_dir)
    return 0


def start(registry_dir: Path, container_id: str, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """Start the warden of one sandbox; returns once it watches (or raises RuntimeError)."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.warden", str(registry_dir), container_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=root)
    assert proc.stdout is not None
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout) and proc.stdout.readline().strip() == b"ready"
    if not ready:
        proc.kill()
        proc.wait()
        raise RuntimeError("the sandbox warden did not start")
    proc.stdout.close()
    return proc


def release(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """After a normal clean-up: close the pipe; the warden finds no record and exits."""
    if proc is None:
        return
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
