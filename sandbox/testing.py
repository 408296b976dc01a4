"""Helpers for tests and benchmarks: loopback servers, mitmdump, a private net namespace.

Networked checks run inside `unshare --net` (only `lo`, which we bring up), so
nothing they start can reach or be reached from the real network.
"""
from __future__ import annotations

import http.server
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

NETNS_ENV = "PTAUDIT_IN_NETNS"


def in_private_netns() -> bool:
    return os.environ.get(NETNS_ENV) == "1"


def reexec_in_netns(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run argv under `unshare --net` with lo up; returns its exit status."""
    script = 'ip link set lo up && exec "$@"'
    env = {**os.environ, **(env or {}), NETNS_ENV: "1"}
    return subprocess.call(["unshare", "--net", "--", "sh", "-c", script, "sh", *argv], env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str]
    blob = b"x" * (1 << 20)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.hits.append(self.path)
        if self.path.startswith("/bytes/"):
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while size:
                n = min(size, len(self.blob))
                self.wfile.write(self.blob[:n])
                size -= n
            return
        body = b"hello from host\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer:
    """HTTP(S) server on 127.0.0.1 recording request paths in .hits."""

    def __init__(self, certfile: Path | None = None) -> None:
        self.hits: list[str] = []
        handler = type("H", (_Handler,), {"hits": self.hits})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if certfile is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port: int = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_server_cert(dest: Path) -> Path:
    """Self-signed cert+key PEM for 127.0.0.1 (the upstream server; mitmdump is told not to verify)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    dest.write_bytes(pem)
    return dest


def start_mitmdump(confdir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """Plain mitmdump (regular mode) on 127.0.0.1; its CA is generated in confdir."""
    exe = shutil.which("mitmdump") or str(Path(sys.executable).with_name("mitmdump"))
    port = free_port()
    proc = subprocess.Popen([exe, "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
                             "--set", f"confdir={confdir}", "--set", "stream_large_bodies=1m",
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if (confdir / "mitmproxy-ca-cert.pem").is_file():
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("mitmdump did not start")
