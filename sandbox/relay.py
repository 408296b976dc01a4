"""Host side of the egress path: Unix socket (bind-mounted into the sandbox) -> mitmdump TCP.

The sandbox has no network (--network=none); its forwarder connects to this
socket through runsc's --host-uds=open, and every byte is relayed to the audit
proxy. The relay never parses traffic; if the proxy is down the connection is
closed (fail closed).

Speed: bytes move with os.splice through a pipe (zero-copy in the host kernel),
1 MiB per call, one thread per direction. Run it in its own process
(`python -m sandbox.relay SOCK HOST:PORT`) so it does not share a GIL with the
orchestrator.
"""
from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
from pathlib import Path

CHUNK = 1 << 20
SOCKBUF = 4 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def parse_target(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _tune(s: socket.socket) -> None:
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, SOCKBUF)
        except OSError:
            pass


def _pump_splice(src: socket.socket, dst: socket.socket) -> None:
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass  # unprivileged pipe-size cap; smaller chunks still work
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, CHUNK)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dfd, n)
    finally:
        os.close(r)
        os.close(w)


def _pump_copy(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := src.recv_into(buf):
        dst.sendall(view[:n])


_pump = _pump_splice if hasattr(os, "splice") else _pump_copy


def _half(src: socket.socket, dst: socket.socket) -> None:
    try:
        _pump(src, dst)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Relay:
    """Listen on a Unix socket; relay each connection to target (mitmdump's host:port)."""

    def __init__(self, socket_path: Path, target: tuple[str, int]) -> None:
        self.socket_path = socket_path
        self.target = target
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connections = 0

    def start(self) -> None:
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket_path.unlink(missing_ok=True)
        lst.bind(str(self.socket_path))
        # The agent uid must be able to connect; the dir is mounted read-only.
        os.chmod(self.socket_path, 0o666)
        lst.listen(128)
        self._listener = lst
        self._thread = threading.Thread(target=self._accept, args=(lst,), name="relay", daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        # The listener is passed in: stop() may clear self._listener while we wait here.
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by stop()
            self.connections += 1
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            up = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()  # proxy down: fail closed
            return
        up.settimeout(None)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _tune(up)
        _tune(client)
        back = threading.Thread(target=_half, args=(up, client), daemon=True)
        back.start()
        _half(client, up)
        back.join()
        client.close()
        up.close()

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self.socket_path.unlink(missing_ok=True)
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sandbox.relay SOCKET HOST:PORT", file=sys.stderr)
        return 2
    relay = Relay(Path(argv[0]), parse_target(argv[1]))
    relay.start()
    # Tell the parent we are listening (it waits for this line before starting runsc).
    print("ready", flush=True)
    try:
        sys.stdin.read()  # parent closes our stdin (or dies) -> exit
    finally:
        relay.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
