"""Install the pinned gVisor release (runsc 20240729) from this machine's own Debian registry.

    python -m sandbox install-runsc      # `make setup` runs this; idempotent

Debian 12 ships runsc 2022-12 (ptrace only, no --nvproxy). Debian 13 ("trixie") ships
0.0~20240729.0 as one static binary with no package dependencies, so it runs here. We
fetch it without touching the system's apt configuration: a private one-line sources
list whose URI is read from the machine's own apt sources (never a hard-coded host),
suite trixie, private lists and cache dirs, `apt-get download`, then `dpkg -x` into a
directory ptaudit owns. The system runsc (if any) stays where it is, usable with
`--runsc /usr/bin/runsc`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PINNED_UPSTREAM = "0.0~20240729.0"
SUITE = "trixie"
INSTALL_ROOT = Path(os.environ.get("PTAUDIT_RUNSC_DIR", "/var/lib/ptaudit/runsc"))
PINNED_DIR = INSTALL_ROOT / PINNED_UPSTREAM.replace("~", "_")
PINNED_BINARY = PINNED_DIR / "usr" / "bin" / "runsc"
MANIFEST = PINNED_DIR / "ptaudit-install.json"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class InstallError(Exception):
    pass


def _deb822_entries(text: str) -> list[dict[str, str]]:
    entries, cur = [], {}
    for line in text.splitlines() + [""]:
        if not line.strip():
            if cur:
                entries.append(cur)
            cur = {}
            continue
        if line.startswith("#") or line[0] in " \t":
            continue  # comments and continuation lines (none of the fields we read)
        key, _, val = line.partition(":")
        cur[key.strip().lower()] = val.strip()
    return entries


def debian_sources(etc_apt: Path = Path("/etc/apt")) -> list[tuple[str, str, list[str], str | None]]:
    """(uri, suite, components, signed_by) of every `deb` entry in the machine's apt sources."""
    out: list[tuple[str, str, list[str], str | None]] = []
    files = [etc_apt / "sources.list"] + sorted((etc_apt / "sources.list.d").glob("*.list"))
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s*(?P<comps>.*)$", line)
            if m:
                opts = dict(o.split("=", 1) for o in (m["opts"] or "").split() if "=" in o)
                out.append((m["uri"], m["suite"], m["comps"].split(), opts.get("signed-by")))
    for f in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        for e in _deb822_entries(f.read_text(errors="replace")):
            if "deb" not in e.get("types", "").split() or e.get("enabled", "yes").lower() == "no":
                continue
            for uri in e.get("uris", "").split():
                for suite in e.get("suites", "").split():
                    out.append((uri, suite, e.get("components", "").split(), e.get("signed-by")))
    return out


def debian_mirror(etc_apt: Path = Path("/etc/apt")) -> tuple[str, str | None]:
    """The URI (and keyring) of the machine's main Debian archive: the entry of a plain
    release suite (not -security, -updates, -backports) with component main."""
    for uri, suite, comps, keyring in debian_sources(etc_apt):
        if "-" not in suite and "/" not in suite and "main" in comps:
            return uri.rstrip("/"), keyring
    raise InstallError("no Debian archive (a `deb URI SUITE main` entry) in /etc/apt/sources*: "
                       "cannot fetch runsc from this machine's registry")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def installed() -> dict[str, str] | None:
    """The manifest of the pinned install if its binary is intact, else None."""
    try:
        info: dict[str, str] = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    if not PINNED_BINARY.is_file() or sha256_file(PINNED_BINARY) != info.get("binary_sha256"):
        return None
    return info


def _apt(args: list[str], opts: list[str], cwd: Path) -> str:
    p = subprocess.run(["apt-get", *opts, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise InstallError(f"apt-get {args[0]} failed: {(p.stderr or p.stdout).strip()[-800:]}")
    return p.stdout


def install(force: bool = False, log: bool = True) -> dict[str, str]:
    """Fetch and unpack the pinned runsc if missing or damaged; return its manifest."""
    if not force and (info := installed()) is not None:
        if log:
            print(f"runsc {info['version']} already installed at {PINNED_BINARY}")
        return info
    if os.geteuid() != 0:
        raise InstallError(f"installing runsc into {INSTALL_ROOT} needs root")
    uri, keyring = debian_mirror()
    keyring = keyring or DEFAULT_KEYRING
    with tempfile.TemporaryDirectory(prefix="ptaudit-runsc-") as tmp:
        t = Path(tmp)
        for d in ("lists/partial", "cache/archives/partial"):
            (t / d).mkdir(parents=True)
        (t / "sources.list").write_text(f"deb [signed-by={keyring}] {uri} {SUITE} main\n")
        # Private lists and cache: the system's apt state and configuration stay untouched.
        opts = ["-q", "-o", f"Dir::Etc::SourceList={t / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={t / 'lists'}", "-o", f"Dir::Cache={t / 'cache'}",
                "-o", "APT::Sandbox::User=root"]
        _apt(["update"], opts, t)
        pol = subprocess.run(["apt-cache", *opts, "madison", "runsc"], capture_output=True, text=True, timeout=60)
        versions = [v.strip() for _, v, *_ in (ln.split("|") for ln in pol.stdout.splitlines() if ln.count("|") >= 2)
                    if v.strip().startswith(PINNED_UPSTREAM)]
        if not versions:
            raise InstallError(f"{uri} {SUITE} has no runsc {PINNED_UPSTREAM}*: apt-cache madison said "
                               f"{pol.stdout.strip() or pol.stderr.strip()}")
        version = versions[0]
        _apt(["download", f"runsc={version}"], opts, t)
        deb = next(t.glob("runsc_*.deb"))
        stage = INSTALL_ROOT / f".stage-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        x = subprocess.run(["dpkg", "-x", str(deb), str(stage)], capture_output=True, text=True, timeout=120)
        if x.returncode != 0:
            raise InstallError(f"dpkg -x failed: {x.stderr.strip()}")
        binary = stage / "usr" / "bin" / "runsc"
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
        if PINNED_UPSTREAM not in out.stdout:
            raise InstallError(f"unpacked runsc reports {out.stdout.strip()!r}, expected {PINNED_UPSTREAM}")
        info = {"version": out.stdout.splitlines()[0].removeprefix("runsc version ").strip(),
                "debian_version": version, "deb": deb.name, "deb_sha256": sha256_file(deb),
                "binary_sha256": sha256_file(binary), "source": f"{uri} {SUITE} main"}
        (stage / MANIFEST.name).write_text(json.dumps(info, indent=1) + "\n")
        old = PINNED_DIR.with_name(PINNED_DIR.name + f".old-{os.getpid()}")
        if PINNED_DIR.exists():
            PINNED_DIR.rename(old)
        stage.rename(PINNED_DIR)  # a reader sees the old tree or the new one, never half of it
        shutil.rmtree(old, ignore_errors=True)
    if log:
        print(f"runsc {info['version']} ({version}) installed at {PINNED_BINARY} from {info['source']}")
    return info
