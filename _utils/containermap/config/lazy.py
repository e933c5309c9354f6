"""Lazy values: placeholders resolved on first use (``!env_lazy``, ``!path_lazy``, Salt's
``!pillar``/``!grain``).

The model stores lazy objects as given and resolves them where a value is used (naming, create
arguments, hashing), so a map can be loaded where the value is not known yet (e.g. on the
master) and resolved on the host that acts on it. Other resolvers (Salt) register themselves
with :func:`register_resolver` without the engine importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..exceptions import LazyResolutionError


class Lazy:
    """A value computed by ``func(*args, **kwargs)`` every time it is resolved."""

    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any):
        self.func = func
        self.args = args
        self.kwargs = kwargs

    def get(self) -> Any:
        return self.func(*self.args, **self.kwargs)

    @property
    def value(self) -> Any:
        return self.get()

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        return f"<{type(self).__name__} {name}{self.args!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lazy):
            return NotImplemented
        return (type(self), self.func, self.args, self.kwargs) == (
            type(other),
            other.func,
            other.args,
            other.kwargs,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.func, self.args))


class LazyOnce(Lazy):
    """Like :class:`Lazy`, but evaluated only once and cached."""

    __slots__ = ("_evaluated", "_value")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__(func, *args, **kwargs)
        self._evaluated = False
        self._value = None

    def get(self) -> Any:
        if not self._evaluated:
            self._value = self.func(*self.args, **self.kwargs)
            self._evaluated = True
        return self._value


def resolve_value(value: Any) -> Any:
    """Resolve a lazy value (one level); other values are returned unchanged."""
    while isinstance(value, Lazy):
        value = value.get()
    return value


def resolve_deep(value: Any, max_depth: int = 10) -> Any:
    """Resolve lazy values in nested dicts, lists and tuples (named tuples keep their type)."""
    value = resolve_value(value)
    if max_depth <= 0:
        return value
    if isinstance(value, dict):
        return {resolve_deep(k, max_depth - 1): resolve_deep(v, max_depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_deep(v, max_depth - 1) for v in value]
    if isinstance(value, tuple):
        items = [resolve_deep(v, max_depth - 1) for v in value]
        if hasattr(value, "_fields"):
            return type(value)(*items)
        return tuple(items)
    return value


# tag (e.g. "pillar") -> callable(key) returning the value or raising KeyError
_resolvers: dict[str, Callable[[str], Any]] = {}


def register_resolver(tag: str, func: Callable[[str], Any]) -> None:
    """Register a resolver for lazy placeholders of kind ``tag`` (e.g. Salt's ``pillar``)."""
    _resolvers[tag] = func


def unregister_resolver(tag: str) -> None:
    _resolvers.pop(tag, None)


def _resolve_registered(tag: str, key: str) -> Any:
    try:
        func = _resolvers[tag]
    except KeyError:
        raise LazyResolutionError(f"!{tag} {key}: no resolver registered for '!{tag}' values") from None
    try:
        return func(key)
    except KeyError:
        raise LazyResolutionError(f"!{tag} {key}: key not found") from None


class Placeholder(LazyOnce):
    """A ``!tag key`` value resolved through a registered resolver (see :func:`register_resolver`)."""

    __slots__ = ("tag", "key")

    def __init__(self, tag: str, key: str):
        super().__init__(_resolve_registered, tag, key)
        self.tag = tag
        self.key = key

    def __repr__(self) -> str:
        return f"!{self.tag} {self.key}"
