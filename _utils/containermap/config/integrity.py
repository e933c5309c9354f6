"""Cross-reference rules of a container map (reference section 1.9).

:func:`integrity_problems` checks an *extended* map (inheritance resolved, abstract configs
dropped) and returns one :class:`~containermap.exceptions.Problem` per broken reference, located
by map, config and key path, e.g. ``webapp.app_server.binds[1]: alias 'app_log' has no entry in
host`` or ``webapp.web.links[0]: unknown container 'db' (did you mean 'app_db'?)``.

Rules:

1. group names do not collide with config or ``config.instance`` names;
   every group member exists;
2. (``check_duplicates``) attached volume names are unique in the map (unless
   ``use_attached_parent_name``) and differ from container names;
3. ``uses`` names an attached volume, or a container (``config`` / ``config.instance``) that has
   ``shares``, ``binds`` or ``uses`` to share; a path override only for attached volumes;
4. bind aliases have a ``host`` entry (with a path for every instance) and a path in ``volumes``;
   attached aliases have a path (``volumes`` or the ``attaches`` entry);
5. link targets are existing instance names (``app.i1`` when ``app`` has instances);
6. referenced networks are defined (except ``bridge``/``host``/``none``); ``network_mode`` and
   endpoint links reference existing instances;
7. ``requires`` references existing configs (references to other maps are checked by the graph).

Interface names in ``exposes`` are resolved per client at run time and are not checked here.
Cycles are found by :meth:`containermap.graph.DependencyGraph.cycle_problems`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..exceptions import Problem
from .elements import ContainerRef, NotSet, SharedVolume, UsedVolume
from .naming import PRESET_NETWORKS
from .normalize import did_you_mean

__all__ = ["integrity_problems"]


def _is_set(value: Any) -> bool:
    return value is not NotSet and value is not None and value != ""


class _Checker:
    """Holds the lookup tables of one map while its rules run."""

    def __init__(self, m: Any, check_duplicates: bool, abstract: Iterable[str]):
        self.m = m
        # the extended map has no abstract configs; their names make better messages
        self.abstract = set(abstract)
        self.name: str = m.name
        self.check_duplicates = check_duplicates
        self.problems: list[Problem] = []
        self.configs: dict[str, Any] = dict(iter(m))
        # config -> its instances (attribute access on configurations is not free at 5,000)
        self.instances: dict[str, tuple[str, ...]] = {c: cfg.instances for c, cfg in self.configs.items()}
        # every valid container reference: 'config' and 'config.instance'
        self.instance_names: list[str] = []
        for c_name, instances in self.instances.items():
            self.instance_names.append(c_name)
            self.instance_names.extend(f"{c_name}.{i}" for i in instances)
        self.instance_name_set = set(self.instance_names)
        self.parent_names = m.use_attached_parent_name is True
        # attached name (as written in ``uses``) -> owning config
        self.attached: dict[str, str] = {}

    def add(self, config: str | None, path: str, message: str) -> None:
        self.problems.append(Problem(self.name, config, path, message))

    # -- helpers --------------------------------------------------------------------------

    def container_ref_problem(self, ref: str | ContainerRef, need_instance: bool) -> str | None:
        """Why ``ref`` is not a valid container reference of this map, or None.

        ``need_instance``: a config with instances must be referenced with one instance.
        """
        if isinstance(ref, ContainerRef):
            config, instance = ref.config, ref.instance
            text = f"{config}.{instance}" if instance else config
        else:
            text = str(ref)
            config, _, instance = text.partition(".")
        instances = self.instances.get(config)
        if instances is None:
            if config in self.abstract:
                return f"container '{config}' is abstract and is never created"
            return f"unknown container '{text}'{did_you_mean(text, self.instance_names)}"
        if instance:
            if instance not in instances:
                if not instances:
                    return f"container '{config}' has no instances, use '{config}'"
                return (
                    f"container '{config}' has no instance '{instance}' (instances: {', '.join(instances)})"
                )
        elif need_instance and instances:
            return (
                f"container '{config}' has instances ({', '.join(instances)}): "
                f"name one, e.g. '{config}.{instances[0]}'"
            )
        return None

    def volume_path(self, alias: str) -> Any:
        vol = self.m.volumes.get(alias) if self.m.volumes else None
        if vol is None:
            return NotSet
        if isinstance(vol, str):
            return vol
        return getattr(vol, "default_path", NotSet)

    # -- rules ----------------------------------------------------------------------------

    def check_groups(self) -> None:
        for group, members in (self.m.groups or {}).items():
            path = f"groups.{group}"
            if group in self.instance_name_set:
                self.add(None, path, f"group name '{group}' is also a container name")
            for i, member in enumerate(members):
                problem = self.container_ref_problem(str(member), need_instance=False)
                if problem:
                    if member in self.m.groups and member not in self.configs:
                        problem = f"group '{member}' cannot be a member of another group"
                    self.add(None, f"{path}[{i}]", problem)

    def collect_attached(self) -> None:
        for c_name, cfg in self.configs.items():
            for i, a in enumerate(cfg.attaches):
                key = f"{c_name}.{a.name}" if self.parent_names else a.name
                owner = self.attached.get(key)
                if owner is None:
                    self.attached[key] = c_name
                elif self.check_duplicates:
                    self.add(
                        c_name,
                        f"attaches[{i}]",
                        f"attached volume '{a.name}' is also attached by '{owner}' (attached names are "
                        f"unique per map; set use_attached_parent_name: true to prefix them with the config)",
                    )
                if self.check_duplicates and not self.parent_names and key in self.configs:
                    self.add(
                        c_name,
                        f"attaches[{i}]",
                        f"attached volume '{a.name}' has the name of a container; 'uses: {a.name}' would be ambiguous",
                    )

    def check_config(self, c_name: str, cfg: Any) -> None:
        self.check_binds(c_name, cfg)
        self.check_attaches(c_name, cfg)
        self.check_uses(c_name, cfg)
        for i, link in enumerate(cfg.links):
            problem = self.container_ref_problem(link.container, need_instance=True)
            if problem:
                self.add(c_name, f"links[{i}]", problem)
        network_mode = cfg.network_mode
        if isinstance(network_mode, ContainerRef):
            problem = self.container_ref_problem(network_mode, need_instance=True)
            if problem:
                self.add(c_name, "network_mode", problem)
        networks = self.m.networks or {}
        for i, ep in enumerate(cfg.networks):
            if ep.network_name not in PRESET_NETWORKS and ep.network_name not in networks:
                candidates = [*networks, *PRESET_NETWORKS]
                self.add(
                    c_name,
                    f"networks[{i}]",
                    f"unknown network '{ep.network_name}'{did_you_mean(ep.network_name, candidates)}"
                    + ("" if networks else " (the map defines no networks)"),
                )
            for j, link in enumerate(ep.links):
                problem = self.container_ref_problem(link.container, need_instance=True)
                if problem:
                    self.add(c_name, f"networks[{i}].links[{j}]", problem)
        for i, req in enumerate(getattr(cfg, "requires", ()) or ()):
            config = str(req).partition(".")[0]
            if config in self.configs or "." not in str(req):
                # a dotted name of an unknown config may be 'othermap.config': the graph checks it
                problem = self.container_ref_problem(str(req), need_instance=False)
                if problem:
                    self.add(c_name, f"requires[{i}]", problem)

    def check_binds(self, c_name: str, cfg: Any) -> None:
        for i, b in enumerate(cfg.binds):
            if not isinstance(b, SharedVolume):
                continue
            path = f"binds[{i}]"
            host = self.m.host
            if b.name not in host:
                self.add(
                    c_name, path, f"alias '{b.name}' has no entry in host{did_you_mean(b.name, list(host))}"
                )
            else:
                for instance in self.instances[c_name] or (None,):
                    if not host.has_path(b.name, instance):
                        what = f"instance '{instance}'" if instance else "the config (it has no instances)"
                        self.add(
                            c_name,
                            path,
                            f"host path of alias '{b.name}' has no entry for {what} and no 'default'",
                        )
            if not _is_set(self.volume_path(b.name)):
                self.add(
                    c_name,
                    path,
                    f"alias '{b.name}' has no container path in volumes{did_you_mean(b.name, self.m.volumes or {})}",
                )

    def check_attaches(self, c_name: str, cfg: Any) -> None:
        for i, a in enumerate(cfg.attaches):
            if isinstance(a, UsedVolume):
                continue
            if not _is_set(self.volume_path(a.name)):
                self.add(
                    c_name,
                    f"attaches[{i}]",
                    f"attached volume '{a.name}' has no path: add it to volumes or give one ({a.name}: /path)",
                )

    def check_uses(self, c_name: str, cfg: Any) -> None:
        for i, u in enumerate(cfg.uses):
            path = f"uses[{i}]"
            if u.name in self.attached:
                continue
            config, _, instance = u.name.partition(".")
            if config in self.configs and not self.container_ref_problem(u.name, need_instance=False):
                target = self.configs[config]
                if isinstance(u, UsedVolume):
                    self.add(
                        c_name,
                        path,
                        f"'{u.name}' is a container: a path can only be given for an attached volume",
                    )
                elif not (target.shares or target.binds or target.uses):
                    self.add(
                        c_name,
                        path,
                        f"container '{u.name}' has no shares, binds or uses to share "
                        f"(attached volumes are used by their alias)",
                    )
                continue
            hint = ""
            if self.parent_names and u.name in {key.partition(".")[2] for key in self.attached}:
                owners = [key for key in self.attached if key.partition(".")[2] == u.name]
                hint = f" (use_attached_parent_name is set: use '{owners[0]}')"
            else:
                problem = self.container_ref_problem(u.name, need_instance=False)
                if config in self.configs and problem:
                    self.add(c_name, path, problem)
                    continue
                hint = did_you_mean(u.name, [*self.attached, *self.instance_names])
            self.add(c_name, path, f"unknown attached volume or container '{u.name}'{hint}")

    def run(self) -> list[Problem]:
        self.check_groups()
        self.collect_attached()
        for c_name, cfg in self.configs.items():
            self.check_config(c_name, cfg)
        return self.problems


def integrity_problems(
    extended_map: Any, check_duplicates: bool = True, abstract: Iterable[str] | None = None
) -> list[Problem]:
    """All cross-reference problems of an extended map (empty list when it is consistent).

    ``abstract``: names of the abstract configs of the original map (a reference to one is
    reported as such instead of as unknown); default: the map's ``abstract_configs`` if any.
    """
    if abstract is None:
        abstract = getattr(extended_map, "abstract_configs", None) or ()
    return _Checker(extended_map, check_duplicates, abstract).run()
