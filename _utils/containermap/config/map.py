"""ContainerMap: a docker-map container map (reference 1.2), with inheritance (1.8) and
validation that reports every problem at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..exceptions import MapValidationError, Problem
from .container import ContainerConfiguration
from .elements import ContainerRef, HostVolume, MapConfigId, NotSet
from .lazy import resolve_value
from .naming import (
    DEFAULT_CLIENT,
    NAME_RE,
    PART_RE,
    PRESET_NETWORKS,
    container_name,
    expand_image,
    hostname,
    image_problem,
    name_problem,
    repository_problem,
    tag_problem,
    volume_name,
)
from .network import NetworkConfiguration
from .normalize import (
    INVALID,
    ConfigurationObject,
    Ctx,
    checked_string,
    describe,
    is_plain_sequence,
    parse_bool,
    parse_names,
    parse_string,
    short,
)
from .volume import HostVolumeConfiguration, VolumeConfiguration

ALL_GROUP = "__all__"


def _parse_repository(value: Any, ctx: Ctx) -> Any:
    return checked_string(value, ctx, "a registry/namespace prefix string", repository_problem)


def _parse_default_tag(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads 'default_tag: 2' as a number
    elif isinstance(value, float):  # '1.10' would silently become '1.1'
        ctx.error(f"tag {short(value)} was read as a number: quote it ('{value}')")
        return INVALID
    return checked_string(value, ctx, "an image tag", tag_problem)


def _parse_host_root(value: Any, ctx: Ctx) -> Any:
    if value is None:
        return None
    return parse_string(value, ctx, lazy=True, what="a host path")


_DNS_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
#: Docker (runc) rejects a container hostname longer than this (HOST_NAME_MAX is 64; a DNS
#: label may have 63 characters, and the generated hostname is one label)
MAX_HOSTNAME = 63


def domain_problem(value: str) -> str | None:
    """Why a DNS domain name (``example.com``) is invalid, or None."""
    labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
    if len(value) > 253 or not all(_DNS_LABEL_RE.match(label) for label in labels):
        return (
            f"invalid domain name {short(value)} (dot-separated labels of letters, digits and '-', "
            "each at most 63 characters)"
        )
    return None


def _parse_domain(value: Any, ctx: Ctx) -> Any:
    return checked_string(value, ctx, "a domain name", domain_problem)


#: map keys with a scalar (or plain list) value: key -> parser
_SCALAR_KEYS = {
    "repository": _parse_repository,
    "default_tag": _parse_default_tag,
    "default_domain": _parse_domain,
    "set_hostname": parse_bool,
    "use_attached_parent_name": parse_bool,
    "clients": parse_names,
}
MAP_KEYS = ("containers", "volumes", "host", "host_root", "networks", "groups", *_SCALAR_KEYS)


def _close_map_key(name: Any) -> list[str]:
    """A map key that a configuration name is probably a misspelling of."""
    return difflib.get_close_matches(name, MAP_KEYS, n=1, cutoff=0.75) if isinstance(name, str) else []


class ConfigDict(dict):
    """``name -> configuration`` dict; items also readable as attributes
    (``map.containers.web``); assigning a plain dict builds the configuration object."""

    __slots__ = ("_cls",)

    def __init__(self, cls: type[ConfigurationObject]):
        super().__init__()
        self._cls = cls

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, self._cls):
            value = self._cls(value)
        super().__setitem__(key, value)

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuild with the configuration class first: pickle/deepcopy set items before state
        return (_rebuild_config_dict, (self._cls, dict(self)))

    def copy(self) -> ConfigDict:  # type: ignore[override]
        result = ConfigDict(self._cls)
        for key, value in self.items():
            dict.__setitem__(result, key, value.copy())
        return result


def _rebuild_config_dict(cls: type[ConfigurationObject], items: dict[str, Any]) -> ConfigDict:
    result = ConfigDict(cls)
    dict.update(result, items)
    return result


def _parse_group(value: Any, ctx: Ctx) -> Any:
    if not (isinstance(value, (str, MapConfigId)) or is_plain_sequence(value)):
        ctx.error(f"expected a list of 'config' / 'config.instance' names, got {describe(value)}")
        return INVALID
    single = not is_plain_sequence(value)
    result: list[str] = []
    for i, item in enumerate([value] if single else value):
        sub = ctx if single else ctx.index(i)
        if isinstance(item, MapConfigId):
            item = (
                item.config_name if item.instance_name is None else f"{item.config_name}.{item.instance_name}"
            )
        parts = item.split(".") if isinstance(item, str) else []
        if not parts or len(parts) > 2 or not all(PART_RE.match(p) for p in parts):
            sub.error(f"invalid group member {short(item)} (expected 'config' or 'config.instance')")
        elif item in result:
            sub.error(f"duplicate group member {short(item)}")
        else:
            result.append(item)
    return tuple(result)


class ContainerMap:
    """A container map: container configurations, volumes, host paths, networks, groups and
    map settings, all normalised when the map is built.

    ``ContainerMap(name, initial=None, check_integrity=True, **kwargs)`` takes a docker-map map
    dict unchanged (any top-level key that is not a map key is a container configuration) and
    raises :class:`MapValidationError` listing every problem. ``check_integrity=False`` skips
    only the cross-reference rules and cycle detection.
    """

    def __init__(
        self,
        name: str,
        initial: Mapping[str, Any] | None = None,
        check_integrity: bool = True,
        check_duplicates: bool = True,
        **kwargs: Any,
    ):
        problems = self._build(name, initial, kwargs)
        self._check_duplicates = check_duplicates
        problems.extend(self._problems(check_integrity))
        if problems:
            raise MapValidationError(problems)

    @classmethod
    def load(
        cls, name: str, initial: Mapping[str, Any] | None = None, check_integrity: bool = True
    ) -> tuple[ContainerMap, list[Problem]]:
        """Build a map without raising: ``(map, problems)``. Invalid parts are left out."""
        obj = cls.__new__(cls)
        problems = obj._build(name, initial, {})
        problems.extend(obj._problems(check_integrity))
        return obj, problems

    # -- building ----------------------------------------------------------------------------

    def _init_empty(self, name: str) -> None:
        self.name = name
        self.containers: ConfigDict = ConfigDict(ContainerConfiguration)
        self.volumes: ConfigDict = ConfigDict(VolumeConfiguration)
        self.networks: ConfigDict = ConfigDict(NetworkConfiguration)
        self.host = HostVolumeConfiguration.parse(None, Ctx(map_name=name))
        self.groups: dict[str, tuple[str, ...]] = {}
        self._settings: dict[str, Any] = {}
        self._extended = False
        self._check_duplicates = True

    def _build(self, name: str, initial: Any, kwargs: Mapping[str, Any]) -> list[Problem]:
        self._init_empty(name)
        ctx = Ctx(map_name=name if isinstance(name, str) else None)
        if not isinstance(name, str) or not PART_RE.match(name):
            if isinstance(name, str):
                ctx.error(name_problem(name, "map name") or f"invalid map name {short(name)}")
            else:
                ctx.error(f"map name must be a string, got {describe(name)}")
        if isinstance(initial, ContainerMap):
            initial = initial.as_dict()
        if initial is not None and not isinstance(initial, Mapping):
            ctx.error(f"expected a mapping (container map), got {describe(initial)}")
            initial = None
        for data in (initial, kwargs):
            if data:
                self._load(data, ctx)
        return ctx.problems

    def _load(self, data: Mapping[str, Any], ctx: Ctx) -> None:
        for key, value in data.items():
            if key == "name":
                continue  # read by the YAML loader only
            sub = ctx.key(key)
            if key == "containers":
                if isinstance(value, Mapping):
                    for cname, body in value.items():
                        self._add_config(cname, body, ctx, wrapped=True)
                elif value is not None:
                    sub.error(
                        f"expected a mapping of configuration name to container configuration, got {describe(value)}"
                    )
            elif key in _SCALAR_KEYS:
                parsed = _SCALAR_KEYS[key](value, sub)
                if parsed is not INVALID:
                    self._settings[key] = parsed
            elif key == "volumes":
                self._load_named(
                    value, sub, self.volumes, VolumeConfiguration, "alias to path or volume configuration"
                )
            elif key == "networks":
                self._load_named(
                    value, sub, self.networks, NetworkConfiguration, "network name to network configuration"
                )
            elif key == "host":
                self.host._load(value, sub)
            elif key == "host_root":
                root = _parse_host_root(value, sub)
                if root is not INVALID:
                    self.host.root = root
            elif key == "groups":
                self._load_groups(value, sub)
            else:
                self._add_config(key, value, ctx)

    def _load_named(self, value: Any, ctx: Ctx, target: ConfigDict, cls: type, what: str) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            ctx.error(f"expected a mapping of {what}, got {describe(value)}")
            return
        is_network = cls is NetworkConfiguration
        for key, body in value.items():
            sub = ctx.key(key)
            if not (isinstance(key, str) and NAME_RE.match(key)):
                sub.error(f"invalid {'network name' if is_network else 'volume alias'} {short(key)}")
                continue
            if is_network and key in PRESET_NETWORKS:
                sub.error(f"{short(key)} is a Docker preset network; use it without defining it")
                continue
            config = cls.parse(body, sub)
            if key in target:
                target[key].merge(config)
            else:
                dict.__setitem__(target, key, config)

    def _load_groups(self, value: Any, ctx: Ctx) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping):
            ctx.error(f"expected a mapping of group name to list of configurations, got {describe(value)}")
            return
        for group, members in value.items():
            sub = ctx.key(group)
            if group == ALL_GROUP:
                sub.error(f"{ALL_GROUP!r} is the built-in group of all configurations and cannot be defined")
                continue
            if not (isinstance(group, str) and NAME_RE.match(group)):
                sub.error(f"invalid group name {short(group)}")
                continue
            parsed = _parse_group(members, sub)
            if parsed is not INVALID:
                self.groups[group] = parsed

    def _add_config(self, name: Any, body: Any, ctx: Ctx, wrapped: bool = False) -> None:
        is_mapping = body is None or isinstance(body, (Mapping, ContainerConfiguration))
        close = [] if wrapped or is_mapping else _close_map_key(name)
        if close:
            ctx.key(name).error(
                f"looks like a misspelled map key {short(close[0])} (a top-level key that is not a map key "
                f"is a container configuration, which must be a mapping; got {describe(body)})"
            )
            return
        problem = name_problem(name, "configuration name")
        cctx = ctx.for_config(name if isinstance(name, str) else str(name))
        if problem:
            cctx.error(problem)
            return
        if name in self.containers:
            cctx.error("configuration is defined twice (at top level and under 'containers')")
            return
        sub_problems: list[Problem] = []
        config = ContainerConfiguration.parse(body, Ctx(sub_problems, ctx.map_name, name))
        unknown = [p.path for p in sub_problems if p.message.startswith("unknown key")]
        if unknown and not wrapped:
            close = _close_map_key(name)
            if close:
                ctx.key(name).error(
                    f"looks like a misspelled map key {short(close[0])} (a top-level key that is not a map "
                    f"key is a container configuration, and this one has unknown keys: {', '.join(unknown)})"
                )
                return
        ctx.problems.extend(sub_problems)
        dict.__setitem__(self.containers, name, config)

    # -- settings ----------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name in _SCALAR_KEYS and "_settings" in self.__dict__:
            return self._settings.get(name, () if name == "clients" else NotSet)
        if name == "host_root":
            return self.host.root if self.host.root is not None else NotSet
        raise AttributeError(f"ContainerMap has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SCALAR_KEYS or name == "host_root":
            self.update({name: value})
        elif (name in ("containers", "volumes", "networks") and not isinstance(value, ConfigDict)) or (
            name == "host" and not isinstance(value, HostVolumeConfiguration)
        ):
            # replacing a whole section with plain data: build (and validate) it
            object.__setattr__(self, name, getattr(self._coerce({name: value}), name))
        else:
            object.__setattr__(self, name, value)

    def __getitem__(self, key: str) -> Any:
        if key in MAP_KEYS:
            return getattr(self, key)
        return self.containers[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self.containers

    def __iter__(self) -> Iterator[tuple[str, ContainerConfiguration]]:
        """``(name, config)`` of the non-abstract configurations."""
        for name, config in self.containers.items():
            if not config.abstract:
                yield name, config

    def get_existing(self, name: str) -> ContainerConfiguration | None:
        return self.containers.get(name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ContainerMap):
            return NotImplemented
        return (
            self.name == other.name
            and dict(self.containers) == dict(other.containers)
            and dict(self.volumes) == dict(other.volumes)
            and dict(self.networks) == dict(other.networks)
            and self.host == other.host
            and self.groups == other.groups
            and self._settings == other._settings
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ContainerMap {self.name!r}: {len(self.containers)} configurations>"

    # -- images and names --------------------------------------------------------------------

    def get_image(self, image: Any) -> str:
        """Expanded image name (reference 2.4): ``repository`` prefix for names without ``/``,
        a leading ``/`` suppresses it, ``default_tag`` (else ``latest``) for untagged names.
        Lazy values are resolved here."""
        return expand_image(
            resolve_value(image),
            resolve_value(self._settings.get("repository")) or None,
            resolve_value(self._settings.get("default_tag")) or None,
        )

    def get_config_image(self, config_name: str) -> str:
        """Expanded image of a configuration (inheritance applied; the config name when none)."""
        image = self.get_extended(config_name).image
        return self.get_image(config_name if image is NotSet else image)

    def attached_volume_name(self, config_name: str, alias: str) -> str:
        """Docker name of an attached volume of ``config_name`` (honours
        ``use_attached_parent_name``)."""
        parent = config_name if self._settings.get("use_attached_parent_name") else None
        return volume_name(self.name, alias, parent)

    # -- inheritance -------------------------------------------------------------------------

    def get_extended(self, name: str) -> ContainerConfiguration:
        """The configuration ``name`` with ``extends`` resolved (raises KeyError if unknown)."""
        return self._extend(name, {}, ())

    def _extend(
        self, name: str, cache: dict[str, ContainerConfiguration], stack: tuple[str, ...]
    ) -> ContainerConfiguration:
        cached = cache.get(name)
        if cached is not None:
            return cached
        config = self.containers[name]
        extends = config._values.get("extends")
        if not extends:
            result = config.without_inheritance()
        else:
            stack = (*stack, name)
            bases = [
                self._extend(base, cache, stack)
                for base in extends
                if base in self.containers and base not in stack
            ]
            result = config.extended_with(bases)
        cache[name] = result
        return result

    def get_extended_map(self) -> ContainerMap:
        """A copy with inheritance resolved and abstract configurations dropped."""
        if self._extended:
            return self
        result = ContainerMap.__new__(ContainerMap)
        result._init_empty(self.name)
        cache: dict[str, ContainerConfiguration] = {}
        for name, config in self.containers.items():
            if not config.abstract:
                dict.__setitem__(result.containers, name, self._extend(name, cache, ()))
        result.volumes = self.volumes.copy()
        result.networks = self.networks.copy()
        result.host = self.host.copy()
        result.groups = dict(self.groups)
        result._settings = dict(self._settings)
        result._extended = True
        return result

    def _inheritance_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        containers = self.containers
        for name, config in containers.items():
            for i, base in enumerate(config._values.get("extends", ())):
                if base not in containers:
                    hint = difflib.get_close_matches(base, list(containers), n=1)
                    suffix = f" (did you mean {short(hint[0])}?)" if hint else ""
                    problems.append(
                        Problem(
                            self.name, name, f"extends[{i}]", f"unknown configuration {short(base)}{suffix}"
                        )
                    )
                elif base == name:
                    problems.append(Problem(self.name, name, f"extends[{i}]", "configuration extends itself"))
        # cycles: depth-first search over extends edges; each cycle reported once
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done

        def visit(node: str, path: list[str]) -> None:
            state[node] = 1
            path.append(node)
            for i, base in enumerate(containers[node]._values.get("extends", ())):
                if base not in containers or base == node:
                    continue
                if state.get(base) == 1:
                    cycle = path[path.index(base) :] + [base]
                    problems.append(
                        Problem(self.name, node, f"extends[{i}]", "extends cycle: " + " -> ".join(cycle))
                    )
                elif base not in state:
                    visit(base, path)
            path.pop()
            state[node] = 2

        for name, config in containers.items():
            if name not in state and config._values.get("extends"):
                visit(name, [])
        return problems

    # -- validation --------------------------------------------------------------------------

    def _path_problems(self) -> list[Problem]:
        """Relative host paths need a root (else Docker would take them for volume names), and
        the root itself must be absolute (lazy roots are checked when resolved)."""
        root = self.host.root
        if isinstance(root, str) and not root.startswith("/"):
            message = f"host root {short(root)} must be an absolute path (host_root / host.root)"
            return [Problem(self.name, None, "host.root", message)]
        if root is not None:
            return []
        problems = []
        message = "relative host path {!r} needs a root (set host_root or host.root)"
        for alias, value in self.host.items():
            for inst, path in value.items() if isinstance(value, dict) else ((None, value),):
                if isinstance(path, str) and not path.startswith("/"):
                    where = f"host.{alias}" + (f".{inst}" if inst else "")
                    problems.append(Problem(self.name, None, where, message.format(path)))
        for name, config in self.containers.items():
            for i, bind in enumerate(config._values.get("binds", ())):
                if not isinstance(bind, HostVolume):
                    continue
                paths = bind.host_path.values() if isinstance(bind.host_path, dict) else (bind.host_path,)
                for path in paths:
                    if isinstance(path, str) and not path.startswith("/"):
                        problems.append(Problem(self.name, name, f"binds[{i}]", message.format(path)))
        return problems

    def _image_problems(self, extended: ContainerMap) -> list[Problem]:
        problems = []
        for name, config in extended.containers.items():
            if config.image is NotSet and image_problem(name):
                problems.append(
                    Problem(
                        self.name,
                        name,
                        "image",
                        f"no image set and the configuration name {short(name)} is not a valid image name",
                    )
                )
        return problems

    def _hostname_problems(self, extended: ContainerMap) -> list[Problem]:
        """Generated hostnames (``map-config-instance[-client]``) that Docker would reject at
        start, found before anything is created."""
        if self._settings.get("set_hostname") is False:
            return []
        problems = []
        map_clients = self._settings.get("clients") or ()
        for name, config in extended.containers.items():
            if self.containers[name].abstract:
                continue
            mode = config.network_mode
            if (
                mode == "host"
                or isinstance(mode, ContainerRef)
                or (isinstance(mode, str) and (mode.startswith("container:") or mode.startswith("/")))
            ):
                continue
            clients = [c for c in (config.clients or map_clients) if c != DEFAULT_CLIENT] or [None]
            for i, instance in enumerate(config.instance_names()):
                for client in clients:
                    host = hostname(container_name(self.name, name, instance), client)
                    if len(host) <= MAX_HOSTNAME:
                        continue
                    where = f"instances[{i}]" if instance is not None else ""
                    on = f" on client {client!r}" if client else ""
                    problems.append(
                        Problem(
                            self.name,
                            name,
                            where,
                            f"the generated hostname {host[:40]!r}... is {len(host)} characters{on}, "
                            f"Docker allows at most {MAX_HOSTNAME}: use shorter map, configuration "
                            "or instance names (or set_hostname: false)",
                        )
                    )
                    break
        return problems

    def _problems(self, check_integrity: bool = True) -> list[Problem]:
        problems = self._inheritance_problems()
        problems.extend(self._path_problems())
        extended = self.get_extended_map()
        problems.extend(self._image_problems(extended))
        problems.extend(self._hostname_problems(extended))
        if check_integrity:
            problems.extend(self._integrity_problems(extended))
        return problems

    def _integrity_problems(self, extended: ContainerMap) -> list[Problem]:
        # imported here: integrity and graph import this module
        from ..graph import DependencyGraph
        from .integrity import integrity_problems

        abstract = [name for name, config in self.containers.items() if config.abstract]
        problems = integrity_problems(extended, self._check_duplicates, abstract=abstract)
        problems.extend(DependencyGraph({self.name: extended}).cycle_problems())
        return problems

    def problems(self, check_integrity: bool = True) -> list[Problem]:
        """Every problem of the map in its current state, without raising."""
        return self._problems(check_integrity)

    def check_integrity(self, check_duplicates: bool = True) -> None:
        """Raise :class:`MapValidationError` with every problem of the current state."""
        self._check_duplicates = check_duplicates
        problems = self._problems(True)
        if problems:
            raise MapValidationError(problems)

    # -- serialisation, merge, update ---------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts/lists; ``ContainerMap(name, m.as_dict())`` reproduces an equal map."""
        result: dict[str, Any] = {}
        for key, value in self._settings.items():
            result[key] = list(value) if isinstance(value, tuple) else value
        if self.containers:
            result["containers"] = {name: config.as_dict() for name, config in self.containers.items()}
        if self.volumes:
            result["volumes"] = {alias: vol.as_dict() for alias, vol in self.volumes.items()}
        if self.networks:
            result["networks"] = {name: net.as_dict() for name, net in self.networks.items()}
        host = self.host.as_dict()
        if host:
            result["host"] = host
        if self.groups:
            result["groups"] = {group: list(members) for group, members in self.groups.items()}
        return result

    def copy(self) -> ContainerMap:
        result = ContainerMap.__new__(ContainerMap)
        result._init_empty(self.name)
        result.containers = self.containers.copy()
        result.volumes = self.volumes.copy()
        result.networks = self.networks.copy()
        result.host = self.host.copy()
        result.groups = dict(self.groups)
        result._settings = dict(self._settings)
        result._extended = self._extended
        return result

    def _coerce(self, values: Any) -> ContainerMap:
        if isinstance(values, ContainerMap):
            return values
        obj, problems = ContainerMap.load(self.name, values, check_integrity=False)
        if problems:
            raise MapValidationError(problems)
        return obj

    def update(self, values: Mapping[str, Any] | ContainerMap) -> None:
        """Replace the given keys: settings, whole volume/network/group entries, and within
        configurations the given keys."""
        other = self._coerce(values)
        self._combine(other, replace=True, lists_only=False)

    def merge(self, values: Mapping[str, Any] | ContainerMap, lists_only: bool = False) -> None:
        """Merge another map (or map dict) into this one: configurations merged key by key
        (lists unioned, element lists by first field, dicts shallow-updated, scalars overwritten
        unless ``lists_only``); new configurations, volumes and networks added."""
        other = self._coerce(values)
        self._combine(other, replace=False, lists_only=lists_only)

    def _combine(self, other: ContainerMap, replace: bool, lists_only: bool) -> None:
        for target, source in (
            (self.containers, other.containers),
            (self.volumes, other.volumes),
            (self.networks, other.networks),
        ):
            for name, config in source.items():
                if name not in target:
                    dict.__setitem__(target, name, config.copy())
                elif replace:
                    target[name].update(config)
                else:
                    target[name].merge(config, lists_only)
        if replace:
            self.host.update(other.host)
        else:
            self.host.merge(other.host, lists_only)
        for group, members in other.groups.items():
            if replace or group not in self.groups:
                self.groups[group] = members
            else:
                self.groups[group] = tuple(dict.fromkeys(self.groups[group] + members))
        for key, value in other._settings.items():
            if key == "clients" and not replace and key in self._settings:
                self._settings[key] = tuple(dict.fromkeys(self._settings[key] + value))
            elif replace or not lists_only:
                self._settings[key] = value
