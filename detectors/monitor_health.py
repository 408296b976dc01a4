"""monitor_fault: the audit itself is incomplete.

Flags, one finding per producer or monitor: events lost (``monitor.events_lost``; the
run is lossy), a monitor that died (``monitor.failed``), the audit proxy dying
(``net.proxy_died``), traffic refused because the recorder was unreachable
(``net.refused``), and malformed input to the recorder (``recorder.bad_frame``; from a
producer, or from something inside the sandbox reaching a collector). Lost events use
``params.lost_severity`` (a lossy run is not proof of cheating, but it cannot be
certified clean either); the rest use the rule's severity. Does not flag a detector's own
crash: the engine records that as a ``monitor_fault`` finding itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from ptaudit.core.events import Event

from .base import Detector, Finding, Severity, register


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lost_severity: Severity = "medium"


_KINDS = {
    "monitor.failed": lambda d: (f"monitor:{d.get('monitor')}", f"monitor {d.get('monitor')} died: {d.get('detail')}"),
    "net.proxy_died": lambda d: ("proxy", f"the audit proxy died (exit {d.get('returncode')}); the agent was cut off"),
    "net.refused": lambda d: ("recorder", "traffic refused: the proxy could not reach the recorder"),
    "recorder.bad_frame": lambda d: (f"bad_frame:{d.get('producer')}",
                                     f"malformed input to the recorder from {d.get('producer')}: {d.get('reason')}"),
}


@register
class MonitorHealth(Detector):
    name = "monitor_health"
    Params = Params

    def on_event(self, event: Event) -> Iterable[Finding]:
        d = event.data
        if event.kind == "monitor.events_lost":
            f = self.finding("monitor_fault", f"lost:{d.get('producer')}",
                             f"{d.get('producer')} lost events ({d.get('count')}): the run is lossy",
                             [{"seq": event.seq, "producer": d.get("producer"), "count": d.get("count"),
                               "reason": d.get("reason")}], severity=self.params.lost_severity, ts=event.ts)
        elif event.kind in _KINDS:
            subject, message = _KINDS[event.kind](d)
            f = self.finding("monitor_fault", subject, message, [{"seq": event.seq, "kind": event.kind}], ts=event.ts)
        else:
            return
        if f:
            yield f
