"""Events about the audit's own health (source ``ptaudit`` unless a monitor reports itself)."""

from __future__ import annotations

from pydantic import Field

from .base import EventData


class EventsLost(EventData):
    """A producer could not deliver or observe ``count`` events (-1: an unknown number).
    Any such event makes the run lossy."""

    KIND = "monitor.events_lost"
    SOURCE = "ptaudit"
    producer: str | None = None
    count: int = Field(description="Events lost; -1 when the number is unknown.")
    reason: str | None = None
    monitor: str | None = None
    estimated: bool = Field(default=False, description="count is a lower bound (e.g. inferred by a rescan).")
    rescan_changes: int | None = Field(default=None, description="Differences a rescan found after the loss.")


class MonitorFailed(EventData):
    """A monitor stopped being able to observe what it promised (fail closed per policy)."""

    KIND = "monitor.failed"
    SOURCE = "ptaudit"
    monitor: str
    detail: str = ""


class MonitorFault(EventData):
    """Code in a monitor failed on one input (an addon hook, a decoder): the flow or item
    was stopped, and this records why. The audit goes on, flagged."""

    KIND = "monitor.fault"
    SOURCE = "ptaudit"
    monitor: str = Field(description="Which monitor (e.g. net.record).")
    where: str = Field(description="The hook or step that failed (e.g. responseheaders).")
    error: str = Field(description="Exception type and message.")
    flow: str | None = Field(default=None, description="The flow it concerned, if any.")
    url: str | None = None
    action: str = Field(default="killed", description="What was done about it (killed, skipped).")


class MonitorStatus(EventData):
    """A monitor's own account of itself at stop."""

    KIND = "monitor.status"
    SOURCE = "ptaudit"
    monitor: str
    healthy: bool
    events: int
    lost: int
    detail: str = ""
