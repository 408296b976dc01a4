"""The first addon: what every other addon shares, and the flow plumbing they rely on.

- Process state (``rt``): the config (``--set ptaudit_config=net.json``), the recorder
  connection, the blob store, the real keys (``secrets``, filled by the credentials addon),
  the test-only fault plan (``PTAUDIT_NET_FAULT``, guard.FaultPlan).
- Per flow, before any other addon's hook: it creates the :class:`FlowState` from the
  request exactly as the client sent it, decides which bodies stream through the flow's
  body pipes (so mitmproxy never buffers a large body nor streams one past the filters),
  and runs buffered bodies through the pipes before the ``request``/``response`` hooks.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from ptaudit.core.blobs import BlobStore
from ptaudit.core.client import RecorderClient
from ptaudit.core.events import EventData, MonitorFault

from .body import Secrets
from .config import AddonConfig
from .guard import Addon, FaultPlan, fail_flow, hook
from .state import KEY, BodyPipe, FlowState, content_length

OPTIONS = ("connection_strategy", "stream_large_bodies", "body_size_limit", "listen_host", "listen_port")


class Runtime(Addon):
    name = "net.runtime"

    def __init__(self) -> None:
        super().__init__(self)
        self.cfg: AddonConfig | None = None
        self.client: RecorderClient | None = None
        self.store: BlobStore | None = None
        self.store_cap = 0
        self.secrets = Secrets([])
        self.options: dict[str, str] = {}  # the mitmproxy options that matter, as configured
        self.refused = 0  # requests refused while the recorder was unreachable (gate)
        self.faults = FaultPlan(os.environ.get("PTAUDIT_NET_FAULT", ""))

    # -- lifecycle ---------------------------------------------------------------------
    @hook
    def load(self, loader: Any) -> None:
        loader.add_option("ptaudit_config", str, "", "Path of the ptaudit network config JSON (monitors/net/config.py).")

    @hook
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
        self.options = {k: str(getattr(ctx.options, k)) for k in OPTIONS}
        self.cfg, self.store = cfg, BlobStore(Path(cfg.blob_dir))
        self.store_cap = max(cfg.network.store_body_max, cfg.network.keep_head)  # bytes of each body stored
        self.client = RecorderClient(cfg.recorder_socket, cfg.producer)

    # -- services for the other addons (no properties: mitmproxy getattr()s them all) ----
    def record(self, ev: EventData) -> None:
        assert self.client
        self.client.record(ev)

    def fault(self, ev: MonitorFault) -> None:
        if self.client is not None:  # before configure there is nowhere to record: the log has it
            self.client.record(ev)

    def flush(self, timeout: float) -> None:
        if self.client is not None:
            self.client.flush(timeout)

    def recording(self) -> bool:
        """Fail closed: traffic passes only while the recorder is connected."""
        return bool(self.client and self.client.connected.is_set())

    def state(self, flow: http.HTTPFlow) -> FlowState:
        """The flow's shared state, created from the request as the client sent it."""
        st: FlowState | None = flow.metadata.get(KEY)
        if st is None:
            req = flow.request
            url = req.pretty_url if req.method == "CONNECT" else req.url
            on_fault = functools.partial(self._pipe_fault, flow)
            wrap = functools.partial(self._wrap_filter, url)
            st = FlowState(flow.id, req.method, url, req.host.lower(), req.headers.fields, time.time(),
                           BodyPipe("request", on_fault, wrap), BodyPipe("response", on_fault, wrap))
            flow.metadata[KEY] = st
        return st

    def _pipe_fault(self, flow: http.HTTPFlow, owner: str, where: str, exc: BaseException) -> None:
        fail_flow(self, owner, where, exc, flow)

    def _wrap_filter(self, url: str, owner: str, where: str, fn: Any) -> Any:
        return self.faults.wrap(owner, where, url, fn)

    # -- flow plumbing (first in every flow hook) ---------------------------------------
    @hook
    def http_connect(self, flow: http.HTTPFlow) -> None:
        self.state(flow)

    @hook
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        assert self.cfg
        st, req = self.state(flow), flow.request
        size = content_length(req.headers)
        # req.stream is mitmproxy's own stream_large_bodies decision: always take it over
        if req.stream or (size is None and "chunked" in req.headers.get("transfer-encoding", "").lower()) or (
                size is not None and size > self.cfg.stream_threshold):
            st.request.stream(req)

    @hook
    def request(self, flow: http.HTTPFlow) -> None:
        self.state(flow).request.drain(flow.request)

    @hook
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert self.cfg and flow.response
        st, resp = self.state(flow), flow.response
        if st.own_response:
            return
        st.t_headers = time.time()
        size = content_length(resp.headers)
        if resp.stream or size is None or size > self.cfg.stream_threshold:
            st.response.stream(resp)

    @hook
    def response(self, flow: http.HTTPFlow) -> None:
        st = self.state(flow)
        if flow.response is not None and not st.own_response:
            st.response.drain(flow.response)
