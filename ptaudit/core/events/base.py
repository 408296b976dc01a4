"""Typed event payloads: one pydantic model per event kind, registered by its ``KIND``.

Producers construct a model and record it (``RunSession.record``, ``RecorderClient.record``,
``Monitor._record``); readers take ``event.payload`` (validated once, then cached) and use
attributes, never ``data.get(...)``. On disk nothing changes: ``data`` is the model's
fields as JSON, only those the producer set (``exclude_unset``), so optional fields stay
absent as before and run directories written before typed events still load.

Models allow unknown fields (``extra="allow"``): a newer producer's extra field never
breaks an older reader. The test suite checks that every event of every end-to-end run
validates with no unknown fields (``strict_check``), which is what catches a reader and
a producer disagreeing on a name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticUndefined

EVENT_TYPES: dict[str, type[EventData]] = {}
"""kind -> payload model, filled as the catalogue modules are imported."""


class EventDataError(ValueError):
    """An event's data does not match its kind's model (a producer bug, or a damaged log)."""


class _Trusted(frozenset):  # type: ignore[type-arg]
    """The fields-set of an instance built by :meth:`EventData.trusted` (marks the fast path)."""


_new, _set = object.__new__, object.__setattr__


class EventData(BaseModel):
    """Base of every payload. Subclasses set ``KIND`` and ``SOURCE``."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    KIND: ClassVar[str] = ""
    SOURCE: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        kind = cls.__dict__.get("KIND")
        if kind:
            old = EVENT_TYPES.get(kind)
            if old is not None and old.__qualname__ != cls.__qualname__:
                raise ValueError(f"event kind {kind!r} defined twice ({old.__qualname__}, {cls.__qualname__})")
            EVENT_TYPES[kind] = cls

    def to_data(self) -> dict[str, Any]:
        """The ``data`` object written to the log."""
        fs = self.__pydantic_fields_set__
        if type(fs) is _Trusted:
            d = self.__dict__
            return {k: d[k] for k in fs}
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)

    @classmethod
    def trusted(cls, data: dict[str, Any]) -> EventData:
        """An instance holding ``data`` without validating it, for producers on a hot path
        (the trace sink decodes ~10^5 points/s). The caller guarantees what validation
        would: declared field names, values of the declared types, already JSON-ready
        (str, int, float, bool, None, lists and dicts of those). ``to_data()`` returns
        exactly ``data``; unset fields read as their defaults. Models with field aliases
        are validated instead. Tests check the output strictly (tests/monitors/conftest.py
        Collector, tests/e2e/conftest.py)."""
        plan = cls.__dict__.get("_trusted_plan")
        if plan is None:
            plan = cls._plan_trusted()
        if plan is False:
            return cls.model_validate(data)
        d = dict(plan)
        d.update(data)
        ev = _new(cls)
        _set(ev, "__dict__", d)
        _set(ev, "__pydantic_fields_set__", _Trusted(data))
        _set(ev, "__pydantic_extra__", {} if cls.model_config.get("extra") == "allow" else None)
        _set(ev, "__pydantic_private__", None)
        return ev

    @classmethod
    def _plan_trusted(cls) -> dict[str, Any] | bool:
        """Defaults of every field (immutable ones only), or False when the fast path does
        not apply (aliases, mutable defaults or default factories)."""
        plan: dict[str, Any] | bool = {}
        for name, f in cls.model_fields.items():
            if (f.alias and f.alias != name) or f.default_factory is not None:
                plan = False
                break
            if f.default is PydanticUndefined:
                continue  # required: the caller sets it
            if not isinstance(f.default, str | int | float | bool | type(None)):
                plan = False
                break
            plan[name] = f.default  # type: ignore[index]
        type.__setattr__(cls, "_trusted_plan", plan)
        return plan


def parse_payload(kind: str, data: dict[str, Any]) -> EventData | None:
    """The typed payload of ``data`` for ``kind``; None for a kind with no model."""
    model = EVENT_TYPES.get(kind)
    if model is None:
        return None
    try:
        return model.__pydantic_validator__.validate_python(data)  # = model_validate, minus a Python call
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(data)"
        raise EventDataError(f"{kind}: {where}: {err['msg']}") from None


def strict_check(kind: str, data: dict[str, Any]) -> list[str]:
    """Problems with one event's data: it fails validation, or it carries fields the model
    does not declare (at any depth of nested models). Empty when the kind has no model."""
    model = EVENT_TYPES.get(kind)
    if model is None:
        return [f"{kind}: no payload model"]
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        return [f"{kind}: {e['loc']}: {e['msg']}" for e in exc.errors()[:5]]
    return [f"{kind}: undeclared field {path}" for path in _extras(payload, "")]


def _extras(m: BaseModel, prefix: str) -> list[str]:
    out = [prefix + k for k in (m.model_extra or {})]
    for name in type(m).model_fields:
        v = getattr(m, name)
        items = v if isinstance(v, list) else [v]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                sub = f"{prefix}{name}[{i}]." if isinstance(v, list) else f"{prefix}{name}."
                out += _extras(item, sub)
    return out
