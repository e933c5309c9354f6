"""Map configuration model (docker-map schema), YAML loading, validation and naming."""

from .client import ClientConfiguration
from .container import ContainerConfiguration
from .elements import (
    ContainerLink,
    ContainerRef,
    ExecCommand,
    HealthCheck,
    HostVolume,
    MapConfigId,
    NetworkEndpoint,
    NotSet,
    PortBinding,
    SharedVolume,
    UsedVolume,
)
from .lazy import Lazy, LazyOnce, Placeholder, register_resolver, resolve_deep, resolve_value
from .map import ALL_GROUP, MAP_KEYS, ContainerMap
from .naming import (
    container_name,
    default_link_alias,
    expand_image,
    hostname,
    network_name,
    split_image,
    volume_name,
)
from .network import NetworkConfiguration
from .normalize import normalize_environment
from .volume import HostVolumeConfiguration, VolumeConfiguration

__all__ = [
    "ALL_GROUP",
    "MAP_KEYS",
    "ClientConfiguration",
    "ContainerConfiguration",
    "ContainerLink",
    "ContainerMap",
    "ContainerRef",
    "ExecCommand",
    "HealthCheck",
    "HostVolume",
    "HostVolumeConfiguration",
    "Lazy",
    "LazyOnce",
    "MapConfigId",
    "NetworkConfiguration",
    "NetworkEndpoint",
    "NotSet",
    "Placeholder",
    "PortBinding",
    "SharedVolume",
    "UsedVolume",
    "VolumeConfiguration",
    "container_name",
    "default_link_alias",
    "expand_image",
    "hostname",
    "network_name",
    "normalize_environment",
    "register_resolver",
    "resolve_deep",
    "resolve_value",
    "split_image",
    "volume_name",
]
