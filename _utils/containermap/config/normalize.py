"""Input form -> normalised element parsing, with key-path problem collection.

Every parser takes the raw value and a :class:`Ctx` (the problem collector positioned at the
key path of the value) and returns the normalised value. Invalid input is recorded as a
:class:`~containermap.exceptions.Problem` with the exact key path and the parser carries on, so
that one pass over a map reports every problem at once. A parser returns :data:`INVALID` when
nothing usable is left of the value (the key is then left unset).

This module also holds the schema machinery shared by the configuration classes
(:class:`Field`, :class:`ConfigurationObject`): attribute and item access, ``as_dict``,
``update``, ``merge`` and ``copy``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import ipaddress
import math
import re
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, NamedTuple

from ..exceptions import ConfigurationError, Problem
from .elements import (
    ContainerLink,
    ContainerRef,
    ExecCommand,
    HealthCheck,
    HostVolume,
    NetworkEndpoint,
    NotSet,
    PortBinding,
    SharedVolume,
    UsedVolume,
)
from .lazy import Lazy
from .naming import NAME_RE, PART_RE, image_problem, name_problem


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: returned by a parser when the value is unusable (the problem has been recorded)
INVALID: Any = _Invalid()

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# ------------------------------------------------------------------------------------------
# problem collection


class Ctx:
    """Problem collector positioned at one key path (``binds[1]``) of one config of one map.

    Child positions keep a reference to their parent and build the path string only when a
    problem is recorded (most values are valid, and maps can have thousands of configs).
    """

    __slots__ = ("problems", "map_name", "config", "_parent", "_key", "_path")

    def __init__(
        self,
        problems: list[Problem] | None = None,
        map_name: str | None = None,
        config: str | None = None,
        path: str = "",
    ):
        self.problems = [] if problems is None else problems
        self.map_name = map_name
        self.config = config
        self._parent: Ctx | None = None
        self._key: Any = None
        self._path: str | None = path

    def _child(self, key: Any) -> Ctx:
        child = Ctx.__new__(Ctx)
        child.problems = self.problems
        child.map_name = self.map_name
        child.config = self.config
        child._parent = self
        child._key = key
        child._path = None
        return child

    @property
    def path(self) -> str:
        if self._path is None:
            parent = self._parent.path  # type: ignore[union-attr]
            key = self._key
            if isinstance(key, _Index):
                self._path = f"{parent}[{int(key)}]"
            elif isinstance(key, str) and _IDENT_RE.match(key):
                self._path = f"{parent}.{key}" if parent else key
            elif isinstance(key, int) and not isinstance(key, bool):
                self._path = f"{parent}[{key}]"
            else:
                self._path = f"{parent}[{short(key)}]"
        return self._path

    def key(self, key: Any) -> Ctx:
        """Position below a mapping key: ``.name``; ``[80]`` for ints, ``['/x']`` for paths."""
        return self._child(key)

    def index(self, index: int) -> Ctx:
        """Position at a list index: ``[1]``."""
        return self._child(_Index(index))

    def for_config(self, config: str | None, path: str = "") -> Ctx:
        return Ctx(self.problems, self.map_name, config, path)

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.map_name, self.config, self.path, message))


class _Index(int):
    """A list index (formatted ``[i]``), distinct from an int mapping key."""


def _make_repr() -> reprlib.Repr:
    # small limits: a wrong value can be huge (a YAML alias bomb has 10^9 leaves when walked),
    # and a message only needs its beginning
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 6
    r.maxstring = 50
    r.maxother = 50
    r.maxlong = 50
    return r


_REPR = _make_repr()
_MAX_PLAIN_STRING = 200


def short(value: Any) -> str:
    """Bounded repr() of a user value for messages: strings up to 200 characters as repr(),
    anything else cut by depth and length (never walks more than a few dozen items)."""
    if isinstance(value, str) and len(value) <= _MAX_PLAIN_STRING:
        return repr(value)
    text = _REPR.repr(value)
    return text if len(text) <= _MAX_PLAIN_STRING else text[: _MAX_PLAIN_STRING - 3] + "..."


def describe(value: Any) -> str:
    """Short description of a wrong value for messages: ``int 3``, ``list [1, 2]``."""
    if value is None:
        return "null"
    text = _REPR.repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def did_you_mean(key: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'exposes'?)`` or an empty string."""
    if not isinstance(key, str):
        return ""
    match = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {short(match[0])}?)" if match else ""


def is_plain_sequence(value: Any) -> bool:
    """list or tuple, but not a named tuple (an already normalised element)."""
    return isinstance(value, (list, tuple)) and not hasattr(value, "_fields")


def _listed(value: Any) -> list[Any]:
    """List-typed keys accept a single value and wrap it."""
    if value is None:
        return []
    if is_plain_sequence(value):
        return list(value)
    return [value]


# ------------------------------------------------------------------------------------------
# scalars


def parse_bool(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, bool):
        return value
    ctx.error(f"expected true or false, got {describe(value)}")
    return INVALID


def parse_number(value: Any, ctx: Ctx) -> Any:
    """A non-negative number (seconds)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.error(f"expected a non-negative number of seconds, got {describe(value)}")
        return INVALID
    if not math.isfinite(value):
        ctx.error(f"expected a finite number of seconds, got {value}")
        return INVALID
    if value < 0:
        ctx.error(f"must not be negative, got {value}")
        return INVALID
    return value


def parse_timeout(value: Any, ctx: Ctx) -> Any:
    """A positive number of seconds (client timeouts); None = SDK default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        ctx.error(f"expected a positive number of seconds, got {describe(value)}")
        return INVALID
    return value


def parse_string(value: Any, ctx: Ctx, lazy: bool = False, what: str = "a string") -> Any:
    if isinstance(value, str) and value:
        return value
    if lazy and isinstance(value, Lazy):
        return value
    ctx.error(f"expected {what}, got {describe(value)}")
    return INVALID


def parse_lazy_string(value: Any, ctx: Ctx) -> Any:
    return parse_string(value, ctx, lazy=True)


def checked_string(value: Any, ctx: Ctx, what: str, check: Callable[[str], str | None]) -> Any:
    """A string (or lazy value, unchecked) that ``check`` finds no problem with."""
    if isinstance(value, Lazy):
        return value
    if not isinstance(value, str) or not value:
        ctx.error(f"expected {what}, got {describe(value)}")
        return INVALID
    problem = check(value)
    if problem:
        ctx.error(problem)
        return INVALID
    return value


def parse_image(value: Any, ctx: Ctx) -> Any:
    return checked_string(value, ctx, "an image name", image_problem)


def _check_name(value: Any, ctx: Ctx, what: str, dots: bool) -> bool:
    if not isinstance(value, str):
        # described here with a bounded repr (the value may be a huge nested structure)
        ctx.error(f"{what} must be a string, got {describe(value)}")
        return False
    problem = name_problem(value, what, dots=dots)
    if problem:
        ctx.error(problem)
        return False
    return True


def _check_ref(value: Any, ctx: Ctx, what: str = "container reference") -> bool:
    """``config`` or ``config.instance``."""
    if not isinstance(value, str) or not value:
        ctx.error(f"expected a {what} ('config' or 'config.instance'), got {describe(value)}")
        return False
    parts = value.split(".")
    if len(parts) > 2 or not all(PART_RE.match(p) for p in parts):
        ctx.error(f"invalid {what} {short(value)} (expected 'config' or 'config.instance')")
        return False
    return True


