"""``SimNet``: every service on 127.0.0.1, and the World mapping real host names to them."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from .certs import make_certs
from .hub import FakeHub, HubRepo
from .server import Service
from .services import LlmApi, Mirror, Paste, PyPI

HOSTS = ("huggingface.co", "cdn-lfs.huggingface.co", "cas-bridge.xethub.hf.co", "api.openai.com",
         "api.anthropic.com", "pypi.org", "files.pythonhosted.org", "pastebin.com", "dl.weights-mirror.net")


class SimNet:
    """A simulated internet. ``tls=True`` serves every upstream over HTTPS with a cert from
    a throw-away CA (``ca_path``); the public URLs clients use are https either way.

        net = SimNet(repos=[HubRepo("Org/Base", {"model.safetensors": make_safetensors()})])
        net.start(); world = net.world_hosts; ...; net.stop()
    """

    def __init__(self, repos: list[HubRepo] | None = None, packages: dict[str, dict[str, bytes]] | None = None,
                 tls: bool = False, certdir: Path | None = None, mirror: dict[str, bytes] | None = None):
        self.hub = FakeHub(repos or [], "https://cdn-lfs.huggingface.co")
        self.openai, self.anthropic = LlmApi(), LlmApi()
        self.pypi = PyPI(packages or {}, "https://files.pythonhosted.org")
        self.paste = Paste()
        self.mirror = Mirror(mirror)
        self.ca_path: Path | None = None
        ctx = None
        if tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="simnet-certs-") if certdir is None else None
            d = certdir or Path(self._tmp.name)  # type: ignore[union-attr]
            self.ca_path, cert, key = make_certs(d, list(HOSTS))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
        cdn = Service(self.hub.cdn_app, ctx)
        self.services: dict[str, Service] = {
            "huggingface.co": Service(self.hub.app, ctx),
            "cdn-lfs.huggingface.co": cdn,
            "cas-bridge.xethub.hf.co": cdn,
            "api.openai.com": Service(self.openai.app, ctx),
            "api.anthropic.com": Service(self.anthropic.app, ctx),
            "pypi.org": Service(self.pypi.index_app, ctx),
            "files.pythonhosted.org": Service(self.pypi.files_app, ctx),
            "pastebin.com": Service(self.paste.app, ctx),
            "dl.weights-mirror.net": Service(self.mirror.app, ctx),
        }

    @property
    def world_hosts(self) -> dict[str, str]:
        """World.hosts: public host name -> http(s)://127.0.0.1:PORT."""
        return {host: svc.url for host, svc in self.services.items()}

    def _unique(self) -> list[Service]:
        return list({id(s): s for s in self.services.values()}.values())

    def start(self) -> SimNet:
        for s in self._unique():
            s.start()
        return self

    def stop(self) -> None:
        for s in self._unique():
            s.stop()

    def __enter__(self) -> SimNet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
