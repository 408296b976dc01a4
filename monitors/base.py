"""The monitor interface: a small class with its config model beside it.

    mon = FsWatch(FsWatchConfig(workspace=ws), blobs=session.rundir.blobs)
    mon.start(session.record)      # record(typed event) is its only output
    ...
    mon.stop()
    mon.status()                   # MonitorStatus(healthy, events, lost, detail)

The orchestrator starts and stops monitors and polls ``status()``; a monitor whose
``healthy`` turns false is treated as dead (policy ``monitors.on_failure``: fail closed).
A monitor never raises out of its threads: a fault makes it unhealthy with the reason in
``detail``, and loss it knows of is both counted in ``lost`` and recorded as a
``monitor.events_lost`` event.

Monitors register by decorator (``@register``) with one declared ``source``; ``ptaudit
run`` builds every registered monitor from a :class:`MonitorContext` (``from_context``),
in its ``phase``, and the report draws one lane per source. Third-party monitors come in
through the ``ptaudit.monitors`` entry-point group.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ptaudit.core.events import EventData, EventsLost
from ptaudit.core.plugins import Registry

if TYPE_CHECKING:
    from policies.schema import Policy
    from ptaudit.core.blobs import BlobStore
    from ptaudit.core.task import Task

Record = Callable[[EventData], Any]
"""``record(event)``: RunSession.record, RecorderClient.record, or a test list's append."""

BATCH_MAX = 4096  # events a monitor hands over at once inside ``_batch()``


def record_many_of(record: Record) -> Callable[[list[EventData]], Any] | None:
    """``record_many`` of the object whose ``record`` method ``record`` is (RunSession,
    Recorder, RecorderClient): a batch then costs one durability wait, not one per event."""
    if getattr(record, "__name__", None) != "record":
        return None
    many = getattr(getattr(record, "__self__", None), "record_many", None)
    return many if callable(many) else None

Phase = Literal["before_agent", "with_sandbox"]


@dataclass
class MonitorContext:
    """What ``ptaudit run`` hands a monitor to build itself from."""

    policy: Policy
    task: Task
    workspace: Path
    blobs: BlobStore
    state_dir: Path  # private, per monitor: sockets, config files
    container_id: str | None = None  # phase "with_sandbox" only
    runsc_root: Path | None = None  # phase "with_sandbox" only
    runsc: str = "runsc"


class MonitorConfig(BaseModel):
    """Base of every monitor's config: strict (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MonitorStatus(BaseModel):
    """A monitor's own view of its health."""

    model_config = ConfigDict(frozen=True)

    healthy: bool = Field(description="False once the monitor can no longer guarantee its coverage.")
    events: int = Field(description="Events emitted so far.")
    lost: int = Field(description="Events known to be lost (-1 where the amount is unknown).")
    detail: str = Field(default="", description="Human-readable state or the reason it is unhealthy.")


