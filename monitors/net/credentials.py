"""The credentials addon: the per-run placeholder becomes the real API key on the way to the
task's API host, and only there; the real key is masked in everything sent back to the
client; every other sighting of the placeholder is reported (``net.placeholder_seen``).

The real keys are read here (from the env var or file the config names, never from the
config itself) and published as ``rt.secrets``, which the record addon masks in everything
it records. Runs after the gate: a blocked request never gets the real key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import exceptions, http

from ptaudit.core.events import PlaceholderSeen

from .body import Finder, Secrets
from .guard import Addon, hook
from .state import BodyPipe, FlowState, Observer

if TYPE_CHECKING:
    from .runtime import Runtime


class Credentials(Addon):
    name = "net.credentials"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.inject: dict[str, tuple[str, str]] = {}  # api host -> (placeholder, real key)

    @hook
    def configure(self, updated: set[str]) -> None:
        if "ptaudit_config" not in updated or self.rt.cfg is None:
            return
        for c in self.rt.cfg.credentials:
            key = c.real_key()
            if not key:
                raise exceptions.OptionsError(f"credential for {c.api_host}: no real key in env {c.key_env} / file {c.key_file}")
            self.inject[c.api_host.lower()] = (c.placeholder, key)
        self.rt.secrets = Secrets([k for _, k in self.inject.values()])

    @hook
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        st, req = self.rt.state(flow), flow.request
        # Bodies are scanned and masked even for blocked requests: what the agent tried to
        # send is evidence, and a blocked body may still be recorded.
        if self.inject:
            st.request.observe(self.name, self._body_sighting(st))
        self._mask(st.request)
        if st.blocked or st.refused:
            return
        pair = self.inject.get(st.host)
        if pair is not None:
            ph, real = pair
            if req.headers.get("authorization", "") == f"Bearer {ph}":
                req.headers["authorization"], st.injected = f"Bearer {real}", True
            if req.headers.get("x-api-key", "") == ph:
                req.headers["x-api-key"], st.injected = real, True
        for ph, _ in self.inject.values():
            where = [f"header:{k}" for k, v in req.headers.items(multi=True) if ph in v] + (["url"] if ph in st.url else [])
            if where:
                st.note(PlaceholderSeen(flow=st.id, host=st.host, url=st.url, where=where))

    def _body_sighting(self, st: FlowState) -> Observer:
        """Report the placeholder in the request body, once; one finder per placeholder, so
        one split across chunks is still seen."""
        finders = [Finder(ph.encode()) for ph, _ in self.inject.values()]

        def observe(chunk: bytes, final: bool) -> None:
            if finders and any([f.feed(chunk) for f in finders]):
                finders.clear()
                st.note(PlaceholderSeen(flow=st.id, host=st.host, url=st.url, where=["body"]))
        return observe

    def _mask(self, pipe: BodyPipe) -> None:
        """Mask the real key in the body forwarded (same length: Content-Length stays valid)."""
        redactors = self.rt.secrets.redactors()
        if not redactors:
            return

        def transform(chunk: bytes, final: bool) -> bytes:
            for r in redactors:
                chunk = r.feed(chunk, final)
            pipe.masked = sum(r.count for r in redactors)
            return chunk
        pipe.transform(self.name, transform)

    @hook
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response
        st, resp = self.rt.state(flow), flow.response
        if st.own_response or not self.rt.secrets:
            return
        # an upstream echoing the key must not hand it to the agent
        resp.headers.fields = tuple((k, self.rt.secrets.text(v.decode("latin-1")).encode("latin-1"))
                                    for k, v in resp.headers.fields)
        if not st.blocked:
            self._mask(st.response)

    @hook
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        assert flow.websocket
        m = flow.websocket.messages[-1]
        if self.rt.secrets:
            m.content = self.rt.secrets.data(m.content)
