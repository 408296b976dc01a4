"""A websocket echo server and a client that talks to it through the proxy (wsproto over
plain sockets; wsproto comes with mitmproxy)."""

from __future__ import annotations

import socket
import threading
import time

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection, Request, TextMessage


class WsEcho:
    """Echoes every text message as ``echo:<text>``; ``received`` lists what reached it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        with conn:
            while data := conn.recv(65536):
                ws.receive_data(data)
                for ev in ws.events():
                    if isinstance(ev, Request):
                        conn.sendall(ws.send(AcceptConnection()))
                    elif isinstance(ev, TextMessage):
                        self.received.append(ev.data)
                        conn.sendall(ws.send(TextMessage(data=f"echo:{ev.data}")))
                    elif isinstance(ev, CloseConnection):
                        conn.sendall(ws.send(ev.response()))
                        return

    def stop(self) -> None:
        self._closing = True
        self.sock.close()


def ws_exchange(proxy_port: int, host: str, path: str, text: str, wait: float = 1.0) -> list[str]:
    """Open ws://host/path through the proxy, send ``text``, close; the replies received."""
    ws = WSConnection(ConnectionType.CLIENT)
    replies: list[str] = []
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as c:
        c.sendall(ws.send(Request(host=host, target=f"http://{host}{path}")))
        _until(c, ws, lambda ev: isinstance(ev, AcceptConnection | RejectConnection), replies, 10)
        c.sendall(ws.send(TextMessage(data=text)))
        _until(c, ws, lambda ev: isinstance(ev, TextMessage), replies, wait)
        c.sendall(ws.send(CloseConnection(code=1000)))
        _until(c, ws, lambda ev: isinstance(ev, CloseConnection), replies, wait)
    return replies


def _until(c: socket.socket, ws: WSConnection, done: object, replies: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        c.settimeout(left)
        try:
            data = c.recv(65536)
        except (TimeoutError, OSError):
            return
        ws.receive_data(data or None)
        for ev in ws.events():
            if isinstance(ev, TextMessage):
                replies.append(ev.data)
            if isinstance(ev, RejectConnection):
                raise ConnectionError(f"websocket refused: {ev.status_code}")
            if done(ev):  # type: ignore[operator]
                return
        if not data:
            return
