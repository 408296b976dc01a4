"""The ptaudit mitmproxy addon class (loaded through monitors/net/mitmdump_entry.py): every hook
becomes an event, the gate decides, it fails closed.

Events (source "net"; fields in docs/network.md): net.proxy_started, net.connect,
net.request, net.response, net.blocked, net.placeholder_seen, net.tls_failed,
net.websocket, net.error, net.refused, net.proxy_stopped.

Decisions are taken in ``http_connect``/``requestheaders`` from the original host, and
re-checked in ``server_connect``; with ``connection_strategy=lazy`` nothing is resolved or
dialled before them. The real API key exists only in this process: it is swapped in on
the way out and masked in everything recorded or sent back to the client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http, tls
from mitmproxy.proxy import server_hooks

from detectors.netrules import hub_repo, match_content_headers, match_content_kind
from ptaudit.core.blobs import BlobStore
from ptaudit.core.client import RecorderClient
from ptaudit.core.sniff import sniff

from .body import BodyRecorder, Finder
from .config import AddonConfig
from .gate import Gate, Verdict, excepted, forbidden_ip

REDACTED = "[redacted:real-key]"
_MAX_REDIRECTS = 10_000


@dataclass
class FlowState:
    url: str  # the original URL, as the client asked for it (world rewriting never shows here)
    host: str
    t0: float
    blocked: Verdict | None = None
    upstream: str | None = None
    req_body: BodyRecorder | None = None
    resp_body: BodyRecorder | None = None
    streamed: bool = False
    sniff_pending: bool = False
    cut: Verdict | None = None
    header_block_sent: bool = False
    t_headers: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class NetAudit:
    def __init__(self) -> None:
        self.cfg: AddonConfig | None = None
        self.client: RecorderClient | None = None
        self.gate: Gate | None = None
        self.store: BlobStore | None = None
        self.inject: dict[str, tuple[str, str]] = {}  # api host -> (placeholder, real key)
        self.secrets: list[bytes] = []
        self.redirects: dict[str, str] = {}  # redirect target URL -> Hub repo it came from
        self.refused = 0

    # -- lifecycle -------------------------------------------------------------------
    def load(self, loader: Any) -> None:
        loader.add_option("ptaudit_config", str, "", "Path of the ptaudit network config JSON (monitors/net/config.py).")

    def configure(self, updated: set[str]) -> None:
        if "ptaudit_config" not in updated:
            return
        path = ctx.options.ptaudit_config
        if not path:
            raise exceptions.OptionsError("ptaudit_config is required: the audit proxy does not run unconfigured")
        try:
            cfg = AddonConfig.load(path)
        except (OSError, ValueError) as exc:
            raise exceptions.OptionsError(f"ptaudit_config {path}: {exc}") from None
        if ctx.options.connection_strategy != "lazy":
            raise exceptions.OptionsError("ptaudit needs connection_strategy=lazy: decisions come before any connect")
        for c in cfg.credentials:
            key = c.real_key()
            if not key:
                raise exceptions.OptionsError(f"credential for {c.api_host}: no real key in env {c.key_env} / file {c.key_file}")
            self.inject[c.api_host.lower()] = (c.placeholder, key)
            self.secrets.append(key.encode())
        self.cfg, self.gate, self.store = cfg, Gate(cfg), BlobStore(Path(cfg.blob_dir))
        self.client = RecorderClient(cfg.recorder_socket, cfg.producer)

    def running(self) -> None:
        assert self.client and self.cfg
        if not self.client.connected.wait(self.cfg.recorder_wait):
            ctx.log.error(f"ptaudit: recorder {self.cfg.recorder_socket} unreachable; refusing all traffic until it is")
        self.emit("net.proxy_started", {
            "world": self.cfg.world, "default": self.cfg.network.default, "allow_hosts": self.cfg.network.allow_hosts,
            "deny_hosts": self.cfg.network.deny_hosts, "rules": [r.id for r in self.cfg.rules],
            "credentials": [{"api_host": h, "placeholder": p} for h, (p, _) in self.inject.items()],
            "options": {k: str(getattr(ctx.options, k)) for k in (
                "connection_strategy", "stream_large_bodies", "body_size_limit", "listen_host", "listen_port")}})
        if self.cfg.ready_file:  # NetProxy waits for this: listening alone does not mean configured
            Path(self.cfg.ready_file).write_text(str(ctx.options.listen_port))

    def done(self) -> None:
        if self.client:
            self.emit("net.proxy_stopped", {"refused_unrecorded": self.refused})
            self.client.close(5)

    # -- helpers ---------------------------------------------------------------------
    def emit(self, kind: str, data: dict[str, Any]) -> None:
        assert self.client
        self.client.emit("net", kind, data)

    def recording(self) -> bool:
        """Fail closed: traffic passes only while the recorder is connected."""
        return bool(self.client and self.client.connected.is_set())

    def redact(self, value: str) -> str:
        for s in self.secrets:
            value = value.replace(s.decode(), REDACTED)
        return value

    def headers(self, h: http.Headers) -> list[list[str]]:
        return [[k.decode("latin-1"), self.redact(v.decode("latin-1"))] for k, v in h.fields]

    def error_response(self, v: Verdict) -> http.Response:
        body = f"ptaudit: blocked by rule {v.rule}: {v.reason}\n".encode()
        return http.Response.make(v.status, body, {"Content-Type": "text/plain; charset=utf-8", "X-Ptaudit-Rule": v.rule})

    def blocked(self, flow: http.HTTPFlow, st: FlowState, v: Verdict) -> None:
        self.emit("net.blocked", {"flow": flow.id, "stage": v.stage, "rule": v.rule, "reason": v.reason,
                                  "status": v.status, "method": flow.request.method, "url": st.url, "host": st.host})

    def cap(self) -> int:
        assert self.cfg
        return max(self.cfg.network.store_body_max, self.cfg.network.keep_head)

    def content_verdict(self, st: FlowState, kind: str | None, size: int | None, stage: str) -> Verdict | None:
        assert self.gate
        for rule, params in self.gate.content_rules:
            m = match_content_kind(rule.id, params, st.url, kind, size)
            if m is not None and not excepted(rule, st.url):
                return Verdict(403, rule.id, m.reason, stage)
        return None

    # -- CONNECT ---------------------------------------------------------------------
    def http_connect(self, flow: http.HTTPFlow) -> None:
        assert self.gate
        host, port = flow.request.host, flow.request.port
        if not self.recording():
            self.refuse(flow)
            return
        v = self.gate.host(host, "connect")
        self.emit("net.connect", {"side": "client", "flow": flow.id, "host": host, "port": port,
                                  "client": list(flow.client_conn.peername or ()),
                                  "decision": "block" if v else "allow", "rule": v.rule if v else None})
        # A denied host's tunnel still opens: nothing is dialled (lazy connection strategy, and
        # server_connect re-checks the host), so the request inside is decrypted, recorded with
        # its headers (evidence of what the agent tried to send, e.g. a found key) and answered
        # with the error at request time. Non-HTTP tunnels to it are refused in server_connect.

    def refuse(self, flow: http.HTTPFlow) -> None:
        self.refused += 1
        self.emit("net.refused", {"url": flow.request.pretty_url, "reason": "recorder unreachable"})
        flow.response = self.error_response(Verdict(503, "ptaudit.recorder_unreachable",
                                                    "the audit recorder is unreachable; traffic is refused", "request"))

    # -- requests --------------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        assert self.gate and self.cfg
        req = flow.request
        st = FlowState(req.url, req.host.lower(), time.time())
        flow.metadata["ptaudit"] = st
        if not self.recording():
            self.refuse(flow)
            return
        hdr_bytes = sum(len(k) + len(v) + 4 for k, v in req.headers.fields)
        v = (Verdict(431, "network.max_header_bytes", f"request headers are {hdr_bytes} bytes", "request")
             if hdr_bytes > self.cfg.network.max_header_bytes else self.gate.host(st.host, "request"))
        if v is None and (hit := self.gate.url(req.method, st.url)) is not None:
            v = Verdict(403, hit[0].id, hit[1].reason, "request")
        recorded_headers = self.headers(req.headers)  # before the credential swap: shows the placeholder
        injected = self.credentials(flow, st) if v is None else False
        size = _length(req.headers)
        big = bool(req.stream) or size is None and "chunked" in req.headers.get("transfer-encoding", "").lower() or (
            size is not None and size > self.cfg.stream_threshold)  # req.stream: mitmproxy's stream_large_bodies
        if v is None:
            if (target := self.gate.target(st.host)) is not None:
                scheme, host, port = target
                req.data.host, req.data.port, req.scheme = host, port, scheme  # Host header stays the original
                st.upstream = f"{scheme}://{host}:{port}"
            if big:
                st.req_body = BodyRecorder(self.store, self.cap(), self.secrets)  # type: ignore[arg-type]
                req.stream = self.request_stream(flow, st)
        self.emit("net.request", {
            "flow": flow.id, "method": req.method, "url": st.url, "host": st.host, "port": req.port if not st.upstream else None,
            "http_version": req.http_version, "headers": recorded_headers, "client": list(flow.client_conn.peername or ()),
            "upstream": st.upstream, "injected": injected, "body_announced": size,
            "blocked": v is not None, "rule": v.rule if v else None, "reason": v.reason if v else None,
            "via_repo": self.redirects.get(st.url)})
        if v is not None:
            st.blocked = v
            self.blocked(flow, st, v)
            if big:  # mitmproxy would buffer the whole body before answering: cut it off instead
                flow.kill()
            else:
                flow.response = self.error_response(v)

    def credentials(self, flow: http.HTTPFlow, st: FlowState) -> bool:
        """Swap placeholder -> real key on the api host's auth headers; report any other sighting."""
        req, injected = flow.request, False
        pair = self.inject.get(st.host)
        if pair is not None:
            ph, real = pair
            if req.headers.get("authorization", "") == f"Bearer {ph}":
                req.headers["authorization"], injected = f"Bearer {real}", True
            if req.headers.get("x-api-key", "") == ph:
                req.headers["x-api-key"], injected = real, True
        for ph, _ in self.inject.values():
            where = [f"header:{k}" for k, v in req.headers.items(multi=True) if ph in v] + (["url"] if ph in st.url else [])
            if where:
                self.emit("net.placeholder_seen", {"flow": flow.id, "host": st.host, "url": st.url, "where": where})
        return injected

    def request_stream(self, flow: http.HTTPFlow, st: FlowState) -> Any:
        rec = st.req_body
        assert rec is not None
        # one finder per placeholder, so a placeholder split across chunks is still seen
        finders = [Finder(ph.encode()) for ph, _ in self.inject.values()]

        def fn(chunk: bytes) -> bytes:
            if finders and not st.extra.get("ph_body") and any([f.feed(chunk) for f in finders]):
                self.placeholder_in_body(flow, st)
            return rec.feed(chunk, final=not chunk)
        return fn

    def scan_body(self, flow: http.HTTPFlow, st: FlowState, data: bytes) -> None:
        if not st.extra.get("ph_body") and any(ph.encode() in data for ph, _ in self.inject.values()):
            self.placeholder_in_body(flow, st)

    def placeholder_in_body(self, flow: http.HTTPFlow, st: FlowState) -> None:
        st.extra["ph_body"] = True
        self.emit("net.placeholder_seen", {"flow": flow.id, "host": st.host, "url": st.url, "where": ["body"]})

    def request(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get("ptaudit")
        if st is None or st.req_body is not None or not flow.request.raw_content:
            return
        self.scan_body(flow, st, flow.request.raw_content)
        st.req_body = BodyRecorder(self.store, self.cap(), self.secrets)  # type: ignore[arg-type]
        flow.request.raw_content = st.req_body.feed_all(flow.request.raw_content)

    # -- responses -------------------------------------------------------------------
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert self.gate and self.cfg and flow.response
        st: FlowState | None = flow.metadata.get("ptaudit")
        if st is None or st.blocked:
            return
        resp, st.t_headers = flow.response, time.time()
        if self.secrets:  # an upstream echoing the key must not hand it to the agent
            resp.headers.fields = tuple((k, self.redact(v.decode("latin-1")).encode("latin-1"))
                                        for k, v in resp.headers.fields)
        if resp.status_code in (301, 302, 303, 307, 308) and (found := hub_repo(flow.request.path)) is not None:
            if len(self.redirects) < _MAX_REDIRECTS:
                self.redirects[resp.headers.get("location", "")] = f"{found[0]}:{found[1]}"
        size = _length(resp.headers)
        if 200 <= resp.status_code < 300 and flow.request.method != "HEAD":
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            for rule, params in self.gate.content_rules:
                m = match_content_headers(rule.id, params, st.url, hdrs, size)
                if m is not None and not excepted(rule, st.url):
                    self.block_in_place(flow, st, Verdict(403, rule.id, m.reason, "response_headers"))
                    return
        st.resp_body = BodyRecorder(self.store, self.cap(), self.secrets)  # type: ignore[arg-type]
        st.sniff_pending = bool(self.gate.content_rules)
        if resp.stream or size is None or size > self.cfg.stream_threshold:  # never let mitmproxy stream past us
            resp.stream = self.response_stream(flow, st, size)

    def block_in_place(self, flow: http.HTTPFlow, st: FlowState, v: Verdict) -> None:
        """Turn the upstream response into our 403 before its headers reach the client; the
        upstream body is drained and dropped, and the client is told to close."""
        assert flow.response
        st.blocked = v
        err = self.error_response(v)
        flow.response.status_code, flow.response.reason = err.status_code, err.reason
        flow.response.headers = err.headers
        flow.response.headers["Connection"] = "close"
        body = err.raw_content or b""

        def fn(chunk: bytes) -> bytes:
            if st.header_block_sent:
                return b""
            st.header_block_sent = True
            return body
        flow.response.stream = fn
        st.extra["error_body"] = body
        self.blocked(flow, st, v)

    def response_stream(self, flow: http.HTTPFlow, st: FlowState, size: int | None) -> Any:
        rec = st.resp_body
        assert rec is not None

        def fn(chunk: bytes) -> bytes:
            st.streamed = True
            if st.cut:
                return b""
            final = not chunk
            out = rec.feed(chunk, final)
            if st.sniff_pending and (len(rec.head) >= 16 or final):
                st.sniff_pending = False
                v = self.content_verdict(st, sniff(rec.head), size, "first_chunk")
                if v is not None:  # headers already went out as sent upstream: cut the body off
                    st.cut = v
                    self.blocked(flow, st, v)
                    return b""
            return out
        return fn

    def response(self, flow: http.HTTPFlow) -> None:
        st: FlowState | None = flow.metadata.get("ptaudit")
        if st is None or flow.response is None:
            return
        resp = flow.response
        if st.blocked and st.blocked.stage == "response_headers" and not st.header_block_sent:
            resp.content = st.extra.get("error_body", b"")  # the upstream had no body to stream
        elif st.resp_body is not None and not st.streamed:
            raw = resp.raw_content or b""
            resp.raw_content = st.resp_body.feed_all(raw)
            v = self.content_verdict(st, sniff(st.resp_body.head), len(raw), "response") if st.sniff_pending else None
            if v is not None:
                self.blocked(flow, st, v)
                st.blocked = v
        if st.cut:
            flow.kill()  # the client sees a truncated body, never the weights
        body = st.resp_body.finish(complete=not st.cut) if st.resp_body else None
        if st.blocked and st.blocked.stage == "response":
            flow.response = self.error_response(st.blocked)
        self.emit("net.response", self.response_data(flow, st, body))

    def response_data(self, flow: http.HTTPFlow, st: FlowState, body: dict[str, Any] | None) -> dict[str, Any]:
        resp, req = flow.response, flow.request
        assert resp
        reqb = st.req_body.finish() if st.req_body else None
        v = st.blocked or st.cut
        blobs = [b["blob"] for b in (body, reqb) if b and b.get("blob")]
        return {
            "flow": flow.id, "method": req.method, "url": st.url, "host": st.host, "status": resp.status_code,
            "reason": resp.reason, "http_version": resp.http_version, "headers": self.headers(resp.headers),
            "content_type": resp.headers.get("content-type"), "encoding": resp.headers.get("content-encoding"),
            "body": body, "request_body": reqb, "size": body["size"] if body else 0,
            "sha256": body["sha256"] if body else None, "sniff": body["sniff"] if body else None,
            "streamed": st.streamed, "upstream": st.upstream, "blobs": blobs,
            "blocked": v is not None, "rule": v.rule if v else None, "stage": v.stage if v else None,
            "timing": _timing(flow, st),
        }

    def error(self, flow: http.HTTPFlow) -> None:
        st: FlowState | None = flow.metadata.get("ptaudit")
        body = st.resp_body.finish(complete=False) if st and st.resp_body else None
        reqb = st.req_body.finish(complete=False) if st and st.req_body else None
        blobs = [b["blob"] for b in (body, reqb) if b and b.get("blob")]
        self.emit("net.error", {"flow": flow.id, "method": flow.request.method,
                                "url": st.url if st else flow.request.pretty_url,
                                "error": self.redact(flow.error.msg if flow.error else "unknown"),
                                "status": flow.response.status_code if flow.response else None,
                                "body": body, "request_body": reqb, "blobs": blobs,
                                "blocked": bool(st and (st.blocked or st.cut))})

    # -- connections -----------------------------------------------------------------
    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        assert self.gate
        if data.server.address is None:
            return
        host, port = str(data.server.address[0]), int(data.server.address[1])
        why: str | None = None
        if not self.gate.world_mode and (v := self.gate.host(host, "server_connect")) is not None:
            why = v.reason  # e.g. a raw tunnel to a denied host: refused before any DNS lookup
        elif not self.gate.world_mode and forbidden_ip(host, set()) is None and not _is_ip(host):
            # Resolve here, check every address, and pin the connection to a checked one, so
            # a name cannot re-resolve to a private address between check and connect.
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                why = f"cannot resolve {host}: {exc}"
            else:
                addrs = [str(i[4][0]) for i in infos]
                bad = [a for a in addrs if forbidden_ip(a, self.gate.own)]
                why = f"{host} resolves to {bad[0]} ({forbidden_ip(bad[0], self.gate.own)})" if bad else None
                if not why and addrs:
                    if data.server.sni is None:
                        data.server.sni = host
                    data.server.address = (addrs[0], port)
        if why is None and data.server.address is not None:
            why = self.gate.server_address(str(data.server.address[0]), int(data.server.address[1]))
        self.emit("net.connect", {"side": "server", "host": host, "port": port,
                                  "address": list(data.server.address or ()), "decision": "block" if why else "allow"})
        if why:
            data.server.error = f"ptaudit: refused upstream connection: {why}"
            self.emit("net.blocked", {"stage": "server_connect", "rule": "network.upstream_address",
                                      "reason": why, "host": host, "port": port, "status": 502})

    def tls_failed_client(self, data: tls.TlsData) -> None:
        self.emit("net.tls_failed", {"side": "client", "sni": data.context.client.sni,
                                     "client": list(data.context.client.peername or ()), "error": data.conn.error})

    def tls_failed_server(self, data: tls.TlsData) -> None:
        self.emit("net.tls_failed", {"side": "server", "sni": data.conn.sni,
                                     "address": list(getattr(data.conn, "address", None) or ()), "error": data.conn.error})

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get("ptaudit")
        self.emit("net.websocket", {"flow": flow.id, "event": "start", "url": st.url if st else flow.request.url})

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket
        m = flow.websocket.messages[-1]
        st = flow.metadata.get("ptaudit")
        data = self.redact(m.content.decode("latin-1")).encode("latin-1")
        blob = self.store.put(data[: self.cap()]) if self.store else None
        self.emit("net.websocket", {"flow": flow.id, "event": "message", "url": st.url if st else None,
                                    "from_client": m.from_client, "type": m.type.name, "size": len(m.content),
                                    "blobs": [blob] if blob else []})
        del flow.websocket.messages[:-1]  # bounded memory on long-lived sockets: each is recorded already

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.emit("net.websocket", {"flow": flow.id, "event": "end",
                                    "close_code": flow.websocket.close_code if flow.websocket else None})


def _length(h: http.Headers) -> int | None:
    try:
        return int(h["content-length"]) if "content-length" in h else None
    except ValueError:
        return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _timing(flow: http.HTTPFlow, st: FlowState) -> dict[str, Any]:
    req, resp = flow.request, flow.response
    end = (resp.timestamp_end if resp and resp.timestamp_end else None) or time.time()
    return {"start": req.timestamp_start, "request_end": req.timestamp_end, "response_start": st.t_headers,
            "end": end, "ttfb_ms": round((st.t_headers - req.timestamp_start) * 1000, 3) if st.t_headers else None,
            "total_ms": round((end - req.timestamp_start) * 1000, 3)}

