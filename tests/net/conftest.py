"""Fixtures of the network tests: a loopback-only namespace, a recorder, simnet, proxies.

Every test here runs inside a fresh network namespace holding only ``lo`` (see
netns.py), so no test can reach or resolve anything outside this machine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests import ``tests.simnet``: make the repository root importable whatever
# directory pytest was started from.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.net.support import BASE, Harness  # noqa: E402
from tests.netns import enter_loopback_netns, leave_netns  # noqa: E402
from tests.simnet import SimNet  # noqa: E402


@pytest.fixture(scope="package", autouse=True)
def loopback_netns() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.skip("network tests need root for a loopback-only network namespace (unshare CLONE_NEWNET)")
    handle = enter_loopback_netns()
    try:
        yield
    finally:
        leave_netns(handle)


@pytest.fixture(scope="package")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mitmproxy CA for the whole package (key generation costs time)."""
    return tmp_path_factory.mktemp("mitmconf")


@pytest.fixture(scope="package")
def simnet(loopback_netns: None) -> Iterator[SimNet]:
    net = SimNet(repos=BASE.repos(), packages=BASE.packages()).start()
    yield net
    net.stop()


@pytest.fixture(scope="package")
def simnet_tls(loopback_netns: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimNet]:
    net = SimNet(repos=BASE.repos(), tls=True, certdir=tmp_path_factory.mktemp("simnet-ca")).start()
    yield net
    net.stop()


@pytest.fixture
def harness(tmp_path: Path, confdir: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, confdir)
    yield h
    h.close()


@pytest.fixture
def paste(simnet: SimNet) -> Iterator[SimNet]:
    """simnet is shared by the package: leave the paste site as found (other tests expect it empty)."""
    before = dict(simnet.paste.pastes)
    yield simnet
    simnet.paste.pastes.clear()
    simnet.paste.pastes.update(before)
    simnet.services["pastebin.com"].requests.clear()
