"""Where traffic may go: the pure decisions behind the gate and pinning addons, kept out of
the mitmproxy hooks (and so testable without a proxy).

Order (first hit wins), applied to the *original* host before any DNS or connect:
  1. world mode: a host the world does not map -> 502 (its name is never resolved);
  2. IP literals in loopback/private/link-local/reserved ranges or the host's own
     addresses -> 403 (a world-mapped target is the only loopback allowed);
  3. policy host lists: deny_hosts, allow_hosts, default;
  4. ``net.url`` rules with action block/kill (request stage).
``server_connect`` re-checks the resolved destination (DNS rebinding, raw TCP tunnels).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from mitmproxy import http

from detectors.netrules import RuleMatch, host_decision, match_url

from .config import AddonConfig, NetRuleSpec


@dataclass(frozen=True)
class Verdict:
    status: int  # HTTP status of the error response
    rule: str
    reason: str
    stage: str  # connect | request | response_headers | first_chunk | response | server_connect


def error_response(v: Verdict) -> http.Response:
    """The answer the client gets for a blocked request (docs/network.md: error responses)."""
    body = f"ptaudit: blocked by rule {v.rule}: {v.reason}\n".encode()
    return http.Response.make(v.status, body, {"Content-Type": "text/plain; charset=utf-8", "X-Ptaudit-Rule": v.rule})


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def local_addresses() -> set[str]:
    """Addresses of this machine's interfaces: the proxy must not be a way into the host."""
    out: set[str] = set()
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    out.add(a.address.split("%")[0])
    except Exception:  # noqa: BLE001 - psutil missing or restricted: private ranges still apply
        pass
    return out


def forbidden_ip(host: str, own: set[str]) -> str | None:
    """Why an address literal must not be dialled, or None if it is a public address."""
    ip = _ip(host)
    if ip is None:
        return None
    for attr in ("is_loopback", "is_private", "is_link_local", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(ip, attr):
            return f"{ip} is {attr[3:].replace('_', '-')}"
    if str(ip) in own:
        return f"{ip} is an address of the audit host"
    return None


class NetPolicy:
    """The config's network policy, compiled once per addon at configure."""

    def __init__(self, cfg: AddonConfig):
        self.cfg = cfg
        self.own = local_addresses()
        self.world: dict[str, tuple[str, str, int]] = {}  # host -> (scheme, ip/host, port)
        for host, url in (cfg.world or {}).items():
            u = urlsplit(url)
            self.world[host.lower()] = (u.scheme, u.hostname or "", u.port or (443 if u.scheme == "https" else 80))
        self.world_addrs = {(h, p) for _, h, p in self.world.values()}
        self.url_rules = [(r, r.url_params()) for r in cfg.rules if r.detector == "net.url" and r.enforced]
        self.content_rules = [(r, r.content_params()) for r in cfg.rules if r.detector == "net.content" and r.enforced]

    @property
    def world_mode(self) -> bool:
        return self.cfg.world is not None

    def target(self, host: str) -> tuple[str, str, int] | None:
        """World mode: the local (scheme, host, port) serving ``host``."""
        return self.world.get(host.lower().rstrip("."))

    def host(self, host: str, stage: str) -> Verdict | None:
        """Steps 1-3 of the order above."""
        h = host.lower().rstrip(".")
        if self.world_mode and h not in self.world:
            return Verdict(502, "world.unmapped", f"host {h} is not in the world (not resolved, not dialled)", stage)
        if h not in self.world and (why := forbidden_ip(h, self.own)) is not None:
            return Verdict(403, "network.private_address", f"destination {why}", stage)
        d = host_decision(h, self.cfg.network.default, self.cfg.network.allow_hosts, self.cfg.network.deny_hosts)
        if not d.allowed:
            return Verdict(403, d.rule, d.reason, stage)
        return None

    def url(self, method: str, url: str) -> tuple[NetRuleSpec, RuleMatch] | None:
        for rule, params in self.url_rules:
            m = match_url(rule.id, params, method, url, self.cfg.base_model)
            if m is not None and not excepted(rule, m.subject):
                return rule, m
        return None

    def server_address(self, host: str, port: int) -> str | None:
        """Why mitmproxy must not open a connection to (host, port), or None."""
        if self.world_mode:
            if (host, port) in self.world_addrs:
                return None
            return f"{host}:{port} is not a world server (world mode dials only mapped servers)"
        if _ip(host) is None:
            return f"{host} was not resolved and pinned by the audit proxy"
        return forbidden_ip(host, self.own)


def excepted(rule: NetRuleSpec, subject: str) -> bool:
    return any(fnmatchcase(subject, e.match) for e in rule.exceptions)
