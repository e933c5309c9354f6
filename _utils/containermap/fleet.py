"""Fleet-wide logic of multi-host maps: who runs what, cross-host order and fleet validation.

A *fleet* is the set of minions (hosts) a master targets, each with the maps and client
configurations of its own pillar. Where a container configuration runs (docker-fabric
semantics):

* its ``clients`` list, else its map's ``clients`` list, else the default client ``__default__``;
* a client is driven by the minions its ``minion`` key matches (a minion id or an ``fnmatch``
  glob such as ``web*``); a client without ``minion`` (and the default client) is driven by every
  minion whose pillar holds it, i.e. pillar targeting decides.

One :class:`Unit` is one container instance on one client of one minion. A *host* is
``(minion, client)``: one Docker engine as seen from the minion that drives it.

Edges between units: ``links``, ``uses``, ``network_mode`` and network endpoint links need both
containers on the same host (the engine creates them together); :meth:`Fleet.problems` rejects
them across hosts with a message naming map, config, key path and both hosts. ``requires`` is
ordering only and may cross hosts: the required units run in an earlier *level*
(:meth:`Fleet.levels`). Inside one host the engine orders everything itself, so a level holds,
per minion, the selections that minion runs in one call; the minions of a level run in parallel.

No Salt import: the runner hands in each minion's :class:`~containermap.pillar.PillarConfig`
(or any object with ``maps`` and ``clients``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config.elements import MapConfigId, NotSet
from .config.lazy import resolve_value
from .exceptions import Problem

__all__ = [
    "DEFAULT_CLIENT",
    "Fleet",
    "Unit",
    "client_minion",
    "config_clients",
    "drives",
    "minion_clients",
    "share",
    "share_selection",
]

DEFAULT_CLIENT = "__default__"
MINION_KEY = "minion"
# key path prefixes of edges that need both containers on one host (everything but requires)
ORDERING_ONLY = "requires"


def _value(config: Any, key: str) -> Any:
    """``key`` of a ClientConfiguration or dict (lazy values resolved), None when unset."""
    if config is None:
        return None
    getter = getattr(config, "get", None)
    value = getter(key, None) if getter is not None else getattr(config, key, None)
    value = resolve_value(value)
    if value is None or value is NotSet:
        return None
    return value


def client_minion(client_config: Any) -> tuple[str, ...] | None:
    """The minion patterns of a client (its ``minion`` key: an id, a glob, or a list of them);
    None when the key is not set (every minion whose pillar has the client drives it)."""
    value = _value(client_config, MINION_KEY)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(str(p) for p in value)


def drives(client_config: Any, minion_id: str | None) -> bool:
    """True if minion ``minion_id`` drives a client with this configuration.

    Without a ``minion`` key every minion drives it; ``minion_id`` None (no minion identity,
    e.g. a plain Python caller) drives every client."""
    patterns = client_minion(client_config)
    if patterns is None or minion_id is None:
        return True
    return any(fnmatch.fnmatchcase(str(minion_id), p) for p in patterns)


def minion_clients(clients: Mapping[str, Any], minion_id: str | None) -> frozenset[str]:
    """Names of the clients minion ``minion_id`` drives (the default client unless its own
    ``minion`` key excludes this minion)."""
    names = {name for name, cfg in clients.items() if drives(cfg, minion_id)}
    if DEFAULT_CLIENT not in clients:
        names.add(DEFAULT_CLIENT)
    return frozenset(names)


def config_clients(container_map: Any, config_name: str) -> tuple[str, ...]:
    """Clients a configuration runs on: its ``clients``, else the map's, else the default."""
    m = container_map.get_extended_map()
    cfg = m.containers.get(config_name) if config_name in m.containers else None
    own = tuple(getattr(cfg, "clients", ()) or ()) if cfg is not None else ()
    return own or tuple(m.clients or ()) or (DEFAULT_CLIENT,)


def share(
    maps: Mapping[str, Any], clients: Mapping[str, Any], minion_id: str | None
) -> dict[str, dict[str, tuple[str, ...]]]:
    """The share of one minion: map -> config -> the clients it runs on from this minion.

    Only configurations with at least one client are listed; maps without any are left out."""
    mine = minion_clients(clients, minion_id)
    result: dict[str, dict[str, tuple[str, ...]]] = {}
    for map_name, m in maps.items():
        for c_name, _cfg in m.get_extended_map():
            on = tuple(c for c in config_clients(m, c_name) if c in mine)
            if on:
                result.setdefault(map_name, {})[c_name] = on
    return result