def _string_list(
    value: Any, ctx: Ctx, item: Callable[[Any, Ctx], bool], what: str, pattern: re.Pattern[str] | None = None
) -> Any:
    if pattern is not None:
        # fast path for the common case: valid, distinct names (no per-item positions needed)
        if isinstance(value, str) and pattern.match(value):
            return (value,)
        if (
            is_plain_sequence(value)
            and all(isinstance(v, str) and pattern.match(v) for v in value)
            and len(set(value)) == len(value)
        ):
            return tuple(value)
    if not (value is None or isinstance(value, str) or is_plain_sequence(value)):
        ctx.error(f"expected {what} or a list of them, got {describe(value)}")
        return INVALID
    items = _listed(value)
    single = not is_plain_sequence(value)
    result: list[Any] = []
    for i, entry in enumerate(items):
        sub = ctx if single else ctx.index(i)
        if item(entry, sub):
            if entry in result:
                sub.error(f"duplicate entry {short(entry)}")
            else:
                result.append(entry)
    return tuple(result)


def parse_instances(value: Any, ctx: Ctx) -> Any:
    return _string_list(value, ctx, lambda v, c: _check_name(v, c, "instance name", False), "a name", PART_RE)


def parse_config_names(value: Any, ctx: Ctx) -> Any:
    return _string_list(
        value, ctx, lambda v, c: _check_name(v, c, "configuration name", False), "a name", PART_RE
    )


def parse_names(value: Any, ctx: Ctx) -> Any:
    """Client names and similar plain identifiers (dots allowed)."""
    return _string_list(value, ctx, lambda v, c: _check_name(v, c, "name", True), "a name", NAME_RE)


def parse_requires(value: Any, ctx: Ctx) -> Any:
    """Ordering-only references: ``config``, ``config.instance`` or ``map.config[.instance]``."""

    def check(v: Any, c: Ctx) -> bool:
        if isinstance(v, str) and v and all(PART_RE.match(p) for p in v.split(".")) and v.count(".") <= 2:
            return True
        c.error(
            f"invalid reference {short(v)} (expected 'config', 'config.instance' or 'map.config[.instance]')"
        )
        return False

    return _string_list(value, ctx, check, "a reference")


def _container_path_ok(path: Any, ctx: Ctx, what: str = "container path", dot: bool = False) -> bool:
    if isinstance(path, Lazy):
        return True
    if not isinstance(path, str) or not path:
        ctx.error(f"expected a {what}, got {describe(path)}")
        return False
    if path.startswith("/") or (dot and path.startswith("./")):
        return True
    need = "absolute (start with '/') or start with './'" if dot else "absolute (start with '/')"
    ctx.error(f"{what} {short(path)} must be {need}")
    return False


def parse_shares(value: Any, ctx: Ctx) -> Any:
    if not (value is None or isinstance(value, (str, Lazy)) or is_plain_sequence(value)):
        ctx.error(f"expected a path or a list of paths, got {describe(value)}")
        return INVALID
    single = not is_plain_sequence(value)
    result = []
    for i, entry in enumerate(_listed(value)):
        if _container_path_ok(entry, ctx if single else ctx.index(i)) and entry not in result:
            result.append(entry)
    return tuple(result)


# ------------------------------------------------------------------------------------------
# element lists (binds, attaches, uses, links, exposes, networks, exec_commands)


def _is_fields(value: Mapping[Any, Any], cls: type, required: tuple[str, ...]) -> bool:
    """A dict that spells out a named tuple's fields (``{'exposed_port': 80, 'host_port': 80}``)."""
    return all(k in value for k in required) and all(k in cls._fields for k in value)


def _element_list(value: Any, ctx: Ctx, item: Callable[[Any, Ctx], list[Any]], what: str) -> Any:
    """Parse a list-typed element key: a single item, a dict shorthand or a list of items."""
    if is_plain_sequence(value):
        result: list[Any] = []
        for i, entry in enumerate(value):
            result.extend(item(entry, ctx.index(i)))
        return tuple(result)
    if value is None:
        return ()
    if isinstance(value, (str, int, Lazy, Mapping)) or hasattr(value, "_fields"):
        return tuple(item(value, ctx))
    ctx.error(f"expected {what}, got {describe(value)}")
    return INVALID


def _is_flag(value: Any) -> bool:
    # ints 0/1 count as flags (Python users wrote (alias, 1)); other numbers are errors
    return value is None or (isinstance(value, int) and value in (0, 1)) or value in ("ro", "rw")


def readonly_flag(value: Any) -> bool:
    """docker-map's read-only rule: any truthy value except the string ``'rw'``."""
    return bool(value) and value != "rw"


def _check_alias(alias: Any, ctx: Ctx, what: str = "volume alias") -> bool:
    if isinstance(alias, str) and NAME_RE.match(alias):
        return True
    if isinstance(alias, str) and alias.startswith("/"):
        ctx.error(
            f"{short(alias)} looks like a container path but has no host path "
            f"(a direct bind is (container path, host path); an alias is a name from volumes)"
        )
    else:
        ctx.error(f"invalid {what} {short(alias)}")
    return False


def _host_path_ok(host_path: Any, ctx: Ctx) -> bool:
    if isinstance(host_path, Lazy) or (isinstance(host_path, str) and host_path):
        return True
    if isinstance(host_path, Mapping) and host_path:
        ok = True
        for inst, path in host_path.items():
            sub = ctx.key(inst)
            if not isinstance(inst, str):
                sub.error(f"per-instance host paths are keyed by instance name, got {describe(inst)}")
                ok = False
            elif not (isinstance(path, Lazy) or (isinstance(path, str) and path)):
                sub.error(f"expected a host path, got {describe(path)}")
                ok = False
        return ok
    ctx.error(f"expected a host path or a dict of instance name to host path, got {describe(host_path)}")
    return False


def _host_bind(path: Any, host_path: Any, flag: Any, ctx: Ctx) -> list[Any]:
    ok = _container_path_ok(path, ctx, dot=True)
    ok = _host_path_ok(host_path, ctx) and ok
    if not ok:
        return []
    if isinstance(host_path, Mapping):
        host_path = dict(host_path)
    return [HostVolume(path, host_path, readonly_flag(flag))]


def _bind_pair(first: Any, second: Any, ctx: Ctx) -> list[Any]:
    if _is_flag(second):
        return [SharedVolume(first, readonly_flag(second))] if _check_alias(first, ctx) else []
    if isinstance(second, (str, Lazy, Mapping)):
        return _host_bind(first, second, False, ctx)
    if is_plain_sequence(second) and 1 <= len(second) <= 2:
        return _host_bind(first, second[0], second[1] if len(second) == 2 else False, ctx)
    ctx.error(
        f"expected a read-only flag, a host path or (host path, read-only flag), got {describe(second)}"
    )
    return []


def _bind_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, HostVolume):
        return _host_bind(value.path, value.host_path, value.readonly, ctx)
    if isinstance(value, SharedVolume):
        return [value] if _check_alias(value.name, ctx) else []
    if isinstance(value, str):
        return [SharedVolume(value, False)] if _check_alias(value, ctx) else []
    if isinstance(value, Mapping):
        if _is_fields(value, HostVolume, ("path", "host_path")):
            return _host_bind(value["path"], value["host_path"], value.get("readonly", False), ctx)
        if _is_fields(value, SharedVolume, ("name",)):
            return _bind_pair(value["name"], value.get("readonly", False), ctx)
        result: list[Any] = []
        for key, second in value.items():
            result.extend(_bind_pair(key, second, ctx.key(key)))
        return result
    if is_plain_sequence(value):
        if len(value) == 1:
            return _bind_item(value[0], ctx)
        if len(value) == 2:
            return _bind_pair(value[0], value[1], ctx)
        if len(value) == 3:
            return _host_bind(value[0], value[1], value[2], ctx)
    ctx.error(
        "expected an alias, (alias, read-only), (container path, host path[, read-only]) "
        f"or a dict of those, got {describe(value)}"
    )
    return []


