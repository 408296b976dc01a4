"""Events the recorder writes about its producers (source ``ptaudit``)."""

from __future__ import annotations

from pydantic import Field

from .base import EventData


class ProducerConnected(EventData):
    """A producer in another process connected to the recorder."""

    KIND = "recorder.producer_connected"
    SOURCE = "ptaudit"
    producer: str | None = Field(default=None, description="Producer family, e.g. net.")
    id: str | None = Field(default=None, description="Producer instance id (resends are matched on it).")


class ProducerDisconnected(EventData):
    """A producer's connection to the recorder ended."""

    KIND = "recorder.producer_disconnected"
    SOURCE = "ptaudit"
    producer: str | None = None
    id: str | None = None


class ProducerPartial(EventData):
    """A producer's connection ended in the middle of a frame."""

    KIND = "recorder.producer_partial"
    SOURCE = "ptaudit"
    producer: str | None = None
    bytes: int = Field(description="Bytes of the unfinished frame.")


class BadFrame(EventData):
    """Malformed input on the recorder socket: never a crash, always a record."""

    KIND = "recorder.bad_frame"
    SOURCE = "ptaudit"
    producer: str | None = None
    reason: str = Field(description="invalid_json, not_an_object, bad_fields or frame_too_large.")
    bytes: int