def share_selection(maps: Mapping[str, Any], clients: Mapping[str, Any], minion_id: str | None) -> list[str]:
    """``map.config`` selections of every configuration in the minion's share (sorted)."""
    return sorted(f"{m}.{c}" for m, configs in share(maps, clients, minion_id).items() for c in configs)


@dataclass(frozen=True, order=True)
class Unit:
    """One container instance on one client (engine) of one minion."""

    minion: str
    client: str
    node: MapConfigId

    @property
    def host(self) -> tuple[str, str]:
        return (self.minion, self.client)

    @property
    def selection(self) -> str:
        """``map.config`` or ``map.config.instance`` (what the minion's engine call selects)."""
        n = self.node
        return f"{n.map_name}.{n.config_name}" + (f".{n.instance_name}" if n.instance_name else "")

    def where(self) -> str:
        return describe_host(self.host)


def describe_host(host: tuple[str, str]) -> str:
    """``minion web1`` or ``minion web1 (client web1c)``."""
    minion, client = host
    return f"minion {minion}" if client == DEFAULT_CLIENT else f"minion {minion} (client {client})"


@dataclass
class Fleet:
    """The whole fleet: ``minions`` maps a minion id to its pillar configuration (an object or
    dict with ``maps`` and ``clients``). Optional ``maps`` restricts everything to those map
    names. Nothing is connected: this is pure computation for the master."""

    minions: Mapping[str, Any]
    maps: Iterable[str] | None = None
    units: list[Unit] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        from .graph import DependencyGraph

        wanted = set(self.maps) if self.maps is not None else None
        self._graphs: dict[str, Any] = {}
        self._problems: list[Problem] = []
        # (map, config, instance) -> units on every host
        self._by_node: dict[MapConfigId, list[Unit]] = {}
        for minion in sorted(self.minions):
            cfg = self.minions[minion]
            maps = dict(_attr(cfg, "maps") or {})
            clients = dict(_attr(cfg, "clients") or {})
            if wanted is not None:
                maps = {k: v for k, v in maps.items() if k in wanted}
            graph = DependencyGraph(maps)
            self._graphs[minion] = graph
            self._problems.extend(graph.reference_problems())
            self._problems.extend(graph.cycle_problems())
            mine = minion_clients(clients, minion)
            for node in graph.containers():
                for client in config_clients(graph.maps[node.map_name], node.config_name):
                    if client in mine:
                        unit = Unit(minion, client, node)
                        self.units.append(unit)
                        self._by_node.setdefault(node, []).append(unit)
        if wanted is not None:
            known = {m for g in self._graphs.values() for m in g.maps}
            for name in sorted(wanted - known):
                self._problems.append(
                    Problem(name, None, "", f"map '{name}' is in no targeted minion's pillar")
                )
        self._deps: dict[Unit, list[tuple[Unit, bool]]] = {}
        for unit in self.units:
            self._deps[unit] = self._unit_deps(unit)

    # -- construction ---------------------------------------------------------------------

    def _unit_deps(self, unit: Unit) -> list[tuple[Unit, bool]]:
        """(dependency, crosses hosts) of one unit; cross-host non-``requires`` edges are
        recorded as problems."""
        graph = self._graphs[unit.minion]
        node = unit.node
        out: list[tuple[Unit, bool]] = []
        reported: set[str] = set()
        for target, path in graph.edges(node):
            if target.config_type != "container":
                continue
            others = self._by_node.get(target, [])
            if path.startswith(ORDERING_ONLY):
                if not others and path not in reported:
                    reported.add(path)
                    self._problems.append(
                        Problem(
                            node.map_name,
                            node.config_name,
                            path,
                            f"requires '{_ref(target)}', which no targeted minion runs "
                            f"('{node.config_name}' runs on {unit.where()})",
                        )
                    )
                out.extend((o, o.host != unit.host) for o in others)
                continue
            same = [o for o in others if o.host == unit.host]
            if same:
                out.extend((o, False) for o in same)
                continue
            if path in reported:
                continue
            reported.add(path)
            if others:
                where = ", ".join(sorted({o.where() for o in others}))
                message = (
                    f"'{_ref(target)}' runs on {where} but '{node.config_name}' runs on "
                    f"{unit.where()}: {path.split('[')[0]} needs both on the same host "
                    "(only requires may cross hosts)"
                )
            else:
                message = (
                    f"'{_ref(target)}' runs on no targeted host but '{node.config_name}' runs on "
                    f"{unit.where()}: {path.split('[')[0]} needs both on the same host"
                )
            self._problems.append(Problem(node.map_name, node.config_name, path, message))
        return out

    # -- queries --------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Every problem of the fleet: per-minion reference and cycle problems, cross-host
        ``links``/``uses``/``network_mode``, unrunnable ``requires`` and cross-host cycles."""
        from .pillar import unique_problems

        return unique_problems([*self._problems, *self._cycle_problems()])

    def assignments(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        """minion -> ``map.config[.instance]`` -> clients (for reports)."""
        result: dict[str, dict[str, list[str]]] = {}
        for unit in sorted(self.units):
            result.setdefault(unit.minion, {}).setdefault(unit.selection, []).append(unit.client)
        return result  # type: ignore[return-value]

    def minions_with_work(self) -> list[str]:
        """Minions that run at least one unit."""
        return sorted({u.minion for u in self.units})

    def _cycle_problems(self) -> list[Problem]:
        """Cycles that only exist across hosts (in-host cycles come from the graphs)."""
        color: dict[Unit, int] = {}
        problems: list[Problem] = []
        for start in sorted(self.units):
            if color.get(start):
                continue
            stack: list[tuple[Unit, Iterable[tuple[Unit, bool]]]] = [(start, iter(self._deps[start]))]
            path = [start]
            color[start] = 1
            while stack:
                unit, it = stack[-1]
                for dep, _cross in it:
                    state = color.get(dep, 0)
                    if state == 0:
                        color[dep] = 1
                        stack.append((dep, iter(self._deps[dep])))
                        path.append(dep)
                        break
                    if state == 1:
                        cycle = path[path.index(dep) :] + [dep]
                        if any(a.host != b.host for a, b in zip(cycle, cycle[1:], strict=False)):
                            text = " -> ".join(f"{u.selection}@{u.minion}" for u in cycle)
                            problems.append(
                                Problem(
                                    unit.node.map_name,
                                    unit.node.config_name,
                                    "requires",
                                    f"circular dependency across hosts: {text}",
                                )
                            )
                else:
                    stack.pop()
                    path.pop()
                    color[unit] = 2
        return problems

    def unit_levels(self) -> dict[Unit, int]:
        """Level of every unit: 0 without dependencies on other hosts, else one more than the
        highest level of a dependency on another host (and at least that of in-host ones)."""
        levels: dict[Unit, int] = {}
        for start in sorted(self.units):
            if start in levels:
                continue
            stack: list[tuple[Unit, Iterable[tuple[Unit, bool]]]] = [(start, iter(self._deps[start]))]
            active = {start}
            while stack:
                unit, it = stack[-1]
                for dep, _cross in it:
                    if dep not in levels and dep not in active:
                        active.add(dep)
                        stack.append((dep, iter(self._deps[dep])))
                        break
                else:
                    stack.pop()
                    active.discard(unit)
                    level = 0
                    for dep, cross in self._deps[unit]:
                        # a dependency still active is a cycle (reported by problems())
                        level = max(level, levels.get(dep, 0) + (1 if cross else 0))
                    levels[unit] = level
        return levels

    def levels(self, reverse: bool = False) -> list[dict[str, list[str]]]:
        """Levels of the fleet: each a dict minion -> sorted ``map.config[.instance]``
        selections. A selection runs on all the minion's clients of that configuration, so a
        selection's level is the highest level of its units. ``reverse`` (stop, remove,
        shutdown): dependents first."""
        unit_levels = self.unit_levels()
        per_selection: dict[tuple[str, str], int] = {}
        for unit, level in unit_levels.items():
            key = (unit.minion, unit.selection)
            per_selection[key] = max(per_selection.get(key, 0), level)
        count = max(per_selection.values(), default=-1) + 1
        result: list[dict[str, list[str]]] = [{} for _ in range(count)]
        for (minion, selection), level in sorted(per_selection.items()):
            result[level].setdefault(minion, []).append(selection)
        result = [level for level in result if level]
        return list(reversed(result)) if reverse else result


def _attr(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _ref(node: MapConfigId) -> str:
    return f"{node.map_name}.{node.config_name}" + (f".{node.instance_name}" if node.instance_name else "")
