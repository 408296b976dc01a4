"""monitor_fault: the audit itself is incomplete.

Flags, one finding per producer or monitor: events lost (``monitor.events_lost``; the
run is lossy), a monitor that died (``monitor.failed``), a monitor's code failing on one
input (``monitor.fault``: an addon hook, a decoder; the input was stopped), the audit proxy dying
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

from ptaudit.core.events import (
    BadFrame,
    Event,
    EventData,
    EventsLost,
    MonitorFailed,
    MonitorFault,
    NetRefused,
    ProxyDied,
)

from .base import Detector, Finding, Severity, register


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lost_severity: Severity = "medium"


def _subject_message(p: EventData) -> tuple[str, str] | None:
    if isinstance(p, MonitorFailed):
        return f"monitor:{p.monitor}", f"monitor {p.monitor} died: {p.detail}"
    if isinstance(p, MonitorFault):
        return (f"fault:{p.monitor}:{p.where}",
                f"{p.monitor} failed in {p.where} ({p.error}); the {p.action} input was not observed normally")
    if isinstance(p, ProxyDied):
        return "proxy", f"the audit proxy died (exit {p.returncode}); the agent was cut off"
    if isinstance(p, NetRefused):
        return "recorder", "traffic refused: the proxy could not reach the recorder"
    if isinstance(p, BadFrame):
        return f"bad_frame:{p.producer}", f"malformed input to the recorder from {p.producer}: {p.reason}"
    return None


@register
class MonitorHealth(Detector):
    name = "monitor_health"
    kinds = (EventsLost, MonitorFailed, MonitorFault, ProxyDied, NetRefused, BadFrame)
    Params = Params

    def on_event(self, event: Event) -> Iterable[Finding]:
        p = event.payload
        if p is None:
            return
        if isinstance(p, EventsLost):
            n = "an unknown number of" if p.count < 0 else str(p.count)
            f = self.finding("monitor_fault", f"lost:{p.producer}", f"{p.producer} lost {n} events: the run is lossy",
                             [{"seq": event.seq, "producer": p.producer, "count": p.count, "reason": p.reason}],
                             severity=self.params.lost_severity, ts=event.ts)
        elif (sm := _subject_message(p)) is not None:
            f = self.finding("monitor_fault", sm[0], sm[1], [{"seq": event.seq, "kind": event.kind}], ts=event.ts)
        else:
            return
        if f:
            yield f
