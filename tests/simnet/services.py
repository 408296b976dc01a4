"""Fake LLM APIs (OpenAI- and Anthropic-compatible), a PyPI simple index with its files
host, and a paste site. Each records what it received so tests can assert on it."""

from __future__ import annotations

import hashlib
import html
import json
import threading

from .server import Req, Resp, json_resp, ranged


class LlmApi:
    """``POST /v1/chat/completions`` (OpenAI) and ``POST /v1/messages`` (Anthropic).

    ``keys_seen`` lists the credentials that arrived (Authorization bearer / x-api-key).
    ``/v1/debug/echo-auth`` answers with the credential it got, in a header and the body:
    an upstream that leaks the key back, to test that the proxy redacts it.
    """

    def __init__(self) -> None:
        self.keys_seen: list[str] = []

    def app(self, req: Req) -> Resp:
        key = req.headers.get("x-api-key") or req.headers.get("authorization", "").removeprefix("Bearer ")
        if key:
            self.keys_seen.append(key)
        if req.path == "/v1/debug/echo-auth":
            return json_resp({"you_sent": key, "note": f"key={key}"}, headers={"X-Echo-Key": key})
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return json_resp({"error": {"message": "invalid json"}}, 400)
        if req.method == "POST" and req.path == "/v1/chat/completions":
            return json_resp({"id": "chatcmpl-sim", "object": "chat.completion", "model": body.get("model", "sim"),
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": "simulated reply"}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
        if req.method == "POST" and req.path == "/v1/messages":
            return json_resp({"id": "msg_sim", "type": "message", "role": "assistant", "model": body.get("model", "sim"),
                              "content": [{"type": "text", "text": "simulated reply"}], "stop_reason": "end_turn",
                              "usage": {"input_tokens": 1, "output_tokens": 2}})
        return json_resp({"error": {"message": f"no route {req.method} {req.path}"}}, 404)


class PyPI:
    """``pypi.org/simple/<pkg>/`` listing wheels served by ``files.pythonhosted.org``."""

    def __init__(self, packages: dict[str, dict[str, bytes]], files_url: str):
        self.packages = {k.lower().replace("_", "-"): v for k, v in packages.items()}
        self.files_url = files_url.rstrip("/")
        self.files = {f"/packages/{hashlib.sha256(d).hexdigest()[:8]}/{name}": d
                      for files in packages.values() for name, d in files.items()}

    def index_app(self, req: Req) -> Resp:
        parts = [p for p in req.path.split("/") if p]
        if parts == ["simple"]:
            links = "".join(f'<a href="/simple/{p}/">{p}</a>\n' for p in sorted(self.packages))
            return Resp(200, f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), {"Content-Type": "text/html"})
        if len(parts) == 2 and parts[0] == "simple" and parts[1].lower() in self.packages:
            links = ""
            for path, data in self.files.items():
                if path.rsplit("/", 1)[1] in self.packages[parts[1].lower()]:
                    sha = hashlib.sha256(data).hexdigest()
                    links += f'<a href="{html.escape(self.files_url + path)}#sha256={sha}">{path.rsplit("/", 1)[1]}</a>\n'
            return Resp(200, f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), {"Content-Type": "text/html"})
        return Resp(404, b"Not Found", {"Content-Type": "text/plain"})

    def files_app(self, req: Req) -> Resp:
        data = self.files.get(req.path)
        if data is None:
            return Resp(404, b"Not Found")
        return Resp(200, data, {"Content-Type": "application/octet-stream"})


class Paste:
    """``POST /api/paste`` stores the body and answers ``{"id", "url"}``; ``GET /raw/<id>``."""

    def __init__(self) -> None:
        self.pastes: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def app(self, req: Req) -> Resp:
        if req.method == "POST" and req.path == "/api/paste":
            with self._lock:
                pid = f"p{len(self.pastes)}"
                self.pastes[pid] = req.body
            return json_resp({"id": pid, "url": f"https://pastebin.com/raw/{pid}"}, 201)
        if req.path.startswith("/raw/") and (data := self.pastes.get(req.path[5:])) is not None:
            return Resp(200, data, {"Content-Type": "text/plain"})
        return Resp(404, b"Not Found")


class Mirror:
    """A file host that is not the Hub: ``files`` maps opaque paths (``/d/8f3a...``) to bytes,
    served with Range support and no hint of what they are (no file name, no type)."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.files = dict(files or {})

    def app(self, req: Req) -> Resp:
        data = self.files.get(req.path)
        if data is None:
            return Resp(404, b"Not Found")
        return ranged(req, data, {"ETag": f'"{hashlib.sha256(data).hexdigest()[:16]}"'})
