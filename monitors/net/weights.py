"""The weights addon: every response body that is model weights (by its first bytes, not
its name) is fingerprinted per tensor as it streams (``net.weights``; the tracking and the
joining of Range pieces are in weights_track.py, the fingerprints in detectors/fingerprint.py).

It observes the body as forwarded (after the credentials addon's masking, and whatever the
gate decides: a body the gate cuts after its first chunk still shows its tensor table).
The event is noted on the flow, so the record addon writes it after the flow's net.request;
it is written before the flow's net.response. A failure in any of its hooks or its body
observer kills the flow and records ``monitor.fault`` (guard.py): a weights body is never
let through unfingerprinted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mitmproxy import http

from .guard import Addon, hook
from .weights_track import WeightsBody, WeightsTracker

if TYPE_CHECKING:
    from .runtime import Runtime

_META = "ptaudit.weights"  # flow.metadata key of the flow's WeightsBody


class Weights(Addon):
    name = "net.weights"

    def __init__(self, rt: Runtime):
        super().__init__(rt)
        self.tracker = WeightsTracker()

    @hook
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response
        st, resp = self.rt.state(flow), flow.response
        if st.own_response:
            return
        w = self.tracker.body(st.url, st.host, st.id, resp.status_code, st.method,
                              {k.lower(): v for k, v in resp.headers.items()})
        if w is None:
            return
        flow.metadata[_META] = w

        def observe(chunk: bytes, final: bool) -> None:
            w.feed(chunk)
        st.response.observe(self.name, observe)

    @hook
    def response(self, flow: http.HTTPFlow) -> None:
        st = self.rt.state(flow)
        self._end(flow, cut=st.blocked is not None or st.response.stopped)

    @hook
    def error(self, flow: http.HTTPFlow) -> None:
        self._end(flow, cut=True)

    def _end(self, flow: http.HTTPFlow, cut: bool) -> None:
        w: WeightsBody | None = flow.metadata.pop(_META, None)
        if w is None:
            return
        ev = w.finish(blocked=cut)
        if ev is not None:
            self.rt.state(flow).note(ev)
