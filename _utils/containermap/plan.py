"""Pure planning: desired specs + observed state + action + options -> :class:`Plan`.

Nothing here talks to Docker. :func:`make_plan` compares the specs built by :mod:`spec` with the
lists read by :mod:`observe` and returns ordered steps with human-readable reasons. Step levels:

* forward actions (create, start, startup, update, pull_images, ...): level 0 image pulls (all
  missing images before any existing container is touched), level 1 networks, volumes and
  leftovers of interrupted runs, levels 2.. the container dependency levels;
* reverse actions (stop, remove, shutdown): container levels from the furthest dependent to
  the requested containers, then volumes and networks.

Steps of one level are independent of each other; ``params['after']`` lists the steps
(``client|key``) a step must not run without (apply skips it when one of them failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import labels
from .config.elements import MapConfigId
from .config.naming import split_image
from .config.secret import contains_secret, is_secret_name
from .exceptions import ConfigurationError
from .observe import (
    TEMPORARY_MIN_AGE,
    TEMPORARY_RUNNING_MIN_AGE,
    ObservedContainer,
    ObservedState,
    temporary_left_over,
)
from .spec import UPDATABLE_KEYS, ContainerSpec, NetworkSpec, VolumeSpec

FORWARD_ACTIONS = ("create", "start", "startup", "update", "pull_images", "exec_commands")
REVERSE_ACTIONS = ("stop", "remove", "shutdown")
SINGLE_ACTIONS = ("restart", "kill", "signal")
ACTIONS = FORWARD_ACTIONS + REVERSE_ACTIONS + SINGLE_ACTIONS

# temporary name of the old container during a safe recreate: <name>-dfold-<id prefix>
LEFTOVER_MARK = "-dfold-"

OPTION_DEFAULTS: dict[str, Any] = {
    "force_update": (),
    "update_persistent": False,
    "skip_limit_reset": False,
    "pull_all_images": False,
    "pull_before_update": False,
    "remove_persistent": True,
    "remove_attached": False,
    "remove_networks": False,
    "restart_exec_commands": False,
    "replace_unmanaged": False,
    "replace_changed_volumes": False,
    "signal": None,
    "stop_timeout": None,
    # temporary containers left by interrupted runs (observe.temporary_left_over): ages in
    # seconds, and labels they must carry (MapClient passes its extra_labels)
    "temporary_min_age": TEMPORARY_MIN_AGE,
    "temporary_running_min_age": TEMPORARY_RUNNING_MIN_AGE,
    "temporary_labels": None,
}


def operations(count: int) -> str:
    """``1 operation`` / ``3 operations`` for summaries."""
    return f"{count} operation" if count == 1 else f"{count} operations"


@dataclass
class Step:
    """One thing to do: ``kind`` on ``target`` at ``client``, for ``reason``."""

    target: MapConfigId
    client: str
    kind: str
    reason: str
    level: int
    params: dict = field(default_factory=dict)
    # key of the Salt changes dict, the same in test mode and after apply: ``volume:`` and
    # ``network:`` use the Docker object name, ``image:`` the image reference (else ``key``)
    change_key: str = ""

    @property
    def key(self) -> str:
        return self.target.key

    @property
    def ref(self) -> str:
        """Unique reference of the target on its client (``client|container:map.cfg``)."""
        return f"{self.client}|{self.key}"

    def as_dict(self) -> dict:
        # ``target`` is the change key (what Salt's changes use, test mode or not); ``id``
        # the configuration's key (``volume:map.config.alias``)
        return {
            "target": self.change_key or self.key,
            "id": self.key,
            "change_key": self.change_key or self.key,
            "client": self.client,
            "kind": self.kind,
            "reason": self.reason,
            "level": self.level,
            "params": self.params,
        }

    def __str__(self) -> str:
        client = "" if self.client == "__default__" else f"[{self.client}] "
        return f"{client}{self.kind} {self.key}: {self.reason}"


@dataclass
class Desired:
    """The desired state of one client: specs by id and the container dependency levels."""

    client: str
    containers: dict[MapConfigId, ContainerSpec] = field(default_factory=dict)
    volumes: dict[MapConfigId, VolumeSpec] = field(default_factory=dict)
    networks: dict[MapConfigId, NetworkSpec] = field(default_factory=dict)
    levels: list[list[MapConfigId]] = field(default_factory=list)  # containers, dependencies first
    selected: list[MapConfigId] = field(default_factory=list)  # the requested containers
    map_names: tuple[str, ...] = ()
    # further ordering-only container dependencies (graph edges such as ``requires``)
    requires: dict[MapConfigId, list[MapConfigId]] = field(default_factory=dict)


@dataclass
class Plan:
    """Ordered steps plus what the planner could not act on (``warnings``)."""

    action: str
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    # (client, container name) the planner needs inspected to decide (in-place update checks)
    needs_inspect: list[tuple[str, str]] = field(default_factory=list)
    # specs by (client, target key), used by apply (not serialised)
    specs: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    # (client, container id) -> update hash whose in-place settings an inspect found applied
    # (MapClient records them so later plans need no inspect for these containers)
    verified_updates: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @property
    def comment(self) -> str:
        """Test-mode summary: ``2 operations would be applied: ...`` (or nothing to do)."""
        steps = self.actionable
        if not steps:
            return "There are no changes to apply."
        return f"{operations(len(steps))} would be applied: " + "; ".join(
            f"{s.kind} {s.change_key or s.key} ({s.reason})" for s in steps
        )

    def as_list(self) -> list[dict]:
        """JSON-serialisable steps (for Salt's test mode)."""
        return [s.as_dict() for s in self.steps]

    @property
    def actionable(self) -> list[Step]:
        return [s for s in self.steps if s.kind != "warning"]

    def levels(self) -> list[list[Step]]:
        by_level: dict[int, list[Step]] = {}
        for step in self.actionable:
            by_level.setdefault(step.level, []).append(step)
        return [by_level[k] for k in sorted(by_level)]

    def __bool__(self) -> bool:
        return bool(self.actionable)

    def __str__(self) -> str:
        lines = [str(s) for s in self.steps] or ["nothing to do"]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# explaining differences


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _short_id(image_id: str | None) -> str:
    if not image_id:
        return "none"
    return image_id[:19] + ".." if len(image_id) > 19 else image_id


def explain_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Field-by-field reasons between two canonical recreate forms (``spec.public_fields``).
    Secret values (digests, ``!secret``, secret-looking environment names) are never shown:
    ``environment DB_PASSWORD changed (value hidden)``."""
    reasons = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("environment", "labels", "create_options", "host_config") and (
            isinstance(before, dict | type(None)) and isinstance(after, dict | type(None))
        ):
            before, after = before or {}, after or {}
            name = "environment" if key == "environment" else key
            for item in sorted(set(before) | set(after)):
                if item not in after:
                    reasons.append(f"{name} {item} removed")
                elif item not in before:
                    reasons.append(f"{name} {item} added")
                elif before[item] != after[item]:
                    if (key == "environment" and is_secret_name(item)) or contains_secret(
                        [before[item], after[item]]
                    ):
                        reasons.append(f"{name} {item} changed (value hidden)")
                    else:
                        reasons.append(
                            f"{name} {item} changed ({_short(before[item])} -> {_short(after[item])})"
                        )
            continue
        if contains_secret([before, after]):
            reasons.append(f"{key} changed (value hidden)")
            continue
        if isinstance(before, list) and isinstance(after, list) and key not in ("command", "entrypoint"):
            removed = [x for x in before if x not in after]
            added = [x for x in after if x not in before]
            parts = []
            if removed:
                parts.append("removed " + ", ".join(_short(_item_text(x)) for x in removed))
            if added:
                parts.append("added " + ", ".join(_short(_item_text(x)) for x in added))
            reasons.append(f"{key} changed ({'; '.join(parts) or 'order'})")
            continue
        if before is None:
            reasons.append(f"{key} set to {_short(after)}")
        elif after is None:
            reasons.append(f"{key} unset (was {_short(before)})")
        else:
            reasons.append(f"{key} changed ({_short(before)} -> {_short(after)})")
    return reasons


def _item_text(item: Any) -> str:
    if isinstance(item, list):
        return ":".join(str(x) for x in item if x != "")
    return str(item)


# host-config field of ``docker inspect`` per container_update keyword
_INSPECT_KEYS = {
    "blkio_weight": "BlkioWeight",
    "cpu_period": "CpuPeriod",
    "cpu_quota": "CpuQuota",
    "cpu_shares": "CpuShares",
    "cpuset_cpus": "CpusetCpus",
    "cpuset_mems": "CpusetMems",
    "mem_limit": "Memory",
    "mem_reservation": "MemoryReservation",
    "memswap_limit": "MemorySwap",
    "kernel_memory": "KernelMemory",
    "restart_policy": "RestartPolicy",
}


def _bytes(value: Any) -> Any:
    if isinstance(value, str) and value and value[-1].lower() in "bkmg":
        from docker.utils import parse_bytes

        return parse_bytes(value)
    return value


def update_diff(desired: Mapping[str, Any], inspect: Mapping[str, Any]) -> tuple[dict, list[str], list[str]]:
    """Compare in-place values with an inspect result.

    Returns ``(container_update kwargs, reasons, limits that would have to be removed)``.
    """
    host = inspect.get("HostConfig") or {}
    kwargs, reasons, removed = {}, [], []
    for key in UPDATABLE_KEYS:
        actual = host.get(_INSPECT_KEYS[key])
        if key not in desired:
            if key == "restart_policy":
                if actual and actual.get("Name") not in ("", "no", None):
                    kwargs[key] = {"Name": "no", "MaximumRetryCount": 0}
                    reasons.append(f"restart_policy reset (was {actual.get('Name')})")
                continue
            if key == "memswap_limit" and "mem_limit" in desired:
                continue
            if actual not in (None, 0, "", -1) and not (
                key == "memswap_limit" and "mem_limit" not in desired
            ):
                removed.append(key)
            continue
        want = desired[key]
        if key == "restart_policy":
            want_cmp = {"Name": want.get("Name", "no"), "MaximumRetryCount": want.get("MaximumRetryCount", 0)}
            if (actual or {}) != want_cmp:
                kwargs[key] = want_cmp
                was = (actual or {}).get("Name") or "no"
                reasons.append(f"restart_policy changed ({was} -> {want_cmp['Name']})")
            continue
        if _bytes(want) != actual:
            kwargs[key] = want
            reasons.append(f"{key} changed ({actual} -> {want})")
    if "mem_limit" in kwargs and "memswap_limit" not in desired:
        # Docker refuses a memory limit above the current swap limit; its own default is 2x
        kwargs["memswap_limit"] = 2 * _bytes(kwargs["mem_limit"])
    return kwargs, reasons, removed


# ---------------------------------------------------------------------------------------------
# the planner


class _Planner:
    def __init__(
        self,
        action: str,
        desired: Sequence[Desired],
        observed: Mapping[str, ObservedState],
        options: Mapping[str, Any],
        inspected: Mapping[tuple[str, str], dict],
        applied_updates: Mapping[str, str] | None = None,
    ):
        self.applied_updates = applied_updates or {}
        self.action = action
        self.desired = desired
        self.observed = observed
        self.options = {**OPTION_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        self.inspected = inspected
        self.plan = Plan(action, options=dict(options))
        self.force = _id_set(self.options.get("force_update") or ())

    def add(
        self, target: MapConfigId, client: str, kind: str, reason: str, level: int, **params: Any
    ) -> Step:
        params = {k: v for k, v in params.items() if v is not None}
        if "after" in params:  # a container both linked and volume-used is one dependency
            params["after"] = list(dict.fromkeys(params["after"]))
        step = Step(target, client, kind, reason, level, params, self._change_key(target, client, params))
        self.plan.steps.append(step)
        return step

    def _change_key(self, target: MapConfigId, client: str, params: Mapping[str, Any]) -> str:
        """``volume:<Docker volume name>``, ``network:<Docker network name>``,
        ``image:<repo:tag>``; other targets use their key (:attr:`Step.change_key`)."""
        if target.config_type == "image" and params.get("image"):
            return f"image:{params['image']}"
        if target.config_type in ("volume", "network"):
            spec = self.plan.specs.get((client, target.key))
            if spec is not None:
                return f"{target.config_type}:{spec.name}"
        return target.key

    def warn(self, target: MapConfigId, client: str, message: str) -> None:
        self.plan.warnings.append(f"{target.key}: {message}")
        self.add(target, client, "warning", message, -1)

    def run(self) -> Plan:
        if self.action not in ACTIONS:
            raise ConfigurationError(f"unknown action '{self.action}' (one of {', '.join(ACTIONS)})")
        for d in self.desired:
            obs = self.observed[d.client]
            for spec in d.containers.values():
                self.plan.specs[(d.client, spec.key)] = spec
            for spec in list(d.volumes.values()) + list(d.networks.values()):
                self.plan.specs[(d.client, spec.id.key)] = spec
            if self.action in REVERSE_ACTIONS:
                self._reverse(d, obs)
            elif self.action in SINGLE_ACTIONS:
                self._single(d, obs)
            else:
                self._forward(d, obs)
        self.plan.steps.sort(key=lambda s: (s.level, s.client, s.key))
        return self.plan

    # -- forward ------------------------------------------------------------------------

    def _forward(self, d: Desired, obs: ObservedState) -> None:
        action = self.action
        creates = action in ("create", "startup", "update")
        pulls: dict[str, Step] = {}
        image_step: dict[MapConfigId, str] = {}
        if action in ("create", "startup", "update", "pull_images"):
            for cid in _flatten(d.levels):
                spec = d.containers[cid]
                if spec.image in pulls:
                    image_step[cid] = pulls[spec.image].ref
                    continue
                current = obs.image_id(spec.image)
                want = current is None or (action == "pull_images" and self.options["pull_all_images"])
                want = want or (action == "update" and self.options["pull_before_update"])
                if want:
                    img_id = _image_id(spec)
                    reason = "missing" if current is None else "pull requested"
                    step = self.add(
                        img_id, d.client, "pull", f"image {spec.image} {reason}", 0, image=spec.image
                    )
                    pulls[spec.image] = step
                    image_step[cid] = step.ref
        if action == "pull_images":
            return

        # networks and volumes (level 1)
        volume_users: dict[str, str] = {}  # container name -> replaced volume it is removed with
        if creates:
            for nid, net in d.networks.items():
                found = obs.networks.get(net.name)
                if found is None:
                    self.add(nid, d.client, "create_network", f"network {net.name} missing", 1)
                elif found.labels.get(labels.HASH) not in (None, net.hash):
                    self.warn(
                        nid,
                        d.client,
                        f"network {net.name} exists with a different driver/options; not re-created "
                        "(remove it with shutdown remove_networks=True to apply the change)",
                    )
            for vid, vol in d.volumes.items():
                found = obs.volumes.get(vol.name)
                if found is None:
                    self.add(vid, d.client, "create_volume", f"volume {vol.name} missing", 1)
                elif found.labels.get(labels.HASH) not in (None, vol.hash):
                    users = [c for c in obs.containers.values() if vol.name in c.volumes]
                    foreign = sorted(c.name for c in users if not c.managed)
                    if self.options["replace_changed_volumes"] and foreign:
                        self.warn(
                            vid,
                            d.client,
                            f"volume {vol.name} changed but also used by {', '.join(foreign)}; kept",
                        )
                    elif self.options["replace_changed_volumes"]:
                        # its users are removed with it and created again afterwards
                        names = sorted(c.name for c in users)
                        for name in names:
                            volume_users[name] = vol.name
                        self.add(
                            vid,
                            d.client,
                            "replace_volume",
                            f"volume {vol.name} driver/options changed (replace_changed_volumes)",
                            1,
                            remove_containers=names,
                        )
                    else:
                        self.warn(
                            vid,
                            d.client,
                            f"volume {vol.name} exists with a different driver/options; kept (data!); "
                            "use replace_changed_volumes=True to replace it",
                        )

        # leftovers of an interrupted recreate: restore when the real one is gone, else remove
        present = dict(obs.containers)
        by_ref = {(s.id.map_name, s.id.config_name, s.id.instance_name): s for s in d.containers.values()}
        for c in obs.containers.values():
            if LEFTOVER_MARK not in c.name or c.map_ref not in by_ref:
                continue
            spec = by_ref[c.map_ref]
            if spec.name not in present and action in ("startup", "update"):
                self.add(
                    spec.id,
                    d.client,
                    "restore",
                    f"left as {c.name} by an interrupted run",
                    1,
                    old=c.name,
                    **_replaced(c),
                )
                present[spec.name] = ObservedContainer(**{**c.__dict__, "name": spec.name})
            else:
                self.add(
                    spec.id,
                    d.client,
                    "remove_leftover",
                    f"{c.name} left by an interrupted run",
                    1,
                    name=c.name,
                )

        if creates:
            self._temporaries(d, obs, present)

        # containers level by level
        recreated: set[MapConfigId] = set()
        names = {s.name: cid for cid, s in d.containers.items()}
        for index, level in enumerate(d.levels):
            for cid in level:
                spec = d.containers[cid]
                after = self._after(d, spec, image_step)
                current = present.get(spec.name)
                if spec.name in volume_users:
                    reason = f"removed with volume {volume_users[spec.name]} (replaced)"
                    self.add(
                        spec.id,
                        d.client,
                        "create",
                        reason,
                        2 + index,
                        start=True,
                        after=after,
                        execs=spec.exec_commands,
                    )
                    recreated.add(spec.id)
                    continue
                self._forward_container(d, obs, spec, current, 2 + index, after, recreated, names)

    def _temporaries(self, d: Desired, obs: ObservedState, present: dict[str, ObservedContainer]) -> None:
        """Remove temporary containers (volume helpers, script runs) left by interrupted runs.

        Only those old enough not to belong to a run in progress (the rule of
        :func:`~containermap.observe.temporary_left_over`) and carrying ``temporary_labels``.
        One that holds the name of a map container is treated as absent (it is removed first:
        level 1 runs before the containers).
        """
        own = self.options["temporary_labels"] or {}
        for c in sorted(obs.containers.values(), key=lambda c: c.name):
            if not c.temporary or any(c.labels.get(k) != v for k, v in own.items()):
                continue
            age = obs.observed_at - c.created
            if not temporary_left_over(
                c.state, age, self.options["temporary_min_age"], self.options["temporary_running_min_age"]
            ):
                continue
            kind = c.labels.get(labels.TEMPORARY) or "helper"
            self.add(
                MapConfigId("temporary", c.name, c.id[:12]),
                d.client,
                "remove_temporary",
                f"temporary container {c.name} ({kind}, {c.state}) left by an interrupted run",
                1,
                name=c.id,
            )
            present.pop(c.name, None)

    def _after(self, d: Desired, spec: ContainerSpec, image_step: Mapping[MapConfigId, str]) -> list[str]:
        deps = list(spec.depends) + [r for r in d.requires.get(spec.id, ()) if r not in spec.depends]
        refs = [f"{d.client}|{dep.key}" for dep in deps if dep.config_type != "image"]
        if spec.id in image_step:
            refs.append(image_step[spec.id])
        return refs

    def _forward_container(
        self,
        d: Desired,
        obs: ObservedState,
        spec: ContainerSpec,
        current: ObservedContainer | None,
        level: int,
        after: list[str],
        recreated: set[MapConfigId],
        names: Mapping[str, MapConfigId],
    ) -> None:
        action = self.action
        client = d.client
        execs = spec.exec_commands
        if current is not None and current.temporary:
            self.warn(
                spec.id,
                client,
                f"temporary container {spec.name} ({current.labels.get(labels.TEMPORARY)}) of a run in "
                "progress holds the name; left alone (removed by a later run once it is left over)",
            )
            return
        if current is not None and not current.managed:
            if action in ("create", "startup", "update") and self.options["replace_unmanaged"]:
                self.add(
                    spec.id,
                    client,
                    "recreate",
                    f"container {spec.name} exists but is not managed by the map (replace_unmanaged)",
                    level,
                    **_replaced(current),
                    after=after,
                    execs=execs,
                    unmanaged=True,
                )
                recreated.add(spec.id)
            else:
                self.warn(
                    spec.id,
                    client,
                    f"container {spec.name} exists but was not created by this map; left alone "
                    "(replace_unmanaged=True replaces it)",
                )
            return
        if current is None:
            if action in ("create", "startup", "update"):
                self.add(
                    spec.id,
                    client,
                    "create",
                    "absent",
                    level,
                    start=action != "create",
                    after=after,
                    execs=execs if action != "create" else None,
                )
                recreated.add(spec.id)
            return

        if action == "exec_commands":
            if current.running and execs:
                self.add(spec.id, client, "exec", "exec commands requested", level, after=after, execs=execs)
            return

        reasons: list[str] = []
        if action == "update":
            reasons = self._recreate_reasons(obs, spec, current, recreated, names)
        if action in ("startup", "update"):
            reasons.extend(_stuck_reasons(spec, current))
        if reasons:
            image_only = all(r.startswith("image ") and "pulled" in r for r in reasons)
            self.add(
                spec.id,
                client,
                "recreate",
                "; ".join(reasons),
                level,
                **_replaced(current),
                start=True,
                after=after,
                execs=execs,
                if_image_changed=True if image_only else None,
            )
            if not image_only:
                recreated.add(spec.id)
            return

        if not current.running:
            if action == "start" or action == "startup" or (action == "update" and not spec.persistent):
                why = "created, never started" if current.state == "created" else f"stopped ({current.state})"
                first = True if current.state == "created" else None  # initial commands run too
                self.add(spec.id, client, "start", why, level, after=after, execs=execs, first_start=first)
            return

        if action == "update":
            self._in_place(d, obs, spec, current, level, after)

    def _recreate_reasons(
        self,
        obs: ObservedState,
        spec: ContainerSpec,
        current: ObservedContainer,
        recreated: set[MapConfigId],
        names: Mapping[str, MapConfigId],
    ) -> list[str]:
        reasons = []
        if spec.id in self.force or (spec.id.map_name, spec.id.config_name, None) in self.force:
            reasons.append("forced update")
        if current.hash != spec.hash:
            stored = current.stored_spec().get("fields")
            if stored is None:
                reasons.append("configuration changed (no stored spec to compare)")
            else:
                reasons.extend(explain_fields(stored, spec.public_fields) or ["configuration changed"])
        if not spec.persistent or self.options["update_persistent"]:
            image_id = obs.image_id(spec.image)
            if image_id is None:
                reasons.append(
                    f"image {spec.image} pulled; re-created if it differs from {_short_id(current.image_id)}"
                )
            elif image_id != current.image_id:
                reasons.append(
                    f"image {spec.image} changed ({_short_id(current.image_id)} -> {_short_id(image_id)})"
                )
        for dep_name, why in _follows(spec):
            dep = names.get(dep_name)
            if dep is not None and dep in recreated:
                reasons.append(f"{dep_name} is re-created ({why})")
        return reasons

    def _in_place(
        self,
        d: Desired,
        obs: ObservedState,
        spec: ContainerSpec,
        current: ObservedContainer,
        level: int,
        after: list[str],
    ) -> None:
        client = d.client
        # network membership from the list (no inspect)
        if not spec.fields.get("network_mode"):
            connect, disconnect, reasons = [], [], []
            for net in spec.networks:
                observed_net = obs.networks.get(net)
                if net not in current.networks:
                    connect.append(net)
                    reasons.append(f"network {net} not connected")
                elif observed_net is not None and current.networks[net] not in ("", observed_net.id):
                    disconnect.append(net)
                    connect.append(net)
                    reasons.append(f"network {net} was re-created")
            if spec.networks:
                for net in current.networks:
                    if net not in spec.networks:
                        disconnect.append(net)
                        reasons.append(f"network {net} not configured")
            if connect or disconnect:
                self.add(
                    spec.id,
                    client,
                    "connect",
                    "; ".join(reasons),
                    level,
                    connect=connect,
                    disconnect=disconnect,
                    after=after,
                )
        if spec.update_hash in (current.update_hash, self.applied_updates.get(current.id)):
            return  # as created, or as last updated in place / verified by an inspect
        inspect = self.inspected.get((client, spec.name))
        if inspect is None:
            self.plan.needs_inspect.append((client, spec.name))
            return
        kwargs, reasons, removed = update_diff(spec.update, inspect)
        if removed and not self.options["skip_limit_reset"]:
            # a limit cannot be removed in place: the container must be re-created
            self.add(
                spec.id,
                client,
                "recreate",
                "limit " + ", ".join(removed) + " removed (cannot be reset in place)",
                level,
                **_replaced(current),
                start=True,
                after=after,
                execs=spec.exec_commands,
            )
            return
        # in-place steps carry the update hash they establish, so it is recorded when they succeed
        applied = {"container_id": current.id, "update_hash": spec.update_hash}
        if kwargs:
            self.add(
                spec.id, client, "update", "; ".join(reasons), level, update=kwargs, after=after, **applied
            )
        # endpoint details (aliases, addresses, links) of connected networks
        nets = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
        reconnect = []
        for net in spec.networks:
            endpoint = spec.endpoint(net)
            actual = nets.get(net)
            if actual is None:
                continue
            aliases = set(actual.get("Aliases") or ())
            ipam = actual.get("IPAMConfig") or {}
            if (
                not set(endpoint.get("aliases", ())) <= aliases
                or endpoint.get("ipv4_address", "") != (ipam.get("IPv4Address") or "")
                or endpoint.get("ipv6_address", "") != (ipam.get("IPv6Address") or "")
                or sorted(endpoint.get("links", ())) != sorted(actual.get("Links") or ())
            ):
                reconnect.append(net)
        if reconnect:
            self.add(
                spec.id,
                client,
                "connect",
                "network endpoint changed on " + ", ".join(reconnect),
                level,
                connect=reconnect,
                disconnect=reconnect,
                after=after,
                **applied,
            )
        if not kwargs and not reconnect:
            self.plan.verified_updates[(client, current.id)] = spec.update_hash

    # -- reverse ------------------------------------------------------------------------

    def _reverse(self, d: Desired, obs: ObservedState) -> None:
        action = self.action
        levels = d.levels  # already dependents first
        dependents: dict[MapConfigId, list[str]] = {}
        for spec in d.containers.values():
            for dep in list(spec.depends) + list(d.requires.get(spec.id, ())):
                dependents.setdefault(dep, []).append(f"{d.client}|{spec.key}")
        index = 0
        for index, level in enumerate(levels):
            for cid in level:
                spec = d.containers[cid]
                current = obs.containers.get(spec.name)
                if current is None or not current.managed:
                    if current is not None:
                        self.warn(
                            spec.id,
                            d.client,
                            f"container {spec.name} was not created by this map; left alone",
                        )
                    continue
                after = dependents.get(cid, [])
                persistent_kept = spec.persistent and not self.options["remove_persistent"]
                if action == "stop":
                    if current.running:
                        self.add(
                            cid, d.client, "stop", "running", index, after=after, timeout=self._timeout(spec)
                        )
                elif action == "remove":
                    if current.running:
                        self.warn(cid, d.client, "running; not removed (stop it first or use shutdown)")
                    elif persistent_kept:
                        self.warn(cid, d.client, "persistent; kept (remove_persistent=False)")
                    else:
                        self.add(cid, d.client, "remove", f"{current.state}", index, after=after)
                elif action == "shutdown":
                    if persistent_kept:
                        if current.running:
                            self.add(
                                cid,
                                d.client,
                                "stop",
                                "running (persistent: kept)",
                                index,
                                after=after,
                                timeout=self._timeout(spec),
                            )
                        continue
                    self.add(
                        cid,
                        d.client,
                        "remove",
                        "running" if current.running else current.state,
                        index,
                        stop=current.running,
                        after=after,
                        timeout=self._timeout(spec),
                    )
        if action != "shutdown":
            return
        last = len(levels)
        removed_refs = {s.ref for s in self.plan.steps if s.client == d.client and s.kind == "remove"}
        users: dict[str, list[str]] = {}
        for spec in d.containers.values():
            for dep in spec.depends:
                users.setdefault(f"{d.client}|{dep.key}", []).append(f"{d.client}|{spec.key}")
        removed_names = {
            d.containers[s.target].name
            for s in self.plan.steps
            if s.client == d.client and s.kind == "remove"
        }
        others = [c for c in obs.containers.values() if c.name not in removed_names]
        if self.options["remove_attached"]:
            for vid, vol in d.volumes.items():
                if vol.name not in obs.volumes:
                    continue
                users_left = sorted(c.name for c in others if vol.name in c.volumes)
                if users_left:
                    self.warn(vid, d.client, f"volume {vol.name} kept: still used by {', '.join(users_left)}")
                    continue
                after = [r for r in users.get(f"{d.client}|{vid.key}", []) if r in removed_refs]
                self.add(vid, d.client, "remove_volume", "remove_attached", last, after=after)
        if self.options["remove_networks"]:
            for nid, net in d.networks.items():
                if net.name not in obs.networks:
                    continue
                users_left = sorted(c.name for c in others if net.name in c.networks)
                if users_left:
                    self.warn(
                        nid, d.client, f"network {net.name} kept: still used by {', '.join(users_left)}"
                    )
                    continue
                after = [r for r in users.get(f"{d.client}|{nid.key}", []) if r in removed_refs]
                self.add(nid, d.client, "remove_network", "remove_networks", last, after=after)

    def _timeout(self, spec: ContainerSpec) -> Any:
        return self.options["stop_timeout"] if self.options["stop_timeout"] is not None else spec.stop_timeout

    # -- single (restart, kill) ---------------------------------------------------------

    def _single(self, d: Desired, obs: ObservedState) -> None:
        for cid in d.selected:
            spec = d.containers[cid]
            current = obs.containers.get(spec.name)
            if current is None or not current.managed or not current.running:
                continue
            if self.action == "restart":
                execs = spec.exec_commands if self.options["restart_exec_commands"] else None
                self.add(
                    cid, d.client, "restart", "restart requested", 0, timeout=self._timeout(spec), execs=execs
                )
            else:
                sig = self.options["signal"] or "SIGKILL"
                self.add(cid, d.client, "kill", f"signal {sig} requested", 0, signal=sig)


def _replaced(current: ObservedContainer) -> dict[str, Any]:
    """Parameters of a ``recreate`` or ``restore`` step about the container it replaces or puts
    back, as observed (so the apply needs no inspect to know which container, its state and
    its networks)."""
    return {
        "old_state": current.base_state,
        "old_id": current.id,
        "old_image": current.image_id,
        "old_networks": sorted(current.networks),
    }


def _stuck_reasons(spec: ContainerSpec, current: ObservedContainer) -> list[str]:
    """Why a managed container cannot simply be started and must be re-created (issue 12):
    ``dead``, or ``created`` but missing a configured network (a create interrupted between
    the create and the network connects). A ``created`` container whose start fails with
    ``task ... already exists`` (engine crash) is only known at start: apply re-creates it."""
    if current.state == "dead":
        return ["container is dead"]
    if current.state == "created" and not spec.fields.get("network_mode"):
        missing = [net for net in spec.networks if net not in current.networks]
        if missing:
            return [f"created, never started, network {', '.join(missing)} not connected"]
    return []


def _flatten(levels: Iterable[Iterable[MapConfigId]]) -> list[MapConfigId]:
    return [cid for level in levels for cid in level]


def _image_id(spec: ContainerSpec) -> MapConfigId:
    name, tag = split_image(spec.image)
    return MapConfigId("image", spec.id.map_name, name, tag)


def _follows(spec: ContainerSpec) -> list[tuple[str, str]]:
    """Containers whose re-creation forces this one to be re-created too."""
    result = []
    for vf in spec.fields.get("volumes_from") or ():
        result.append((vf.split(":")[0], "volumes_from"))
    for target, _alias in spec.fields.get("links") or ():
        result.append((target, "link"))
    mode = spec.fields.get("network_mode") or ""
    if mode.startswith("container:"):
        result.append((mode[len("container:") :], "network_mode"))
    return result


def _id_set(values: Any) -> set:
    if isinstance(values, str | MapConfigId):
        values = [values]
    result = set()
    for value in values:
        if isinstance(value, MapConfigId):
            result.add(value)
            result.add((value.map_name, value.config_name, value.instance_name))
            continue
        parts = str(value).split(".")
        if len(parts) >= 2:
            result.add(MapConfigId("container", parts[0], parts[1], parts[2] if len(parts) > 2 else None))
            result.add((parts[0], parts[1], parts[2] if len(parts) > 2 else None))
    return result


def make_plan(
    action: str,
    desired: Sequence[Desired],
    observed: Mapping[str, ObservedState],
    options: Mapping[str, Any] | None = None,
    inspected: Mapping[tuple[str, str], dict] | None = None,
    applied_updates: Mapping[str, str] | None = None,
) -> Plan:
    """Plan ``action`` for every client in ``desired`` against ``observed`` (pure function).

    ``inspected`` holds inspect results for containers listed in a previous plan's
    ``needs_inspect`` (in-place update checks); without them those checks are left open.
    ``applied_updates`` (container id -> update hash) names containers whose in-place settings
    were last set (or verified) for that hash, so they need no inspect although the hash label,
    which cannot change after creation, still holds the creation-time hash.
    """
    return _Planner(action, desired, observed, options or {}, inspected or {}, applied_updates).run()
