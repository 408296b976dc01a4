"""The HTTP(S) plumbing of simnet: a threaded server per service, apps as plain functions.

An app maps a :class:`Req` to a :class:`Resp`; ``Resp.body`` may be an iterable of chunks
(with ``length`` set) so multi-GiB bodies stream with flat memory.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    host: str  # Host header without port


@dataclass
class Resp:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # required when body is an iterable


App = Callable[[Req], Resp]


def ranged(req: Req, data: bytes, headers: dict[str, str] | None = None) -> Resp:
    """``data`` as 200, or as 206 with Content-Range for a ``Range: bytes=a-b`` request
    (one range; ``a-``, ``-n`` suffixes too), or 416 when it is unsatisfiable."""
    h = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **(headers or {})}
    spec = req.headers.get("range", "")
    if not spec.startswith("bytes=") or "," in spec:
        return Resp(200, data, h)
    a, _, b = spec[6:].strip().partition("-")
    n = len(data)
    try:
        start, end = (n - int(b), n - 1) if a == "" else (int(a), min(int(b), n - 1) if b else n - 1)
    except ValueError:
        return Resp(200, data, h)
    if start < 0 or start >= n or end < start:
        return Resp(416, b"", {**h, "Content-Range": f"bytes */{n}"})
    return Resp(206, data[start:end + 1], {**h, "Content-Range": f"bytes {start}-{end}/{n}"})


def json_resp(obj: object, status: int = 200, headers: dict[str, str] | None = None) -> Resp:
    import json

    return Resp(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self) -> None:
        u = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = b""
        if (n := int(headers.get("content-length") or 0)) > 0:
            body = self.rfile.read(n)
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        req = Req(self.command, u.path, parse_qs(u.query), headers, body,
                  headers.get("host", "").rsplit(":", 1)[0] if "]" not in headers.get("host", "") else "")
        self.server.requests.append(req)
        try:
            resp = self.server.app(req)
        except Exception as exc:  # noqa: BLE001 - a test server reports, never dies
            resp = Resp(500, f"simnet error: {exc!r}".encode())
        self._send(resp)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    def _send(self, resp: Resp) -> None:
        body = resp.body
        length = len(body) if isinstance(body, bytes) else resp.length
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if "Content-Length" not in resp.headers and length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if isinstance(body, bytes):
                self.wfile.write(body)
            else:
                for chunk in body:
                    self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: App, tls: ssl.SSLContext | None):
        self.app = app
        self.tls = tls
        self.requests: list[Req] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        # The TLS handshake runs in the per-connection thread, so one stalled client
        # cannot block accept() for everyone else.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)  # type: ignore[arg-type]


class Service:
    """One app on its own 127.0.0.1 port, served from a background thread."""

    def __init__(self, app: App, tls: ssl.SSLContext | None = None):
        self._srv = _Server(app, tls)
        self.port = self._srv.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Req]:
        return self._srv.requests

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()