def parse_binds(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _bind_item, "a bind, a dict of binds or a list of binds")


def _attach_pair(alias: Any, second: Any, ctx: Ctx, flag: Any = False) -> list[Any]:
    if not _check_alias(alias, ctx):
        return []
    if _is_flag(second):
        flag, second = second, None
    if readonly_flag(flag):
        ctx.error(
            f"attached volume {short(alias)} cannot be read-only (the owning container mounts it read-write)"
        )
        return []
    if second is None:
        return [SharedVolume(alias, False)]
    if _container_path_ok(second, ctx):
        return [UsedVolume(alias, second, False)]
    return []


def _attach_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, (SharedVolume, UsedVolume)):
        return _attach_pair(value.name, getattr(value, "path", None), ctx, value.readonly)
    if isinstance(value, str):
        return _attach_pair(value, None, ctx)
    if isinstance(value, Mapping):
        if _is_fields(value, UsedVolume, ("name",)):
            return _attach_pair(value["name"], value.get("path"), ctx, value.get("readonly", False))
        result: list[Any] = []
        for key, second in value.items():
            result.extend(_attach_pair(key, second, ctx.key(key)))
        return result
    if is_plain_sequence(value) and 1 <= len(value) <= 3:
        return _attach_pair(
            value[0], value[1] if len(value) > 1 else None, ctx, value[2] if len(value) > 2 else False
        )
    ctx.error(f"expected an alias, (alias, path) or a dict of alias to path, got {describe(value)}")
    return []


def parse_attaches(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _attach_item, "an alias, a dict of aliases or a list of aliases")


def _use_pair(name: Any, second: Any, ctx: Ctx, flag: Any = False) -> list[Any]:
    if not (isinstance(name, str) and NAME_RE.match(name)):
        ctx.error(f"invalid volume alias or container reference {short(name)}")
        return []
    if _is_flag(second):
        return [SharedVolume(name, readonly_flag(second) or readonly_flag(flag))]
    if is_plain_sequence(second) and 1 <= len(second) <= 2:
        return _use_pair(name, second[0], ctx, second[1] if len(second) == 2 else flag)
    if _container_path_ok(second, ctx):
        return [UsedVolume(name, second, readonly_flag(flag))]
    return []


def _use_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, (SharedVolume, UsedVolume)):
        return _use_pair(value.name, getattr(value, "path", None), ctx, value.readonly)
    if isinstance(value, str):
        return _use_pair(value, None, ctx)
    if isinstance(value, Mapping):
        if _is_fields(value, UsedVolume, ("name",)):
            return _use_pair(value["name"], value.get("path"), ctx, value.get("readonly", False))
        result: list[Any] = []
        for key, second in value.items():
            result.extend(_use_pair(key, second, ctx.key(key)))
        return result
    if is_plain_sequence(value) and 1 <= len(value) <= 3:
        return _use_pair(
            value[0], value[1] if len(value) > 1 else None, ctx, value[2] if len(value) > 2 else False
        )
    ctx.error(
        f"expected a name, (name, read-only), (name, path[, read-only]) or a dict, got {describe(value)}"
    )
    return []


def parse_uses(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _use_item, "a name, a dict of names or a list of names")


def _link(container: Any, alias: Any, ctx: Ctx) -> list[Any]:
    if not _check_ref(container, ctx):
        return []
    if alias is not None and not (isinstance(alias, str) and NAME_RE.match(alias)):
        ctx.error(f"invalid link alias {short(alias)}")
        return []
    return [ContainerLink(container, alias)]


def _link_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, ContainerLink):
        return _link(value.container, value.alias, ctx)
    if isinstance(value, str):
        return _link(value, None, ctx)
    if isinstance(value, Mapping):
        if _is_fields(value, ContainerLink, ("container",)):
            return _link(value["container"], value.get("alias"), ctx)
        result: list[Any] = []
        for key, alias in value.items():
            result.extend(_link(key, alias, ctx.key(key)))
        return result
    if is_plain_sequence(value) and 1 <= len(value) <= 2:
        return _link(value[0], value[1] if len(value) == 2 else None, ctx)
    ctx.error(
        f"expected 'config[.instance]', (container, alias) or a dict of container to alias, got {describe(value)}"
    )
    return []


def parse_links(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _link_item, "a link, a dict of links or a list of links")


_PORT_RE = re.compile(r"^(\d+)(?:/([A-Za-z]+))?$")
_HOST_PORT_RE = re.compile(r"^(\d+)(?:-(\d+))?$")
PROTOCOLS = ("tcp", "udp", "sctp")


def _valid_port_number(number: int) -> bool:
    return 1 <= number <= 65535


