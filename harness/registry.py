"""Name -> component class, for datasets loaders, embedders and indexes.

Built-in components register themselves with a decorator; third parties add theirs through the
entry point groups `harness.datasets`, `harness.embedders` and `harness.indexes`. Registering
imports nothing heavy: components import their libraries when they are built.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from harness.errors import ComponentError

T = TypeVar("T", bound=type)

ID_WHEN_SET: dict[str, Any] = {"id_when_set": True}
"""`json_schema_extra` of a component setting added after results existed: a cell's id counts
it only when set away from its default, so earlier results keep their ids (spec.identity)."""


class Registry(Generic[T]):
    def __init__(self, what: str, group: str) -> None:
        self.what = what
        self.group = group
        self._items: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def add(cls: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} '{name}' is registered twice")
            self._items[name] = cls
            return cls

        return add

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def get(self, name: str) -> T:
        """The class registered as `name`; raises KeyError with a did-you-mean hint."""
        self._load_plugins()
        if name not in self._items:
            raise KeyError(unknown_name_message(self.what, name, self.names()))
        return self._items[name]

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry in entry_points(group=self.group):
            if entry.name not in self._items:
                self._items[entry.name] = entry.load()


def suggest(name: str, known: list[str]) -> str | None:
    """The known name `name` was most likely meant to be, if any looks close enough."""
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    if close:
        return by_lower[close[0]]
    prefixed = [
        k for k in known if k.lower().startswith(name.lower()) or name.lower().startswith(k.lower())
    ]
    return prefixed[0] if len(prefixed) == 1 else None


def did_you_mean(name: str, known: list[str]) -> str:
    guess = suggest(name, known)
    return f" Did you mean '{guess}'?" if guess else ""


def unknown_name_message(what: str, name: str, known: list[str]) -> str:
    return f"unknown {what} '{name}'.{did_you_mean(name, known)} Known: {', '.join(known)}"


def require(module: str, install: str, *, needed_by: str) -> None:
    """Raise a ComponentError naming the install command when `module` is not importable."""
    if importlib.util.find_spec(module) is None:
        raise ComponentError(f"{needed_by} needs the '{module}' package: pip install {install}")
