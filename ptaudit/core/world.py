"""The world file: maps real host names to local servers (tests, demos, offline audits).

    [hosts]
    "huggingface.co" = "http://127.0.0.1:18080"

With a world, the proxy connects mapped hosts to those servers while every recorded URL
keeps the original scheme and host; unmapped hosts get a 502 and an event, and the proxy
never resolves their names.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .tomlfile import load_model


class World(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: dict[str, str] = Field(default_factory=dict, description="host name -> http(s)://HOST:PORT of a local server")
    source: Path | None = Field(default=None, exclude=True)
    sha256: str | None = Field(default=None, exclude=True)

    @field_validator("hosts")
    @classmethod
    def _urls(cls, v: dict[str, str]) -> dict[str, str]:
        for host, url in v.items():
            if not _HOSTNAME.fullmatch(host):
                raise ValueError(f"{host!r}: a lower-case host name (letters, digits, '-', '.') without port or path")
            _check_url(host, url)
        return v


_HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?")


def _check_url(host: str, url: str) -> None:
    """http(s)://HOST[:PORT] with nothing else: a valid host name or IP address and a port
    in 1..65535 (what mitmdump will connect to; a bad one used to kill it at start)."""
    want = f"{host!r}: {url!r} must be http(s)://HOST:PORT"
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"{want} (no spaces or control characters)")
    u = urlsplit(url)
    if u.scheme not in ("http", "https"):
        raise ValueError(f"{want}: scheme {u.scheme or 'missing'!r} is not http or https")
    if u.path not in ("", "/") or u.query or u.fragment or u.username is not None or u.password is not None:
        raise ValueError(f"{want} with no path, query, fragment or user")
    try:
        port = u.port
    except ValueError:
        raise ValueError(f"{want}: the port is not a number in 1..65535") from None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{want}: port {port} is not in 1..65535")
    name = u.hostname or ""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        if not _HOSTNAME.fullmatch(name):
            raise ValueError(f"{want}: {name!r} is not a host name or IP address") from None


def load_world(path: str | Path) -> World:
    path = Path(path)
    world, _ = load_model(path, World, "world")
    world.source = path.resolve()
    world.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return world
