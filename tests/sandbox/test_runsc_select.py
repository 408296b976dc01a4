"""Which runsc and which platform a sandbox uses, and that both are recorded.

The pinned release (runsc 20240729, installed by `make setup`) is the default; Debian 12's
runsc 2022-12 at /usr/bin/runsc stays usable with `runsc=`. Cases that need a particular
release name it explicitly."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import sandbox.runsc as rs
from sandbox import SandboxError
from sandbox.install import PINNED_BINARY, PINNED_UPSTREAM, debian_mirror, debian_sources, sha256_file
from sandbox.platforms import choose_platform

from .conftest import needs_runsc

OLD = Path("/usr/bin/runsc")
needs_pinned = pytest.mark.skipif(not PINNED_BINARY.is_file(), reason="make setup installs the pinned runsc")
needs_old = pytest.mark.skipif(not OLD.is_file(), reason="Debian 12's runsc (make setup installs it)")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_selection_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    a = _script(tmp_path / "a" / "runsc", "exit 0\n")
    b = _script(tmp_path / "b-runsc", "exit 0\n")
    onpath = tmp_path / "bin"
    onpath.mkdir()
    _script(onpath / "runsc", "exit 0\n")
    monkeypatch.setenv("PATH", str(onpath))
    monkeypatch.delenv(rs.ENV_VAR, raising=False)
    monkeypatch.setattr(rs, "PINNED_BINARY", tmp_path / "none")
    assert rs.select() == (str(onpath / "runsc"), "path")
    pinned = _script(tmp_path / "pinned-runsc", "exit 0\n")
    monkeypatch.setattr(rs, "PINNED_BINARY", pinned)
    assert rs.select() == (str(pinned), "pinned")
    monkeypatch.setenv(rs.ENV_VAR, str(b))
    assert rs.select() == (str(b), "env")
    assert rs.select(a) == (str(a), "flag")  # the flag beats the environment


def test_bad_explicit_runsc_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SandboxError) as err:
        rs.select(tmp_path / "missing")
    assert err.value.exit_code == 2 and "--runsc" in err.value.message
    monkeypatch.setenv(rs.ENV_VAR, str(tmp_path / "gone"))
    with pytest.raises(SandboxError) as err:
        rs.select()
    assert err.value.exit_code == 2 and rs.ENV_VAR in err.value.message


def test_apt_sources_parsing(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# comment\ndeb-src http://src.example/debian bookworm main\n"
                                           "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ "
                                           "bookworm main contrib\n")
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://two.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    found = debian_sources(tmp_path)
    assert ("http://one.example/debian/", "bookworm", ["main", "contrib"], "/k.gpg") in found
    assert ("http://two.example/debian", "bookworm-updates", ["main"],
            "/usr/share/keyrings/debian-archive-keyring.gpg") in found
    assert debian_mirror(tmp_path) == ("http://one.example/debian", "/k.gpg")
    (tmp_path / "sources.list").write_text("")
    assert debian_mirror(tmp_path)[0] == "http://two.example/debian"  # not the -security entry


@needs_pinned
def test_pinned_install_is_intact_and_recorded() -> None:
    from sandbox.install import installed

    info = installed()
    assert info is not None and info["version"] == PINNED_UPSTREAM
    assert info["binary_sha256"] == sha256_file(PINNED_BINARY) and info["source"].endswith(" trixie main")
    assert rs.version(str(PINNED_BINARY)) == PINNED_UPSTREAM
    assert rs.platforms(str(PINNED_BINARY)) == (["systrap", "ptrace", "kvm"], "systrap")
    assert rs.supports_flag("nvproxy", str(PINNED_BINARY))
    drivers = rs.nvproxy_drivers(str(PINNED_BINARY))
    assert drivers is not None and "550.90.07" in drivers


@needs_old
def test_old_release_probes() -> None:
    assert rs.platforms(str(OLD))[1] == "ptrace" and "systrap" not in rs.platforms(str(OLD))[0]
    assert not rs.supports_flag("nvproxy", str(OLD)) and rs.nvproxy_drivers(str(OLD)) is None
    assert rs.supports_flag("host-uds", str(OLD))


@needs_old
def test_platform_without_systrap_is_ptrace_with_reason() -> None:
    c = choose_platform(str(OLD))
    assert c.platform == "ptrace" and "has no systrap" in c.reason
    with pytest.raises(SandboxError) as err:
        choose_platform(str(OLD), "systrap")
    assert err.value.exit_code == 2 and "offers ptrace" in err.value.message


@pytest.mark.runsc
@needs_runsc
@needs_pinned
def test_systrap_failure_falls_back_to_ptrace(sandbox_run, tmp_path: Path) -> None:
    # A real runsc whose systrap platform cannot start (as in a nested sandbox): the
    # wrapper fails exactly the runs that ask for systrap.
    wrapper = _script(tmp_path / "runsc", f"# {tmp_path}\ncase \"$*\" in *--platform=systrap*) "
                      "echo 'systrap: seccomp filter refused' >&2; exit 1;; esac\n"
                      f"exec {PINNED_BINARY} \"$@\"\n")
    run = sandbox_run(["true"], runsc=wrapper)
    assert run.result.exit_code == 0, run.stderr
    plat = run.event("sandbox.platform")
    assert plat["platform"] == "ptrace" and "seccomp filter refused" in plat["reason"]
    assert "--platform=ptrace" in run.event("sandbox.start")["argv"]
    assert run.event("sandbox.runsc")["source"] == "flag"


@pytest.mark.runsc
@needs_runsc
@needs_pinned
def test_default_is_pinned_systrap_and_recorded(sandbox_run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rs.ENV_VAR, raising=False)
    run = sandbox_run(["bash", "-c", "stat -c %U /workspace; ls -l / >/dev/null && echo LS_OK"])
    assert run.result.exit_code == 0, run.stderr
    ch = run.event("sandbox.runsc")
    assert ch | {"container_id": None} == {"container_id": None, "path": str(PINNED_BINARY), "source": "pinned", "version": PINNED_UPSTREAM,
                  "sha256": sha256_file(PINNED_BINARY)}
    assert run.event("sandbox.platform")["platform"] == "systrap"
    assert "--platform=systrap" in run.event("sandbox.start")["argv"]
    assert not run.event("sandbox.statx_probe")["needs_shim"] and "LS_OK" in run.stdout


@pytest.mark.runsc
@needs_runsc
@needs_old
def test_old_release_still_works(sandbox_run) -> None:
    run = sandbox_run(["bash", "-c", "touch /workspace/x; ls -l /workspace; id -u"], runsc=OLD)
    assert run.result.exit_code == 0, run.stderr
    assert " x\n" in run.stdout and run.stdout.rstrip().endswith("1000")
    assert run.event("sandbox.runsc")["version"].startswith("0.0~2022")
    assert run.event("sandbox.platform")["platform"] == "ptrace"
    assert run.event("sandbox.bundle")["statx_shim"] == run.event("sandbox.statx_probe")["needs_shim"]


@pytest.mark.runsc
@needs_runsc
@needs_pinned
def test_platform_override(sandbox_run) -> None:
    run = sandbox_run(["true"], platform="ptrace")
    assert run.result.exit_code == 0
    assert run.event("sandbox.platform") | {"offered": None, "container_id": None} == {
        "container_id": None, "platform": "ptrace", "requested": "ptrace", "reason": "requested", "offered": None, "cached": False}
    assert os.path.basename(run.event("sandbox.start")["argv"][0]) == "runsc"
