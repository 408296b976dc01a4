"""The world file: maps real host names to local servers (tests, demos, offline audits).

    [hosts]
    "huggingface.co" = "http://127.0.0.1:18080"

With a world, the proxy connects mapped hosts to those servers while every recorded URL
keeps the original scheme and host; unmapped hosts get a 502 and an event, and the proxy
never resolves their names.
"""

from __future__ import annotations

import hashlib
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
            u = urlsplit(url)
            if u.scheme not in ("http", "https") or not u.hostname or u.path not in ("", "/"):
                raise ValueError(f"{host!r}: {url!r} must be http(s)://HOST:PORT with no path")
            if host != host.lower() or "/" in host or ":" in host:
                raise ValueError(f"{host!r}: a lower-case host name without port or path")
        return v


def load_world(path: str | Path) -> World:
    path = Path(path)
    world, _ = load_model(path, World, "world")
    world.source = path.resolve()
    world.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return world
