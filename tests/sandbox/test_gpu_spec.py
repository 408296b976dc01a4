"""The GPU path without a GPU: spec generation against a fake host tree (real character
device nodes made with mknod, real library files and soname links, `ldconfig -p` text),
and each refusal. Running an agent on a GPU needs NVIDIA hardware: not on this machine."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

import sandbox.runsc as rs
from sandbox import SandboxConfig, SandboxError
from sandbox.bundle import BundleInputs, build_bundle
from sandbox.gpu import driver_version, parse_gpus, parse_ldconfig, plan
from sandbox.install import PINNED_BINARY

OLD = Path("/usr/bin/runsc")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
DRIVER = "550.90.07"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not PINNED_BINARY.is_file(),
                                reason="mknod needs root; the pinned runsc comes with make setup")


def _ldconfig(root: Path) -> str:
    lines = ["1234 libs found in cache `/etc/ld.so.cache'"]
    for so in ("libcuda.so.1", "libnvidia-ml.so.1", "libnvidia-ptxjitcompiler.so.1", "libcuda.so"):
        lines.append(f"\t{so} (libc6,x86-64) => {LIBDIR}/{so}")
    lines.append("\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1")  # 32-bit: ignored
    lines.append(f"\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => {LIBDIR}/libc.so.6")  # not a driver lib
    lines.append("\tlibnvidia-cfg.so.1 (libc6,x86-64) => /opt/nvidia/lib/libnvidia-cfg.so.1")  # outside /usr
    return "\n".join(lines) + "\n"


def fake_host(root: Path, gpus: int = 2, driver: str = DRIVER, nodes: tuple[str, ...] | None = None) -> str:
    """A host tree with NVIDIA device nodes, driver libraries, nvidia-smi and /proc version."""
    dev = root / "dev"
    dev.mkdir(parents=True)
    names = nodes if nodes is not None else ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                                              *(f"nvidia{i}" for i in range(gpus)))
    minors = {"nvidiactl": (195, 255), "nvidia-uvm": (508, 0), "nvidia-uvm-tools": (508, 1)}
    for n in names:
        major, minor = minors.get(n, (195, int(n.removeprefix("nvidia")) if n[6:].isdigit() else 0))
        os.mknod(dev / n, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    (dev / "nvidia-caps").mkdir()  # a directory, not a node: ignored
    lib = root / LIBDIR.lstrip("/")
    lib.mkdir(parents=True)
    for base in ("libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so"):
        (lib / f"{base}.{driver}").write_bytes(b"\x7fELF fake " + base.encode())
        (lib / f"{base}.1").symlink_to(f"{base}.{driver}")
    (lib / "libcuda.so").symlink_to("libcuda.so.1")
    (lib / "libc.so.6").write_bytes(b"\x7fELF libc")
    opt = root / "opt/nvidia/lib"
    opt.mkdir(parents=True)
    (opt / f"libnvidia-cfg.so.{driver}").write_bytes(b"\x7fELF cfg")
    (opt / "libnvidia-cfg.so.1").symlink_to(f"libnvidia-cfg.so.{driver}")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/nvidia-smi").write_bytes(b"\x7fELF smi")
    (root / "proc/driver/nvidia").mkdir(parents=True)
    (root / "proc/driver/nvidia/version").write_text(
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {driver}  Fri Jun  7 12:34:56 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
    return _ldconfig(root)


def test_parse_gpus_and_ldconfig() -> None:
    assert parse_gpus("all") is None and parse_gpus(None) is None and parse_gpus("1,0") == [0, 1]
    for bad in ("0,x", "-1", "0,0", ""):
        with pytest.raises(ValueError):
            parse_gpus(bad)
    assert parse_ldconfig("\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/libcuda.so.1\n"
                          "\tlibcuda.so.1 (libc6) => /usr/lib32/libcuda.so.1\n") == [("libcuda.so.1",
                                                                                     "/usr/lib/libcuda.so.1")]


def test_driver_version_from_proc(tmp_path: Path) -> None:
    fake_host(tmp_path)
    assert driver_version(tmp_path) == (DRIVER, "/proc/driver/nvidia/version")
    assert driver_version(tmp_path / "nothing") is None

    class Nvml:
        def nvmlInit(self) -> None: ...
        def nvmlShutdown(self) -> None: ...
        def nvmlSystemGetDriverVersion(self) -> str:
            return "535.161.07"
    assert driver_version(tmp_path, Nvml()) == ("535.161.07", "nvml")


def test_spec_for_two_gpus(tmp_path: Path) -> None:
    host = tmp_path / "host"
    ld = fake_host(host, gpus=4)
    p = plan([1, 3], str(PINNED_BINARY), root=host, ldconfig_text=ld)
    assert p.driver_version == DRIVER and p.supported and p.flags() == ["--nvproxy"]
    ws = tmp_path / "ws"
    ws.mkdir()
    cfg = SandboxConfig(command=["nvidia-smi"], workspace=ws, gpu=True, gpus=[1, 3],
                        env={"LD_LIBRARY_PATH": "/workspace/lib"})
    build_bundle(cfg, tmp_path / "bundle", "ptaudit-gpu-test", BundleInputs(gpu=p))
    spec = json.loads((tmp_path / "bundle" / "config.json").read_text())
    devs = {d["path"]: d for d in spec["linux"]["devices"]}
    assert set(devs) == {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia1", "/dev/nvidia3"}
    assert (devs["/dev/nvidia3"]["major"], devs["/dev/nvidia3"]["minor"], devs["/dev/nvidia3"]["type"]) == (195, 3, "c")
    assert (devs["/dev/nvidiactl"]["major"], devs["/dev/nvidiactl"]["minor"]) == (195, 255)
    mounts = {m["destination"]: m for m in spec["mounts"]}
    real = f"{LIBDIR}/libcuda.so.{DRIVER}"
    for dest in (real, f"{LIBDIR}/libnvidia-ml.so.{DRIVER}", f"{LIBDIR}/libnvidia-ptxjitcompiler.so.{DRIVER}",
                 f"/opt/nvidia/lib/libnvidia-cfg.so.{DRIVER}", "/usr/bin/nvidia-smi"):
        m = mounts[dest]
        assert m["type"] == "bind" and "ro" in m["options"] and m["source"] == str(host / dest.lstrip("/"))
    assert not any("libc.so" in d or "i386" in d for d in mounts)
    env = dict(e.split("=", 1) for e in spec["process"]["env"])
    assert env["NVIDIA_VISIBLE_DEVICES"] == "1,3" and env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert env["LD_LIBRARY_PATH"] == f"/workspace/lib:{LIBDIR}:/opt/nvidia/lib"
    rootfs = tmp_path / "bundle" / "rootfs"
    # outside the /usr bind mount the soname link is made in the rootfs, as the toolkit does
    assert os.readlink(rootfs / "opt/nvidia/lib/libnvidia-cfg.so.1") == f"libnvidia-cfg.so.{DRIVER}"
    assert (rootfs / f"opt/nvidia/lib/libnvidia-cfg.so.{DRIVER}").is_file()  # a file mount point
    assert not (rootfs / f"{LIBDIR.lstrip('/')}/libcuda.so.1").is_symlink()  # the host /usr has it


def test_all_gpus(tmp_path: Path) -> None:
    p = plan(None, str(PINNED_BINARY), root=tmp_path, ldconfig_text=fake_host(tmp_path, gpus=2))
    assert [d["path"] for d in p.devices if re.fullmatch(r"/dev/nvidia\d+", d["path"])] == [
        "/dev/nvidia0", "/dev/nvidia1"]
    assert p.env["NVIDIA_VISIBLE_DEVICES"] == "all" and p.env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_refuses_unsupported_driver_with_remedy(tmp_path: Path) -> None:
    ld = fake_host(tmp_path, driver="580.159.04")
    with pytest.raises(SandboxError) as err:
        plan(None, str(PINNED_BINARY), root=tmp_path, ldconfig_text=ld)
    msg = err.value.message
    assert err.value.exit_code == 3 and "580.159.04 is not supported" in msg
    assert "550.90.07" in msg and "--runsc PATH" in msg and "--nvproxy-driver-version 550.90.07" in msg
    # the documented, at-your-own-risk override
    p = plan(None, str(PINNED_BINARY), override="550.90.07", root=tmp_path, ldconfig_text=ld)
    assert not p.supported and p.flags() == ["--nvproxy", "--nvproxy-driver-version=550.90.07"]


@pytest.mark.parametrize("nodes,missing", [(("nvidia-uvm", "nvidia0"), "/dev/nvidiactl"),
                                           (("nvidiactl", "nvidia0"), "/dev/nvidia-uvm"),
                                           (("nvidiactl", "nvidia-uvm", "nvidia0"), "/dev/nvidia1"),
                                           (("nvidiactl", "nvidia-uvm"), "/dev/nvidia1")])
def test_refuses_missing_device_nodes(tmp_path: Path, nodes: tuple[str, ...], missing: str) -> None:
    ld = fake_host(tmp_path, nodes=nodes)
    with pytest.raises(SandboxError) as err:
        plan([1], str(PINNED_BINARY), root=tmp_path, ldconfig_text=ld)
    assert err.value.exit_code == 3 and missing in err.value.message and "nvidia-modprobe" in err.value.message


def test_refuses_without_driver_or_libcuda(tmp_path: Path) -> None:
    ld = fake_host(tmp_path)
    (tmp_path / "proc/driver/nvidia/version").unlink()
    with pytest.raises(SandboxError) as err:
        plan(None, str(PINNED_BINARY), root=tmp_path, ldconfig_text=ld)
    assert err.value.exit_code == 3 and "no NVIDIA driver" in err.value.message
    fake_host(tmp_path / "h2")
    with pytest.raises(SandboxError) as err:
        plan(None, str(PINNED_BINARY), root=tmp_path / "h2", ldconfig_text="")
    assert err.value.exit_code == 3 and "libcuda" in err.value.message


@pytest.mark.skipif(not OLD.is_file(), reason="Debian 12's runsc (make setup installs it)")
def test_refuses_runsc_without_nvproxy(tmp_path: Path) -> None:
    ld = fake_host(tmp_path)
    with pytest.raises(SandboxError) as err:
        plan(None, str(OLD), root=tmp_path, ldconfig_text=ld)
    assert err.value.exit_code == 3 and "--nvproxy" in err.value.message and rs.version(str(OLD)) in err.value.message


def test_sandbox_refuses_before_the_agent_starts(tmp_path: Path) -> None:
    """On this host (no NVIDIA driver) a gpu=True sandbox stops at the check: exit 3, and
    the agent's command never ran."""
    from .conftest import run_in_sandbox
    if driver_version() is not None:
        pytest.skip("this host has an NVIDIA driver")
    with pytest.raises(SandboxError) as err:
        run_in_sandbox(tmp_path, ["touch", "/workspace/ran"], gpu=True)
    assert err.value.exit_code == 3 and "no NVIDIA driver" in err.value.message
    assert not (tmp_path / "ws" / "ran").exists()


def test_doctor_rows_driver_supported_or_remedy(tmp_path: Path) -> None:
    from sandbox.doctor import gpu_checks

    fake_host(tmp_path / "ok")
    rows = {c.name: c for c in gpu_checks(str(PINNED_BINARY), root=tmp_path / "ok")}
    assert rows["NVIDIA driver"].detail == f"{DRIVER} (from /proc/driver/nvidia/version)"
    assert rows["nvproxy supports this driver"].ok and "lists 550.90.07" in rows["nvproxy supports this driver"].detail
    fake_host(tmp_path / "new", driver="580.159.04")
    rows = {c.name: c for c in gpu_checks(str(PINNED_BINARY), root=tmp_path / "new")}
    bad = rows["nvproxy supports this driver"]
    assert not bad.ok and not bad.essential and "does not list 580.159.04" in bad.detail
    assert "--runsc PATH" in bad.fix and "--nvproxy-driver-version 550.90.07" in bad.fix and "own risk" in bad.fix
    rows = {c.name: c for c in gpu_checks(str(PINNED_BINARY), root=tmp_path / "nothing")}
    assert not rows["NVIDIA driver"].ok and "nvproxy supports this driver" not in rows
