"""The record addon: the proxy's life and every flow become events; bodies are hashed whole
and stored up to the cap (body.BodyRecorder).

It runs last, so each event carries every other addon's decision about the flow (read from
the flow's state), and it writes the events those addons noted on the flow right after the
flow's own net.request. It also runs for flows a fault killed (``after_fault``): what they
did is evidence too. Its ``running`` announces the proxy (net.proxy_started, then the ready
file NetProxy waits for) once every addon is configured; its ``done`` closes the recorder
connection after every other addon's ``done``. The real key is masked in all it records.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mitmproxy import http, tls

from detectors.netrules import hub_repo
from ptaudit.core.events import (
    NetConnect,
    NetError,
    NetRequest,
    NetResponse,
    ProxyStarted,
    ProxyStopped,
    TlsFailed,
    WebSocket,
)

from .body import BodyRecorder
from .guard import Addon, hook
from .state import KEY, BodyPipe, FlowState, Observer, content_length

if TYPE_CHECKING:
    from .runtime import Runtime

logger = logging.getLogger(__name__)

_MAX_REDIRECTS = 10_000


class Record(Addon):
    name = "net.record"
    after_fault = True

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.redirects: dict[str, str] = {}  # redirect target URL -> Hub repo it came from

    # -- lifecycle ---------------------------------------------------------------------
    @hook
    def running(self) -> None:
        rt = self.rt
        assert rt.client and rt.cfg
        if not rt.client.connected.wait(rt.cfg.recorder_wait):
            logger.error("ptaudit: recorder %s unreachable; refusing all traffic until it is", rt.cfg.recorder_socket)
        net = rt.cfg.network
        creds = {c.api_host.lower(): c.placeholder for c in rt.cfg.credentials}
        rt.record(ProxyStarted(world=rt.cfg.world, default=net.default, allow_hosts=net.allow_hosts,
                               deny_hosts=net.deny_hosts, rules=[r.id for r in rt.cfg.rules],
                               credentials=[{"api_host": h, "placeholder": p} for h, p in creds.items()],
                               options=rt.options))
        if rt.cfg.ready_file:  # NetProxy waits for this: listening alone does not mean configured
            Path(rt.cfg.ready_file).write_text(rt.options["listen_port"])

    @hook
    def done(self) -> None:
        if self.rt.client:
            self.rt.record(ProxyStopped(refused_unrecorded=self.rt.refused))
            self.rt.client.close(5)

    # -- helpers -----------------------------------------------------------------------
    def headers(self, fields: tuple[tuple[bytes, bytes], ...]) -> list[list[str]]:
        return [[k.decode("latin-1"), self.rt.secrets.text(v.decode("latin-1"))] for k, v in fields]

    def _body(self, rec: BodyRecorder | None, pipe: BodyPipe, complete: bool = True) -> dict[str, Any] | None:
        if rec is None:
            return None
        info = rec.finish(complete=complete)
        return {**info, "redacted": pipe.masked} if "redacted" in info else info

    def _request_body(self, st: FlowState) -> Observer:
        """Record the request body as it passes; created on its first byte (most requests have none)."""
        def observe(chunk: bytes, final: bool) -> None:
            if st.req_body is None:
                if not chunk:
                    return
                st.req_body = BodyRecorder(self.rt.store, self.rt.store_cap, threaded=st.request.streaming)
            st.req_body.feed(chunk, final)
        return observe

    # -- flows -------------------------------------------------------------------------
    @hook
    def http_connect(self, flow: http.HTTPFlow) -> None:
        st = self.rt.state(flow)
        if not st.refused:
            v = st.verdict
            self.rt.record(NetConnect(side="client", flow=flow.id, host=flow.request.host, port=flow.request.port,
                                      client=list(flow.client_conn.peername or ()),
                                      decision="block" if v else "allow", rule=v.rule if v else None))
        st.open(self.rt.record)

    @hook
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        st, req = self.rt.state(flow), flow.request
        if not st.refused:
            v = st.blocked
            self.rt.record(NetRequest(
                flow=flow.id, method=req.method, url=st.url, host=st.host, port=req.port if not st.upstream else None,
                http_version=req.http_version, headers=self.headers(st.client_headers),
                client=list(flow.client_conn.peername or ()), upstream=st.upstream, injected=st.injected,
                body_announced=content_length(req.headers), blocked=v is not None, rule=v.rule if v else None,
                reason=v.reason if v else None, via_repo=self.redirects.get(st.url)))
        st.open(self.rt.record)
        if st.fault is None:
            if st.request.streaming and st.blocked is None:
                st.req_body = BodyRecorder(self.rt.store, self.rt.store_cap)
            st.request.observe(self.name, self._request_body(st))

    @hook
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response
        st, resp = self.rt.state(flow), flow.response
        st.open(self.rt.record)
        if st.own_response or st.fault:
            return
        if resp.status_code in (301, 302, 303, 307, 308) and (found := hub_repo(flow.request.path)) is not None:
            if len(self.redirects) < _MAX_REDIRECTS:
                self.redirects[resp.headers.get("location", "")] = f"{found[0]}:{found[1]}"
        if st.blocked is None:
            st.resp_body = BodyRecorder(self.rt.store, self.rt.store_cap, threaded=st.response.streaming)
            st.response.observe(self.name, st.resp_body.feed)

    @hook
    def response(self, flow: http.HTTPFlow) -> None:
        st, resp, req = self.rt.state(flow), flow.response, flow.request
        st.open(self.rt.record)
        if resp is None:
            return
        body = self._body(st.resp_body, st.response, complete=not st.response.stopped)
        reqb = self._body(st.req_body, st.request)
        v = st.blocked
        self.rt.record(NetResponse(
            flow=flow.id, method=req.method, url=st.url, host=st.host, status=resp.status_code, reason=resp.reason,
            http_version=resp.http_version, headers=self.headers(resp.headers.fields),
            content_type=resp.headers.get("content-type"), encoding=resp.headers.get("content-encoding"),
            body=body, request_body=reqb, size=body["size"] if body else 0, sha256=body["sha256"] if body else None,
            sniff=body["sniff"] if body else None, streamed=st.response.streamed,
            upstream=st.upstream, blobs=[b["blob"] for b in (body, reqb) if b and b.get("blob")],
            blocked=v is not None, rule=v.rule if v else None, stage=v.stage if v else None, timing=_timing(flow, st)))

    @hook
    def error(self, flow: http.HTTPFlow) -> None:
        st: FlowState | None = flow.metadata.get(KEY)
        if st is not None:
            st.open(self.rt.record)
        body = self._body(st.resp_body, st.response, complete=False) if st else None
        reqb = self._body(st.req_body, st.request, complete=False) if st else None
        self.rt.record(NetError(
            flow=flow.id, method=flow.request.method, url=st.url if st else flow.request.pretty_url,
            error=self.rt.secrets.text(flow.error.msg if flow.error else "unknown"),
            status=flow.response.status_code if flow.response else None, body=body, request_body=reqb,
            blobs=[b["blob"] for b in (body, reqb) if b and b.get("blob")], blocked=bool(st and st.blocked)))

    # -- connections and websockets ----------------------------------------------------
    @hook
    def tls_failed_client(self, data: tls.TlsData) -> None:
        self.rt.record(TlsFailed(side="client", sni=data.context.client.sni,
                                 client=list(data.context.client.peername or ()), error=data.conn.error))

    @hook
    def tls_failed_server(self, data: tls.TlsData) -> None:
        self.rt.record(TlsFailed(side="server", sni=data.conn.sni,
                                 address=list(getattr(data.conn, "address", None) or ()), error=data.conn.error))

    @hook
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        st: FlowState | None = flow.metadata.get(KEY)
        self.rt.record(WebSocket(flow=flow.id, event="start", url=st.url if st else flow.request.url))

    @hook
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket and self.rt.store
        m = flow.websocket.messages[-1]
        st: FlowState | None = flow.metadata.get(KEY)
        data = self.rt.secrets.data(m.content)
        blob = self.rt.store.put(data[: self.rt.store_cap])
        self.rt.record(WebSocket(flow=flow.id, event="message", url=st.url if st else None, from_client=m.from_client,
                                 type=m.type.name, size=len(m.content), blobs=[blob] if blob else []))
        del flow.websocket.messages[:-1]  # bounded memory on long-lived sockets: each is recorded already

    @hook
    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.rt.record(WebSocket(flow=flow.id, event="end",
                                 close_code=flow.websocket.close_code if flow.websocket else None))


def _timing(flow: http.HTTPFlow, st: FlowState) -> dict[str, Any]:
    req, resp = flow.request, flow.response
    end = (resp.timestamp_end if resp and resp.timestamp_end else None) or time.time()
    return {"start": req.timestamp_start, "request_end": req.timestamp_end, "response_start": st.t_headers,
            "end": end, "ttfb_ms": round((st.t_headers - req.timestamp_start) * 1000, 3) if st.t_headers else None,
            "total_ms": round((end - req.timestamp_start) * 1000, 3)}
