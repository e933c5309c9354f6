"""Live state of one Docker engine in a fixed number of list requests.

:func:`observe` issues exactly four requests per client, whatever the number of containers:
``GET /containers/json?all=1`` (every container, so that name clashes with containers we do
not manage are seen), ``GET /images/json``, ``GET /networks`` and ``GET /volumes``. Labels,
image ids, states and network memberships come from those lists; a container is inspected only
when it has to be acted on and the lists cannot explain why (:func:`inspect_container`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from . import labels

# a temporary container (label ``org.dockerfabric.temporary``) younger than this may belong to
# a run still in progress on the same engine; a RUNNING one (a script) gets a day
TEMPORARY_MIN_AGE = 60.0
TEMPORARY_RUNNING_MIN_AGE = 86400.0


def temporary_left_over(
    state: str,
    age: float,
    min_age: float = TEMPORARY_MIN_AGE,
    running_min_age: float = TEMPORARY_RUNNING_MIN_AGE,
) -> bool:
    """True if a temporary container in ``state``, created ``age`` seconds ago, was left by
    an interrupted run (and may be removed) rather than belonging to a concurrent one.

    The one place of this rule: :func:`containermap.volumes.cleanup_temporary` and the
    planner (``remove_temporary`` steps) both use it.
    """
    limit = running_min_age if state == "running" else min_age
    return age >= limit


@dataclass
class ObservedContainer:
    """One container as reported by ``GET /containers/json``."""

    id: str
    name: str
    state: str  # created, running, paused, restarting, removing, exited, dead
    image_id: str
    labels: dict[str, str]
    networks: dict[str, str]  # network name -> network id
    status: str = ""
    volumes: tuple[str, ...] = ()  # names of the named volumes mounted
    created: float = 0.0  # creation time (epoch seconds) from the list

    @property
    def temporary(self) -> bool:
        """A helper or script container that exists only during one operation."""
        return labels.TEMPORARY in self.labels

    @property
    def managed(self) -> bool:
        return labels.MAP in self.labels

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")

    @property
    def base_state(self) -> str:
        """``running`` or ``present`` (the Salt change vocabulary)."""
        return "running" if self.running else "present"

    @property
    def hash(self) -> str | None:
        return self.labels.get(labels.HASH)

    @property
    def update_hash(self) -> str | None:
        return self.labels.get(labels.UPDATE_HASH)

    @property
    def map_ref(self) -> tuple[str, str, str | None] | None:
        """(map, config, instance) from our labels, None if not ours."""
        if not self.managed:
            return None
        return (
            self.labels[labels.MAP],
            self.labels.get(labels.CONFIG, ""),
            self.labels.get(labels.INSTANCE) or None,
        )

    def stored_spec(self) -> dict:
        """The canonical spec stored at creation (``{'fields': .., 'update': ..}``), or {}."""
        try:
            return json.loads(self.labels.get(labels.SPEC) or "{}")
        except ValueError:
            return {}


@dataclass
class ObservedNetwork:
    id: str
    name: str
    driver: str
    labels: dict[str, str]
    options: dict[str, str]
    internal: bool


@dataclass
class ObservedVolume:
    name: str
    driver: str
    labels: dict[str, str]
    options: dict[str, str]


@dataclass
class ObservedState:
    """What one client's engine holds right now."""

    client: str
    containers: dict[str, ObservedContainer] = field(default_factory=dict)  # by name
    images: dict[str, str] = field(default_factory=dict)  # repo:tag -> image id
    image_ids: set[str] = field(default_factory=set)
    networks: dict[str, ObservedNetwork] = field(default_factory=dict)  # by name
    volumes: dict[str, ObservedVolume] = field(default_factory=dict)  # by name
    observed_at: float = 0.0  # epoch seconds when the lists were read (ages of temporaries)

    def image_id(self, ref: str) -> str | None:
        """Id of an image reference (``repo:tag``; ``docker.io/`` forms tolerated)."""
        found = self.images.get(ref)
        if found is None and ref.startswith("docker.io/"):
            found = self.images.get(ref[len("docker.io/") :]) or self.images.get(
                ref[len("docker.io/library/") :]
            )
        if found is None and ref.startswith("sha256:") and ref in self.image_ids:
            found = ref
        return found

    def managed_containers(self, map_name: str | None = None) -> list[ObservedContainer]:
        return [
            c
            for c in self.containers.values()
            if c.managed and (map_name is None or c.labels.get(labels.MAP) == map_name)
        ]


def observe(api: Any, client_name: str = "__default__") -> ObservedState:
    """Read the live state of one engine with exactly four list requests."""
    state = ObservedState(client_name, observed_at=time.time())
    for item in api.containers(all=True):
        names = item.get("Names") or []
        name = names[0].lstrip("/") if names else item["Id"][:12]
        nets = ((item.get("NetworkSettings") or {}).get("Networks")) or {}
        state.containers[name] = ObservedContainer(
            id=item["Id"],
            name=name,
            state=item.get("State") or "",
            image_id=item.get("ImageID") or "",
            labels=item.get("Labels") or {},
            networks={n: (v or {}).get("NetworkID", "") for n, v in nets.items()},
            status=item.get("Status") or "",
            created=float(item.get("Created") or 0),
            volumes=tuple(
                m["Name"] for m in item.get("Mounts") or () if m.get("Type") == "volume" and m.get("Name")
            ),
        )
    for img in api.images(all=False):
        state.image_ids.add(img["Id"])
        for tag in img.get("RepoTags") or ():
            if tag != "<none>:<none>":
                state.images[tag] = img["Id"]
    for net in api.networks():
        state.networks[net["Name"]] = ObservedNetwork(
            id=net["Id"],
            name=net["Name"],
            driver=net.get("Driver") or "",
            labels=net.get("Labels") or {},
            options=net.get("Options") or {},
            internal=bool(net.get("Internal")),
        )
    for vol in (api.volumes() or {}).get("Volumes") or ():
        state.volumes[vol["Name"]] = ObservedVolume(
            name=vol["Name"],
            driver=vol.get("Driver") or "",
            labels=vol.get("Labels") or {},
            options=vol.get("Options") or {},
        )
    return state


def inspect_container(api: Any, name: str) -> dict | None:
    """Full inspect of one container (only for containers we act on); None if gone."""
    import docker.errors

    try:
        return api.inspect_container(name)
    except docker.errors.NotFound:
        return None
