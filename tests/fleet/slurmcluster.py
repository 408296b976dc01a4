"""A real one-node Slurm cluster (Debian 12's slurmctld, slurmd and munge) confined to a
temporary directory and 127.0.0.1, with fake GPUs declared through GRES.

    with SlurmCluster(tmp, gpus=2) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.env)

Everything it starts (munged, slurmctld, slurmd) is a child of this process, listens only
on 127.0.0.1 (or on a Unix socket under the temp dir), and is stopped by PID on exit; its
configuration, state, spool and logs stay under the temp dir. The fake GPUs are character
devices made with ``mknod`` (1:3, like /dev/null) that GRES hands out as ``gpu:fake``;
jobs asking for ``--gres=gpu:1`` get ``CUDA_VISIBLE_DEVICES`` and queue when none is free.

Run as a script to keep one up for manual work (Ctrl-C tears it down):
    python -m tests.fleet.slurmcluster DIR
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
PACKAGES = "slurmctld slurmd slurm-client munge"


def missing() -> list[str]:
    """Executables the cluster needs that this machine lacks."""
    return [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]


def _exe(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SlurmCluster:
    NODE = "ptaudit-node"

    def __init__(self, root: Path, gpus: int = 2, cpus: int | None = None, memory_mb: int = 8192):
        self.root = Path(root)
        self.gpus = gpus
        self.cpus = cpus or (os.cpu_count() or 1)
        self.memory_mb = memory_mb
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conf = self.root / "etc" / "slurm.conf"
        self.env: dict[str, str] = {}
        self.start_s: float | None = None

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        t0 = time.monotonic()
        absent = missing()
        if absent:
            raise RuntimeError(f"Slurm/munge missing ({', '.join(absent)}): apt-get install -y {PACKAGES}")
        r = self.root
        for d in ("etc", "munge", "state", "spool", "log", "dev", "run"):
            (r / d).mkdir(parents=True, exist_ok=True)
        os.chmod(r / "munge", 0o700)
        key = r / "munge" / "munge.key"
        subprocess.run([_exe("mungekey"), "-c", "-k", str(key)], check=True, capture_output=True)
        sock = r / "munge" / "munge.socket"
        self._spawn([_exe("munged"), "-F", "-f", f"--socket={sock}", f"--key-file={key}",
                     f"--pid-file={r / 'munge' / 'munged.pid'}", f"--seed-file={r / 'munge' / 'munged.seed'}",
                     f"--log-file={r / 'log' / 'munged.log'}"], "munged")
        _wait(lambda: sock.exists(), 10, "munged socket")
        for i in range(self.gpus):
            dev = r / "dev" / f"fakegpu{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))  # S_IFCHR, like /dev/null
        self._write_conf(sock)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._spawn([_exe("slurmctld"), "-D", "-c", "-f", str(self.conf)], "slurmctld")
        self._spawn([_exe("slurmd"), "-D", "-f", str(self.conf), "-N", self.NODE], "slurmd")
        _wait(self._idle, timeout, "the node to become idle", self._logs)
        self.start_s = time.monotonic() - t0

    def stop(self) -> None:
        """Cancel what is left, then SIGTERM each daemon we started (by PID), SIGKILL stragglers."""
        if self.env and all(p.poll() is None for p in self.procs):
            try:
                subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env=self.env,
                               capture_output=True, timeout=10, check=False)
            except subprocess.TimeoutExpired:
                pass  # the controller is not answering: the daemons go down below anyway
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in reversed(self.procs):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()

    # -- helpers ---------------------------------------------------------------------
    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 - owned by the child
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                           env={**os.environ, "SLURM_CONF": str(self.conf)}))
        log.close()

    def _idle(self) -> bool:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{Path(str(p.args[0])).name} exited with {p.returncode}:\n{self._logs()}")
        q = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, capture_output=True, text=True,
                           check=False)
        return q.returncode == 0 and q.stdout.strip() == "idle"

    def _logs(self) -> str:
        out = []
        for f in sorted((self.root / "log").glob("*")):
            out.append(f"== {f.name}\n" + f.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def _write_conf(self, munge_socket: Path) -> None:
        r = self.root
        host = socket.gethostname()
        gres = f" Gres=gpu:fake:{self.gpus}" if self.gpus else ""
        self.conf.write_text("\n".join([
            "ClusterName=ptaudit-ci",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "ReturnToService=2",
            "KillWait=5",
            "MinJobAge=3600",
            "SlurmdTimeout=60",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "GresTypes=gpu" if self.gpus else "",
            f"NodeName={self.NODE} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={self.cpus} "
            f"RealMemory={self.memory_mb}{gres} State=UNKNOWN",
            "PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        lines = ["AutoDetect=off"] + [f"NodeName={self.NODE} Name=gpu Type=fake File={r / 'dev' / f'fakegpu{i}'}"
                                      for i in range(self.gpus)]
        (self.conf.parent / "gres.conf").write_text("\n".join(lines) + "\n")


def addrconfig_address(address: str = "192.0.2.1/32") -> None:
    """Slurm resolves names with getaddrinfo(AF_INET, AI_ADDRCONFIG), which finds nothing in a
    network namespace whose only IPv4 address is 127.0.0.1 (glibc does not count loopback).
    Adding a TEST-NET-1 address (RFC 5737) to ``lo`` of a namespace the test created makes
    those lookups work; nothing is ever sent to it. Only for such namespaces."""
    have = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    if any(" inet " in line and " 127." not in line for line in have.splitlines()):
        return
    subprocess.run(["ip", "addr", "add", address, "dev", "lo"], check=True)


def _wait(cond, timeout: float, what: str, logs=None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}" + (f":\n{logs()}" if logs else ""))


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "slurm-ci")
    with SlurmCluster(root) as c:
        print(f"cluster up in {c.start_s:.1f} s: export SLURM_CONF={c.conf}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
