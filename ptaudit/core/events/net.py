"""Events of the audit proxy (source ``net``): every flow, decision and failure.

Produced by the mitmproxy addons in monitors/net/ (their own process, through the
recorder socket); ``net.proxy_died`` by the orchestrator. docs/network.md explains them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import EventData

Headers = list[list[str]]  # [[name, value], ...] in wire order; the real key redacted


class Body(EventData):
    """One request or response body as the proxy saw it stream past."""

    size: int | None = Field(default=None, description="Bytes seen (the whole body, even if not all stored).")
    sha256: str | None = Field(default=None, description="sha256 of the whole body.")
    blob: str | None = Field(default=None, description="Blob holding the stored prefix, if any.")
    stored: int | None = Field(default=None, description="Bytes stored in the blob.")
    truncated: bool | None = Field(default=None, description="Stored less than the whole body.")
    sniff: str | None = Field(default=None, description="Content type sniffed from the first bytes.")
    complete: bool | None = Field(default=None, description="The body ended normally (not cut off or killed).")
    redacted: int | None = Field(default=None, description="Occurrences of the real key masked.")
    store_error: str | None = Field(default=None, description="Storing failed: why (the run is lossy).")
    aborted: bool | None = None


class ProxyStarted(EventData):
    """mitmdump is configured and listening; the policy it enforces."""

    KIND = "net.proxy_started"
    SOURCE = "net"
    world: dict[str, Any] | None = Field(default=None, description="World mode: host -> local server URL.")
    default: str | None = None
    allow_hosts: list[str] = Field(default_factory=list)
    deny_hosts: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list, description="Ids of the network rules enforced inline.")
    credentials: list[dict[str, Any]] = Field(default_factory=list, description="[{api_host, placeholder}]")
    options: dict[str, Any] = Field(default_factory=dict, description="mitmproxy options that matter.")


class ProxyStopped(EventData):
    """mitmdump is shutting down."""

    KIND = "net.proxy_stopped"
    SOURCE = "net"
    refused_unrecorded: int = 0


class ProxyDied(EventData):
    """mitmdump exited during the run; the orchestrator stops the agent (fail closed)."""

    KIND = "net.proxy_died"
    SOURCE = "net"
    returncode: int | None = None
    log_tail: str | None = None


class NetConnect(EventData):
    """side "client": a CONNECT from the agent; side "server": an upstream connection."""

    KIND = "net.connect"
    SOURCE = "net"
    side: str
    host: str | None = None
    port: int | None = None
    flow: str | None = None
    client: list[Any] | None = None
    address: list[Any] | None = None
    decision: str | None = Field(default=None, description="allow or block.")
    rule: str | None = None


class NetRequest(EventData):
    """A request as the client sent it (before any rewrite), recorded whether or not it is
    let through: refused requests are evidence too."""

    KIND = "net.request"
    SOURCE = "net"
    flow: str | None = None
    method: str = ""
    url: str = Field(description="The original URL, as the client asked for it.")
    host: str = ""
    port: int | None = None
    http_version: str | None = None
    headers: Headers = Field(default_factory=list)
    client: list[Any] | None = None
    upstream: str | None = Field(default=None, description="World mode: where it was sent instead.")
    injected: bool = Field(default=False, description="The real key was swapped in for the placeholder.")
    body_announced: int | None = Field(default=None, description="Content-Length, if given.")
    blocked: bool = False
    rule: str | None = None
    reason: str | None = None
    via_repo: str | None = Field(default=None, description="Hub repo whose redirect led here (model:Org/Name).")


class NetResponse(EventData):
    """A flow's end: response headers, both bodies (hashed whole, stored up to the cap)."""

    KIND = "net.response"
    SOURCE = "net"
    flow: str | None = None
    method: str = ""
    url: str = ""
    host: str = ""
    status: int | None = None
    reason: str | None = None
    http_version: str | None = None
    headers: Headers = Field(default_factory=list)
    content_type: str | None = None
    encoding: str | None = None
    body: Body | None = None
    request_body: Body | None = None
    size: int = 0
    sha256: str | None = None
    sniff: str | None = None
    streamed: bool = False
    upstream: str | None = None
    blobs: list[str] = Field(default_factory=list)
    blocked: bool = False
    rule: str | None = None
    stage: str | None = None
    timing: dict[str, Any] | None = None


class NetBlocked(EventData):
    """The proxy refused something; ``stage`` says where in the flow."""

    KIND = "net.blocked"
    SOURCE = "net"
    flow: str | None = None
    stage: str | None = Field(default=None,
                              description="connect, request, response_headers, response, first_chunk or server_connect.")
    rule: str | None = None
    reason: str = ""
    status: int | None = None
    method: str | None = None
    url: str | None = None
    host: str | None = None
    port: int | None = None


class PlaceholderSeen(EventData):
    """The agent's key placeholder appeared somewhere (header, URL, body)."""

    KIND = "net.placeholder_seen"
    SOURCE = "net"
    flow: str | None = None
    host: str | None = None
    url: str | None = None
    where: list[str] = Field(default_factory=list, description="header:<name>, url, body ...")


class TlsFailed(EventData):
    """A TLS handshake failed (client: the agent rejected our certificate or spoke no TLS)."""

    KIND = "net.tls_failed"
    SOURCE = "net"
    side: str
    sni: str | None = None
    client: list[Any] | None = None
    address: list[Any] | None = None
    error: str | None = None


class WebSocket(EventData):
    """A WebSocket's start, each message (stored as a blob) and end."""

    KIND = "net.websocket"
    SOURCE = "net"
    flow: str | None = None
    event: str = Field(description="start, message or end.")
    url: str | None = None
    from_client: bool | None = None
    type: str | None = None
    size: int | None = None
    blobs: list[str] = Field(default_factory=list)
    close_code: int | None = None


class NetError(EventData):
    """A flow that failed (connection reset, killed, timeout)."""

    KIND = "net.error"
    SOURCE = "net"
    flow: str | None = None
    method: str | None = None
    url: str | None = None
    error: str | None = None
    status: int | None = None
    body: Body | None = None
    request_body: Body | None = None
    blobs: list[str] = Field(default_factory=list)
    blocked: bool = False


class NetRefused(EventData):
    """Traffic refused while the recorder was unreachable (fail closed)."""

    KIND = "net.refused"
    SOURCE = "net"
    url: str | None = None
    reason: str = ""
