"""One execution of one run, inside a job (Slurm, a local worker or a Kubernetes pod).

    python -m ptaudit.app.fleet.job --plan PLAN.toml --run AGENT/TASK/seed-N [--out DIR] --executor E

Takes the next attempt number (exclusively), gives the agent a fresh workspace, runs
``ptaudit run`` into ``runs/KEY/attempt-K`` and keeps what the run printed at its end (the
log head, the verdict) in ``records/KEY/attempt-K.json``: outside the run directory, so the
run directory can later be checked against it (``ptaudit verify --head``). Then the plan's
grade command, if any. An attempt that did not complete is labelled partial beside its
run directory. A SIGTERM to the job (pod deletion, preemption notice) becomes a SIGINT to
``ptaudit run``, which stops the agent and seals the log.

Exit status (standalone): 0 when the attempt completed (whatever its verdict), 1 when it
did not (the scheduler may retry), 2 for a bad plan or run key.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

import click

from ptaudit.core.errors import PtauditError

from . import ptcli
from .plan import load_plan
from .store import Attempt, FleetStore, now

HEAD = re.compile(r"^log head: ([0-9a-f]{64})\b", re.M)
VERDICT = re.compile(r"^verdict: (\w+) \(\d+ findings, ended: (.+)\)\s*$", re.M)
STOP_GRACE_S = 120.0
PR_SET_PDEATHSIG = 1
KEEP_LINES = 2000  # the head and verdict are the last lines ptaudit run prints


def job_id_from_env(executor: str) -> str | None:
    env = os.environ
    if executor == "slurm":
        if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        return env.get("SLURM_JOB_ID")
    if executor == "k8s":
        return env.get("PTAUDIT_POD_NAME") or env.get("HOSTNAME")
    return env.get("PTAUDIT_FLEET_JOB_ID")


def run_attempt(plan_path: str, key: str, out: str | None, executor: str, job_id: str | None = None,
                forward_sigterm: bool = False) -> Attempt | None:
    plan = load_plan(plan_path)
    store = FleetStore(Path(out) if out else plan.out)
    meta = store.ensure(plan)
    run = meta.run(key)
    n = store.allocate(key, meta.max_attempts)
    if n is None:
        print(f"ptaudit fleet: {key}: all {meta.max_attempts} attempts used; not running again", flush=True)
        return None
    rundir = store.rundir(key, n)
    rundir.parent.mkdir(parents=True, exist_ok=True)
    a = Attempt(key=key, attempt=n, state="running", executor=executor,
                job_id=job_id or job_id_from_env(executor), rundir=store.rel(rundir),
                workspace=store.rel(store.workspace(key, n)),
                devices=os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("NVIDIA_VISIBLE_DEVICES"))
    store.write_attempt(a)
    try:
        ws = store.fresh_workspace(key, n, run.workspace)
        args = ["run", "--task", run.task_file, "--policy", run.policy, "--workspace", str(ws), "--out", str(rundir)]
        if plan.world:
            args += ["--world", str(plan.world)]
        if plan.upstream_ca:
            args += ["--upstream-ca", str(plan.upstream_ca)]
        if plan.time_limit:
            args += ["--time-limit", f"{plan.time_limit:g}s"]
        print(f"ptaudit fleet: {key} attempt {n} ({a.job_id or 'no job id'}) -> {rundir}", flush=True)
        code, stdout, stderr = _run(ptcli.argv(*args, "--", *run.render_command(n)), forward_sigterm)
        a.exit_code = code
        if m := HEAD.search(stdout):
            a.head = m.group(1)
        if m := VERDICT.search(stdout):
            a.verdict, a.end_reason = m.group(1), m.group(2).strip()
        if code not in (0, 1) or not a.head:
            a.error = _why(code, stderr)
        if plan.grade and code in (0, 1):
            values = {"rundir": str(rundir), "workspace": str(ws)}
            g = subprocess.run([arg.format(**values) for arg in plan.grade.command], check=False)
            a.grade_exit = g.returncode
        a.state, a.ended = "ended", now()
    except BaseException as exc:  # the job is being stopped or broke: record it, then let it go
        a.state, a.ended, a.error = "error", now(), f"{type(exc).__name__}: {exc}"[:500]
        store.write_attempt(a)
        store.label_partial(a, a.error)
        raise
    store.write_attempt(a)
    if not a.complete:
        store.label_partial(a, partial_reason(a))
    return a


def _why(code: int, stderr: str) -> str:
    """ptaudit's own last error line (not the agent's output), else how it ended."""
    mine = [ln for ln in stderr.splitlines() if ln.startswith("ptaudit: ")]
    if mine:
        return mine[-1][:500]
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def partial_reason(a: Attempt) -> str:
    if a.end_reason == "interrupted":
        return "interrupted (the job was stopped); the log is sealed but the run is incomplete"
    if a.exit_code not in (0, 1):
        return f"ptaudit run exited with {a.exit_code}" + (f" ({a.error})" if a.error else "")
    return "ptaudit run printed no log head"


def _stop_with_parent() -> None:
    """In the child before exec: if the job process dies (SIGKILL, OOM), ptaudit run gets a
    SIGINT and stops the agent and seals its log, rather than running on unwatched."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)


def _run(argv: list[str], forward_sigterm: bool) -> tuple[int, str, str]:
    """Run ``ptaudit run``, passing its output through to the job log and keeping it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                            preexec_fn=_stop_with_parent)  # only a prctl, before any thread starts
    kept: dict[str, deque[str]] = {"out": deque(maxlen=KEEP_LINES), "err": deque(maxlen=KEEP_LINES)}

    def pump(src: IO[str], dst: IO[str], name: str) -> None:
        for line in src:
            dst.write(line)
            dst.flush()
            kept[name].append(line[:4000])

    threads = [threading.Thread(target=pump, args=(proc.stdout, sys.stdout, "out"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, sys.stderr, "err"), daemon=True)]
    for t in threads:
        t.start()
    old = None
    if forward_sigterm:
        old = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGINT))
    try:
        code = proc.wait()
    except BaseException:
        # Stopped from outside (submitit's timeout signal, Ctrl-C): let ptaudit seal the log.
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        for t in threads:
            t.join(5)
    return code, "".join(kept["out"]), "".join(kept["err"])


def slurm_entry(plan_path: str, key: str, out: str) -> dict[str, Any] | None:
    """What submitit runs in a Slurm job; raising marks the job FAILED in Slurm's accounting."""
    a = run_attempt(plan_path, key, out, "slurm")
    if a is not None and not a.complete:
        raise RuntimeError(f"{key} attempt {a.attempt} did not complete: {partial_reason(a)}")
    return a.model_dump() if a else None


@click.command()
@click.option("--plan", "plan_path", required=True)
@click.option("--run", "key", required=True)
@click.option("--out")
@click.option("--executor", default="local", type=click.Choice(["local", "slurm", "k8s"]))
@click.option("--job-id")
def main(plan_path: str, key: str, out: str | None, executor: str, job_id: str | None) -> None:
    try:
        a = run_attempt(plan_path, key, out, executor, job_id, forward_sigterm=True)
    except PtauditError as exc:
        print(f"ptaudit fleet job: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(0 if a is None or a.complete else 1)


if __name__ == "__main__":
    main()
