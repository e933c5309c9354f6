"""Dependency graph of container maps: selection, dependency order, levels and cycles.

Nodes are :class:`~containermap.config.elements.MapConfigId` items: one per container instance,
attached volume, user-defined network and image. Edges point from an item to what it needs
(reference section 3):

* ``image`` -> image item ``('image', map, expanded repository, tag)`` (not for lazy image
  names, which are only resolved where the map is acted on)
* ``attaches`` -> volume item ``('volume', map, owning config, alias)``
* ``uses`` attached alias -> the owning config's instances and the volume item;
  ``uses`` ``config[.instance]`` -> that container (all instances when none is given)
* ``links`` and network endpoint ``links`` -> the linked instance(s)
* ``network_mode`` ``config[.instance]`` -> that container
* ``networks`` (not ``bridge``/``host``/``none``) -> network item ``('network', map, name)``
* ``requires`` (ordering only) -> ``config[.instance]`` of the same map or ``map.config[.instance]``
  of another map

Not edges: raw ``volumes_from``/``links`` in ``host_config``, ``network_mode: container:x`` or
``/x``, host binds. References that do not resolve are skipped here; the integrity rules
(:mod:`containermap.config.integrity`) report them. All walks are iterative.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .config.elements import ContainerRef, MapConfigId, NotSet, UsedVolume
from .config.lazy import Lazy
from .config.naming import PRESET_NETWORKS, split_image
from .config.normalize import did_you_mean
from .exceptions import ConfigurationError, Problem

if TYPE_CHECKING:
    from .config.map import ContainerMap

__all__ = ["DependencyGraph", "ALL"]

ALL = "__all__"

# (target, key path of the reference in the source config)
Edge = tuple[MapConfigId, str]


def _selection_error(message: str) -> ConfigurationError:
    return ConfigurationError(Problem(None, None, "selection", message))


class DependencyGraph:
    """Dependency graph over one or several container maps (inheritance resolved).

    ``maps`` maps names to :class:`ContainerMap` objects; the graph is built from their extended
    maps (``get_extended_map()``, which returns an already extended map itself).
    """

    def __init__(self, maps: Mapping[str, ContainerMap]):
        self.maps: dict[str, Any] = {}
        for name, m in maps.items():
            self.maps[name] = m.get_extended_map()
        # node -> index (insertion order, for deterministic output)
        self._index: dict[MapConfigId, int] = {}
        self._deps: dict[MapConfigId, list[Edge]] = {}
        self._rdeps: dict[MapConfigId, list[MapConfigId]] | None = None
        # (map, config) -> container nodes of all instances
        self._instances: dict[tuple[str, str], tuple[MapConfigId, ...]] = {}
        # (map, attached name as used in ``uses``) -> (owning config, alias)
        self._attached: dict[tuple[str, str], tuple[str, str]] = {}
        # references to other maps (``requires: othermap.config``) that do not resolve
        self._unresolved: list[Problem] = []
        for name, m in self.maps.items():
            self._add_nodes(name, m)
        for name, m in self.maps.items():
            self._add_edges(name, m)

    # -- construction ---------------------------------------------------------------------

    def _node(self, node: MapConfigId) -> MapConfigId:
        if node not in self._index:
            self._index[node] = len(self._index)
            self._deps[node] = []
        return node

    def _add_nodes(self, map_name: str, m: Any) -> None:
        parent_names = m.use_attached_parent_name is True
        for c_name, cfg in m:
            instances = cfg.instances
            if instances:
                nodes = tuple(self._node(MapConfigId("container", map_name, c_name, i)) for i in instances)
            else:
                nodes = (self._node(MapConfigId("container", map_name, c_name, None)),)
            self._instances[(map_name, c_name)] = nodes
            for a in cfg.attaches:
                key = f"{c_name}.{a.name}" if parent_names else a.name
                self._attached.setdefault((map_name, key), (c_name, a.name))

    def _ref(self, map_name: str, ref: str | ContainerRef) -> tuple[MapConfigId, ...]:
        """Container nodes of ``config[.instance]`` in ``map_name`` (empty if unknown)."""
        if isinstance(ref, ContainerRef):
            config, instance = ref.config, ref.instance
        else:
            config, _, instance = str(ref).partition(".")
        nodes = self._instances.get((map_name, config), ())
        if instance:
            return tuple(n for n in nodes if n.instance_name == instance)
        return nodes

    def _add_edges(self, map_name: str, m: Any) -> None:
        # lazy image names are resolved where the map is acted on, never while building the
        # graph (validation on the master must not resolve, and cache, a !env_lazy value)
        lazy_map = isinstance(m.repository, Lazy) or isinstance(m.default_tag, Lazy)
        for c_name, cfg in m:
            edges: list[Edge] = []
            add = edges.append
            image = cfg.image
            if image is NotSet or not image:
                image = c_name
            if not (lazy_map or isinstance(image, Lazy)):
                repo, tag = split_image(m.get_image(image))
                add((self._node(MapConfigId("image", map_name, repo, tag)), "image"))
            for i, a in enumerate(cfg.attaches):
                add((self._node(MapConfigId("volume", map_name, c_name, a.name)), f"attaches[{i}]"))
            for i, u in enumerate(cfg.uses):
                path = f"uses[{i}]"
                owner = self._attached.get((map_name, u.name))
                if owner is not None:
                    edges.extend((n, path) for n in self._instances.get((map_name, owner[0]), ()))
                    add((self._node(MapConfigId("volume", map_name, owner[0], owner[1])), path))
                elif not isinstance(u, UsedVolume):
                    edges.extend((n, path) for n in self._ref(map_name, u.name))
            for i, link in enumerate(cfg.links):
                edges.extend((n, f"links[{i}]") for n in self._ref(map_name, link.container))
            network_mode = cfg.network_mode
            if isinstance(network_mode, ContainerRef):
                edges.extend((n, "network_mode") for n in self._ref(map_name, network_mode))
            for i, ep in enumerate(cfg.networks):
                if ep.network_name not in PRESET_NETWORKS:
                    add((self._node(MapConfigId("network", map_name, ep.network_name)), f"networks[{i}]"))
                for j, link in enumerate(ep.links):
                    edges.extend(
                        (n, f"networks[{i}].links[{j}]") for n in self._ref(map_name, link.container)
                    )
            for i, req in enumerate(getattr(cfg, "requires", ()) or ()):
                required = self._required(map_name, str(req))
                if required is None:
                    self._unresolved.append(
                        Problem(map_name, c_name, f"requires[{i}]", self._unknown_remote(str(req)))
                    )
                edges.extend((n, f"requires[{i}]") for n in required or ())
            # same dependencies for every instance; keep the first path of a repeated target
            unique: dict[MapConfigId, str] = {}
            for target, path in edges:
                unique.setdefault(target, path)
            deps = list(unique.items())
            for node in self._instances[(map_name, c_name)]:
                self._deps[node] = deps

    def _required(self, map_name: str, ref: str) -> tuple[MapConfigId, ...] | None:
        """Nodes of a ``requires`` entry; None for an unresolved reference to another map
        (local references are checked by the integrity rules)."""
        config = ref.partition(".")[0]
        if (map_name, config) in self._instances or "." not in ref:
            return self._ref(map_name, ref)
        other, _, rest = ref.partition(".")
        if other in self.maps:
            return self._ref(other, rest) or None
        return None

    def _unknown_remote(self, ref: str) -> str:
        other, _, rest = ref.partition(".")
        if other not in self.maps:
            known = [c for (_, c) in self._instances] + list(self.maps)
            return f"unknown container or map in '{ref}'{did_you_mean(other, known)}"
        names = [
            f"{c}.{n.instance_name}" if n.instance_name else c
            for (m, c), nodes in self._instances.items()
            if m == other
            for n in nodes
        ]
        return f"unknown container '{rest}' in map '{other}'{did_you_mean(rest, names)}"

    def reference_problems(self) -> list[Problem]:
        """``requires`` references to other maps that do not resolve."""
        return list(self._unresolved)

    # -- queries --------------------------------------------------------------------------

    @property
    def nodes(self) -> list[MapConfigId]:
        """All nodes in insertion order."""
        return list(self._index)

    def edges(self, node: MapConfigId) -> list[Edge]:
        """Direct dependencies of ``node`` with the key path that creates each edge."""
        return list(self._deps.get(node, ()))

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def containers(self, map_name: str | None = None) -> list[MapConfigId]:
        """Container nodes (of one map, or of all maps), in map order."""
        return [
            n
            for (m_name, _), nodes in self._instances.items()
            if map_name is None or m_name == map_name
            for n in nodes
        ]

    def _reverse(self) -> dict[MapConfigId, list[MapConfigId]]:
        if self._rdeps is None:
            rdeps: dict[MapConfigId, list[MapConfigId]] = {n: [] for n in self._index}
            for node, deps in self._deps.items():
                for target, _ in deps:
                    rdeps[target].append(node)
            self._rdeps = rdeps
        return self._rdeps

    @staticmethod
    def _postorder(
        starts: Iterable[MapConfigId], adj: Mapping[MapConfigId, Sequence[Any]], edges: bool
    ) -> list:
        """Iterative depth-first post-order: every node after everything it reaches, once."""
        seen: set[MapConfigId] = set()
        out: list[MapConfigId] = []
        for start in starts:
            if start in seen:
                continue
            seen.add(start)
            stack: list[tuple[MapConfigId, Iterator[Any]]] = [(start, iter(adj.get(start, ())))]
            while stack:
                node, it = stack[-1]
                for item in it:
                    nxt = item[0] if edges else item
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append((nxt, iter(adj.get(nxt, ()))))
                        break
                else:
                    stack.pop()
                    out.append(node)
        return out

    def _check_known(self, ids: Iterable[MapConfigId]) -> list[MapConfigId]:
        ids = list(ids)
        for node in ids:
            if node not in self._index:
                raise ConfigurationError(Problem(node.map_name, None, "", f"unknown item {node.key}"))
        return ids

    def dependencies(self, ids: Iterable[MapConfigId]) -> list[MapConfigId]:
        """Forward order: all transitive dependencies of ``ids`` (deepest first), then ``ids``.

        Every item appears once, shared dependencies included.
        """
        return self._postorder(self._check_known(ids), self._deps, True)

    def dependents(self, ids: Iterable[MapConfigId]) -> list[MapConfigId]:
        """Reverse order: the furthest dependent first, the selected items last."""
        return self._postorder(self._check_known(ids), self._reverse(), False)

    def levels(self, ids: Iterable[MapConfigId], reverse: bool = False) -> list[list[MapConfigId]]:
        """Group :meth:`dependencies` (or :meth:`dependents` when ``reverse``) into levels.

        Everything an item depends on (forward) or everything depending on it (reverse) is in an
        earlier level; items of one level are independent of each other. Inside a level the
        order of :meth:`dependencies` / :meth:`dependents` is kept.
        """
        order = self.dependents(ids) if reverse else self.dependencies(ids)
        level: dict[MapConfigId, int] = {}
        if reverse:
            rdeps = self._reverse()
            for node in order:
                level[node] = max((level[d] + 1 for d in rdeps[node] if d in level), default=0)
        else:
            for node in order:
                level[node] = max((level[d] + 1 for d, _ in self._deps[node] if d in level), default=0)
        result: list[list[MapConfigId]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node in order:
            result[level[node]].append(node)
        return result

    # -- selection ------------------------------------------------------------------------

    def select(
        self,
        selection: Any,
        instances: str | Sequence[str] | None = None,
        map_name: str | None = None,
    ) -> list[MapConfigId]:
        """Container nodes for a selection, in the given order, each once.

        ``selection``: ``'config'``, ``'config.instance'``, ``'map.config'``,
        ``'map.config.instance'``, a group name, ``'__all__'``, a ``MapConfigId``, a tuple
        ``(map, config, instances)``, or a list of those. ``instances`` restricts string
        selections of one config. ``map_name`` is the map of names without a map part (needed
        only when several maps are loaded). Unknown names raise :class:`ConfigurationError`.
        """
        if isinstance(instances, str):
            instances = (instances,)
        result: dict[MapConfigId, None] = {}
        for item in self._selection_items(selection):
            for node in self._select_one(item, instances, map_name):
                result[node] = None
        return list(result)

    @staticmethod
    def _selection_items(selection: Any) -> list[Any]:
        if isinstance(selection, (str, MapConfigId)):
            return [selection]
        if isinstance(selection, tuple) and len(selection) == 3 and isinstance(selection[0], str):
            if isinstance(selection[1], str) and not isinstance(selection[2], MapConfigId):
                return [selection]  # (map, config, instances)
        if isinstance(selection, Iterable) and not isinstance(selection, Mapping):
            return list(selection)
        if isinstance(selection, Mapping):
            return [selection]
        raise _selection_error(f"invalid selection {selection!r}")

    def _select_one(
        self, item: Any, instances: Sequence[str] | None, map_name: str | None
    ) -> list[MapConfigId]:
        if isinstance(item, MapConfigId):
            return self._check_known([item])
        if isinstance(item, tuple) and len(item) == 3:
            m_name, config, insts = item
            self._get_map(m_name)
            return self._select_name(
                str(config), (insts,) if isinstance(insts, str) else insts or None, m_name
            )
        if isinstance(item, Mapping):
            # docker-map's dict form: {map_name:, config_name:, instance_names:}
            config = item.get("config_name") or item.get("container")
            insts = item.get("instance_names") or item.get("instances") or instances
            if isinstance(insts, str):
                insts = (insts,)
            return self._select_name(str(config), insts or None, item.get("map_name", map_name))
        if not isinstance(item, str):
            raise _selection_error(f"invalid selection {item!r}")
        return self._select_name(item, instances, map_name)

    def _get_map(self, name: str | None) -> tuple[str, Any]:
        if name is None:
            if len(self.maps) == 1:
                name = next(iter(self.maps))
            else:
                raise _selection_error("several maps are loaded: give the map name (map.config or map_name=)")
        try:
            return name, self.maps[name]
        except KeyError:
            raise _selection_error(f"unknown map '{name}'{did_you_mean(name, self.maps)}") from None

    def _select_name(
        self, name: str, instances: Sequence[str] | None, map_name: str | None
    ) -> list[MapConfigId]:
        first, _, rest = name.partition(".")
        if map_name is None and len(self.maps) > 1:
            if name == ALL:
                return self.containers()
            if first in self.maps and rest:
                return self._select_name(rest, instances, first)
            raise _selection_error(
                f"'{name}': several maps are loaded, name the map (map.config){did_you_mean(first, self.maps)}"
            )
        m_name, m = self._get_map(map_name)
        is_local = (m_name, first) in self._instances or first in m.groups or first == ALL
        if not is_local and first in self.maps and rest:
            return self._select_name(rest, instances, first)  # 'map.config[.instance]'
        if first == ALL:
            return self.containers(m_name)
        if (m_name, first) not in self._instances and first in m.groups:
            if rest:
                raise ConfigurationError(
                    Problem(m_name, None, "", f"'{name}': group '{first}' has no instances")
                )
            nodes: list[MapConfigId] = []
            for member in m.groups[first]:
                nodes.extend(self._select_name(str(member), instances, m_name))
            return nodes
        return self._config_nodes((m_name, m), first, (rest,) if rest else instances)

    def _config_nodes(
        self, m_item: tuple[str, Any], config: str, instances: Sequence[str] | None
    ) -> list[MapConfigId]:
        m_name, m = m_item
        nodes = self._instances.get((m_name, config))
        if nodes is None:
            known = [c for (mn, c) in self._instances if mn == m_name] + list(m.groups)
            raise ConfigurationError(
                Problem(
                    m_name, None, "", f"unknown container or group '{config}'{did_you_mean(config, known)}"
                )
            )
        if not instances:
            return list(nodes)
        by_instance = {n.instance_name: n for n in nodes}
        result = []
        for inst in instances:
            node = by_instance.get(inst)
            if node is None:
                names = [n for n in by_instance if n is not None]
                raise ConfigurationError(
                    Problem(
                        m_name,
                        config,
                        "",
                        f"unknown instance '{inst}'{did_you_mean(inst, names) if names else ''}",
                    )
                )
            result.append(node)
        return result

    # -- cycles ---------------------------------------------------------------------------

    def _label(self, node: MapConfigId, map_name: str) -> str:
        name = node.config_name if node.instance_name is None else f"{node.config_name}.{node.instance_name}"
        return name if node.map_name == map_name else f"{node.map_name}.{name}"

    def _sccs(self) -> list[list[MapConfigId]]:
        """Strongly connected components (iterative Tarjan) with more than one node or a loop."""
        index: dict[MapConfigId, int] = {}
        low: dict[MapConfigId, int] = {}
        on_stack: set[MapConfigId] = set()
        stack: list[MapConfigId] = []
        result: list[list[MapConfigId]] = []
        counter = 0
        for root in self._index:
            if root in index or not self._deps[root]:
                continue
            work: list[tuple[MapConfigId, Iterator[Edge]]] = []
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            work.append((root, iter(self._deps[root])))
            while work:
                node, it = work[-1]
                for target, _ in it:
                    if target not in index:
                        index[target] = low[target] = counter
                        counter += 1
                        stack.append(target)
                        on_stack.add(target)
                        work.append((target, iter(self._deps[target])))
                        break
                    if target in on_stack:
                        low[node] = min(low[node], index[target])
                else:
                    work.pop()
                    if work:
                        parent = work[-1][0]
                        low[parent] = min(low[parent], low[node])
                    if low[node] == index[node]:
                        comp = []
                        while True:
                            member = stack.pop()
                            on_stack.discard(member)
                            comp.append(member)
                            if member == node:
                                break
                        if len(comp) > 1 or any(t == node for t, _ in self._deps[node]):
                            comp.sort(key=self._index.__getitem__)
                            result.append(comp)
        result.sort(key=lambda c: self._index[c[0]])
        return result

    def _cycle_from(
        self, start: MapConfigId, first: MapConfigId, members: set[MapConfigId]
    ) -> list[MapConfigId]:
        """Shortest path ``start -> first -> ... -> start`` inside one component (BFS)."""
        if first == start:
            return [start, start]
        prev: dict[MapConfigId, MapConfigId] = {first: start}
        queue = [first]
        for node in queue:
            for target, _ in self._deps[node]:
                if target not in members or target in prev:
                    continue
                prev[target] = node
                if target == start:
                    path = [start]
                    cur = node
                    while cur != start:
                        path.append(cur)
                        cur = prev[cur]
                    path.append(start)
                    path.reverse()
                    return path
                queue.append(target)
        return []

    def cycles(self, limit_per_component: int = 20) -> list[tuple[list[MapConfigId], str]]:
        """Cycles as ``(path, key path of the first edge)``, ``path[0] == path[-1]``.

        Every strongly connected component is reported; inside one, the shortest cycle through
        each edge that is not on a cycle found before (up to ``limit_per_component`` cycles).
        """
        found: list[tuple[list[MapConfigId], str]] = []
        for comp in self._sccs():
            members = set(comp)
            position = {n: i for i, n in enumerate(comp)}
            covered: set[tuple[MapConfigId, MapConfigId]] = set()
            count = 0
            for node in comp:
                for target, _ in self._deps[node]:
                    if target not in members or (node, target) in covered or count >= limit_per_component:
                        continue
                    path = self._cycle_from(node, target, members)
                    if not path:
                        continue
                    covered.update(zip(path, path[1:], strict=False))
                    # canonical form: rotation starting at the earliest node of the component
                    ring = path[:-1]
                    k = min(range(len(ring)), key=lambda i: position[ring[i]])
                    canon = [*ring[k:], *ring[:k], ring[k]]
                    count += 1
                    first_path = next(p for t, p in self._deps[canon[0]] if t == canon[1])
                    found.append((canon, first_path))
        return found

    def cycle_problems(self) -> list[Problem]:
        """One :class:`Problem` per cycle, located at the first edge of the cycle.

        ``webapp.a.links[0]: circular dependency a -> b -> a``.
        """
        problems = []
        for path, key_path in self.cycles():
            start = path[0]
            names = " -> ".join(self._label(n, start.map_name) for n in path)
            text = f"circular dependency {names}"
            if len(path) == 2:
                text += " (refers to itself)"
            problems.append(Problem(start.map_name, start.config_name, key_path, text))
        return problems