def parse_port(value: Any, ctx: Ctx) -> Any:
    """Container port: int, ``'80'``, ``'53/udp'`` (``'80/tcp'`` is normalised to 80)."""
    if isinstance(value, Lazy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if _valid_port_number(value):
            return value
        ctx.error(f"port {value} is out of range (1-65535)")
        return INVALID
    if isinstance(value, str):
        match = _PORT_RE.match(value.strip())
        if match:
            number, proto = int(match.group(1)), (match.group(2) or "tcp").lower()
            if not _valid_port_number(number):
                ctx.error(f"port {short(value)} is out of range (1-65535)")
                return INVALID
            if proto not in PROTOCOLS:
                ctx.error(
                    f"unknown protocol {short(match.group(2))} in port {short(value)} (use tcp, udp or sctp)"
                )
                return INVALID
            return number if proto == "tcp" else f"{number}/{proto}"
    ctx.error(f"invalid port {describe(value)} (expected a number 1-65535 or 'number/protocol')")
    return INVALID


def _host_port(value: Any, ctx: Ctx) -> Any:
    if value is None or isinstance(value, Lazy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if _valid_port_number(value):
            return value
        ctx.error(f"host port {value} is out of range (1-65535)")
        return INVALID
    if isinstance(value, str):
        match = _HOST_PORT_RE.match(value.strip())
        if match:
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if _valid_port_number(low) and _valid_port_number(high) and low <= high:
                return low if match.group(2) is None else value.strip()
            ctx.error(f"host port {short(value)} is out of range (1-65535)")
            return INVALID
    ctx.error(f"invalid host port {describe(value)} (expected a number 1-65535 or a range 'low-high')")
    return INVALID


def _binding(port: Any, host_port: Any, interface: Any, ipv6: Any, ctx: Ctx) -> list[Any]:
    port = parse_port(port, ctx)
    host_port = _host_port(host_port, ctx)
    ok = port is not INVALID and host_port is not INVALID
    if (
        interface is not None
        and not isinstance(interface, Lazy)
        and not (isinstance(interface, str) and interface)
    ):
        ctx.error(f"expected an interface name, got {describe(interface)}")
        ok = False
    if ipv6 is None:
        ipv6 = False
    if not isinstance(ipv6, (bool, Lazy)):
        ctx.error(f"ipv6 flag must be true or false, got {describe(ipv6)}")
        ok = False
    return [PortBinding(port, host_port, interface, ipv6)] if ok else []


def _expose_pair(port: Any, second: Any, ctx: Ctx) -> list[Any]:
    if is_plain_sequence(second):
        if 1 <= len(second) <= 3:
            return _binding(port, *(list(second) + [None, None])[:3], ctx)
        ctx.error(f"expected (host port, interface[, ipv6]), got {describe(second)}")
        return []
    return _binding(port, second, None, None, ctx)


def _expose_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, PortBinding):
        return _binding(*value, ctx)
    if isinstance(value, (int, str, Lazy)):
        return _binding(value, None, None, None, ctx)
    if isinstance(value, Mapping):
        if _is_fields(value, PortBinding, ("exposed_port",)):
            return _binding(
                value["exposed_port"], value.get("host_port"), value.get("interface"), value.get("ipv6"), ctx
            )
        result: list[Any] = []
        for key, second in value.items():
            result.extend(_expose_pair(key, second, ctx.key(key)))
        return result
    if is_plain_sequence(value):
        if len(value) == 1:
            return _binding(value[0], None, None, None, ctx)
        if len(value) == 2:
            return _expose_pair(value[0], value[1], ctx)
        if len(value) in (3, 4):
            return _binding(*(list(value) + [None])[:4], ctx)
    ctx.error(
        f"expected a port, (port, host port[, interface[, ipv6]]) or a dict of ports, got {describe(value)}"
    )
    return []


def parse_exposes(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _expose_item, "a port, a dict of ports or a list of ports")


_ENDPOINT_KEYS = ("aliases", "links", "ipv4_address", "ipv6_address", "link_local_ips")


def _ip(value: Any, ctx: Ctx, version: int | None, what: str) -> Any:
    if value is None or isinstance(value, Lazy):
        return value
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or (version and address.version != version):
        ctx.error(f"invalid {what} {describe(value)}")
        return INVALID
    return value


def _endpoint(net: Any, spec: Mapping[str, Any], ctx: Ctx) -> list[Any]:
    ok = _check_name(net, ctx, "network name", True)
    for key in spec:
        if key not in _ENDPOINT_KEYS:
            ctx.key(key).error(f"unknown endpoint key {short(key)}{did_you_mean(key, _ENDPOINT_KEYS)}")
            ok = False
    aliases = []
    for i, alias in enumerate(_listed(spec.get("aliases"))):
        if isinstance(alias, Lazy) or (isinstance(alias, str) and NAME_RE.match(alias)):
            aliases.append(alias)
        else:
            (
                ctx.key("aliases").index(i) if is_plain_sequence(spec.get("aliases")) else ctx.key("aliases")
            ).error(f"invalid network alias {describe(alias)}")
            ok = False
    links = parse_links(spec.get("links"), ctx.key("links"))
    ipv4 = _ip(spec.get("ipv4_address"), ctx.key("ipv4_address"), 4, "IPv4 address")
    ipv6 = _ip(spec.get("ipv6_address"), ctx.key("ipv6_address"), 6, "IPv6 address")
    lli = []
    lli_raw = spec.get("link_local_ips")
    for i, ip in enumerate(_listed(lli_raw)):
        sub = ctx.key("link_local_ips")
        value = _ip(ip, sub.index(i) if is_plain_sequence(lli_raw) else sub, None, "link-local IP")
        ok = ok and value is not INVALID
        lli.append(value)
    if not ok or INVALID in (links, ipv4, ipv6):
        return []
    return [NetworkEndpoint(net, tuple(aliases), links, ipv4, ipv6, tuple(lli))]


def _endpoint_pair(net: Any, second: Any, ctx: Ctx) -> list[Any]:
    if second is None:
        return _endpoint(net, {}, ctx)
    if isinstance(second, (str, Lazy)):
        return _endpoint(net, {"aliases": second}, ctx)
    if isinstance(second, Mapping):
        return _endpoint(net, second, ctx)
    if is_plain_sequence(second) and len(second) <= 5:
        return _endpoint(net, dict(zip(_ENDPOINT_KEYS, second, strict=False)), ctx)
    ctx.error(
        f"expected aliases, [aliases, links, ipv4, ipv6, link-local IPs] or a dict, got {describe(second)}"
    )
    return []


def _network_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, NetworkEndpoint):
        return _endpoint(value.network_name, dict(zip(_ENDPOINT_KEYS, value[1:], strict=True)), ctx)
    if isinstance(value, str):
        if NAME_RE.match(value):
            return [NetworkEndpoint(value)]
        return _endpoint(value, {}, ctx)
    if isinstance(value, Mapping):
        if _is_fields(value, NetworkEndpoint, ("network_name",)):
            return _endpoint(
                value["network_name"], {k: v for k, v in value.items() if k != "network_name"}, ctx
            )
        result: list[Any] = []
        for key, second in value.items():
            result.extend(_endpoint_pair(key, second, ctx.key(key)))
        return result
    if is_plain_sequence(value) and 1 <= len(value) <= 6:
        if len(value) == 2 and isinstance(value[1], Mapping):
            return _endpoint(value[0], value[1], ctx)
        return _endpoint_pair(value[0], list(value[1:]), ctx)
    ctx.error(
        f"expected a network name, (network, aliases, ...) or a dict of networks, got {describe(value)}"
    )
    return []


def parse_networks(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _network_item, "a network, a dict of networks or a list of networks")


def _exec(cmd: Any, user: Any, policy: Any, ctx: Ctx, user_key: bool = False) -> list[Any]:
    ok = True
    if is_plain_sequence(cmd) and cmd and all(isinstance(c, (str, Lazy)) for c in cmd):
        cmd = tuple(cmd)
    elif not (isinstance(cmd, Lazy) or (isinstance(cmd, str) and cmd.strip())):
        ctx.error(f"expected a command string or argument list, got {describe(cmd)}")
        ok = False
    if user is not None:
        # the same forms as the config's user: name, uid, 'user:group', (user, group)
        user = parse_user(user, ctx.key("user") if user_key else ctx)
        ok = ok and user is not INVALID
    if policy is None:
        policy = "restart"
    if policy not in ("restart", "initial"):
        ctx.error(f"unknown exec policy {short(policy)} (use 'restart' or 'initial')")
        ok = False
    return [ExecCommand(cmd, user, policy)] if ok else []


_EXEC_KEYS = ("cmd", "user", "policy")


def _exec_item(value: Any, ctx: Ctx) -> list[Any]:
    if isinstance(value, ExecCommand):
        return _exec(*value, ctx)
    if isinstance(value, (str, Lazy)):
        return _exec(value, None, None, ctx)
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in _EXEC_KEYS]
        for key in unknown:
            ctx.key(key).error(f"unknown key {short(key)}{did_you_mean(key, _EXEC_KEYS)}")
        if "cmd" not in value:
            ctx.error("exec command has no 'cmd'")
        if unknown or "cmd" not in value:
            return []
        return _exec(value["cmd"], value.get("user"), value.get("policy"), ctx, user_key=True)
    if is_plain_sequence(value) and 1 <= len(value) <= 3:
        return _exec(*(list(value) + [None, None])[:3], ctx)
    ctx.error(f"expected a command, (command, user[, policy]) or a dict, got {describe(value)}")
    return []


def parse_exec_commands(value: Any, ctx: Ctx) -> Any:
    return _element_list(value, ctx, _exec_item, "a command or a list of commands")


# ------------------------------------------------------------------------------------------
# healthcheck and durations

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MIN_DURATION = 1_000_000  # Docker rejects non-zero healthcheck durations below 1 ms


