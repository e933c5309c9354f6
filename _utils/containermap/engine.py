"""``MapClient``: the lifecycle facade over config -> graph -> observe -> plan -> apply.

Example::

    client = MapClient(container_map)              # or a list / dict of maps
    plan = client.plan("update", "web_server")     # read-only: 4 list requests per client
    print(plan)                                    # steps with reasons
    result = client.apply(plan)                    # ApplyResult (raises ActionError on failure)
    client.startup("__all__"); client.shutdown("__all__", remove_attached=True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import update_cache
from .apply import ApplyResult, Progress, apply_plan, endpoint_kwargs
from .clients import ClientSet
from .config.elements import MapConfigId
from .exceptions import ActionError, CircularDependency, ConfigurationError, MapValidationError
from .graph import DependencyGraph
from .observe import ObservedState, inspect_container, observe
from .plan import FORWARD_ACTIONS, REVERSE_ACTIONS, Desired, Plan, make_plan
from .spec import DEFAULT_CLIENT, SpecBuilder

__all__ = ["MapClient"]

# seconds an apply waits for another apply on the same engine from this host (lock.apply_lock)
LOCK_TIMEOUT = 600.0


def _maps_dict(maps: Any) -> dict[str, Any]:
    if isinstance(maps, Mapping):
        return dict(maps)
    if hasattr(maps, "containers") and hasattr(maps, "name"):
        return {maps.name: maps}
    return {m.name: m for m in maps}


class MapClient:
    """Acts on one or several container maps across their clients.

    ``maps``: a ContainerMap, a list of them or a dict name -> map. ``clients``: a
    :class:`~containermap.clients.ClientSet` or a dict client name -> ClientConfiguration (or
    dict); the default client ``__default__`` uses ``DOCKER_HOST`` / the local socket.
    ``extra_labels`` are put on every object created (not part of the hash).
    """

    def __init__(
        self,
        maps: Any,
        clients: ClientSet | Mapping[str, Any] | None = None,
        default_client: str = DEFAULT_CLIENT,
        extra_labels: Mapping[str, str] | None = None,
        only_clients: Iterable[str] | None = None,
    ):
        self.maps = _maps_dict(maps)
        self.graph = DependencyGraph(self.maps)
        self.clients = clients if isinstance(clients, ClientSet) else ClientSet(clients or {})
        self.default_client = default_client
        self.extra_labels = dict(extra_labels or {})
        # multi-host: the clients this host drives (its share); None = every client
        self.only_clients = frozenset(only_clients) if only_clients is not None else None

    # -- helpers --------------------------------------------------------------------------

    def api(self, client: str = DEFAULT_CLIENT) -> Any:
        """The docker ``APIClient`` of ``client``."""
        return self.clients.get(client)

    def _map_clients(self, map_name: str) -> tuple[str, ...]:
        clients = tuple(getattr(self.graph.maps[map_name], "clients", ()) or ())
        return clients or (self.default_client,)

    def _node_clients(self, node: MapConfigId) -> tuple[str, ...]:
        """Clients of a node: the config's ``clients`` (containers and their attached
        volumes), else the map's; restricted to ``only_clients`` (docker-fabric semantics)."""
        if node.config_type == "image":
            return ()  # images are pulled for the containers that use them, on their clients
        m = self.graph.maps[node.map_name]
        clients: tuple[str, ...] = ()
        if node.config_type in ("container", "volume") and node.config_name in m.containers:
            clients = tuple(getattr(m.containers[node.config_name], "clients", ()) or ())
        clients = clients or self._map_clients(node.map_name)
        if self.only_clients is not None:
            clients = tuple(c for c in clients if c in self.only_clients)
        return clients

    def _check(self) -> None:
        # cross-map problems only show in the graph over all maps, not in per-map validation
        problems = self.graph.reference_problems()
        if problems:
            raise MapValidationError(problems)
        problems = self.graph.cycle_problems()
        if problems:
            raise CircularDependency(problems)

    def _builder(self, map_name: str, client: str, cache: dict) -> SpecBuilder:
        key = (map_name, client)
        if key not in cache:
            config = self.clients.config(client) if client in self.clients else None
            cache[key] = SpecBuilder(self.graph.maps[map_name], client, config)
        return cache[key]

    def desired(
        self, action: str, selection: Any, instances: Any = None, map_name: str | None = None
    ) -> list[Desired]:
        """Specs of everything ``action`` on ``selection`` involves, per client (no request)."""
        self._check()
        selected = self.graph.select(selection, instances=instances, map_name=map_name)
        if action in FORWARD_ACTIONS:
            levels = self.graph.levels(selected)
        elif action in REVERSE_ACTIONS:
            levels = self.graph.levels(selected, reverse=True)
        else:
            levels = [list(selected)]
        nodes = [n for level in levels for n in level]
        builders: dict = {}
        per_client: dict[str, Desired] = {}
        for node in nodes:
            for client in self._node_clients(node):
                d = per_client.setdefault(client, Desired(client))
                b = self._builder(node.map_name, client, builders)
                if node.config_type == "container":
                    d.containers[node] = b.container(node.config_name, node.instance_name)
                elif node.config_type == "volume":
                    d.volumes[node] = b.volume(node.config_name, node.instance_name)
                elif node.config_type == "network":
                    d.networks[node] = b.network(node.config_name)
        for d in per_client.values():
            d.levels = [[n for n in level if n in d.containers] for level in levels]
            d.levels = [level for level in d.levels if level]
            d.selected = [n for n in selected if n in d.containers]
            d.map_names = tuple(sorted({n.map_name for n in d.containers}))
            for cid in d.containers:
                d.requires[cid] = [t for t, _path in self.graph.edges(cid) if t.config_type == "container"]
            # forward actions also need the networks/volumes of the containers (the graph
            # lists them as nodes; reverse walks do not), so add what is referenced
            for spec in list(d.containers.values()):
                for dep in spec.depends:
                    b = self._builder(dep.map_name, d.client, builders)
                    if dep.config_type == "volume" and dep not in d.volumes:
                        d.volumes[dep] = b.volume(dep.config_name, dep.instance_name)
                    elif dep.config_type == "network" and dep not in d.networks:
                        d.networks[dep] = b.network(dep.config_name)
        return list(per_client.values())

    def observe(self, clients: Iterable[str]) -> dict[str, ObservedState]:
        """Live state of each client (4 list requests each, clients in parallel)."""
        clients = list(clients)
        if len(clients) == 1:
            return {clients[0]: observe(self.api(clients[0]), clients[0])}
        with ThreadPoolExecutor(max_workers=min(8, len(clients))) as pool:
            states = list(pool.map(lambda c: observe(self.api(c), c), clients))
        return dict(zip(clients, states, strict=True))

    def _engine(self, client: str) -> str:
        """The engine URL of ``client``: names its update-cache section."""
        return self.clients.url(client)

    @contextlib.contextmanager
    def _locked(self, timeout: float | None) -> Iterator[None]:
        """Hold the host's apply lock (``lock.apply_lock()``, one per host: an apply can span
        several engines, and a caller such as the Salt module may already hold it: it is
        re-entrant per thread). Raises ``lock.LockTimeout`` (naming the lock file and the pid
        holding it) after ``timeout`` seconds."""
        from .lock import apply_lock

        with apply_lock(timeout=timeout):
            yield

    def _record_verified(self, plan: Plan, observed: Mapping[str, ObservedState]) -> None:
        for client, state in observed.items():
            entries = {cid: h for (c, cid), h in plan.verified_updates.items() if c == client}
            keep = [c.id for c in state.containers.values()]
            update_cache.record(self._engine(client), entries, keep=keep)

    def _record_applied(self, result: ApplyResult) -> None:
        """Remember the update hash of containers whose in-place steps all succeeded."""
        outcome: dict[tuple[str, str], tuple[str, bool]] = {}
        for r in result.results:
            cid, wanted = r.step.params.get("container_id"), r.step.params.get("update_hash")
            if cid and wanted:
                key = (r.step.client, cid)
                outcome[key] = (wanted, r.ok and outcome.get(key, (wanted, True))[1])
        for client in {c for c, _ in outcome}:
            entries = {cid: h for (c, cid), (h, ok) in outcome.items() if c == client and ok}
            if entries:
                update_cache.record(self._engine(client), entries)

    def _force_ids(self, value: Any, map_name: str | None) -> list[MapConfigId]:
        if not value:
            return []
        return self.graph.select(value, map_name=map_name)

    # -- public API -----------------------------------------------------------------------

    def plan(
        self,
        action: str,
        selection: Any = "__all__",
        instances: Any = None,
        map_name: str | None = None,
        **options: Any,
    ) -> Plan:
        """Plan ``action`` (no state-changing request: only lists, plus inspects of containers
        whose in-place settings may have changed since they were last set). Invalid maps and
        cycles raise before any request.

        Temporary containers left by interrupted runs are cleaned only when they carry this
        client's ``extra_labels`` (option ``temporary_labels`` overrides). The local update
        cache (:mod:`containermap.update_cache`) is read, and updated with what inspects found.
        """
        if options.get("force_update"):
            options["force_update"] = self._force_ids(options["force_update"], map_name)
        desired = self.desired(action, selection, instances, map_name)
        return self._plan(action, desired, options)

    def _plan(self, action: str, desired: list[Desired], options: dict[str, Any]) -> Plan:
        if options.get("temporary_labels") is None and self.extra_labels:
            options["temporary_labels"] = dict(self.extra_labels)
        observed = self.observe(d.client for d in desired)
        applied = update_cache.load()
        plan = make_plan(action, desired, observed, options, applied_updates=applied)
        if plan.needs_inspect:
            inspected = {}
            for client, name in plan.needs_inspect:
                data = inspect_container(self.api(client), name)
                if data is not None:
                    inspected[(client, name)] = data
            plan = make_plan(action, desired, observed, options, inspected, applied)
        self._record_verified(plan, observed)
        return plan

    def apply(
        self,
        plan: Plan,
        parallel: bool = True,
        max_workers: int = 8,
        progress: Progress | None = None,
        raise_on_error: bool = True,
        lock_timeout: float | None = LOCK_TIMEOUT,
    ) -> ApplyResult:
        """Run ``plan``; see :func:`containermap.apply.apply_plan` (raises ``ActionError``
        with the partial results when a step failed, unless ``raise_on_error=False``).

        Two applies on this host run one after the other (the host's apply lock,
        :func:`containermap.lock.apply_lock`); after ``lock_timeout`` seconds
        (None: wait forever) ``lock.LockTimeout`` names the lock file and the pid holding it.
        """
        clients = {s.client for s in plan.actionable}
        if not clients:
            return self._apply(plan, parallel, max_workers, progress, raise_on_error)
        with self._locked(lock_timeout):
            return self._apply(plan, parallel, max_workers, progress, raise_on_error)

    def _apply(
        self,
        plan: Plan,
        parallel: bool,
        max_workers: int,
        progress: Progress | None,
        raise_on_error: bool,
    ) -> ApplyResult:
        clients = {s.client for s in plan.steps}
        apis = {c: self.api(c) for c in clients}
        auth = {c: self.clients.auth_configs(c) for c in clients if c in self.clients}
        try:
            result = apply_plan(
                plan,
                apis,
                parallel=parallel,
                max_workers=max_workers,
                progress=progress,
                extra_labels=self.extra_labels,
                auth_configs=auth,
                raise_on_error=raise_on_error,
            )
        except ActionError as exc:
            self._record_applied(exc.apply_result)  # type: ignore[attr-defined]
            raise
        self._record_applied(result)
        return result

    def run(
        self,
        action: str,
        selection: Any = "__all__",
        instances: Any = None,
        map_name: str | None = None,
        parallel: bool = True,
        max_workers: int = 8,
        progress: Progress | None = None,
        raise_on_error: bool = True,
        lock_timeout: float | None = LOCK_TIMEOUT,
        **options: Any,
    ) -> ApplyResult:
        """``apply(plan(action, ...))``, both under the host's apply lock (so the plan cannot
        be outdated by a concurrent apply from this host)."""
        if options.get("force_update"):
            options["force_update"] = self._force_ids(options["force_update"], map_name)
        desired = self.desired(action, selection, instances, map_name)
        with self._locked(lock_timeout):
            plan = self._plan(action, desired, options)
            return self._apply(plan, parallel, max_workers, progress, raise_on_error)

    def create(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("create", selection, **kwargs)

    def start(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("start", selection, **kwargs)

    def restart(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("restart", selection, **kwargs)

    def stop(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("stop", selection, **kwargs)

    def remove(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("remove", selection, **kwargs)

    def startup(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("startup", selection, **kwargs)

    def shutdown(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("shutdown", selection, **kwargs)

    def update(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("update", selection, **kwargs)

    def kill(self, selection: Any = "__all__", signal: str | int | None = None, **kwargs: Any) -> ApplyResult:
        return self.run("kill", selection, signal=signal, **kwargs)

    signal = kill

    def pull_images(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("pull_images", selection, **kwargs)

    def exec_commands(self, selection: Any = "__all__", **kwargs: Any) -> ApplyResult:
        return self.run("exec_commands", selection, **kwargs)

    # -- script / single command ---------------------------------------------------------

    def _one(self, selection: Any, instance: str | None, map_name: str | None) -> MapConfigId:
        ids = self.graph.select(selection, instances=instance, map_name=map_name)
        if len(ids) != 1:
            names = ", ".join(str(i) for i in ids) or "nothing"
            raise ConfigurationError(f"select exactly one container instance (selection gives {names})")
        return ids[0]

    def script(
        self,
        selection: Any,
        script: Any = None,
        instance: str | None = None,
        map_name: str | None = None,
        *,
        entrypoint: Any = None,
        command_format: Any = None,
        wait_timeout: float | None = None,
        remove_existing_before: bool = False,
        remove_created_after: bool = True,
        name: str | None = None,
        client: str | None = None,
        parallel: bool = True,
    ) -> dict[str, Any]:
        """Run ``script`` in a fresh container of one configuration (docker-map ``script``).

        Its dependencies (containers, networks, volumes, images) are brought up first with
        ``startup``; the script container gets the configuration's create arguments with
        entrypoint/command replaced (see :func:`containermap.script.run_script`), is named
        like the configuration's container (``name`` overrides; an existing one is an error
        unless ``remove_existing_before``) and is removed afterwards unless
        ``remove_created_after`` is False. Returns run_script's dict (``exit_code``, ``logs``,
        ...) plus ``changes`` of the dependency startup.
        """
        from .script import run_script

        cid = self._one(selection, instance, map_name)
        plan = self.plan("startup", [cid])
        plan.steps = [s for s in plan.steps if s.target != cid]
        changes = self.apply(plan, parallel=parallel).changes if plan else {}
        d = next(d for d in self.desired("startup", [cid]) if client in (None, d.client))
        spec = d.containers[cid]
        api = self.api(d.client)
        create, host, endpoint = spec.create_args(self.extra_labels)
        create.pop("detach", None)
        create["host_config"] = api.create_host_config(**host)
        if endpoint:
            ((net, ep),) = endpoint.items()
            create["networking_config"] = api.create_networking_config(
                {net: api.create_endpoint_config(**endpoint_kwargs(ep))}
            )
        result = run_script(
            api,
            image=spec.image,
            script=script,
            name=name or spec.name,
            create_kwargs=create,
            labels=self.extra_labels,
            entrypoint=entrypoint,
            command_format=command_format,
            # the client's ``wait_timeout`` unless the call gives one
            wait_timeout=wait_timeout if wait_timeout is not None else spec.wait_timeout,
            remove_after=remove_created_after,
            remove_existing=remove_existing_before,
            target=str(cid),
        )
        result["changes"] = changes
        return result

    def single_cmd(
        self,
        selection: Any,
        command: Any,
        instance: str | None = None,
        map_name: str | None = None,
        user: Any = None,
        timeout: float | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Run one command in the RUNNING container of one configuration instance and wait
        for it: ``{'exit_code', 'output', ...}`` (see :func:`containermap.execs.single_cmd`)."""
        from .execs import exec_user, single_cmd

        cid = self._one(selection, instance, map_name)
        d = next(d for d in self.desired("start", [cid]) if client in (None, d.client))
        spec = d.containers[cid]
        return single_cmd(
            self.api(d.client),
            spec.name,
            command,
            user=exec_user(user, spec.fields.get("user")),
            timeout=timeout,
            target=str(cid),
        )
