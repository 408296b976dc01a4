"""The pinning addon: every upstream connection is checked where it is opened.

mitmproxy resolves names on the audit host, so a name could resolve (or re-resolve, DNS
rebinding) to loopback, a private network or the host itself. ``server_connect`` therefore
re-checks the host policy before any lookup (raw TCP tunnels meet it here first), resolves
the name itself, refuses if *any* address is forbidden, and pins the connection to a
checked address. In world mode only the world's own servers are ever dialled.
Connections have no flow to carry a decision, so this addon records its own events.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING

from mitmproxy.proxy import server_hooks

from ptaudit.core.events import NetBlocked, NetConnect

from .guard import Addon, hook
from .policy import NetPolicy, forbidden_ip

if TYPE_CHECKING:
    from .runtime import Runtime


class Pinning(Addon):
    name = "net.pinning"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.policy: NetPolicy | None = None

    @hook
    def configure(self, updated: set[str]) -> None:
        if "ptaudit_config" in updated and self.rt.cfg is not None:
            self.policy = NetPolicy(self.rt.cfg)

    @hook
    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        assert self.policy
        if data.server.address is None:
            return
        host, port = str(data.server.address[0]), int(data.server.address[1])
        why: str | None = None
        if not self.policy.world_mode and (v := self.policy.host(host, "server_connect")) is not None:
            why = v.reason  # e.g. a raw tunnel to a denied host: refused before any DNS lookup
        elif not self.policy.world_mode and not _is_ip(host):
            # Resolve here, check every address, and pin the connection to a checked one, so
            # a name cannot re-resolve to a private address between check and connect.
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                why = f"cannot resolve {host}: {exc}"
            else:
                addrs = [str(i[4][0]) for i in infos]
                bad = [a for a in addrs if forbidden_ip(a, self.policy.own)]
                why = f"{host} resolves to {bad[0]} ({forbidden_ip(bad[0], self.policy.own)})" if bad else None
                if not why and addrs:
                    if data.server.sni is None:
                        data.server.sni = host
                    data.server.address = (addrs[0], port)
        if why is None and data.server.address is not None:
            why = self.policy.server_address(str(data.server.address[0]), int(data.server.address[1]))
        self.rt.record(NetConnect(side="server", host=host, port=port, address=list(data.server.address or ()),
                                  decision="block" if why else "allow"))
        if why:
            data.server.error = f"ptaudit: refused upstream connection: {why}"
            self.rt.record(NetBlocked(stage="server_connect", rule="network.upstream_address", reason=why,
                                      host=host, port=port, status=502))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
        return True
    except ValueError:
        return False