def duration_ns(value: Any) -> int | None:
    """Duration in nanoseconds from an int (nanoseconds, as docker-map) or a Go-style string
    (``'30s'``, ``'1m'``, ``'500ms'``, ``'1h30m'``); None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_RE.match(text, pos)
        if not match:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return int(round(total)) if text else None


def _duration(value: Any, ctx: Ctx, what: str) -> Any:
    if value is None:
        return None
    ns = duration_ns(value)
    if ns is None:
        ctx.error(
            f"invalid {what} {describe(value)} (use a duration string such as '30s', '1m30s', "
            "'500ms', or an integer number of nanoseconds)"
        )
        return INVALID
    if 0 < ns < _MIN_DURATION:
        ctx.error(
            f"{what} {short(value)} is {ns} ns, below Docker's minimum of 1ms "
            "(integers are nanoseconds; write '30s' for 30 seconds)"
        )
        return INVALID
    return ns


_TEST_KINDS = ("NONE", "CMD", "CMD-SHELL")


def _health_test(test: Any, ctx: Ctx) -> Any:
    """None means disabled (``NONE``); strings run with the shell; lists get ``CMD`` prepended."""
    if test is None or test == "NONE":
        return None
    if isinstance(test, str) and test.strip():
        return ("CMD-SHELL", test)
    if is_plain_sequence(test) and test and all(isinstance(t, str) for t in test):
        if test[0] == "NONE":
            return None
        if test[0] in _TEST_KINDS:
            if len(test) < 2:
                ctx.error(f"healthcheck test {short(list(test))} has no command")
                return INVALID
            return tuple(test)
        return ("CMD", *test)
    ctx.error(f"expected a test command string or list, got {describe(test)}")
    return INVALID


def _is_positional_health(value: list[Any]) -> bool:
    """Whether a healthcheck list is ``(test, interval, timeout, retries, start_period)``.

    A list is the test itself when all its items are strings and either the first is ``CMD``,
    ``CMD-SHELL`` or ``NONE``, or some item after the first is not a duration (``['curl', 'x']``
    is a command, docker-map read it as test ``curl`` with interval ``x``). Otherwise (first item
    a list, or all further items durations / a retries count at position 3) it is positional.
    """
    if not value or len(value) > 5:
        return False
    first = value[0]
    if is_plain_sequence(first) or first is None:
        return True
    if not isinstance(first, str) or first in _TEST_KINDS:
        return False
    for pos, item in enumerate(value[1:], start=1):
        if item is None:
            continue
        if pos == 3:
            if not (isinstance(item, int) and not isinstance(item, bool)):
                return False
        elif duration_ns(item) is None:
            return False
    return True


def _health(test: Any, interval: Any, timeout: Any, retries: Any, start_period: Any, ctx: Ctx) -> Any:
    test_v = _health_test(test, ctx.key("test"))
    values = [
        _duration(interval, ctx.key("interval"), "interval"),
        _duration(timeout, ctx.key("timeout"), "timeout"),
    ]
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        ctx.key("retries").error(f"expected a non-negative number of retries, got {describe(retries)}")
        retries = INVALID
    values.append(retries)
    values.append(_duration(start_period, ctx.key("start_period"), "start_period"))
    if test_v is INVALID or INVALID in values:
        return INVALID
    return HealthCheck(test_v, *values)


def parse_healthcheck(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, HealthCheck):
        return _health(*value, ctx)
    if value is None or isinstance(value, str):
        return _health(value, None, None, None, None, ctx)
    if isinstance(value, Mapping):
        fields = HealthCheck._fields
        unknown = [k for k in value if k not in fields]
        for key in unknown:
            ctx.key(key).error(f"unknown healthcheck key {short(key)}{did_you_mean(key, fields)}")
        if unknown:
            return INVALID
        return _health(*(value.get(f) for f in fields), ctx)
    if is_plain_sequence(value) and value:
        if _is_positional_health(list(value)):
            return _health(*(list(value) + [None] * 4)[:5], ctx)
        if all(isinstance(v, str) for v in value):
            return _health(list(value), None, None, None, None, ctx)
    ctx.error(
        f"expected a test command, a dict, or (test, interval, timeout, retries, start_period), got {describe(value)}"
    )
    return INVALID


# ------------------------------------------------------------------------------------------
# user, permissions, signals, network mode, options

_USER_PART_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.$-]*$")


def _join_user(user: Any, group: Any) -> str:
    from .lazy import resolve_value

    return f"{resolve_value(user)}:{resolve_value(group)}"


def _user_part(value: Any, ctx: Ctx, what: str) -> Any:
    if isinstance(value, Lazy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            ctx.error(f"{what} id must not be negative, got {value}")
            return INVALID
        return str(value)
    if isinstance(value, str) and _USER_PART_RE.match(value):
        return value
    ctx.error(f"invalid {what} {describe(value)}")
    return INVALID


def parse_user(value: Any, ctx: Ctx) -> Any:
    """int uid, ``name``, ``name:group``, ``uid:gid`` or ``(user, group)`` -> ``'user[:group]'``."""
    if isinstance(value, Lazy):
        return value
    if isinstance(value, str) and ":" in value:
        parts = value.split(":")
        if len(parts) != 2:
            ctx.error(f"invalid user {short(value)} (expected 'user' or 'user:group')")
            return INVALID
        value = tuple(parts)
    if is_plain_sequence(value):
        if len(value) != 2:
            ctx.error(f"expected (user, group), got {describe(value)}")
            return INVALID
        user = _user_part(value[0], ctx, "user")
        group = _user_part(value[1], ctx, "group")
        if INVALID in (user, group):
            return INVALID
        if isinstance(user, Lazy) or isinstance(group, Lazy):
            return Lazy(_join_user, user, group)
        return f"{user}:{group}"
    return _user_part(value, ctx, "user")


_OCTAL_MODE_RE = re.compile(r"^[0-7]{3,4}$")
_SYMBOLIC_MODE_RE = re.compile(r"^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$")


def permissions_problem(value: str) -> str | None:
    """Why a chmod mode string is invalid, or None (octal ``0750``/``750`` or symbolic
    ``u=rwX,g=rX,o=``)."""
    if _OCTAL_MODE_RE.match(value):
        return None
    clauses = value.split(",")
    if value and all(_SYMBOLIC_MODE_RE.match(c) for c in clauses):
        return None
    return f"invalid permissions {short(value)} (expected an octal mode such as '0750' or a symbolic mode such as 'u=rwX,g=rX,o=')"


def parse_permissions(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, Lazy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        ctx.error(
            f"permissions must be a quoted string such as '0750', got the number {value} "
            "(YAML reads an unquoted 0750 as the decimal number 488)"
        )
        return INVALID
    if not isinstance(value, str):
        ctx.error(f"expected a chmod mode string, got {describe(value)}")
        return INVALID
    problem = permissions_problem(value)
    if problem:
        ctx.error(problem)
        return INVALID
    return value


# Linux signal names (containers run Linux whatever the client platform is)
SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
    "POLL": 29, "PWR": 30, "SYS": 31, "RTMIN": 34, "RTMAX": 64,
}  # fmt: skip
_RT_RE = re.compile(r"^RTM(IN|AX)([+-])(\d+)$")


def parse_signal(value: Any, ctx: Ctx) -> Any:
    """Signal name with or without ``SIG`` (normalised to ``SIGTERM``) or number 1-64."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 64:
            return value
        ctx.error(f"signal number {value} is out of range (1-64)")
        return INVALID
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isdigit():
            return parse_signal(int(text), ctx)
        name = text[3:] if text.startswith("SIG") else text
        match = _RT_RE.match(name)
        if match:
            number = SIGNALS[f"RTM{match.group(1)}"] + int(match.group(2) + match.group(3))
            if SIGNALS["RTMIN"] <= number <= SIGNALS["RTMAX"]:
                return f"SIG{name}"
        elif name in SIGNALS:
            return f"SIG{name}"
        ctx.error(f"unknown signal {short(value)}{did_you_mean(f'SIG{name}', [f'SIG{k}' for k in SIGNALS])}")
        return INVALID
    ctx.error(f"expected a signal name or number, got {describe(value)}")
    return INVALID


NETWORK_MODES = ("bridge", "host", "none", "default")


