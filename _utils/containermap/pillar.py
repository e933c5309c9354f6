"""Maps, clients and settings from Salt pillar data (engine side: no Salt import).

The Salt modules hand the minion's pillar, grains and config to :func:`load_pillar_config` and get
back validated :class:`~containermap.config.map.ContainerMap` objects plus client configurations.
Everything that is not Salt-specific lives here so it can be unit-tested without Salt.

Pillar layout (see docs/salt.md)::

    dockerfabric:
      maps: {<map name>: <docker-map map body>, ...}
      map_files: [salt://maps/webapp.yml, {source: salt://x.yml, name: other}]
      clients: {<client name>: <ClientConfiguration keys>}
      registries: {<registry host>: {username: .., password: .., email: ..}}
      settings: {docker_url: .., docker_timeout: .., ...}
    container_maps: {...}          # salt-container-map compatibility
    docker-registries: {...}       # salt-container-map / Salt docker module compatibility

Per-map extras (salt-container-map semantics): ``merge_into: <map>`` merges the body into that map
after all plain maps are built (``merge_lists_only: true`` merges lists only); ``extend_copy: <map>``
makes a copy of that map (after the merges) under the new name and merges the body into it;
``skip_check: true`` skips the cross-reference checks (never the per-key validation).

Lazy values: the ``lazy_yaml`` renderer (``_renderers/lazy_yaml.py``) cannot put Python objects into
pillar (the master sends pillar to minions with msgpack), so it emits markers
``{'__lazy__': 'pillar', 'key': 'a:b'}``. Map files loaded on the minion carry
:class:`~containermap.config.lazy.Placeholder` objects instead. Both are resolved here, on the
minion, before the maps are built, so a missing key is reported with the map and key path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config.client import build_clients as client_configurations
from .config.lazy import Lazy, Placeholder
from .config.normalize import did_you_mean
from .config.secret import Secret
from .exceptions import ConfigurationError, MapValidationError, Problem

# marker dicts written by the lazy_yaml renderer (msgpack-safe stand-ins for Placeholder)
LAZY_MARK = "__lazy__"
LAZY_KEY = "key"
# tags resolved on the minion: pillar / grain lookups, environment variables and paths
LAZY_TAGS = ("pillar", "grain", "env", "path", "secret")

PILLAR_ROOT = "dockerfabric"
COMPAT_MAPS = "container_maps"
COMPAT_REGISTRIES = "docker-registries"
DEFAULT_CLIENT = "__default__"

# per-map keys that are not part of the docker-map schema
MAP_EXTRAS = ("merge_into", "extend_copy", "skip_check", "merge_lists_only")
# map-level keys of the docker-map schema (any other top-level key is a container configuration)
MAP_KEYS = frozenset(
    {
        "containers",
        "volumes",
        "host",
        "host_root",
        "networks",
        "groups",
        "repository",
        "default_tag",
        "default_domain",
        "set_hostname",
        "use_attached_parent_name",
        "clients",
        "name",
    }
)


@dataclass(frozen=True)
class Setting:
    """One setting: our name, the salt-container-map compatible key and the default."""

    name: str
    compat: str | None
    default: Any = None


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("docker_url", "docker:url"),
        Setting("docker_timeout", "docker:timeout"),
        Setting("docker_version", "docker:version", "auto"),
        Setting("docker_tls", "docker:tls"),
        Setting("stop_timeout", "docker:stop_timeout"),
        Setting("wait_timeout", "docker:wait_timeout"),
        Setting("domainname", "container_map:domainname"),
        Setting("interface_aliases", "container_map:interface_aliases", {}),
        Setting("use_attached_parent_name", "container_map:use_attached_parent_name"),
        Setting("skip_checks", "container_map:skip_checks", False),
        Setting("raise_map_errors", "container_map:raise_map_errors", True),
        Setting("base_image", "container_map:base_image"),
        Setting("core_image", "container_map:core_image"),
        Setting("labels", None, {}),
        Setting("parallel", None, True),
        Setting("max_workers", None, 8),
    )
}

_MISSING = object()


def lazy_marker(tag: str, key: str) -> dict[str, str]:
    """The msgpack-safe form of ``!tag key`` (what the lazy_yaml renderer emits)."""
    return {LAZY_MARK: tag, LAZY_KEY: key}


def is_lazy_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and LAZY_MARK in value and set(value) <= {LAZY_MARK, LAZY_KEY}


def traverse(data: Any, key: str, delimiter: str = ":") -> Any:
    """``a:b:0`` lookup in nested dicts and lists (Salt's key path form); KeyError when missing."""
    current = data
    for part in str(key).split(delimiter):
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            # YAML keys may be ints (ports); try the int form of the path part
            try:
                current = current[int(part)]
                continue
            except (ValueError, KeyError):
                raise KeyError(key) from None
        if isinstance(current, (list, tuple)):
            try:
                current = current[int(part)]
                continue
            except (ValueError, IndexError):
                raise KeyError(key) from None
        raise KeyError(key)
    return current


def _get(data: Any, key: str, default: Any = _MISSING) -> Any:
    try:
        return traverse(data, key)
    except KeyError:
        return default


# ----------------------------------------------------------------------------------------------
# settings


def lookup_setting(
    name: str,
    pillar: Mapping[str, Any] | None = None,
    grains: Mapping[str, Any] | None = None,
    opts: Mapping[str, Any] | None = None,
    default: Any = _MISSING,
) -> Any:
    """Look a setting up: pillar -> grains -> minion config -> default.

    In pillar and grains the key is ``dockerfabric:settings:<name>`` (or the salt-container-map key
    such as ``docker:url``); in the minion config ``dockerfabric.<name>`` (or ``docker.url``, or a
    nested ``dockerfabric: {settings: {...}}``).
    """
    setting = SETTINGS.get(name, Setting(name, None))
    for source in (pillar, grains):
        if not source:
            continue
        value = _get(source, f"{PILLAR_ROOT}:settings:{name}")
        if value is _MISSING and setting.compat:
            value = _get(source, setting.compat)
        if value is not _MISSING:
            return value
    if opts:
        keys = [f"{PILLAR_ROOT}.{name}"]
        if setting.compat:
            keys.append(setting.compat.replace(":", "."))
        for key in keys:
            if key in opts:
                return opts[key]
        value = _get(opts, f"{PILLAR_ROOT}:settings:{name}")
        if value is not _MISSING:
            return value
    if default is not _MISSING:
        return default
    return setting.default


def lookup_settings(
    pillar: Mapping[str, Any] | None = None,
    grains: Mapping[str, Any] | None = None,
    opts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """All known settings (see :data:`SETTINGS`) looked up with :func:`lookup_setting`."""
    return {name: lookup_setting(name, pillar, grains, opts) for name in SETTINGS}


def interfaces_from_grains(
    grains: Mapping[str, Any] | None, aliases: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """``(interfaces, interfaces_ipv6)``: first address of each NIC from the grains
    ``ip4_interfaces`` / ``ip6_interfaces`` (``ip_interfaces`` as fallback), plus the aliases
    (alias -> NIC name) of the ``interface_aliases`` setting."""
    grains = grains or {}
    result: list[dict[str, str]] = []
    for key, fallback_v6 in (("ip4_interfaces", False), ("ip6_interfaces", True)):
        nics = grains.get(key)
        if nics is None:
            # older grains: one dict with both families; split by the ':' of IPv6 addresses
            nics = {
                nic: [a for a in addrs if (":" in a) == fallback_v6]
                for nic, addrs in (grains.get("ip_interfaces") or {}).items()
            }
        found = {str(nic): str(addrs[0]) for nic, addrs in (nics or {}).items() if addrs}
        for alias, nic in (aliases or {}).items():
            if nic in found:
                found[str(alias)] = found[nic]
        result.append(found)
    return result[0], result[1]


def registries_from_pillar(pillar: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Registry credentials (``auth_configs``): ``dockerfabric:registries`` over the compatible
    ``docker-registries`` key (and Salt's ``*-docker-registries`` keys)."""
    pillar = pillar or {}
    auth: dict[str, dict[str, Any]] = {}
    for key in sorted(pillar):
        if key == COMPAT_REGISTRIES or str(key).endswith("-" + COMPAT_REGISTRIES):
            auth.update(_registry_entries(pillar[key]))
    auth.update(_registry_entries(_get(pillar, f"{PILLAR_ROOT}:registries", {})))
    return auth


def _registry_entries(data: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(data, Mapping):
        return {}
    return {str(host): dict(values) for host, values in data.items() if isinstance(values, Mapping)}


# ----------------------------------------------------------------------------------------------
# lazy values


Resolver = Callable[[str], Any]


def salt_resolvers(pillar: Mapping[str, Any] | None, grains: Mapping[str, Any] | None) -> dict[str, Resolver]:
    """Resolvers for the four lazy tags, from the minion's pillar and grains."""

    def env(name: str) -> str:
        return os.environ[name]

    def path(value: str) -> str:
        return os.path.expanduser(os.path.expandvars(value))

    return {
        "pillar": lambda key: traverse(pillar or {}, key),
        "grain": lambda key: traverse(grains or {}, key),
        "env": env,
        "path": path,
        "secret": Secret,  # ``!secret VALUE`` from the lazy_yaml renderer
    }


def _child_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def resolve_placeholders(
    value: Any,
    resolvers: Mapping[str, Resolver],
    problems: list[Problem],
    map_name: str | None = None,
    path: str = "",
    *,
    map_level: bool = True,
) -> Any:
    """Replace lazy markers and :class:`Placeholder` objects by their values (recursively).

    A value that cannot be resolved is recorded as a :class:`Problem` with the map, config and
    key path (``webapp.web.environment.DB_HOST: !pillar db:host: key not found in pillar``) and
    left as ``None``. Other lazy values (``!env_lazy`` in map files) are kept for the engine.
    ``map_level`` tells that ``value`` is a map body, so its first keys locate configs.
    """
    tag = key = None
    if is_lazy_marker(value):
        tag, key = value.get(LAZY_MARK), value.get(LAZY_KEY)
    elif isinstance(value, Placeholder):
        tag, key = value.tag, value.key
    if tag is not None:
        func = resolvers.get(str(tag))
        if func is None:
            problems.append(_locate(map_name, path, f"!{tag} {key}: unknown lazy tag '!{tag}'"))
            return None
        try:
            resolved = func(str(key))
        except KeyError:
            where = {"pillar": "pillar", "grain": "grains", "env": "the environment"}.get(str(tag), str(tag))
            problems.append(_locate(map_name, path, f"!{tag} {key}: key not found in {where}"))
            return None
        # a pillar value may itself hold markers (pillar rendered with lazy_yaml)
        return resolve_placeholders(resolved, resolvers, problems, map_name, path, map_level=False)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            child = _child_path(path, k)
            if map_level and k == "containers" and isinstance(v, Mapping):
                # the wrapper: its keys are config names, like top-level keys
                out[k] = resolve_placeholders(v, resolvers, problems, map_name, "", map_level=True)
                continue
            out[k] = resolve_placeholders(v, resolvers, problems, map_name, child, map_level=False)
        return out
    if isinstance(value, (list, tuple)) and not isinstance(value, Lazy):
        items = [
            resolve_placeholders(v, resolvers, problems, map_name, _child_path(path, i), map_level=False)
            for i, v in enumerate(value)
        ]
        return items if isinstance(value, list) else tuple(items)
    return value


def _locate(map_name: str | None, path: str, message: str) -> Problem:
    """A Problem whose config is the first path part unless that is a map-level key."""
    head, _, rest = path.partition(".")
    if "[" in head:
        head, _, tail = head.partition("[")
        rest = "[" + tail + ("." + rest if rest else "")
    if head and head not in MAP_KEYS:
        return Problem(map_name, head, rest, message)
    return Problem(map_name, None, path, message)


# ----------------------------------------------------------------------------------------------
# maps


@dataclass
class MapSource:
    """One map body before it is built, with where it came from (for messages)."""

    name: str
    body: dict[str, Any]
    source: str


@dataclass
class PillarConfig:
    """Everything built from pillar: maps, client configurations, settings and the problems of
    maps that were skipped (only when ``raise_map_errors`` is off)."""

    maps: dict[str, Any] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # multi-host: the minion these settings are for and the clients it drives (its share;
    # None = every client, when no minion id is known)
    minion: str | None = None
    share_clients: frozenset[str] | None = None

    def share(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """map -> config -> clients this minion runs it on (see :func:`containermap.fleet.share`)."""
        from .fleet import share

        return share(self.maps, self.clients, self.minion)


def raw_maps_from_pillar(pillar: Mapping[str, Any] | None) -> dict[str, MapSource]:
    """Map bodies of ``dockerfabric:maps`` and the compatible ``container_maps`` key.

    A map name given in both places is a problem (raised as :class:`ConfigurationError`).
    """
    pillar = pillar or {}
    result: dict[str, MapSource] = {}
    problems: list[Problem] = []
    for source_key, data in (
        (f"{PILLAR_ROOT}:maps", _get(pillar, f"{PILLAR_ROOT}:maps", None)),
        (COMPAT_MAPS, pillar.get(COMPAT_MAPS)),
    ):
        if data is None:
            continue
        if not isinstance(data, Mapping):
            problems.append(
                Problem(None, None, source_key, f"must be a mapping of map names, not {type(data).__name__}")
            )
            continue
        for name, body in data.items():
            name = str(name)
            if body is None:
                body = {}
            if not isinstance(body, Mapping):
                problems.append(
                    Problem(name, None, "", f"a container map must be a mapping, not {type(body).__name__}")
                )
                continue
            if name in result:
                problems.append(
                    Problem(
                        name,
                        None,
                        "",
                        f"map '{name}' is defined in both {result[name].source} and {source_key}",
                    )
                )
                continue
            result[name] = MapSource(name, dict(body), source_key)
    if problems:
        raise ConfigurationError(problems)
    return result


def map_file_entries(pillar: Mapping[str, Any] | None) -> list[tuple[str, str | None]]:
    """``(source, name or None)`` for each entry of ``dockerfabric:map_files``."""
    entries = _get(pillar or {}, f"{PILLAR_ROOT}:map_files", None) or []
    if isinstance(entries, (str, Mapping)):
        entries = [entries]
    result: list[tuple[str, str | None]] = []
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            result.append((entry, None))
        elif isinstance(entry, Mapping) and entry.get("source"):
            result.append((str(entry["source"]), str(entry["name"]) if entry.get("name") else None))
        else:
            problems.append(
                Problem(
                    None,
                    None,
                    f"{PILLAR_ROOT}.map_files[{i}]",
                    "expected a file URL or {source: .., name: ..}",
                )
            )
    if problems:
        raise ConfigurationError(problems)
    return result


def load_map_files(
    entries: Iterable[tuple[str, str | None]], fetch: Callable[[str], str | None]
) -> dict[str, MapSource]:
    """Load map files with the engine's YAML loader (``!pillar``/``!grain`` included).

    ``fetch(source)`` returns a local path (Salt: ``cp.cache_file``) or a false value when the
    file cannot be fetched. Map name: the entry's ``name`` > the document's ``name`` key > the
    file's base name without extension.
    """
    from .config import yaml as map_yaml

    for tag in ("pillar", "grain"):
        map_yaml.add_placeholder_tag(tag)
    result: dict[str, MapSource] = {}
    problems: list[Problem] = []
    for source, name in entries:
        local = fetch(source)
        if not local:
            problems.append(Problem(None, None, source, "map file not found"))
            continue
        try:
            data = map_yaml.load_file(local)
        except ConfigurationError as exc:
            problems.extend(
                Problem(p.map_name, p.config, p.path.replace(str(local), source), p.message)
                for p in exc.problems
            )
            continue
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            problems.append(
                Problem(None, None, source, f"a container map must be a mapping, not {type(data).__name__}")
            )
            continue
        data = dict(data)
        root_name = data.pop("name", None)
        base = os.path.basename(source.rstrip("/"))
        map_name = str(name or root_name or (base.rpartition(".")[0] or base))
        if map_name in result:
            problems.append(Problem(map_name, None, "", f"map '{map_name}' is loaded from two files"))
            continue
        result[map_name] = MapSource(map_name, data, source)
    if problems:
        raise ConfigurationError(problems)
    return result


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def build_maps(
    sources: Mapping[str, MapSource],
    resolvers: Mapping[str, Resolver] | None = None,
    *,
    skip_checks: bool = False,
    use_attached_parent_name: bool | None = None,
    raise_errors: bool = True,
) -> tuple[dict[str, Any], list[Problem], list[str]]:
    """Build ContainerMaps from map bodies with the salt-container-map per-map extras.

    Order: plain maps, then ``merge_into`` bodies merged into their targets (in pillar order),
    then ``extend_copy`` maps (copies of their targets after the merges; may chain), then the
    integrity checks of every map without ``skip_check``. Returns ``(maps, problems, skipped)``;
    with ``raise_errors`` any problem raises one :class:`MapValidationError` with all problems.
    """
    from .config.map import ContainerMap

    resolvers = resolvers or {}
    problems: list[Problem] = []
    plain: dict[str, tuple[dict[str, Any], bool]] = {}
    merges: list[tuple[str, str, dict[str, Any], bool]] = []
    extends: dict[str, tuple[str, dict[str, Any], bool]] = {}
    skip: dict[str, bool] = {}
    failed: set[str] = set()

    for name, src in sources.items():
        body = dict(src.body)
        extras = {k: body.pop(k) for k in MAP_EXTRAS if k in body}
        body.pop("name", None)
        map_problems: list[Problem] = []
        body = resolve_placeholders(body, resolvers, map_problems, name)
        if use_attached_parent_name is not None and "use_attached_parent_name" not in body:
            body["use_attached_parent_name"] = use_attached_parent_name
        skip[name] = _truthy(extras.get("skip_check", skip_checks))
        lists_only = _truthy(extras.get("merge_lists_only", False))
        merge_into, extend_copy = extras.get("merge_into"), extras.get("extend_copy")
        if merge_into and extend_copy:
            map_problems.append(
                Problem(name, None, "merge_into", "merge_into and extend_copy exclude each other")
            )
        if map_problems:
            problems.extend(map_problems)
            failed.add(name)
            continue
        if merge_into:
            merges.append((name, str(merge_into), body, lists_only))
        elif extend_copy:
            extends[name] = (str(extend_copy), body, lists_only)
        else:
            plain[name] = (body, lists_only)

    maps: dict[str, Any] = {}
    for name, (body, _lists_only) in plain.items():
        try:
            maps[name] = ContainerMap(name, body, check_integrity=False)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
            failed.add(name)

    def validate_body(name: str, body: dict[str, Any]) -> Any:
        # per-key validation of a merge body under its own name, so messages name it
        try:
            return ContainerMap(name, body, check_integrity=False)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
            failed.add(name)
            return None

    def target_problem(name: str, key: str, target: str) -> bool:
        if target in maps:
            return False
        if target in failed:
            problems.append(Problem(name, None, key, f"target map '{target}' is invalid"))
        else:
            known = set(maps) | set(plain) | set(extends)
            problems.append(Problem(name, None, key, f"unknown map '{target}'{did_you_mean(target, known)}"))
        failed.add(name)
        return True

    for name, target, body, lists_only in merges:
        if target_problem(name, "merge_into", target):
            continue
        content = validate_body(name, body)
        if content is None:
            continue
        maps[target].merge(content, lists_only=lists_only)
        # a merged map is checked unless both the target and every merge skip the checks
        skip[target] = skip.get(target, False) and skip[name]

    pending = dict(extends)
    while pending:
        progressed = False
        for name, (target, body, lists_only) in list(pending.items()):
            if target in pending and target != name:
                continue  # wait until the target copy exists
            del pending[name]
            progressed = True
            if target == name:
                problems.append(Problem(name, None, "extend_copy", "a map cannot extend itself"))
                failed.add(name)
                continue
            if target_problem(name, "extend_copy", target):
                continue
            content = validate_body(name, body)
            if content is None:
                continue
            try:
                # a copy under the new name (as_dict round trip: no shared configuration objects)
                copy = ContainerMap(name, maps[target].as_dict(), check_integrity=False)
                copy.merge(content, lists_only=lists_only)
            except ConfigurationError as exc:
                problems.extend(exc.problems)
                failed.add(name)
                continue
            maps[name] = copy
        if not progressed:
            for name, (target, _body, _lo) in pending.items():
                problems.append(
                    Problem(name, None, "extend_copy", f"circular extend_copy via map '{target}'")
                )
                failed.add(name)
            break

    for name in list(maps):
        if skip.get(name):
            continue
        try:
            found = maps[name].problems(check_integrity=True)
        except ConfigurationError as exc:
            found = exc.problems
        if found:
            problems.extend(found)
            failed.add(name)
            del maps[name]

    skipped = sorted(failed)
    if problems and raise_errors:
        raise MapValidationError(unique_problems(problems))
    for name in skipped:
        maps.pop(name, None)
    return maps, unique_problems(problems), skipped


def unique_problems(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` without repeats, in order (the same map in several pillars reports once)."""
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


# ----------------------------------------------------------------------------------------------
# clients


def client_configs(
    pillar: Mapping[str, Any] | None,
    grains: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    resolvers: Mapping[str, Resolver] | None = None,
) -> dict[str, dict[str, Any]]:
    """Keyword arguments of each ClientConfiguration: the default client (``__default__``) from
    the settings and grains, plus ``dockerfabric:clients``. Registry credentials go to every client
    that has no ``auth_configs`` of its own."""
    problems: list[Problem] = []
    auth = registries_from_pillar(pillar)
    ipv4, ipv6 = interfaces_from_grains(grains, settings.get("interface_aliases") or {})
    default: dict[str, Any] = {
        "base_url": settings.get("docker_url"),
        "version": settings.get("docker_version"),
        "timeout": settings.get("docker_timeout"),
        "tls": settings.get("docker_tls"),
        "stop_timeout": settings.get("stop_timeout"),
        "wait_timeout": settings.get("wait_timeout"),
        "core_image": settings.get("core_image"),  # helper image for volume preparation
        "domainname": settings.get("domainname"),
        "interfaces": ipv4,
        "interfaces_ipv6": ipv6,
    }
    default = {k: v for k, v in default.items() if v not in (None, "")}
    if not default.get("base_url") and os.environ.get("DOCKER_HOST"):
        default["base_url"] = os.environ["DOCKER_HOST"]
    configs: dict[str, dict[str, Any]] = {DEFAULT_CLIENT: default}
    declared = _get(pillar or {}, f"{PILLAR_ROOT}:clients", None) or {}
    if not isinstance(declared, Mapping):
        raise ConfigurationError(
            Problem(None, None, f"{PILLAR_ROOT}.clients", "must be a mapping of client names")
        )
    for name, values in declared.items():
        name = str(name)
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            problems.append(Problem(None, None, f"{PILLAR_ROOT}.clients.{name}", "must be a mapping"))
            continue
        values = resolve_placeholders(
            dict(values), resolvers or {}, problems, None, f"{PILLAR_ROOT}.clients.{name}", map_level=False
        )
        base = dict(default) if name == DEFAULT_CLIENT else {"version": default.get("version", "auto")}
        if name != DEFAULT_CLIENT and not values.get("base_url"):
            # the local engine of the minion that drives the client: its grains' interfaces
            for key in ("interfaces", "interfaces_ipv6"):
                if key in default:
                    base[key] = default[key]
        base.update(values)
        configs[name] = base
    if problems:
        raise ConfigurationError(problems)
    if auth:
        for values in configs.values():
            values.setdefault("auth_configs", auth)
    return configs


def build_clients(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """ClientConfiguration objects from :func:`client_configs` output (the YAML loader's
    client building, so both report problems the same way)."""
    return client_configurations(configs, f"{PILLAR_ROOT}.clients")


# ----------------------------------------------------------------------------------------------
# all together


def load_pillar_config(
    pillar: Mapping[str, Any] | None,
    grains: Mapping[str, Any] | None = None,
    opts: Mapping[str, Any] | None = None,
    fetch: Callable[[str], str | None] | None = None,
    extra_maps: Mapping[str, MapSource] | None = None,
) -> PillarConfig:
    """Settings, maps and clients of one minion from its pillar, grains and config.

    ``fetch`` fetches ``dockerfabric:map_files`` entries (Salt: ``cp.cache_file``); without it,
    map file entries must be local paths. ``extra_maps`` are map bodies added at run time
    (``dockerfabric.setup``). Raises :class:`MapValidationError` naming map, config and key path
    unless the ``raise_map_errors`` setting is off (then bad maps are skipped and listed).
    """
    settings = lookup_settings(pillar, grains, opts)
    resolvers = salt_resolvers(pillar, grains)
    raise_errors = _truthy(settings.get("raise_map_errors", True))
    sources = raw_maps_from_pillar(pillar)
    problems: list[Problem] = []
    entries = map_file_entries(pillar)
    if entries:
        files = load_map_files(entries, fetch or (lambda s: s if os.path.exists(s) else None))
        for name, src in files.items():
            if name in sources:
                problems.append(
                    Problem(
                        name, None, "", f"map '{name}' is defined in {sources[name].source} and {src.source}"
                    )
                )
            else:
                sources[name] = src
    for name, src in (extra_maps or {}).items():
        sources[name] = src
    if problems and raise_errors:
        raise MapValidationError(problems)
    maps, map_problems, skipped = build_maps(
        sources,
        resolvers,
        skip_checks=_truthy(settings.get("skip_checks")),
        use_attached_parent_name=settings.get("use_attached_parent_name"),
        raise_errors=raise_errors,
    )
    clients = build_clients(client_configs(pillar, grains, settings, resolvers))
    minion = minion_id(grains, opts)
    share_clients = None
    if minion is not None:
        from .fleet import minion_clients

        share_clients = minion_clients(clients, minion)
    return PillarConfig(maps, clients, settings, problems + map_problems, skipped, minion, share_clients)


def minion_id(grains: Mapping[str, Any] | None = None, opts: Mapping[str, Any] | None = None) -> str | None:
    """The minion id (``opts['id']``, else the ``id`` grain); None outside Salt."""
    for source in (opts, grains):
        if source and source.get("id"):
            return str(source["id"])
    return None