class Monitor(ABC):
    """Base class: counts emitted events, records faults, exposes status().

    Subclasses call ``self._emit(kind, data)`` (the source is ``self.source``) and
    ``self._fail(reason)`` when they can no longer observe what they promised to.
    """

    source: ClassVar[str] = "ptaudit"
    name: ClassVar[str] = "monitor"
    producer: ClassVar[str] = ""  # monitor.events_lost's producer; defaults to source
    phase: ClassVar[Phase] = "before_agent"
    """before_agent: listening before the sandbox starts; with_sandbox: needs its container."""
    lane: ClassVar[int] = 50
    """Position of this monitor's source among the report's timeline lanes (low first)."""

    @classmethod
    def from_context(cls, ctx: MonitorContext) -> Monitor | None:
        """Build from a run's context; None when this monitor does not apply to the run."""
        raise NotImplementedError(f"{cls.__name__} cannot be built by ptaudit run")

    def runsc_flags(self, path: Path | None = None) -> list[str]:
        """Global runsc flags this monitor needs (the trace sink's session config)."""
        return []

    def __init__(self) -> None:
        self._record_fn: Record | None = None
        self._events = 0
        self._lost = 0
        self._lost_unknown = False
        self._fault: str | None = None
        self._detail = "not started"
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._local = threading.local()  # .batch: events held by _batch() in this thread

    # -- a periodic sampler thread (the GPU and resources monitors) ------------------
    def _start_sampler(self, loop: Callable[[], None], name: str) -> None:
        self._thread = threading.Thread(target=loop, name=name, daemon=True)
        self._thread.start()

    def _stop_sampler(self, timeout: float = 30.0) -> bool:
        """Signal the sampler (it waits on ``self._stop``) and join it; False when already
        stopped, which keeps ``stop()`` idempotent."""
        if self._stop.is_set():
            return False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return True

    @abstractmethod
    def start(self, record: Record) -> None:
        """Begin observing; returns once the monitor is live (ready before the sandbox starts)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop observing and flush what is pending; idempotent."""

    def status(self) -> MonitorStatus:
        dead = self._dead_worker()
        if dead is not None:
            self._fail(f"worker thread {dead!r} died")
        return MonitorStatus(healthy=self._fault is None and self._record_fn is not None,
                             events=self._events, lost=-1 if self._lost_unknown else self._lost,
                             detail=self._fault or self._detail)

    transient_threads: ClassVar[tuple[str, ...]] = ()
    """Names of worker threads that may end while the monitor runs (one per connection)."""

    def _dead_worker(self) -> str | None:
        """A worker thread that ended while the monitor was not stopping: its coverage is gone
        even though nothing raised through our handlers (e.g. an exception they do not catch)."""
        stopping = getattr(self, "_stopping", None)
        if self._stop.is_set() or (isinstance(stopping, threading.Event) and stopping.is_set()):
            return None
        workers = [*([self._thread] if self._thread is not None else []), *getattr(self, "_threads", [])]
        for t in workers:
            if isinstance(t, threading.Thread) and t.ident is not None and not t.is_alive() \
                    and t.name not in self.transient_threads:
                return t.name
        return None

    # -- helpers for subclasses -------------------------------------------------
    def _record(self, ev: EventData) -> None:
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            batch.append(ev)
            if len(batch) >= BATCH_MAX:
                self._flush_batch(batch)
            return
        record = self._record_fn
        if record is None:
            return
        try:
            record(ev)
        except Exception as exc:  # noqa: BLE001 - the recorder is gone: we are blind now
            self._fail(f"record({ev.KIND}) failed: {exc!r}")
            return
        with self._count_lock:
            self._events += 1

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """Events this thread records inside the block go to the recorder together, in
        order, when it ends (or every BATCH_MAX): with RunSession they are durable when the
        block exits, at the cost of one group commit instead of one per event. Nests."""
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        batch: list[EventData] = []
        self._local.batch = batch
        try:
            yield
        finally:
            self._local.batch = None
            self._flush_batch(batch)

    def _flush_batch(self, batch: list[EventData]) -> None:
        if not batch:
            return
        events, record = list(batch), self._record_fn
        batch.clear()
        if record is None:
            return
        many = record_many_of(record)
        done = 0
        try:
            if many is not None:
                many(events)
                done = len(events)
            else:
                for ev in events:
                    record(ev)
                    done += 1
        except Exception as exc:  # noqa: BLE001 - the recorder is gone: we are blind now
            self._fail(f"record({events[done].KIND if done < len(events) else '?'}) failed: {exc!r}")
        with self._count_lock:
            self._events += done

    def _record_lost(self, count: int, reason: str, **extra: Any) -> None:
        """Count and record a loss; count -1 means 'unknown amount'."""
        with self._count_lock:
            if count < 0:
                self._lost_unknown = True
            else:
                self._lost += count
        self._record(EventsLost(producer=self.producer or self.source, count=count, reason=reason, **extra))

    def _fail(self, reason: str) -> None:
        if self._fault is None:
            self._fault = reason


MONITORS: Registry[Monitor] = Registry("monitor", "monitors", "ptaudit.monitors")
"""Every monitor ``ptaudit run`` builds, by name."""


def register(cls: type[Monitor]) -> type[Monitor]:
    """Class decorator: ``ptaudit run`` builds this monitor for every run."""
    return MONITORS.register(cls)


def lanes() -> list[str]:
    """Event sources in timeline order: the proxy's, every monitor's, then the core's."""
    by_source: dict[str, int] = {"net": 0}
    for _, cls in MONITORS.items():
        by_source.setdefault(cls.source, cls.lane)
    return [s for s, _ in sorted(by_source.items(), key=lambda kv: (kv[1], kv[0]))] + ["sandbox", "ptaudit", "detector"]
