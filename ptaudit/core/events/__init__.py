"""Events: the line format of ``events.jsonl`` (:mod:`.line`) and one typed payload model
per event kind (:mod:`.base` and the catalogue modules, one per source family).

    from ptaudit.core.events import Event, NetRequest
    session.record(NetRequest(method="GET", url=u, host=h))      # producer
    if isinstance(event.payload, NetRequest): event.payload.url   # reader

docs/formats.md lists the catalogue (generated from these models: ``python -m
ptaudit.core.events.catalog``).
"""

from . import detector, fs, gpu, grade, monitor, net, proc, recorder, res, run, sandbox  # noqa: F401 - register kinds
from .base import EVENT_TYPES, EventData, EventDataError, parse_payload, strict_check
from .detector import DetectorFinding
from .fs import (
    FileState,
    FsBaseline,
    FsCreate,
    FsDelete,
    FsFinalScan,
    FsFinalSummary,
    FsMissed,
    FsModify,
    FsMove,
    FsWrite,
)
from .gpu import GpuSample, GpuSummary, GpuUnavailable
from .grade import GradeError, GradeResult, GradeStart
from .line import (
    GENESIS,
    LOST_KIND,
    SCHEMA_VERSION,
    SOURCES,
    Event,
    blob_refs,
    dumps,
    encode_line,
    line_digest,
    lost_count,
    now_ns,
)
from .monitor import EventsLost, MonitorFailed, MonitorFault, MonitorStatus
from .net import (
    Body,
    NetBlocked,
    NetConnect,
    NetError,
    NetRefused,
    NetRequest,
    NetResponse,
    PlaceholderSeen,
    ProxyDied,
    ProxyStarted,
    ProxyStopped,
    TlsFailed,
    WebSocket,
)
from .proc import (
    ProcBadFrame,
    ProcClone,
    ProcConnect,
    ProcContext,
    ProcExec,
    ProcExit,
    ProcOpen,
    TraceConnected,
    TraceDisconnected,
    TraceSummary,
)
from .recorder import BadFrame, ProducerConnected, ProducerDisconnected, ProducerPartial
from .res import ResBudgetExceeded, ResSample, ResSummary
from .run import RunEnd, RunError, RunInterrupted, RunNote, RunStart, RunVerdict
from .sandbox import (
    SandboxBundle,
    SandboxCleanup,
    SandboxEvent,
    SandboxExit,
    SandboxHoneytokens,
    SandboxKill,
    SandboxStart,
    SandboxStatxProbe,
    SandboxWorkspaceSize,
)

__all__ = [
    "BadFrame",
    "Body",
    "DetectorFinding",
    "EVENT_TYPES",
    "Event",
    "EventData",
    "EventDataError",
    "EventsLost",
    "FileState",
    "FsBaseline",
    "FsCreate",
    "FsDelete",
    "FsFinalScan",
    "FsFinalSummary",
    "FsMissed",
    "FsModify",
    "FsMove",
    "FsWrite",
    "GENESIS",
    "GpuSample",
    "GpuSummary",
    "GpuUnavailable",
    "GradeError",
    "GradeResult",
    "GradeStart",
    "LOST_KIND",
    "MonitorFailed",
    "MonitorFault",
    "MonitorStatus",
    "NetBlocked",
    "NetConnect",
    "NetError",
    "NetRefused",
    "NetRequest",
    "NetResponse",
    "PlaceholderSeen",
    "ProcBadFrame",
    "ProcClone",
    "ProcConnect",
    "ProcContext",
    "ProcExec",
    "ProcExit",
    "ProcOpen",
    "ProducerConnected",
    "ProducerDisconnected",
    "ProducerPartial",
    "ProxyDied",
    "ProxyStarted",
    "ProxyStopped",
    "ResBudgetExceeded",
    "ResSample",
    "ResSummary",
    "RunEnd",
    "RunError",
    "RunInterrupted",
    "RunNote",
    "RunStart",
    "RunVerdict",
    "SCHEMA_VERSION",
    "SOURCES",
    "SandboxBundle",
    "SandboxCleanup",
    "SandboxEvent",
    "SandboxExit",
    "SandboxHoneytokens",
    "SandboxKill",
    "SandboxStart",
    "SandboxStatxProbe",
    "SandboxWorkspaceSize",
    "TlsFailed",
    "TraceConnected",
    "TraceDisconnected",
    "TraceSummary",
    "WebSocket",
    "blob_refs",
    "dumps",
    "encode_line",
    "line_digest",
    "lost_count",
    "now_ns",
    "parse_payload",
    "strict_check",
]
