"""Fail closed: every hook of every ptaudit addon runs under :func:`hook`.

mitmproxy catches an addon's exception, logs it and carries on with the flow, so a hook
that raised on unexpected input would let that flow through unrecorded or unchecked (fail
open). Under :func:`hook`, an exception instead stops what the hook was about and records a
``monitor.fault`` event (monitor, where, error, flow, url, action):

============================================================  ====================================
hook (``where``)                                              on failure (``action``)
============================================================  ====================================
http_connect, requestheaders, request, responseheaders,       the flow is killed: the client gets
response; body filters (request_body, response_body)          no (further) upstream bytes (killed)
websocket_start, websocket_message                            this and every later message of the
                                                              connection is dropped (dropped)
error, websocket_end, tls_failed_client, tls_failed_server    already over: recorded (ended)
server_connect                                                the upstream connection is refused (refused)
load, configure, running                                      mitmdump shuts down: it never runs
                                                              half-configured (shutdown)
done                                                          recorded if still possible (ended)
============================================================  ====================================

Once a flow has a fault, the other addons' hooks skip it (it is dead), except those of an
addon with ``after_fault = True`` (record), so what the flow did is still recorded.
A hook name without a rule here is refused when the addon is defined (TypeError): adding a
new kind of hook means deciding here how it fails closed.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from mitmproxy import ctx, exceptions, http
from mitmproxy.proxy import server_hooks

from ptaudit.core.events import MonitorFault

from .state import KEY, FlowState

if TYPE_CHECKING:
    from .runtime import Runtime

logger = logging.getLogger(__name__)

KILL = frozenset({"http_connect", "requestheaders", "request", "responseheaders", "response"})
DROP = frozenset({"websocket_start", "websocket_message"})
OVER = frozenset({"error", "websocket_end", "tls_failed_client", "tls_failed_server", "done"})
REFUSE = frozenset({"server_connect"})
SHUTDOWN = frozenset({"load", "configure", "running"})
HOOKS = KILL | DROP | OVER | REFUSE | SHUTDOWN
FLOW_HOOKS = KILL | DROP | {"error", "websocket_end"}

F = TypeVar("F", bound=Callable[..., Any])


class Addon:
    """Base of the ptaudit addons: a name (the ``monitor`` of its faults) and the shared runtime."""

    name: ClassVar[str] = "net"
    after_fault: ClassVar[bool] = False  # its flow hooks still run for a flow a fault killed

    def __init__(self, rt: Runtime):
        self.rt = rt


def hook(fn: F) -> F:
    """Guard an addon hook (sync or async): see the module docstring."""
    where = fn.__name__
    if where not in HOOKS:
        raise TypeError(f"{fn.__qualname__}: {where!r} is not a hook ptaudit knows how to fail closed in "
                        "(monitors/net/guard.py HOOKS)")
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def guarded_async(self: Addon, *args: Any) -> Any:
            try:
                if _skip(self, where, args):
                    return None
                self.rt.faults.check(self.name, where, args[0] if args else None)
                return await fn(self, *args)
            except Exception as exc:  # noqa: BLE001 - the point of the guard
                fail_closed(self.rt, self.name, where, exc, args[0] if args else None)
                return None
        wrapper: Any = guarded_async
    else:
        @functools.wraps(fn)
        def guarded(self: Addon, *args: Any) -> Any:
            try:
                if _skip(self, where, args):
                    return None
                self.rt.faults.check(self.name, where, args[0] if args else None)
                return fn(self, *args)
            except Exception as exc:  # noqa: BLE001 - the point of the guard
                fail_closed(self.rt, self.name, where, exc, args[0] if args else None)
                return None
        wrapper = guarded
    wrapper.ptaudit_guarded = True
    return wrapper  # type: ignore[no-any-return]


def _skip(addon: Addon, where: str, args: tuple[Any, ...]) -> bool:
    """A flow a fault killed: drop its websocket messages; skip it unless the addon records faulted flows."""
    if where not in FLOW_HOOKS or not args:
        return False
    flow = args[0]
    st: FlowState | None = flow.metadata.get(KEY)
    if st is None or st.fault is None:
        return False
    if where == "websocket_message" and flow.websocket and flow.websocket.messages:
        flow.websocket.messages[-1].drop()
    return not addon.after_fault


def fail_closed(rt: Runtime, monitor: str, where: str, exc: BaseException, target: Any) -> None:
    """Stop what the failed hook was about (see the table above) and record why."""
    if isinstance(exc, exceptions.OptionsError) and where in SHUTDOWN:
        raise exc  # a user's configuration error: mitmproxy reports it and does not start
    if isinstance(target, http.HTTPFlow):
        fail_flow(rt, monitor, where, exc, target)
        return
    error = _error(rt, exc)
    action = "ended"
    try:
        if where in REFUSE and isinstance(target, server_hooks.ServerConnectionHookData):
            target.server.error = f"ptaudit: refused upstream connection: {monitor} failed in {where}"
            action = "refused"
        elif where in SHUTDOWN:
            action = "shutdown"
        logger.error("ptaudit: %s failed in %s (%s): %s", monitor, where, action, error, exc_info=exc)
        rt.fault(MonitorFault(monitor=monitor, where=where, error=error, action=action))
        if where in SHUTDOWN or where == "done":
            rt.flush(5)  # the process is about to end: deliver the fault before it does
    finally:
        if where in SHUTDOWN:
            ctx.master.shutdown()  # the proxy must not run half-configured or unannounced


def fail_flow(rt: Runtime, monitor: str, where: str, exc: BaseException, flow: http.HTTPFlow) -> None:
    """Kill ``flow`` (or drop its websocket messages), stop its bodies, record the fault."""
    try:
        st = rt.state(flow)
        if st.fault is None:
            st.fault = f"{monitor}:{where}"
        st.request.stop()  # nothing more of either body is forwarded
        st.response.stop()
        if where in DROP:
            if flow.websocket and flow.websocket.messages:
                flow.websocket.messages[-1].drop()
            action = "dropped"
        elif where in OVER or not flow.killable:
            action = "ended"
        else:
            flow.kill()
            action = "killed"
        error = _error(rt, exc)
        logger.error("ptaudit: %s failed in %s on %s (%s): %s", monitor, where, st.url, action, error, exc_info=exc)
        rt.fault(MonitorFault(monitor=monitor, where=where, error=error, flow=flow.id, url=st.url, action=action))
    except Exception:  # noqa: BLE001 - even recording the fault failed: still never let the flow pass
        logger.exception("ptaudit: failing flow %s closed after a fault in %s:%s", flow.id, monitor, where)
        if flow.killable:
            flow.kill()


def _error(rt: Runtime, exc: BaseException) -> str:
    return rt.secrets.text(f"{type(exc).__name__}: {exc}")[:2000]


class InjectedFault(RuntimeError):
    """Raised on purpose in a hook named by ``PTAUDIT_NET_FAULT`` (tests)."""


class FaultPlan:
    """Test-only fault injection: ``PTAUDIT_NET_FAULT`` in mitmdump's environment, read once when
    mitmdump loads the addons. A comma-separated list of ``monitor:where`` (``net.gate:requestheaders``,
    ``net.record:response_body``) with an optional ``@text``: only for a flow whose original URL, an
    upstream ``host:port`` or a TLS connection's "SNI host:port" contains ``text``. Unset in real runs; and whatever it
    names, an injected fault fails closed like any other, so it can only make the proxy stricter."""

    def __init__(self, spec: str):
        self.rules: list[tuple[str, str, str]] = []
        for item in filter(None, (s.strip() for s in spec.split(","))):
            target, _, text = item.partition("@")
            monitor, _, where = target.partition(":")
            if not monitor or where not in HOOKS | {"request_body", "response_body"}:
                raise ValueError(f"PTAUDIT_NET_FAULT: {item!r} is not monitor:hook[@text]")
            self.rules.append((monitor, where, text))

    def check(self, monitor: str, where: str, target: Any) -> None:
        if self.rules and self._hit(monitor, where, _subject(target)):
            raise InjectedFault(f"injected fault in {monitor}:{where}")

    def wrap(self, monitor: str, where: str, subject: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A body filter that raises on its first call when injected; ``fn`` itself otherwise (no cost)."""
        if not (self.rules and self._hit(monitor, where, subject)):
            return fn

        def failing(*args: Any) -> Any:
            raise InjectedFault(f"injected fault in {monitor}:{where}")
        return failing

    def _hit(self, monitor: str, where: str, subject: str) -> bool:
        return any(m == monitor and w == where and t in subject for m, w, t in self.rules)


def _subject(target: Any) -> str:
    if isinstance(target, http.HTTPFlow):
        st = target.metadata.get(KEY)
        return st.url if st is not None else target.request.url
    if isinstance(target, server_hooks.ServerConnectionHookData) and target.server.address:
        return f"{target.server.address[0]}:{target.server.address[1]}"
    conn = getattr(target, "conn", None)  # TLS hooks: the SNI and, upstream, the address
    addr = getattr(conn, "address", None)
    return f"{getattr(conn, 'sni', None) or ''} {f'{addr[0]}:{addr[1]}' if addr else ''}"
