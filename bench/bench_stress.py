"""End-to-end stress: native vs the sandbox alone vs ``ptaudit run`` (all monitors).

Workloads (bench/stress_agent.py, the same script in every mode):

* read:      read 30,000 files of 1 KiB in the workspace (each a recorded proc.open);
* read_usr:  read 30,000 files under /usr (decoded by the trace sink, not recorded);
* write:     write 100,000 files of 100 bytes in the workspace;
* pip:       ``pip install`` of a dozen wheels (built here, ~150 modules each) from a PEP 503
             index through the proxy, as ``https://pypi.org/simple`` mapped to a local server;
* torch:     ``import torch`` from a read-only mount (a hard-linked tree of the host's CPU
             torch and what it imports, mounted at /opt/torch: the task's ``ro_mounts``).

Modes, one after the other per workload (``--repeat`` interleaves rounds):

* native:  ``/usr/bin/python3`` on the host (pip through a plain mitmdump, as below);
* sandbox: ``python -m sandbox run``: the same bundle, no monitors; pip goes through the
           sandbox's forwarder and relay to a plain mitmdump whose only addon maps the
           world's host names to the local servers (what ptaudit's proxy does in world mode);
* ptaudit: ``ptaudit run --policy default --world ...`` with every monitor, live
           detectors (a task with a benchmark, so leakage scanning is on) and reports.

Reported per workload: the workload's own time (measured inside the agent, start-up
excluded) and each command's wall time; ratios ptaudit/sandbox; events recorded, events/s
through the recorder over the run, events lost, the verdict. Goals (issue 19): ptaudit run
<= 1.3x the sandbox alone (workload time), 0 events lost, verdict pass. ``--profile``
re-runs ptaudit for each workload over the goal under py-spy (all its processes) and
prints where the time goes.

Everything runs inside a loopback-only network namespace. Needs root and runsc.

    python bench/bench_stress.py [--quick] [--only read,write] [--repeat N] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import _results  # noqa: E402

from ptaudit.app.demo.data import benchmark, jsonl  # noqa: E402
from tests.netns import enter_loopback_netns, leave_netns  # noqa: E402
from tests.simnet import SimNet, make_wheel  # noqa: E402

AGENT = Path(__file__).with_name("stress_agent.py")
PY = "/usr/bin/python3"  # the interpreter the sandbox sees (host /usr, read-only)
TORCH_AT = "/opt/torch"
MODES = ("native", "sandbox", "ptaudit")
SIZES = {"full": {"read": 30_000, "read_usr": 30_000, "write": 100_000},
         "quick": {"read": 5_000, "read_usr": 5_000, "write": 10_000}}
PACKAGES = [f"stresspkg{i:02d}" for i in range(1, 13)]
GOAL = 1.3

MAP_ADDON = '''
import json, os
HOSTS = json.loads(os.environ["STRESS_WORLD"])
def request(flow):
    target = HOSTS.get(flow.request.pretty_host)
    if target:
        flow.request.scheme, flow.request.host, flow.request.port = target
'''


@dataclass
class Result:
    work_s: float
    wall_s: float
    events: int = 0
    events_per_s: float = 0.0
    lost: int = 0
    lossy: bool = False
    verdict: str = ""
    findings: int = 0
    losses: list[str] = field(default_factory=list)  # producer: count (reason), from the log


@dataclass
class Env:
    tmp: Path
    quick: bool
    mitm_port: int = 0
    mitm_ca: Path | None = None
    world: Path | None = None
    torch_tree: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- inputs -----------------------------------------------------------------------------------
def wheels() -> dict[str, dict[str, bytes]]:
    """A dozen pure-Python wheels of ~150 modules (~3 KiB of code each)."""
    out: dict[str, dict[str, bytes]] = {}
    for k, name in enumerate(PACKAGES):
        files = {}
        for m in range(150):
            body = "".join(f"def f{m}_{j}(x):\n    '''helper {j} of module {m} in {name}'''\n    return x * {j} + {k}\n\n"
                           for j in range(30))
            files[f"{name}/mod{m:03d}.py"] = body.encode()
        files[f"{name}/__init__.py"] = b"VERSION = '1.0'\n"
        fname, data = make_wheel(name, "1.0", files)
        out[name] = {fname: data}
    return out


def _link_tree(src: Path, dst: Path) -> None:
    """Hard links (same file system) or copies of ``src`` at ``dst``."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=link, symlinks=True)
    else:
        link(str(src), str(dst))


