"""Registries of named extensions (detectors, monitors), filled by a class decorator.

An extension registers itself where it is defined::

    @register
    class Budget(Detector):
        name = "budget"

and is found without any list to edit: the first lookup imports every module of the
owning package (``detectors``, ``monitors``) and loads every entry point of the
registry's group (``ptaudit.detectors``, ``ptaudit.monitors``), so a third-party package
adds one by declaring, in its own ``pyproject.toml``::

    [project.entry-points."ptaudit.detectors"]
    my_detector = "my_package.my_module"

An entry point that fails to import is an error, never skipped: a policy that names a
detector which silently failed to load would audit less than it says.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import InfraError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> class. ``key`` reads the name off a class (its ``name`` attribute)."""

    def __init__(self, what: str, package: str, group: str, key: Callable[[type[T]], str] | None = None):
        self.what = what
        self.package = package
        self.group = group
        self._key = key or (lambda cls: cls.name)  # type: ignore[attr-defined]
        self._items: dict[str, type[T]] = {}
        self._loaded = False
        self._lock = threading.RLock()

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: add ``cls`` under its name (twice with two classes is an error)."""
        name = self._key(cls)
        old = self._items.get(name)
        if old is not None and old is not cls and _qualname(old) != _qualname(cls):
            raise ValueError(f"{self.what} {name!r} registered twice ({_qualname(old)} and {_qualname(cls)})")
        self._items[name] = cls
        return cls

    def load(self) -> None:
        """Import the package's modules and the group's entry points, once."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            pkg = importlib.import_module(self.package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                if not mod.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{mod.name}")
            for ep in entry_points(group=self.group):
                try:
                    loaded = ep.load()
                except Exception as exc:  # noqa: BLE001 - reported, never skipped
                    raise InfraError(f"{self.what} plugin {ep.name!r} ({ep.value}, entry point group "
                                     f"{self.group}) failed to load: {type(exc).__name__}: {exc}") from None
                if isinstance(loaded, type):
                    self.register(loaded)

    # -- mapping view (each loads first) ------------------------------------------------
    def __getitem__(self, name: str) -> type[T]:
        self.load()
        return self._items[name]

    def get(self, name: str) -> type[T] | None:
        self.load()
        return self._items.get(name)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        self.load()
        return len(self._items)

    def items(self) -> list[tuple[str, type[T]]]:
        self.load()
        return sorted(self._items.items())

    def unregister(self, name: str) -> None:
        """Remove an entry (tests that register throw-away classes clean up with this)."""
        self._items.pop(name, None)


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