def parse_network_mode(value: Any, ctx: Ctx) -> Any:
    """``bridge``/``host``/``none`` (``disabled``, empty -> ``none``), ``container:<x>``, ``/<x>``
    (unmanaged containers), ``config``/``config.instance`` -> :class:`ContainerRef`."""
    if value is None or value == "" or value == "disabled":
        return "none"
    if isinstance(value, ContainerRef):
        value = tuple(value)
    if isinstance(value, Mapping) and _is_fields(value, ContainerRef, ("config",)):
        value = (value["config"], value.get("instance"))
    if is_plain_sequence(value) and 1 <= len(value) <= 2:
        config, instance = value[0], value[1] if len(value) == 2 else None
        if _check_name(config, ctx, "configuration name", False) and (
            instance is None or _check_name(instance, ctx, "instance name", False)
        ):
            return ContainerRef(config, instance)
        return INVALID
    if not isinstance(value, str):
        ctx.error(f"expected a network mode string, got {describe(value)}")
        return INVALID
    if value in NETWORK_MODES:
        return value
    if value.startswith("container:") or value.startswith("/"):
        rest = value.split(":", 1)[1] if value.startswith("container:") else value[1:]
        if rest and NAME_RE.match(rest):
            return value
        ctx.error(f"invalid container name in network mode {short(value)}")
        return INVALID
    if _check_ref(value, ctx, "network mode"):
        config, _, instance = value.partition(".")
        return ContainerRef(config, instance or None)
    return INVALID


def _signature_keys(func: Callable[..., Any]) -> frozenset[str]:
    return frozenset(p for p in inspect.signature(func).parameters if p not in ("self", "version"))


@functools.cache
def docker_option_keys() -> tuple[frozenset[str], frozenset[str]]:
    """``(create_options keys, host_config keys)``: the create_container and HostConfig keyword
    names of the installed docker SDK, plus the docker-py 1.x create arguments that old maps still
    use (the engine moves them to HostConfig). Empty sets when the SDK is missing (no checking).

    Computed on first use: importing the SDK costs more than validating a large map.
    """
    try:
        import docker
    except ImportError:  # pragma: no cover - the SDK is a declared dependency
        return frozenset(), frozenset()
    create = _signature_keys(docker.APIClient.create_container)
    host = _signature_keys(docker.types.HostConfig.__init__)
    legacy = frozenset(
        {"mem_limit", "memswap_limit", "cpu_shares", "cpuset", "dns", "volumes_from", "volume_driver"}
    )
    return create | legacy, host


def _env_name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return f"environment variable names must be strings, got {describe(name)}"
    if "=" in name or "\n" in name or "\0" in name:
        return f"invalid environment variable name {short(name)} (no '=', newline or NUL allowed)"
    return None


def _check_environment(env: Any, ctx: Ctx) -> Any:
    if env is None or isinstance(env, Lazy):
        return env
    if isinstance(env, Mapping):
        for key in env:
            problem = _env_name_problem(key)
            if problem:
                ctx.key(key).error(problem)
        return env
    if is_plain_sequence(env):
        for i, item in enumerate(env):
            if isinstance(item, Lazy):
                continue
            if not isinstance(item, str) or "=" not in item:
                ctx.index(i).error(f"expected 'NAME=value', got {describe(item)}")
                continue
            problem = _env_name_problem(item.partition("=")[0])
            if problem:
                ctx.index(i).error(problem)
        return env
    ctx.error(f"expected a dict or a list of 'NAME=value', got {describe(env)}")
    return env


# ------------------------------------------------------------------------------------------
# typed checks of create_options / host_config values (docker SDK keyword arguments)

_BYTES_RE = re.compile(r"^\s*(?:\d+|\d+(?:\.\d+)?\s*[bkmg]b?)\s*$", re.IGNORECASE)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _byte_size(value: Any, ctx: Ctx, unlimited: bool = False) -> Any:
    """An integer byte count or a size string as the docker SDK parses it (``512m``, ``1.5g``);
    ``-1`` (unlimited) where Docker allows it."""
    if _is_int(value) and (value >= 0 or (unlimited and value == -1)):
        return value
    if isinstance(value, str) and _BYTES_RE.match(value):
        return value
    ctx.error(f"expected a byte size like 512m or an integer, got {short(value)}")
    return INVALID


def _int_check(low: int | None = None, high: int | None = None) -> Callable[[Any, Ctx], Any]:
    def check(value: Any, ctx: Ctx) -> Any:
        if not _is_int(value):
            ctx.error(f"expected an integer, got {short(value)}")
            return INVALID
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else ''}..{high if high is not None else ''}"
            ctx.error(f"{value} is out of range ({bounds})")
            return INVALID
        return value

    return check


def _seconds(value: Any, ctx: Ctx) -> Any:
    """A finite non-negative integer number of seconds (create_options.stop_timeout)."""
    if not _is_int(value) or value < 0:
        ctx.error(f"expected a non-negative integer number of seconds, got {short(value)}")
        return INVALID
    return value


_RESTART_NAMES = ("no", "always", "unless-stopped", "on-failure")
_RESTART_RE = re.compile(r"^(no|always|unless-stopped|on-failure)(?::(\d+))?$")
_RESTART_HELP = (
    "expected 'no', 'always', 'unless-stopped', 'on-failure[:N]' or "
    "{{Name: ..., MaximumRetryCount: N}}, got {}"
)


def _restart_policy(value: Any, ctx: Ctx) -> Any:
    """``{Name, MaximumRetryCount}`` (what the docker SDK takes), or the shorthand string
    ``always`` / ``unless-stopped`` / ``no`` / ``on-failure[:N]`` normalised to that dict."""
    if isinstance(value, str):
        match = _RESTART_RE.match(value.strip())
        if match and (match.group(2) is None or match.group(1) == "on-failure"):
            return {"Name": match.group(1), "MaximumRetryCount": int(match.group(2) or 0)}
    elif isinstance(value, Mapping):
        ok = True
        for key in value:
            if key not in ("Name", "MaximumRetryCount"):
                hint = did_you_mean(key, ("Name", "MaximumRetryCount"))
                ctx.key(key).error(f"unknown restart policy key {short(key)}{hint}")
                ok = False
        name = value.get("Name")
        if not isinstance(name, Lazy) and name not in _RESTART_NAMES and name != "":
            ctx.key("Name").error(f"expected one of {', '.join(_RESTART_NAMES)}, got {short(name)}")
            ok = False
        count = value.get("MaximumRetryCount", 0)
        if not isinstance(count, Lazy) and not (_is_int(count) and count >= 0):
            ctx.key("MaximumRetryCount").error(f"expected a non-negative integer, got {short(count)}")
            ok = False
        return dict(value) if ok else INVALID
    ctx.error(_RESTART_HELP.format(short(value)))
    return INVALID


def _ulimits(value: Any, ctx: Ctx) -> Any:
    """A list of ``{name, soft, hard}`` dicts (``Name``/``Soft``/``Hard`` too, or
    ``docker.types.Ulimit``)."""
    if not is_plain_sequence(value):
        ctx.error(f"expected a list of {{name, soft, hard}} dicts, got {short(value)}")
        return INVALID
    ok = True
    for i, item in enumerate(value):
        sub = ctx.index(i)
        if isinstance(item, Lazy):
            continue
        if not isinstance(item, Mapping):
            sub.error(f"expected a {{name, soft, hard}} dict, got {short(item)}")
            ok = False
            continue
        for key in item:
            if not isinstance(key, str) or key.lower() not in ("name", "soft", "hard"):
                sub.key(key).error(f"unknown ulimit key {short(key)} (use name, soft, hard)")
                ok = False
        name = item.get("name", item.get("Name"))
        if not (isinstance(name, str) and name):
            sub.error(f"ulimit needs a name, got {short(name)}")
            ok = False
        for key in ("soft", "hard"):
            limit = item.get(key, item.get(key.capitalize()))
            if limit is not None and not isinstance(limit, Lazy) and not _is_int(limit):
                sub.key(key if key in item else key.capitalize()).error(
                    f"expected an integer, got {short(limit)}"
                )
                ok = False
    return value if ok else INVALID


