"""The gate addon: where traffic may go, and blocking what the policy's rules refuse.

Enforcement order (first hit wins; docs/network.md), all before any DNS lookup or connect
(``connection_strategy=lazy``): recorder unreachable (503) -> header size (431) -> host
(world, address literals, deny/allow/default: policy.NetPolicy.host) -> ``net.url`` rules.
Then on responses, ``net.content`` rules: at response headers (the response becomes our
403), on a buffered body (replaced by our 403), or on a streamed body's first chunk (the
body is cut off and the client connection aborted at the end). Upstream connections are
checked again by the pinning addon.

Decisions go into the flow's state (``st.block``); the record addon writes the events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http

from detectors.netrules import match_content_headers, match_content_kind
from ptaudit.core.events import NetRefused
from ptaudit.core.sniff import SNIFF_BYTES, sniff

from .guard import Addon, hook
from .policy import NetPolicy, Verdict, error_response, excepted
from .state import FlowState, Observer, answer, content_length

if TYPE_CHECKING:
    from .runtime import Runtime

_SNIFF_MIN = 16  # bytes enough to sniff every weight format's magic


class Gate(Addon):
    name = "net.gate"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.policy: NetPolicy | None = None

    @hook
    def configure(self, updated: set[str]) -> None:
        if "ptaudit_config" in updated and self.rt.cfg is not None:
            self.policy = NetPolicy(self.rt.cfg)

    def _recording(self, flow: http.HTTPFlow, st: FlowState) -> bool:
        """Nothing passes unrecorded: while the recorder is unreachable, refuse (503)."""
        if self.rt.recording():
            return True
        self.rt.refused += 1
        st.refused = True
        st.note(NetRefused(url=flow.request.pretty_url, reason="recorder unreachable"))
        answer(flow, st, error_response(Verdict(503, "ptaudit.recorder_unreachable",
                                                "the audit recorder is unreachable; traffic is refused", "request")))
        return False

    @hook
    def http_connect(self, flow: http.HTTPFlow) -> None:
        assert self.policy
        st = self.rt.state(flow)
        if self._recording(flow, st):
            # Decided and recorded here, enforced per request: a denied host's tunnel still
            # opens (nothing is dialled: lazy strategy, and pinning re-checks the host), so the
            # request inside is decrypted, recorded with its headers (evidence, e.g. a found key)
            # and answered with the error. Non-HTTP tunnels to it are refused by pinning.
            st.verdict = self.policy.host(flow.request.host, "connect")

    @hook
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        assert self.policy and self.rt.cfg
        st, req = self.rt.state(flow), flow.request
        if not self._recording(flow, st):
            return
        hdr_bytes = sum(len(k) + len(v) + 4 for k, v in req.headers.fields)
        v = (Verdict(431, "network.max_header_bytes", f"request headers are {hdr_bytes} bytes", "request")
             if hdr_bytes > self.rt.cfg.network.max_header_bytes else self.policy.host(st.host, "request"))
        if v is None and (hit := self.policy.url(req.method, st.url)) is not None:
            v = Verdict(403, hit[0].id, hit[1].reason, "request")
        if v is not None:
            if st.block(v):
                answer(flow, st, error_response(v))
        elif (target := self.policy.target(st.host)) is not None:
            scheme, host, port = target
            req.data.host, req.data.port, req.scheme = host, port, scheme  # Host header stays the original
            st.upstream = f"{scheme}://{host}:{port}"

    @hook
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert self.policy and flow.response
        st, resp = self.rt.state(flow), flow.response
        if st.own_response or st.blocked:
            return
        size = content_length(resp.headers)
        if 200 <= resp.status_code < 300 and flow.request.method != "HEAD":
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            for rule, params in self.policy.content_rules:
                m = match_content_headers(rule.id, params, st.url, hdrs, size)
                if m is not None and not excepted(rule, st.url):
                    self._block_in_place(flow, st, Verdict(403, rule.id, m.reason, "response_headers"))
                    return
        if self.policy.content_rules:
            st.response.observe(self.name, self._sniffer(st, size))

    def _block_in_place(self, flow: http.HTTPFlow, st: FlowState, v: Verdict) -> None:
        """Turn the upstream response into our 403 before its headers reach the client; the
        upstream body is drained and dropped, and the client is told to close."""
        assert flow.response
        if not st.block(v):
            return
        err = error_response(v)
        flow.response.status_code, flow.response.reason = err.status_code, err.reason
        flow.response.headers = err.headers
        flow.response.headers["Connection"] = "close"
        st.response.replace(err.raw_content or b"")
        st.response.stream(flow.response)

    def _sniffer(self, st: FlowState, size: int | None) -> Observer:
        """``net.content`` rules on the body's first bytes (as forwarded: after the key's mask)."""
        head = bytearray()
        decided = False

        def observe(chunk: bytes, final: bool) -> None:
            nonlocal decided
            if decided:
                return
            head.extend(chunk[: SNIFF_BYTES - len(head)])
            if len(head) < _SNIFF_MIN and not final:
                return
            decided = True
            streaming = st.response.streaming
            v = self._content_verdict(st, sniff(bytes(head)), size if streaming else len(chunk),
                                      "first_chunk" if streaming else "response")
            if v is not None and st.block(v) and streaming:
                st.response.stop()  # headers went out as sent upstream: cut the body off here
        return observe

    def _content_verdict(self, st: FlowState, kind: str | None, size: int | None, stage: str) -> Verdict | None:
        assert self.policy
        for rule, params in self.policy.content_rules:
            m = match_content_kind(rule.id, params, st.url, kind, size)
            if m is not None and not excepted(rule, st.url):
                return Verdict(403, rule.id, m.reason, stage)
        return None

    @hook
    def response(self, flow: http.HTTPFlow) -> None:
        st = self.rt.state(flow)
        v = st.blocked
        if v is None or flow.response is None or st.own_response:
            return
        if v.stage == "response_headers":
            body = st.response.take_replacement()
            if body is not None:  # the upstream sent no body to stream our error in
                flow.response.content = body
        elif v.stage == "response":
            flow.response = error_response(v)
        elif v.stage == "first_chunk" and flow.killable:
            flow.kill()  # the client sees a truncated body, never the weights