def torch_tree(dest: Path) -> Path:
    """torch and everything it requires (the training demo's read-only mounts), each
    top-level module linked under ``dest``."""
    from ptaudit.app.demo.train import TORCH_IN_SANDBOX, torch_mounts

    dest.mkdir(parents=True)
    for where, src in sorted(torch_mounts().items()):
        top = where.removeprefix(TORCH_IN_SANDBOX + "/")
        if src.exists() and not (dest / top).exists():
            _link_tree(src, dest / top)
    return dest


def prepare(what: str, ws: Path, n: int, template: dict[str, Path], tmp: Path) -> None:
    ws.mkdir(parents=True)
    shutil.copy(AGENT, ws / "stress_agent.py")
    if what == "read":
        t = template.get("read")
        if t is None:
            t = template["read"] = tmp / "read-template"
            for i in range(n):
                if i % 1000 == 0:
                    (t / f"d{i // 1000:03d}").mkdir(parents=True)
                (t / f"d{i // 1000:03d}" / f"f{i:06d}.txt").write_bytes((f"{i:08d} " * 114)[:1023].encode() + b"\n")
        _link_tree(t, ws / "data")
    elif what == "read_usr":
        t = template.get("read_usr")
        if t is None:
            t = template["read_usr"] = tmp / "usr_files.txt"
            files: list[str] = []
            for base in ("/usr/lib", "/usr/share"):
                for dirpath, dirnames, filenames in os.walk(base):
                    dirnames.sort()
                    for f in sorted(filenames):
                        p = os.path.join(dirpath, f)
                        try:
                            st = os.stat(p, follow_symlinks=False)
                        except OSError:
                            continue
                        if os.path.isfile(p) and not os.path.islink(p) and st.st_size < (1 << 20) and st.st_mode & 0o004:
                            files.append(p)
                    if len(files) >= n:
                        break
                if len(files) >= n:
                    break
            t.write_text("\n".join(files[:n]) + "\n")
            for p in files[:n]:  # warm the page cache once for every mode
                with open(p, "rb") as fh:
                    fh.read()
        shutil.copy(t, ws / "usr_files.txt")


# -- one run per mode -------------------------------------------------------------------------
def agent_args(what: str, root: str, env: Env, n: int, native: bool) -> list[str]:
    if what == "write":
        return [str(n)]
    if what == "pip":
        return ["https://pypi.org/simple", *PACKAGES]
    if what == "torch":
        return [str(env.torch_tree) if native else TORCH_AT]
    return []


def _work(ws: Path) -> float:
    return float(json.loads((ws / ".stress.json").read_text())["work_s"])


def run_native(what: str, ws: Path, env: Env, n: int) -> Result:
    e = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # no local wheel dirs or configs
    if what == "pip":
        ca = str(env.mitm_ca)  # Debian's pip verifies with the requests bundle variables
        e.update(HTTPS_PROXY=f"http://127.0.0.1:{env.mitm_port}", PIP_CERT=ca, REQUESTS_CA_BUNDLE=ca,
                 SSL_CERT_FILE=ca, PIP_CONFIG_FILE=os.devnull)
    t = time.monotonic()
    subprocess.run([PY, str(ws / "stress_agent.py"), what, str(ws), *agent_args(what, str(ws), env, n, True)],
                   check=True, env=e, stdout=subprocess.DEVNULL)
    return Result(_work(ws), time.monotonic() - t)