def _labels(value: Any, ctx: Ctx) -> Any:
    """A dict of label name to value, or a list of label names."""
    if isinstance(value, Mapping):
        ok = True
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                ctx.key(key).error(f"label names must be strings, got {describe(key)}")
                ok = False
            elif not (item is None or isinstance(item, (str, int, float, Lazy))):
                ctx.key(key).error(f"expected a label value string, got {short(item)}")
                ok = False
        return value if ok else INVALID
    if is_plain_sequence(value):
        bad = [i for i, item in enumerate(value) if not (isinstance(item, str) and item)]
        for i in bad:
            ctx.index(i).error(f"expected a label name, got {short(value[i])}")
        return INVALID if bad else value
    ctx.error(f"expected a dict of labels or a list of label names, got {short(value)}")
    return INVALID


def _command(value: Any, ctx: Ctx) -> Any:
    """A command line string (split like a shell would, without running one) or a list of
    arguments."""
    if isinstance(value, str):
        return value
    if is_plain_sequence(value):
        ok = True
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float, Lazy)):
                ctx.index(i).error(f"expected an argument string, got {short(item)}")
                ok = False
        return value if ok else INVALID
    ctx.error(f"expected a command string or a list of arguments, got {short(value)}")
    return INVALID


def _binds_option(value: Any, ctx: Ctx) -> Any:
    """Raw ``host_config.binds``: a list of ``host:container[:mode]`` strings or the SDK's dict
    of host path to ``{bind, mode}``."""
    if isinstance(value, Mapping):
        return value
    if is_plain_sequence(value):
        bad = [i for i, item in enumerate(value) if not (isinstance(item, (str, Lazy)) and item)]
        for i in bad:
            ctx.index(i).error(f"expected 'host path:container path[:mode]', got {short(value[i])}")
        return INVALID if bad else value
    ctx.error(f"expected a list of 'host path:container path[:mode]' or a dict, got {short(value)}")
    return INVALID


def _string_option(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, str):
        return value
    ctx.error(f"expected a string, got {short(value)}")
    return INVALID


def _string_list_option(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, str):
        return value
    if is_plain_sequence(value):
        bad = [i for i, item in enumerate(value) if not isinstance(item, (str, Lazy))]
        for i in bad:
            ctx.index(i).error(f"expected a string, got {short(value[i])}")
        return INVALID if bad else value
    ctx.error(f"expected a string or a list of strings, got {short(value)}")
    return INVALID


def _bool_option(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, bool):
        return value
    ctx.error(f"expected true or false, got {short(value)}")
    return INVALID


def _environment_option(value: Any, ctx: Ctx) -> Any:
    before = len(ctx.problems)
    _check_environment(value, ctx)
    return value if len(ctx.problems) == before else INVALID


#: typed checks of the common create_options / host_config keys (the same names in both: old
#: maps put host-config keys into create_options). A check returns the value (normalised) or
#: INVALID after recording the problem; lazy values and None are not checked (resolved later).
OPTION_CHECKS: dict[str, Callable[[Any, Ctx], Any]] = {
    "mem_limit": _byte_size,
    "mem_reservation": _byte_size,
    "kernel_memory": _byte_size,
    "shm_size": _byte_size,
    "memswap_limit": functools.partial(_byte_size, unlimited=True),
    "cpu_shares": _int_check(0),
    "cpu_period": _int_check(0),
    "cpu_quota": _int_check(-1),
    "cpu_rt_period": _int_check(0),
    "cpu_rt_runtime": _int_check(-1),
    "nano_cpus": _int_check(0),
    "blkio_weight": _int_check(0, 1000),
    "mem_swappiness": _int_check(-1, 100),
    "oom_score_adj": _int_check(-1000, 1000),
    "pids_limit": _int_check(-1),
    "stop_timeout": _seconds,
    "restart_policy": _restart_policy,
    "ulimits": _ulimits,
    "environment": _environment_option,
    "labels": _labels,
    "command": _command,
    "entrypoint": _command,
    "binds": _binds_option,
    "hostname": _string_option,
    "domainname": _string_option,
    "working_dir": _string_option,
    "dns": _string_list_option,
    "dns_search": _string_list_option,
    "cap_add": _string_list_option,
    "cap_drop": _string_list_option,
    "init": _bool_option,
    "privileged": _bool_option,
    "read_only": _bool_option,
    "tty": _bool_option,
    "stdin_open": _bool_option,
    "auto_remove": _bool_option,
}


def _options(value: Any, ctx: Ctx, allowed: frozenset[str], extra: frozenset[str] = frozenset()) -> Any:
    if callable(value) or isinstance(value, Lazy):
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        ctx.error(f"expected a dict (or a callable returning one), got {describe(value)}")
        return INVALID
    result = {}
    check = bool(allowed)
    for key, item in value.items():
        if not isinstance(key, str) or (check and key not in allowed and key not in extra):
            ctx.key(key).error(f"unknown option {short(key)}{did_you_mean(key, allowed | extra)}")
            continue
        typed = OPTION_CHECKS.get(key)
        if key == "host_config" and isinstance(item, Mapping):
            # a nested host_config in create_options (docker-map): typed checks of its values
            item = _options(item, ctx.key(key), frozenset())
        elif typed is not None and item is not None and not isinstance(item, Lazy):
            item = typed(item, ctx.key(key))
            if item is INVALID:
                continue
        result[key] = item
    return result


def parse_create_options(value: Any, ctx: Ctx) -> Any:
    # host-config keys are accepted too: docker-map merged them into create kwargs on
    # 'host_config: merge' clients; the engine routes them to HostConfig
    create_keys, host_keys = docker_option_keys()
    return _options(value, ctx, create_keys, host_keys)


def parse_host_config(value: Any, ctx: Ctx) -> Any:
    return _options(value, ctx, docker_option_keys()[1])


def parse_dict(value: Any, ctx: Ctx) -> Any:
    """A free-form dict (driver options, labels...); values may be lazy."""
    if value is None:
        return {}
    if isinstance(value, Lazy) or callable(value):
        return value
    if not isinstance(value, Mapping):
        ctx.error(f"expected a dict, got {describe(value)}")
        return INVALID
    return dict(value)


def normalize_environment(env: Any) -> dict[str, Any]:
    """``environment`` as a dict, from the dict or the ``['NAME=value', ...]`` list form (a list
    item without ``=`` maps to None, as Docker passes such a variable through)."""
    if env is None:
        return {}
    if isinstance(env, Mapping):
        return dict(env)
    result: dict[str, Any] = {}
    for item in env:
        name, sep, val = str(item).partition("=")
        result[name] = val if sep else None
    return result


# ------------------------------------------------------------------------------------------
# schema objects


def plain(value: Any) -> Any:
    """Plain dicts/lists from normalised values (named tuples -> dicts with field names)."""
    if isinstance(value, tuple):
        if hasattr(value, "_fields"):
            return {f: plain(v) for f, v in zip(value._fields, value, strict=True)}
        return [plain(v) for v in value]
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _dedupe_union(old: tuple[Any, ...], new: Iterable[Any]) -> tuple[Any, ...]:
    result = list(old)
    try:
        seen = set(old)
        for item in new:
            if item not in seen:
                seen.add(item)
                result.append(item)
    except TypeError:  # unhashable items (per-instance host path dicts)
        result = list(old)
        for item in new:
            if item not in result:
                result.append(item)
    return tuple(result)


