"""Normalised element types of the map schema.

Every shorthand input form of docker-map (strings, tuples, lists, dicts, see
docs/architecture.md and the reference section 1.4) is normalised into one of these immutable,
hashable named tuples. Named tuples keep docker-map compatibility: code that treated them as
tuples still works, and ``as_dict()`` turns them into dicts with the field names.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class NotSetType:
    """Sentinel for "not configured" (distinct from None/False)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NotSet"

    def __reduce__(self):
        return (NotSetType, ())


NotSet: Any = NotSetType()


class SharedVolume(NamedTuple):
    """A volume referenced by alias: bind alias (path from ``volumes``, host path from ``host``),
    attached volume alias, or a used attached volume / used container (``uses``)."""

    name: str
    readonly: bool = False


class HostVolume(NamedTuple):
    """A direct host bind: container ``path`` <- ``host_path`` (string, or per-instance dict)."""

    path: str
    host_path: Any
    readonly: bool = False


class UsedVolume(NamedTuple):
    """An attached volume with an explicit path (``attaches``/``uses`` path override)."""

    name: str
    path: str
    readonly: bool = False


class ContainerLink(NamedTuple):
    """``container`` is ``config`` or ``config.instance`` (same map); ``alias`` None = default
    alias (hostname form of the reference)."""

    container: str
    alias: str | None = None


class PortBinding(NamedTuple):
    """Exposed container port (int or ``'53/udp'``), optional host port, virtual interface name
    (resolved against the client's ``interfaces``/``interfaces_ipv6``) and IPv6 flag."""

    exposed_port: int | str
    host_port: int | str | None = None
    interface: str | None = None
    ipv6: bool = False


class NetworkEndpoint(NamedTuple):
    network_name: str
    aliases: tuple[str, ...] = ()
    links: tuple[ContainerLink, ...] = ()
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: tuple[str, ...] = ()


class ContainerRef(NamedTuple):
    """Reference to a managed container of the same map (``network_mode: app`` / ``app.i1``)."""

    config: str
    instance: str | None = None


class ExecCommand(NamedTuple):
    """``cmd`` is a string or a tuple (argv); ``policy`` is ``restart`` (run after every start)
    or ``initial`` (only after the first start)."""

    cmd: str | tuple[str, ...]
    user: str | None = None
    policy: str = "restart"


class HealthCheck(NamedTuple):
    """Durations in nanoseconds. ``test`` None disables the image's healthcheck (``NONE``)."""

    test: tuple[str, ...] | None = None
    interval: int | None = None
    timeout: int | None = None
    retries: int | None = None
    start_period: int | None = None


class MapConfigId(NamedTuple):
    """Identity of one item the engine acts on.

    ``config_type`` in ``container``, ``volume``, ``network``, ``image``. For volumes
    ``config_name`` is the owning config and ``instance_name`` the alias; for networks
    ``config_name`` is the network name; for images ``config_name`` is the expanded repository
    and ``instance_name`` the tag.
    """

    config_type: str
    map_name: str
    config_name: str
    instance_name: str | None = None

    def __str__(self) -> str:
        parts = [self.map_name, self.config_name]
        if self.instance_name is not None:
            parts.append(self.instance_name)
        return ".".join(parts)

    @property
    def key(self) -> str:
        """Key used in Salt-style change dicts: ``container:map.config[.instance]``."""
        return f"{self.config_type}:{self}"