def run_sandbox(what: str, ws: Path, env: Env, n: int) -> Result:
    cmd = [sys.executable, "-m", "sandbox", "run", "--workspace", str(ws), "--state-dir", str(env.tmp / "sb-state"),
           "--max-pids", "4096"]
    if what == "torch":
        cmd += ["--ro-mount", f"{TORCH_AT}={env.torch_tree}"]
    if what == "pip":
        cmd += ["--proxy-target", f"127.0.0.1:{env.mitm_port}", "--proxy-ca", str(env.mitm_ca)]
    cmd += ["--", PY, "/workspace/stress_agent.py", what, "/workspace", *agent_args(what, "/workspace", env, n, False)]
    t = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    wall = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit(f"sandbox run of {what} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return Result(_work(ws), wall)


def ptaudit_cmd(what: str, ws: Path, out: Path, env: Env, n: int) -> list[str]:
    task = env.tmp / f"task-{what}.toml"
    if not task.exists():
        (env.tmp / "bench.jsonl").write_bytes(jsonl(benchmark(60, seed=7)))
        task.write_text('name = "stress"\nbase_model = "org/base"\n'
                        + (f'[ro_mounts]\n"{TORCH_AT}" = "{env.torch_tree}"\n' if what == "torch" else "")
                        + '[[benchmarks]]\nname = "arith"\ntest_set = "bench.jsonl"\nfields = ["question"]\n'
                          'id_field = "id"\n')
    return [sys.executable, "-m", "ptaudit.app.cli.main", "run", "--task", str(task), "--policy", "default",
            "--workspace", str(ws), "--out", str(out), "--world", str(env.world), "--",
            PY, "/workspace/stress_agent.py", what, "/workspace", *agent_args(what, "/workspace", env, n, False)]


def run_ptaudit(what: str, ws: Path, env: Env, n: int, out: Path) -> Result:
    t = time.monotonic()
    p = subprocess.run(ptaudit_cmd(what, ws, out, env, n), cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True)
    wall = time.monotonic() - t
    if p.returncode not in (0, 1):
        raise SystemExit(f"ptaudit run of {what} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return _ptaudit_result(out, _work(ws), wall)


def _ptaudit_result(out: Path, work: float, wall: float) -> Result:
    m = json.loads((out / "manifest.json").read_text())
    rep = json.loads((out / "report.json").read_text())
    with open(out / "events.jsonl", "rb") as fh:
        first = json.loads(fh.readline())
        fh.seek(max(0, (out / "events.jsonl").stat().st_size - 65536))
        last = json.loads(fh.read().splitlines()[-1])
    count = m["log"]["count"]
    span = max((last["ts"] - first["ts"]) / 1e9, 1e-9)
    losses = []
    if m["lossy"]:
        with open(out / "events.jsonl", "rb") as fh:
            for line in fh:
                if b'"monitor.events_lost"' in line:
                    d = json.loads(line)["data"]
                    losses.append(f"{d.get('producer')}: {d.get('count')} ({d.get('reason')})")
    return Result(work, wall, count, count / span, m["events_lost"], m["lossy"], rep["verdict"], len(rep["findings"]),
                  losses)


# -- profiles ---------------------------------------------------------------------------------
def _spy(pid: int, raw: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking",
                             "-r", "100", "-f", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _summary(title: str, raw: Path, dt: float, cpu: dict[int, tuple[str, float]], top: int) -> list[str]:
    lines = [f"{title} ({dt:.1f} s)"]
    for name, used in cpu.values():
        lines.append(f"  CPU used: {used:5.2f} s ({used / dt:.0%} of one core) by {name}")
    if not raw.exists():
        return [*lines, "  (py-spy wrote no samples)"]
    procs: dict[str, Counter[str]] = defaultdict(Counter)
    threads: dict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        proc = next((f for f in reversed(frames) if f.startswith("process ")), frames[0])
        procs[proc][frames[-1]] += int(count)
        run = next((frames[i + 1] for i, f in enumerate(frames[:-1]) if f.startswith("Thread.run ")), "main thread")
        threads[proc][run] += int(count)
    lines.append("  py-spy, 100 Hz, samples of the thread holding the GIL (running Python):")
    for proc, c in sorted(procs.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(c.values())
        if total < 10:
            continue
        name = proc.split(":", 1)[1].strip('"')[:90] if ":" in proc else proc
        lines.append(f"  {name}: {total / 100:.1f} s holding the GIL")
        for th, k in threads[proc].most_common(6):
            lines.append(f"      {100 * k / total:5.1f}%  thread {th[:90]}")
        lines.append("    hottest functions (self):")
        for fn, k in c.most_common(top):
            lines.append(f"      {100 * k / total:5.1f}%  {fn[:110]}")
    return lines


def profile(what: str, ws: Path, env: Env, n: int, out: Path, top: int = 12) -> str:
    """Run ptaudit once more and measure its own processes (the run, mitmdump; not runsc):
    CPU time, and py-spy samples of the Python thread holding the GIL, from the moment the
    workload starts until it ends, then from there until ptaudit exits (final scan,
    detectors' finish, reports, seal)."""
    import signal

    import psutil

    p = subprocess.Popen(ptaudit_cmd(what, ws, out, env, n), cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (ws / ".stress.start").exists() and p.poll() is None:
        time.sleep(0.01)
    me = psutil.Process(p.pid)
    ours = [me] + [c for c in me.children(recursive=True) if "mitmdump" in " ".join(c.cmdline()[:3])]
    names = {q.pid: " ".join(q.cmdline()[:3])[-60:] for q in ours}

    def cpu_now() -> dict[int, float]:
        out: dict[int, float] = {}
        for q in ours:
            try:
                out[q.pid] = sum(q.cpu_times()[:2])
            except psutil.Error:
                pass
        return out

    lines: list[str] = []
    for phase, done in (("during the workload", lambda: (ws / ".stress.json").exists()),
                        ("after the workload (final scan, detectors' finish, reports, seal)", lambda: False)):
        raw = env.tmp / f"profile-{what}-{len(lines)}.txt"
        c0, t0 = cpu_now(), time.monotonic()
        spy = _spy(p.pid, raw)
        while not done() and p.poll() is None:
            time.sleep(0.01)
        dt, c1 = time.monotonic() - t0, cpu_now()
        spy.send_signal(signal.SIGINT)
        spy.communicate(60)
        cpu = {pid: (names[pid], c1[pid] - c0[pid]) for pid in c1 if pid in c0}
        lines += _summary(f"ptaudit's processes {phase}, {what}", raw, dt, cpu, top)
    p.wait()
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------
def start_world(env: Env) -> list[Any]:
    """SimNet with the wheels (world file for ptaudit) and a plain mitmdump mapping the same
    host names (for the native and sandbox modes)."""
    net = SimNet(packages=wheels()).start()
    env.world = env.tmp / "world.toml"
    env.world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
    addon = env.tmp / "map_addon.py"
    addon.write_text(MAP_ADDON)
    confdir = env.tmp / "mitm-conf"
    confdir.mkdir()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    env.mitm_port = s.getsockname()[1]
    s.close()
    targets = {h: ["http", "127.0.0.1", int(u.rsplit(":", 1)[1])] for h, u in net.world_hosts.items()}
    mitmdump = shutil.which("mitmdump") or str(Path(sys.executable).parent / "mitmdump")
    proc = subprocess.Popen([mitmdump, "-q", "-s", str(addon), "--listen-host", "127.0.0.1", "--listen-port",
                             str(env.mitm_port), "--set", f"confdir={confdir}", "--set", "connection_strategy=lazy"],
                            env={**os.environ, "STRESS_WORLD": json.dumps(targets)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env.mitm_ca = confdir / "mitmproxy-ca-cert.pem"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", env.mitm_port), timeout=1).close()
            if env.mitm_ca.exists():
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise SystemExit("plain mitmdump did not start")
    return [net, proc]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (make bench)")
    ap.add_argument("--only", default="read,read_usr,write,pip,torch")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", nargs="?", const="missed", choices=["missed", "all"],
                    help="py-spy profiles of ptaudit's processes where the goal is missed (or for all)")
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("runsc") is None:
        print("bench_stress: needs root and runsc; skipped")
        return 0
    sizes = SIZES["quick" if args.quick else "full"]
    todo = [w for w in args.only.split(",") if w]
    handle = enter_loopback_netns()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stress-"))
    env = Env(tmp, args.quick)
    stop: list[Any] = []
    results: dict[str, dict[str, list[Result]]] = {w: {m: [] for m in MODES} for w in todo}
    template: dict[str, Path] = {}
    try:
        if "pip" in todo:
            stop = start_world(env)
        else:
            net = SimNet().start()
            stop = [net]
            env.world = tmp / "world.toml"
            env.world.write_text("[hosts]\n" + "".join(f'"{h}" = "{u}"\n' for h, u in sorted(net.world_hosts.items())))
        if "torch" in todo:
            env.torch_tree = torch_tree(tmp / "torch-tree")
            subprocess.run([PY, "-c", f"import sys; sys.path.insert(0, {str(env.torch_tree)!r}); import torch"],
                           check=True)  # warm the page cache
        runsc = subprocess.run(["runsc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"bench_stress: {'quick' if args.quick else 'full'} sizes, {os.cpu_count()} cores, {runsc}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        k = 0
        for rnd in range(args.repeat):
            for what in todo:
                n = sizes.get(what, 0)
                for mode in MODES:
                    k += 1
                    ws = tmp / f"r{k}-{what}-{mode}" / "ws"
                    prepare(what, ws, n, template, tmp)
                    if mode == "native":
                        r = run_native(what, ws, env, n)
                    elif mode == "sandbox":
                        r = run_sandbox(what, ws, env, n)
                    else:
                        r = run_ptaudit(what, ws, env, n, ws.parent / "run")
                    results[what][mode].append(r)
                    extra = (f" events {r.events} ({r.events_per_s:,.0f}/s) lost {r.lost} verdict {r.verdict}"
                             if mode == "ptaudit" else "")
                    print(f"  round {rnd} {what:9s} {mode:8s} work {r.work_s:7.2f} s  wall {r.wall_s:7.2f} s{extra}",
                          flush=True)
                    for loss in r.losses:
                        print(f"      lost: {loss}", flush=True)
                    shutil.rmtree(ws.parent, ignore_errors=True)
        print_table(results, sizes)
        if args.profile:
            for what in todo:
                ratio = _med(results[what]["ptaudit"], "work_s") / _med(results[what]["sandbox"], "work_s")
                if ratio > GOAL or args.profile == "all":
                    k += 1
                    ws = tmp / f"p{k}-{what}" / "ws"
                    prepare(what, ws, sizes.get(what, 0), template, tmp)
                    print("\n" + profile(what, ws, env, sizes.get(what, 0), ws.parent / "run"), flush=True)
                    shutil.rmtree(ws.parent, ignore_errors=True)
    finally:
        for s in stop:
            if isinstance(s, subprocess.Popen):
                s.terminate()
                s.wait(10)
            else:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        leave_netns(handle)
    return 0


def _med(rs: list[Result], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in rs)


def print_table(results: dict[str, dict[str, list[Result]]], sizes: dict[str, int]) -> None:
    names = {"read": f"read {sizes['read']:,} workspace files", "read_usr": f"read {sizes['read_usr']:,} files in /usr",
             "write": f"write {sizes['write']:,} workspace files", "pip": f"pip install {len(PACKAGES)} wheels (proxy)",
             "torch": "import torch (read-only mount)"}
    print(f"\n{'workload':34s} {'native':>7s} {'sandbox':>8s} {'ptaudit':>8s} {'pt/sb':>6s} {'pt/sb wall':>11s} "
          f"{'events':>8s} {'events/s':>9s} {'lost':>5s} {'verdict':>8s}")
    for what, by in results.items():
        nat, sb, pt = (_med(by[m], "work_s") for m in MODES)
        sbw, ptw = _med(by["sandbox"], "wall_s"), _med(by["ptaudit"], "wall_s")
        last = by["ptaudit"][-1]
        lost = max(r.lost for r in by["ptaudit"])
        lossy = any(r.lossy for r in by["ptaudit"])
        verdicts = ",".join(sorted({r.verdict for r in by["ptaudit"]}))
        print(f"{names[what]:34s} {nat:6.2f}s {sb:7.2f}s {pt:7.2f}s {pt / sb:5.2f}x {ptw / sbw:10.2f}x "
              f"{last.events:8d} {last.events_per_s:9,.0f} {lost:5d}{'*' if lossy else ' '} {verdicts:>8s}")
        _results.record("stress", f"{names[what]}: workload time", pt, "s", sb, "sandbox alone", better="lower",
                        goal=1.3, note=f"{last.events:,} events, {lost} lost, verdict {verdicts}")
        _results.record("stress", f"{names[what]}: whole command", ptw, "s", sbw, "sandbox alone", better="lower")
    _results.flush()
    print(f"\nseconds: the workload's own time inside the agent (median); pt/sb: ptaudit run / sandbox alone "
          f"(goal <= {GOAL}x); wall: whole commands (ptaudit's start-up, final scan and reports included); "
          "events/s: records through the recorder over the run; * lossy")


if __name__ == "__main__":
    sys.exit(main())