def merge_by_first(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
    """Merge element lists by their first field: the new entries for a container path / alias /
    port / network replace all old entries with that key, at the position of the first of them;
    new keys are appended. Several new entries with one key (one port on two interfaces) stay."""
    new_by_key: dict[Any, list[Any]] = {}
    for item in new:
        new_by_key.setdefault(item[0], []).append(item)
    result: list[Any] = []
    placed: set[Any] = set()
    for item in old:
        key = item[0]
        if key in new_by_key:
            if key not in placed:
                placed.add(key)
                result.extend(new_by_key[key])
        else:
            result.append(item)
    for key, items in new_by_key.items():
        if key not in placed:
            result.extend(items)
    return tuple(result)


class MergedOptions:
    """Callable combining a callable (or lazy) option dict with a later dict (shallow update)."""

    __slots__ = ("first", "second")

    def __init__(self, first: Any, second: Any):
        self.first = first
        self.second = second

    @staticmethod
    def _get(value: Any) -> dict[str, Any]:
        from .lazy import resolve_value

        value = resolve_value(value)
        return dict(value() if callable(value) else value or {})

    def __call__(self) -> dict[str, Any]:
        result = self._get(self.first)
        result.update(self._get(self.second))
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MergedOptions) and (self.first, self.second) == (other.first, other.second)

    __hash__ = None  # type: ignore[assignment]


def merge_options(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        result = dict(old)
        result.update(new)
        return result
    return MergedOptions(old, new)


class Field(NamedTuple):
    """Schema entry of one key.

    ``kind``: ``scalar`` (later value wins), ``list`` (union, order kept), ``keyed`` (element
    list merged by first field), ``dict`` (shallow update). ``default`` is what attribute access
    returns for an unset key (a callable is called to get a fresh value).
    """

    parse: Callable[[Any, Ctx], Any]
    kind: str = "scalar"
    default: Any = NotSet


def _empty_dict() -> dict[str, Any]:
    return {}


def list_field(parse: Callable[[Any, Ctx], Any]) -> Field:
    return Field(parse, "list", ())


def keyed_field(parse: Callable[[Any, Ctx], Any]) -> Field:
    return Field(parse, "keyed", ())


def dict_field(parse: Callable[[Any, Ctx], Any] = parse_dict) -> Field:
    return Field(parse, "dict", _empty_dict)


class ConfigurationObject:
    """Base of the configuration classes: a schema (:attr:`FIELDS`) of normalised values.

    Unset keys read as the field default (``NotSet`` for scalars, ``()`` for lists, ``{}`` for
    dicts). Attribute and item access are equivalent; assigning a value normalises it and raises
    :class:`ConfigurationError` when it is invalid. ``as_dict()`` lists only the keys that are set.
    """

    FIELDS: ClassVar[dict[str, Field]] = {}
    #: what the object is called in messages
    KIND: ClassVar[str] = "configuration"
    #: keys outside the schema are kept as items (client configurations) instead of being problems
    EXTRA_KEYS: ClassVar[bool] = False

    __slots__ = ("_values", "_extra")

    def __init__(self, initial: Mapping[str, Any] | None = None, **kwargs: Any):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_extra", {})
        ctx = Ctx()
        self._load(initial, ctx)
        if kwargs:
            self._load(kwargs, ctx)
        if ctx.problems:
            raise ConfigurationError(ctx.problems)

    @classmethod
    def parse(cls, data: Any, ctx: Ctx) -> ConfigurationObject:
        """Build from raw input, recording problems in ``ctx`` instead of raising."""
        obj = cls.__new__(cls)
        object.__setattr__(obj, "_values", {})
        object.__setattr__(obj, "_extra", {})
        obj._load(data, ctx)
        return obj

    def _load(self, data: Any, ctx: Ctx) -> None:
        if data is None:
            return
        if isinstance(data, ConfigurationObject):
            self._values.update(data._values)
            self._extra.update(data._extra)
            return
        if not isinstance(data, Mapping):
            self._not_a_mapping(data, ctx)
            return
        fields = self.FIELDS
        values = self._values
        for key, raw in data.items():
            field = fields.get(key)
            if field is None:
                self._unknown_key(key, raw, ctx)
                continue
            value = field.parse(raw, ctx.key(key))
            if value is not INVALID:
                values[key] = value

    def _not_a_mapping(self, data: Any, ctx: Ctx) -> None:
        ctx.error(f"expected a mapping ({self.KIND}), got {describe(data)}")

    def _unknown_key(self, key: Any, raw: Any, ctx: Ctx) -> None:
        suggestion = did_you_mean(key, self.FIELDS)
        if self.EXTRA_KEYS and not suggestion and isinstance(key, str):
            self._extra[key] = raw
            return
        ctx.key(key).error(f"unknown key {short(key)}{suggestion}")

    # -- access ------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not a key; also keeps copy/pickle away from unset slots
            raise AttributeError(name)
        fields = type(self).FIELDS
        if name in fields:
            try:
                return self._values[name]
            except KeyError:
                default = fields[name].default
                return default() if callable(default) else default
        try:
            return self._extra[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute {short(name)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # internal state (also restored this way by copy/pickle)
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        self._values.pop(name, None)
        self._extra.pop(name, None)

    def __getitem__(self, key: str) -> Any:
        if key in type(self).FIELDS or key in self._extra:
            return getattr(self, key)
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        ctx = Ctx()
        self._load({key: value}, ctx)
        if ctx.problems:
            raise ConfigurationError(ctx.problems)

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._extra

    def get(self, key: str, default: Any = None) -> Any:
        """Value of a key that is set, else ``default``."""
        if key in self._values:
            return self._values[key]
        return self._extra.get(key, default)

    def keys(self) -> list[str]:
        """Keys that are set (so ``dict(**config)`` works)."""
        return list(self._values) + list(self._extra)

    def is_set(self, key: str) -> bool:
        return key in self._values

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values == other._values and self._extra == other._extra

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()!r})"

    # -- serialisation and merging -------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts/lists of the keys that are set (lazy values and callables kept as given)."""
        result = {key: plain(value) for key, value in self._values.items()}
        result.update(self._extra)
        return result

    def copy(self) -> ConfigurationObject:
        obj = type(self).__new__(type(self))
        object.__setattr__(
            obj, "_values", {k: dict(v) if isinstance(v, dict) else v for k, v in self._values.items()}
        )
        object.__setattr__(obj, "_extra", dict(self._extra))
        return obj

    def _coerce(self, values: Any) -> ConfigurationObject:
        if isinstance(values, type(self)):
            return values
        return type(self)(values)

    def update(self, values: Mapping[str, Any] | ConfigurationObject) -> None:
        """Replace the given keys."""
        other = self._coerce(values)
        for key, value in other._values.items():
            self._values[key] = dict(value) if isinstance(value, dict) else value
        self._extra.update(other._extra)

    def merge(self, values: Mapping[str, Any] | ConfigurationObject, lists_only: bool = False) -> None:
        """Merge: lists unioned (element lists by first field), dicts shallow-updated, scalars
        overwritten unless ``lists_only``."""
        other = self._coerce(values)
        self._merge_values(other._values, lists_only)
        if not lists_only:
            self._extra.update(other._extra)

    def _merge_values(
        self, new_values: Mapping[str, Any], lists_only: bool = False, skip: Iterable[str] = ()
    ) -> None:
        values = self._values
        fields = self.FIELDS
        for key, new in new_values.items():
            if key in skip:
                continue
            kind = fields[key].kind
            if key not in values:
                if kind == "scalar" and lists_only:
                    continue
                values[key] = dict(new) if isinstance(new, dict) else new
            elif kind == "list":
                values[key] = _dedupe_union(values[key], new)
            elif kind == "keyed":
                values[key] = merge_by_first(values[key], new)
            elif kind == "dict":
                values[key] = merge_options(values[key], new)
            elif not lists_only:
                values[key] = new
