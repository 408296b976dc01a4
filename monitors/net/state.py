"""Per-flow state the addons share: ``flow.metadata["ptaudit"]`` holds one :class:`FlowState`.

The API an addon uses on a flow (``st = self.rt.state(flow)``):

- **What the client asked for** (``url``, ``host``, ``method``, ``client_headers``) is captured
  by the runtime addon on the flow's first hook, before any addon rewrites the request.
- **Decisions** go into the state; the first one stands and no addon undoes another's:
  ``st.block(verdict)`` (the gate, or any enforcing addon), ``st.refused``, ``st.injected``.
- **Events about the flow** other than the flow itself (net.blocked, net.placeholder_seen) are
  handed to ``st.note(event)``; the record addon writes them right after the flow's
  net.request, so every flow's events are in order (request first) whichever addon decided.
- **Bodies** pass through ``st.request`` / ``st.response`` (:class:`BodyPipe`). In the
  ``*headers`` hook an addon registers a *transform* (changes the bytes forwarded: the real
  key's mask) or an *observer* (sees the forwarded bytes: hashing, sniffing, scanning). The
  same filters serve streamed bodies chunk by chunk and buffered bodies in one piece (run
  by the runtime addon before any ``request``/``response`` hook).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http

from ptaudit.core.events import EventData, NetBlocked

from .policy import Verdict

KEY = "ptaudit"

Transform = Callable[[bytes, bool], bytes]
"""(chunk, final) -> the bytes to forward instead; called with final=True once at the end."""
Observer = Callable[[bytes, bool], Any]
"""(chunk, final) -> ignored; sees the bytes as forwarded (after every transform)."""
FaultHandler = Callable[[str, str, BaseException], None]
"""(addon name, where, exception): fail the flow closed (guard.fail_flow)."""
Wrap = Callable[[str, str, Callable[..., Any]], Callable[..., Any]]
"""(addon name, where, filter) -> the filter to install (test fault injection; identity otherwise)."""


def content_length(h: http.Headers) -> int | None:
    try:
        return int(h["content-length"]) if "content-length" in h else None
    except ValueError:
        return None


class BodyPipe:
    """One direction of a flow's body on its way through the proxy.

    A filter that raises stops the pipe (nothing more is forwarded) and fails the flow
    closed through ``on_fault``: a body is never forwarded past a filter that failed on it.
    """

    def __init__(self, direction: str, on_fault: FaultHandler, wrap: Wrap):
        self.where = f"{direction}_body"
        self._on_fault = on_fault
        self._wrap = wrap
        self.transforms: list[tuple[str, Transform]] = []
        self.observers: list[tuple[str, Observer]] = []
        self.streaming = False  # chunks reach the filters as they arrive (else: once, whole)
        self.streamed = False  # mitmproxy did hand chunks over (a body may end at its headers)
        self.stopped = False  # forward nothing more: cut by a block, or a filter failed
        self.done = False  # the filters have seen the end of the body
        self.masked = 0  # occurrences of the real key masked (credentials)
        self.replaced = False
        self._replacement: bytes | None = None

    def transform(self, owner: str, fn: Transform) -> None:
        self.transforms.append((owner, self._wrap(owner, self.where, fn)))

    def observe(self, owner: str, fn: Observer) -> None:
        self.observers.append((owner, self._wrap(owner, self.where, fn)))

    def stream(self, msg: http.Message) -> None:
        """Stream this body through the pipe (never buffered whole by mitmproxy)."""
        msg.stream = self.feed
        self.streaming = True

    def stop(self) -> None:
        self.stopped = True

    def replace(self, body: bytes) -> None:
        """Forward ``body`` instead of this message's own, which is dropped unseen by the filters."""
        self._replacement = body
        self.replaced = self.stopped = True

    def take_replacement(self) -> bytes | None:
        """The replacement body if not yet sent (once)."""
        body, self._replacement = self._replacement, None
        return body

    def feed(self, chunk: bytes) -> bytes:
        """mitmproxy's stream callable: one chunk in, the bytes to forward out (b"" ends it)."""
        if self.replaced:
            return self.take_replacement() or b""
        self.streamed = True
        if self.stopped:
            return b""
        return self._run(chunk, not chunk)

    def drain(self, msg: http.Message) -> None:
        """A buffered body: run it through the filters in one piece (idempotent)."""
        if self.streaming or self.done or self.stopped or not (self.transforms or self.observers):
            return
        raw = msg.raw_content or b""
        out = self._run(raw, True)
        if out is not raw:
            msg.raw_content = out

    def _run(self, chunk: bytes, final: bool) -> bytes:
        owner = ""
        try:
            for owner, t in self.transforms:  # noqa: B007 - owner names the filter that raised
                chunk = t(chunk, final)
            for owner, o in self.observers:  # noqa: B007
                o(chunk, final)
        except Exception as exc:  # noqa: BLE001 - fail closed: stop forwarding, kill the flow, record
            self.stopped = True
            self._on_fault(owner, self.where, exc)
            return b""
        if final:
            self.done = True
        return b"" if self.stopped else chunk


@dataclass(eq=False)
class FlowState:
    """One HTTP flow as the addons see it. Each field says which addon writes it."""

    id: str
    method: str
    url: str  # the original URL, as the client asked for it (world rewriting never shows here)
    host: str  # lower-cased original host
    client_headers: tuple[tuple[bytes, bytes], ...]  # header fields as the client sent them
    t0: float
    request: BodyPipe
    response: BodyPipe
    t_headers: float | None = None  # runtime: response headers arrived
    verdict: Verdict | None = None  # gate: the CONNECT's host decision (recorded; enforced per request)
    blocked: Verdict | None = None  # gate (or any enforcing addon), via block(): first one stands
    refused: bool = False  # gate: refused because the recorder is unreachable
    upstream: str | None = None  # gate: world mode, where the request really goes
    injected: bool = False  # credentials: the real key was swapped in
    fault: str | None = None  # guard: "addon:where" of the fault that killed this flow
    req_body: Any = None  # record: its BodyRecorder of the request body
    resp_body: Any = None  # record: its BodyRecorder of the response body
    _outbox: list[EventData] = field(default_factory=list)
    _sink: Callable[[EventData], None] | None = None

    @property
    def own_response(self) -> bool:
        """The response is the proxy's own answer (request refused or blocked): nothing upstream."""
        return self.refused or (self.blocked is not None and self.blocked.stage == "request")

    def block(self, v: Verdict) -> bool:
        """Block the flow with ``v`` (the caller enforces it); False if it was blocked already."""
        if self.blocked is not None:
            return False
        self.blocked = v
        self.note(NetBlocked(flow=self.id, stage=v.stage, rule=v.rule, reason=v.reason, status=v.status,
                             method=self.method, url=self.url, host=self.host))
        return True

    def note(self, ev: EventData) -> None:
        """An event about this flow, written after its net.request (at once if that is out)."""
        if self._sink is not None:
            self._sink(ev)
        else:
            self._outbox.append(ev)

    def open(self, sink: Callable[[EventData], None]) -> None:
        """Record: the flow's own event is out; write what was noted, and later notes at once."""
        if self._sink is None:
            self._sink = sink
            for ev in self._outbox:
                sink(ev)
            self._outbox.clear()


def answer(flow: http.HTTPFlow, st: FlowState, response: http.Response) -> None:
    """Answer the request with the proxy's own response. A request whose body streams is
    killed instead: mitmproxy would first buffer the whole body (and cannot both stream a
    request and answer it)."""
    if st.request.streaming:
        flow.kill()
    else:
        flow.response = response
