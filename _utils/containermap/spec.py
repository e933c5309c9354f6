"""Desired state: fully resolved container, network and volume specifications.

A spec is what the engine wants an object to look like on one client, resolved down to plain
JSON data (lazy values resolved, image name expanded, environment as a dict, command and
entrypoint as argv lists, ports with the client's interface addresses, ...). The same data
produces the Docker API arguments and the hashes stored in labels, so "what we create" and
"what we compare" can never drift apart.

Two hashes per container:

* ``org.dockerfabric.hash`` covers everything that needs a re-create when it changes.
* ``org.dockerfabric.hash.update`` covers what can be changed in place (resource limits and
  restart policy via ``container_update``, network endpoints via disconnect/connect).

The image *id* is not hashed: the container list reports each container's ``ImageID``, which
is compared with the id of the configured tag from the image list (so a missing image can be
pulled first and ``persistent`` containers can ignore image changes). The canonical recreate
fields are also stored as compact JSON in ``org.dockerfabric.spec`` so that a changed hash is
explained field by field (``environment DB_HOST removed``) without inspecting the container.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docker.api.container import ContainerApiMixin
from docker.types import HostConfig

from . import labels
from .config.elements import (
    ContainerLink,
    ContainerRef,
    HostVolume,
    MapConfigId,
    NotSet,
    UsedVolume,
)
from .config.lazy import resolve_deep, resolve_value
from .config.naming import (
    DEFAULT_CLIENT,
    PRESET_NETWORKS,
    container_name,
    default_link_alias,
    hostname,
    network_name,
    split_image,
    volume_name,
)
from .config.secret import Secret, is_secret_name, redact, redact_environment, reveal, reveal_deep
from .exceptions import ConfigurationError, Problem

# host-config keys that ``container_update`` can change in place (docker SDK 7 signature)
UPDATABLE_KEYS = (
    "blkio_weight",
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "cpuset_cpus",
    "cpuset_mems",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "kernel_memory",
    "restart_policy",
)


def _host_config_only_keys() -> frozenset[str]:
    """Keys ``create_host_config`` accepts and ``create_container`` does not: under
    ``create_options`` they belong in the HostConfig (docker-map 1.10 precedence). Read from
    the docker SDK's signatures, so a new SDK keyword is routed without a list to keep."""
    host = set(inspect.signature(HostConfig.__init__).parameters) - {"self", "version"}
    create = set(inspect.signature(ContainerApiMixin.create_container).parameters)
    return frozenset(host - create)


# create_options keys that docker SDK 7 only accepts as host-config arguments
_HOST_CONFIG_IN_CREATE = _host_config_only_keys()
# create_options / host_config keys whose value replaces (never merges with) the generated one
_REPLACED_KEYS = ("command", "entrypoint")
# create_container keyword arguments the engine generates itself (never passed twice)
_GENERATED_CREATE = ("name", "image", "host_config", "networking_config", "labels", "detach")


# ---------------------------------------------------------------------------------------------
# small helpers over the configuration model (attribute or mapping access, NotSet aware)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a configuration object or mapping; NotSet/None -> ``default``."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        value = obj.get(key, NotSet)
    else:
        value = getattr(obj, key, NotSet)
    if value is NotSet or value is None:
        return default
    return value


def _set(value: Any) -> bool:
    return value is not NotSet and value is not None


def _dict_value(value: Any) -> dict:
    """``create_options`` / ``host_config`` may be a dict, a callable returning one, or lazy."""
    value = resolve_value(value)
    if callable(value):
        value = value()
    if not value:
        return {}
    value = resolve_deep(dict(value))
    return {k: v for k, v in value.items() if v is not None}


def canonical_json(value: Any) -> str:
    """Stable JSON text of plain data (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def hash_of(value: Any) -> str:
    """sha256 of the canonical JSON form (first 24 hex digits: plenty for change detection)."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:24]


def normalize_env(value: Any) -> dict[str, str]:
    """Environment in dict or ``KEY=VALUE`` list form -> ``{KEY: VALUE}`` (values as str).
    Secret values (``!secret``, or names such as ``DB_PASSWORD``) become :class:`Secret`."""
    value = resolve_deep(value)
    if not value:
        return {}
    if isinstance(value, Mapping):
        env = {str(k): "" if v is None else _env_str(v) for k, v in value.items()}
    else:
        env = {}
        for item in [value] if isinstance(value, str) else value:
            key, sep, val = reveal(item if isinstance(item, str) else str(item)).partition("=")
            env[key] = (Secret(val) if isinstance(item, Secret) else val) if sep else ""
    return {
        k: Secret(v) if v and is_secret_name(k) and not isinstance(v, Secret) else v for k, v in env.items()
    }


def _env_str(value: Any) -> str:
    if isinstance(value, Secret):  # stays marked as secret (str() would hide the value)
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize_command(value: Any) -> list[str] | None:
    """Command/entrypoint: a string is split like the docker SDK does (shlex), lists kept."""
    value = resolve_deep(value)
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _merge(generated: dict, extra: dict) -> dict:
    """Reference 1.10: lists extended without duplicates, dicts updated, scalars replaced,
    ``None`` ignored, ``command``/``entrypoint`` replaced."""
    result = dict(generated)
    for key, value in extra.items():
        if value is None:
            continue
        current = result.get(key)
        if key in _REPLACED_KEYS or current is None:
            result[key] = value
        elif isinstance(current, list) and isinstance(value, list | tuple):
            result[key] = current + [v for v in value if v not in current]
        elif isinstance(current, dict) and isinstance(value, Mapping):
            result[key] = {**current, **value}
        else:
            result[key] = value
    return result


def _jsonable(value: Any) -> Any:
    """Plain JSON data (tuples -> lists, named tuples -> lists, keys -> str)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# spec types


@dataclass
class NetworkSpec:
    """A map network on one client."""

    id: MapConfigId
    client: str
    name: str
    driver: str
    options: dict
    internal: bool
    create_options: dict
    hash: str

    def create_kwargs(self, extra_labels: Mapping[str, str] | None = None) -> dict:
        kwargs = dict(self.create_options)
        net_labels = dict(kwargs.pop("labels", None) or {})
        net_labels.update(extra_labels or {})
        net_labels.update(
            {labels.MAP: self.id.map_name, labels.CONFIG: self.id.config_name, labels.HASH: self.hash}
        )
        kwargs.update(name=self.name, driver=self.driver, labels=net_labels)
        if self.options:
            kwargs["options"] = self.options
        if self.internal:
            kwargs["internal"] = True
        return kwargs


@dataclass
class VolumeSpec:
    """A named (attached) volume on one client, with the owner/mode applied after creation."""

    id: MapConfigId
    client: str
    name: str
    driver: str
    driver_opts: dict
    create_options: dict
    user: str | None
    permissions: str | None
    helper_image: str | None
    hash: str

    def create_kwargs(self, extra_labels: Mapping[str, str] | None = None) -> dict:
        kwargs = dict(self.create_options)
        vol_labels = dict(kwargs.pop("labels", None) or {})
        vol_labels.update(extra_labels or {})
        vol_labels.update(
            {
                labels.MAP: self.id.map_name,
                labels.CONFIG: self.id.config_name,
                labels.INSTANCE: self.id.instance_name or "",
                labels.HASH: self.hash,
            }
        )
        kwargs.update(name=self.name, driver=self.driver, labels=vol_labels)
        if self.driver_opts:
            kwargs["driver_opts"] = self.driver_opts
        return kwargs


@dataclass
class ContainerSpec:
    """One container (one instance of a config) on one client, fully resolved.

    ``fields`` is the canonical recreate form (hashed into ``hash``), ``update`` the in-place
    part (``container_update`` kwargs), ``networks`` the endpoints (network name -> endpoint
    dict, first one used at create). ``depends`` lists the items this one needs (images,
    volumes, networks, containers) as ``MapConfigId``.
    """

    id: MapConfigId
    client: str
    name: str
    image: str
    fields: dict
    update: dict
    networks: dict[str, dict]
    exec_commands: list[dict]
    stop_timeout: int | float | None
    persistent: bool
    published_ports: bool
    depends: list[MapConfigId] = field(default_factory=list)
    hash: str = ""
    update_hash: str = ""
    # ``fields`` with secret values replaced by salted digests (:mod:`config.secret`): what is
    # hashed, stored in the spec label and compared by the planner
    public_fields: dict = field(default_factory=dict)
    # seconds to wait after starting it, before its dependents start (docker-map)
    start_delay: float | None = None
    # client ``wait_timeout``: with a ``stop_signal``, stopping sends the signal and waits this
    # long for the container to exit before ``docker stop``
    wait_timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.public_fields:
            self.public_fields = redact_fields(self.fields)

    @property
    def key(self) -> str:
        return self.id.key

    def labels(self, extra_labels: Mapping[str, str] | None = None) -> dict[str, str]:
        result = dict(self.fields.get("labels") or {})
        result.update(extra_labels or {})
        result.update(
            {
                labels.MAP: self.id.map_name,
                labels.CONFIG: self.id.config_name,
                labels.INSTANCE: self.id.instance_name or "",
                labels.HASH: self.hash,
                labels.UPDATE_HASH: self.update_hash,
                labels.SPEC: canonical_json({"fields": self.public_fields, "update": self.update}),
            }
        )
        return result

    def endpoint(self, net: str) -> dict:
        """Endpoint kwargs for ``net``; on a user network Docker keeps legacy ``links`` only as
        endpoint links, so they are added to every endpoint."""
        ep = dict(self.networks.get(net) or {})
        legacy = [f"{t}:{a}" for t, a in self.fields.get("links") or ()]
        if legacy and net not in PRESET_NETWORKS:
            ep["links"] = list(ep.get("links") or ()) + [
                x for x in legacy if x not in (ep.get("links") or ())
            ]
        return ep

    def create_args(self, extra_labels: Mapping[str, str] | None = None) -> tuple[dict, dict, dict | None]:
        """``(create_container kwargs without host_config/networking_config, host-config
        kwargs, first endpoint {network: endpoint kwargs} or None)``."""
        f = self.fields
        create: dict[str, Any] = dict(f.get("create_options") or {})
        create.update(image=self.image, name=self.name, detach=True, labels=self.labels(extra_labels))
        for key in ("command", "entrypoint", "user", "hostname", "domainname", "stop_signal", "working_dir"):
            if f.get(key) is not None:
                create[key] = f[key]
        if f.get("environment"):
            create["environment"] = [f"{k}={reveal(v)}" for k, v in sorted(f["environment"].items())]
        if f.get("ports"):
            create["ports"] = [_port_arg(p) for p in f["ports"]]
        if f.get("volumes"):
            create["volumes"] = list(f["volumes"])
        if f.get("healthcheck") is not None:
            create["healthcheck"] = f["healthcheck"]
        if self.stop_timeout is not None:
            create["stop_timeout"] = int(self.stop_timeout)
        if f.get("network_disabled"):
            create["network_disabled"] = True

        host: dict[str, Any] = dict(f.get("host_config") or {})
        host.update(self.update)
        if f.get("binds"):
            host["binds"] = list(f["binds"])
        if f.get("volumes_from"):
            host["volumes_from"] = list(f["volumes_from"])
        if f.get("links"):
            host["links"] = [tuple(link) for link in f["links"]]
        if f.get("port_bindings"):
            bindings: dict[str, list] = {}
            for port, ip, host_port in f["port_bindings"]:
                bindings.setdefault(port, []).append((ip, host_port) if ip else host_port)
            host["port_bindings"] = bindings
        endpoint = None
        if f.get("network_mode"):
            host["network_mode"] = f["network_mode"]
        elif self.networks:
            first = next(iter(self.networks))
            host["network_mode"] = first
            endpoint = {first: self.endpoint(first)}
            if first not in PRESET_NETWORKS:
                host.pop("links", None)
        # the Docker API gets the real values of secrets
        return reveal_deep(create), reveal_deep(host), endpoint


def _port_arg(port: str) -> Any:
    number, _, proto = str(port).partition("/")
    number = int(number) if number.isdigit() else number
    return (number, proto) if proto and proto != "tcp" else number


def _port_key(port: Any) -> str:
    text = str(port)
    return text if "/" in text else f"{text}/tcp"


# ---------------------------------------------------------------------------------------------
# building specs from the (extended) map


class SpecBuilder:
    """Builds specs for one extended map on one client.

    ``container_map`` is the extended map (inheritance resolved); ``client_config`` the
    ClientConfiguration (or dict) of ``client_name``; ``image_ids`` maps image references
    (``repo:tag``) to ids as seen by :mod:`observe` (only used for the helper image choice).
    """

    def __init__(self, container_map: Any, client_name: str = DEFAULT_CLIENT, client_config: Any = None):
        self.map = container_map
        self.map_name: str = container_map.name
        self.client_name = client_name
        self.client = client_config
        self.problems: list[Problem] = []

    # -- lookups -------------------------------------------------------------------------

    def _configs(self) -> Mapping[str, Any]:
        return self.map.containers

    def config(self, name: str) -> Any:
        return self._configs()[name]

    def instances(self, config_name: str) -> list[str | None]:
        inst = tuple(_get(self.config(config_name), "instances", ()) or ())
        return list(inst) or [None]

    def _volume_config(self, alias: str) -> Any:
        return (_get(self.map, "volumes", {}) or {}).get(alias)

    def _volume_path(self, alias: str) -> str | None:
        vol = self._volume_config(alias)
        if vol is None:
            return None
        if isinstance(vol, str):
            return resolve_value(vol)
        return resolve_value(_get(vol, "default_path"))

    def _alias_host_path(self, alias: str, instance: str | None, what: str) -> str:
        """Host path of a bind alias (map ``host``), per instance, under the host root."""
        host = _get(self.map, "host")
        if hasattr(host, "get_path"):
            return host.get_path(alias, instance)
        value = host.get(alias) if isinstance(host, Mapping) else None
        if value is None:
            raise ConfigurationError(
                Problem(self.map_name, None, what, f"alias '{alias}' has no entry in host")
            )
        return self._direct_host_path(value, instance, what)

    def _direct_host_path(self, value: Any, instance: str | None, what: str) -> str:
        """Host path of a direct bind (string or per-instance dict), under the host root."""
        value = resolve_value(value)
        if isinstance(value, Mapping):
            if instance in value:
                value = value[instance]
            elif "default" in value:
                value = value["default"]
            else:
                raise ConfigurationError(
                    Problem(self.map_name, None, what, f"no host path for instance '{instance}'")
                )
        value = str(resolve_value(value))
        host = _get(self.map, "host")
        if hasattr(host, "join_root"):
            return host.join_root(value)
        root = resolve_value(_get(host, "root")) or resolve_value(_get(self.map, "host_root"))
        if root and not posixpath.isabs(value):
            value = posixpath.normpath(posixpath.join(str(root), value))
        return value

    def attached_volume_name(self, parent: str, alias: str) -> str:
        if hasattr(self.map, "attached_volume_name"):
            return self.map.attached_volume_name(parent, alias)
        if _get(self.map, "use_attached_parent_name", False):
            return volume_name(self.map_name, alias, parent)
        return volume_name(self.map_name, alias)

    def attached_owner(self, alias: str) -> tuple[str, str] | None:
        """(config, alias) of the config that attaches ``alias`` (or ``parent.alias``)."""
        parent_hint, _, short = alias.rpartition(".")
        for name, cfg in self._configs().items():
            if parent_hint and name != parent_hint:
                continue
            for att in _get(cfg, "attaches", ()) or ():
                if att.name == short:
                    return name, short
        return None

    def image(self, config_name: str) -> str:
        cfg = self.config(config_name)
        image = resolve_value(_get(cfg, "image")) or config_name
        return self.map.get_image(image)

    def _client_value(self, key: str, default: Any = None) -> Any:
        return resolve_value(_get(self.client, key, default))

    # -- networks and volumes ------------------------------------------------------------

    def network(self, net: str) -> NetworkSpec:
        cfg = (_get(self.map, "networks", {}) or {}).get(net)
        driver = resolve_value(_get(cfg, "driver", "bridge")) or "bridge"
        options = _dict_value(_get(cfg, "driver_options", {}))
        internal = bool(resolve_value(_get(cfg, "internal", False)))
        create = _dict_value(_get(cfg, "create_options", {}))
        data = {"driver": driver, "options": options, "internal": internal, "create_options": create}
        return NetworkSpec(
            id=MapConfigId("network", self.map_name, net),
            client=self.client_name,
            name=network_name(self.map_name, net),
            driver=driver,
            options={str(k): str(v) for k, v in options.items()},
            internal=internal,
            create_options=create,
            hash=hash_of(_jsonable(data)),
        )

    def volume(self, parent: str, alias: str) -> VolumeSpec:
        cfg = self._volume_config(alias)
        if isinstance(cfg, str):
            cfg = None
        driver = resolve_value(_get(cfg, "driver", "local")) or "local"
        opts = _dict_value(_get(cfg, "driver_options", {}))
        create = _dict_value(_get(cfg, "create_options", {}))
        parent_cfg = self.config(parent)
        user = resolve_value(_get(cfg, "user")) or resolve_value(_get(parent_cfg, "user"))
        perms = resolve_value(_get(cfg, "permissions")) or resolve_value(_get(parent_cfg, "permissions"))
        data = {"driver": driver, "driver_opts": opts, "create_options": create}
        return VolumeSpec(
            id=MapConfigId("volume", self.map_name, parent, alias),
            client=self.client_name,
            name=self.attached_volume_name(parent, alias),
            driver=driver,
            driver_opts={str(k): str(v) for k, v in opts.items()},
            create_options=create,
            user=None if user is None else _user_str(user),
            permissions=perms,
            # the client's ``core_image`` (Salt: container_map:core_image) when set, else the
            # attaching configuration's own image (no Docker Hub to pull a helper from)
            helper_image=resolve_value(self._client_value("core_image")) or self.image(parent),
            hash=hash_of(_jsonable(data)),
        )

    # -- containers ----------------------------------------------------------------------

    def _ref_instances(self, ref: str) -> list[tuple[str, str | None]]:
        """``config`` or ``config.instance`` -> [(config, instance)] (all instances if none)."""
        if ref in self._configs():
            return [(ref, i) for i in self.instances(ref)]
        cfg, _, inst = ref.rpartition(".")
        if cfg in self._configs():
            return [(cfg, inst)]
        raise ConfigurationError(Problem(self.map_name, None, "", f"unknown container reference '{ref}'"))

    def _links(self, links: Any) -> list[list[str]]:
        result = []
        for link in links or ():
            if isinstance(link, str):
                link = ContainerLink(link)
            alias = link.alias or default_link_alias(link.container)
            for cfg, inst in self._ref_instances(link.container):
                result.append([container_name(self.map_name, cfg, inst), alias])
        return result

    def container(self, config_name: str, instance: str | None = None) -> ContainerSpec:
        cfg = self.config(config_name)
        mid = MapConfigId("container", self.map_name, config_name, instance)
        name = container_name(self.map_name, config_name, instance)
        what = f"{config_name}"
        image = self.image(config_name)
        depends: list[MapConfigId] = []
        if image:
            img_name, tag = split_image(image)
            depends.append(MapConfigId("image", self.map_name, img_name, tag))

        create_options = _dict_value(_get(cfg, "create_options", {}))
        host_config = _dict_value(_get(cfg, "host_config", {}))
        nested_host = create_options.pop("host_config", None)
        if nested_host:
            host_config = _merge(host_config, _dict_value(nested_host))
        for key in sorted(_HOST_CONFIG_IN_CREATE & set(create_options)):
            # an explicit host_config value wins over the same key under create_options
            host_config.setdefault(key, create_options.pop(key))

        fields: dict[str, Any] = {"image": image}

        # user (first part only for the container; volumes get the full owner)
        user = resolve_value(_get(cfg, "user"))
        if user is not None:
            fields["user"] = (
                _user_str(user).partition(":")[0] if not isinstance(user, tuple) else str(user[0])
            )

        # hostname / domainname
        network_mode = _get(cfg, "network_mode")
        mode = self._network_mode(network_mode, depends)
        set_hostname = _get(self.map, "set_hostname", True)
        if set_hostname is not False and not (mode and (mode == "host" or mode.startswith("container:"))):
            fields["hostname"] = hostname(name, self.client_name)
        domain = self._client_value("domainname") or resolve_value(_get(self.map, "default_domain"))
        if domain:
            fields["domainname"] = domain

        # volumes: shares (anonymous), binds, attaches (named), uses (named or volumes_from)
        volumes = [str(resolve_value(p)) for p in _get(cfg, "shares", ()) or ()]
        binds: list[str] = []
        for i, bind in enumerate(_get(cfg, "binds", ()) or ()):
            if isinstance(bind, HostVolume):
                host_path = self._direct_host_path(bind.host_path, instance, f"{what}.binds[{i}]")
                path = resolve_value(bind.path)
                ro = bind.readonly
            else:
                path = self._volume_path(bind.name)
                host_path = self._alias_host_path(bind.name, instance, f"{what}.binds[{i}]")
                ro = bind.readonly
            binds.append(f"{host_path}:{path}:{'ro' if ro else 'rw'}")
        for att in _get(cfg, "attaches", ()) or ():
            path = att.path if isinstance(att, UsedVolume) else self._volume_path(att.name)
            vname = self.attached_volume_name(config_name, att.name)
            binds.append(f"{vname}:{resolve_value(path)}:rw")
            depends.append(MapConfigId("volume", self.map_name, config_name, att.name))
        volumes_from: list[str] = []
        for use in _get(cfg, "uses", ()) or ():
            ro = use.readonly
            owner = self.attached_owner(use.name)
            if owner is not None:
                parent, alias = owner
                path = use.path if isinstance(use, UsedVolume) else self._volume_path(alias)
                vname = self.attached_volume_name(parent, alias)
                binds.append(f"{vname}:{resolve_value(path)}:{'ro' if ro else 'rw'}")
                depends.append(MapConfigId("volume", self.map_name, parent, alias))
                depends.extend(
                    MapConfigId("container", self.map_name, parent, i) for i in self.instances(parent)
                )
            else:
                for ucfg, uinst in self._ref_instances(use.name):
                    cname = container_name(self.map_name, ucfg, uinst)
                    volumes_from.append(f"{cname}:ro" if ro else cname)
                    depends.append(MapConfigId("container", self.map_name, ucfg, uinst))
        if volumes:
            fields["volumes"] = volumes
        if binds:
            fields["binds"] = binds
        if volumes_from:
            fields["volumes_from"] = volumes_from

        # links
        links = self._links(_get(cfg, "links", ()))
        for target, _alias in links:
            depends.append(self._container_id(target))
        if links:
            fields["links"] = links

        # ports
        ports: list[str] = []
        bindings: list[list] = []
        for i, ex in enumerate(_get(cfg, "exposes", ()) or ()):
            port = _port_key(resolve_value(ex.exposed_port))
            if port not in ports:
                ports.append(port)
            host_port = resolve_value(ex.host_port)
            if host_port is None:
                continue
            ip = ""
            if ex.interface:
                key = "interfaces_ipv6" if ex.ipv6 else "interfaces"
                addresses = self._client_value(key, {}) or {}
                ip = resolve_value(addresses.get(ex.interface)) if isinstance(addresses, Mapping) else None
                if not ip:
                    raise ConfigurationError(
                        Problem(
                            self.map_name,
                            config_name,
                            f"exposes[{i}]",
                            f"interface '{ex.interface}' has no {'IPv6' if ex.ipv6 else 'IPv4'} address "
                            f"in client '{self.client_name}' ({key})",
                        )
                    )
            elif ex.ipv6:
                ip = "::"
            bindings.append([port, str(ip), str(host_port)])
        if ports:
            fields["ports"] = ports
        if bindings:
            fields["port_bindings"] = sorted(bindings)

        # networks
        networks: dict[str, dict] = {}
        for ep in _get(cfg, "networks", ()) or ():
            if isinstance(ep, str):
                ep_name, aliases, ep_links, ipv4, ipv6, lli = ep, (), (), None, None, ()
            else:
                ep_name, aliases, ep_links = ep.network_name, ep.aliases, ep.links
                ipv4, ipv6, lli = ep.ipv4_address, ep.ipv6_address, ep.link_local_ips
            net_full = network_name(self.map_name, ep_name)
            endpoint: dict[str, Any] = {}
            if aliases:
                endpoint["aliases"] = [str(resolve_value(a)) for a in aliases]
            lk = self._links(ep_links)
            if lk:
                endpoint["links"] = [f"{t}:{a}" for t, a in lk]
                depends.extend(self._container_id(t) for t, _a in lk)
            if ipv4:
                endpoint["ipv4_address"] = resolve_value(ipv4)
            if ipv6:
                endpoint["ipv6_address"] = resolve_value(ipv6)
            if lli:
                endpoint["link_local_ips"] = [resolve_value(x) for x in lli]
            networks[net_full] = endpoint
            if ep_name not in PRESET_NETWORKS:
                depends.append(MapConfigId("network", self.map_name, ep_name))
        if mode == "none":
            fields["network_disabled"] = True
        if mode:
            fields["network_mode"] = mode

        # health, stop behaviour
        hc = _get(cfg, "healthcheck")
        if hc is not None:
            fields["healthcheck"] = _healthcheck(hc)
        stop_signal = resolve_value(_get(cfg, "stop_signal"))
        if stop_signal is not None:
            fields["stop_signal"] = str(stop_signal)
        stop_timeout = resolve_value(_get(cfg, "stop_timeout"))
        if stop_timeout is None:
            stop_timeout = self._client_value("stop_timeout")
        if stop_timeout is not None:
            fields["stop_timeout"] = stop_timeout

        # create_options / host_config over the generated values (reference 1.10)
        generated_create = {
            k: fields[k] for k in ("user", "hostname", "domainname", "volumes", "ports") if k in fields
        }
        merged_create = _merge(generated_create, create_options)
        for key in ("command", "entrypoint"):
            if key in merged_create:
                merged_create[key] = normalize_command(merged_create[key])
        if "environment" in merged_create:
            merged_create["environment"] = normalize_env(merged_create["environment"])
        if "labels" in merged_create:
            lab = merged_create["labels"]
            if isinstance(lab, list | tuple):
                lab = {str(k): "" for k in lab}
            merged_create["labels"] = {str(k): str(v) for k, v in lab.items()}
        if "ports" in merged_create:
            merged_create["ports"] = sorted({_port_key(p) for p in merged_create["ports"]})
        for key in ("command", "entrypoint", "environment", "labels", "working_dir") + tuple(
            generated_create
        ):
            if key in merged_create:
                fields[key] = merged_create.pop(key)
        for key in _GENERATED_CREATE:
            merged_create.pop(key, None)
        if merged_create:
            fields["create_options"] = merged_create

        generated_host = {k: fields[k] for k in ("binds", "volumes_from", "links") if k in fields}
        if "network_mode" in fields:
            generated_host["network_mode"] = fields["network_mode"]
        update = {k: host_config.pop(k) for k in UPDATABLE_KEYS if k in host_config}
        merged_host = _merge(generated_host, host_config)
        for key in ("binds", "volumes_from", "links", "network_mode"):
            if key in merged_host:
                fields[key] = merged_host.pop(key)
        if "port_bindings" in merged_host:  # explicit port_bindings replace the generated ones
            fields["port_bindings"] = _explicit_bindings(merged_host.pop("port_bindings"))
        if merged_host:
            fields["host_config"] = merged_host
        update = _jsonable(update)
        if "restart_policy" in update and isinstance(update["restart_policy"], Mapping):
            rp = dict(update["restart_policy"])
            rp.setdefault("MaximumRetryCount", 0)
            update["restart_policy"] = rp

        exec_commands = []
        for ex in _get(cfg, "exec_commands", ()) or ():
            cmd = resolve_deep(ex.cmd)
            ex_user = resolve_value(ex.user) if ex.user is not None else fields.get("user")
            exec_commands.append(
                {
                    "cmd": cmd if isinstance(cmd, str) else list(cmd),
                    "user": None if ex_user is None else str(ex_user),
                    "policy": ex.policy or "restart",
                }
            )

        fields = _jsonable({k: v for k, v in fields.items() if v is not None})
        endpoints = _jsonable(networks)
        seen: set = set()
        depends = [d for d in depends if not (d in seen or seen.add(d))]
        spec = ContainerSpec(
            id=mid,
            client=self.client_name,
            name=name,
            image=image,
            fields=fields,
            update=update,
            networks=endpoints,
            exec_commands=exec_commands,
            stop_timeout=stop_timeout,
            persistent=bool(_get(cfg, "persistent", False)),
            published_ports=bool(bindings or fields.get("port_bindings")),
            depends=depends,
            start_delay=_number(resolve_value(_get(cfg, "start_delay"))),
            wait_timeout=_number(self._client_value("wait_timeout")),
        )
        spec.hash = hash_of(spec.public_fields)
        spec.update_hash = hash_of({"update": update, "networks": endpoints})
        return spec

    def _container_id(self, full_name: str) -> MapConfigId:
        rest = full_name[len(self.map_name) + 1 :]
        cfg, _, inst = rest.partition(".")
        return MapConfigId("container", self.map_name, cfg, inst or None)

    def _network_mode(self, mode: Any, depends: list[MapConfigId]) -> str | None:
        mode = resolve_value(mode)
        if mode is None or mode is NotSet:
            return None
        if isinstance(mode, ContainerRef):
            inst = mode.instance
            if inst is None:
                insts = self.instances(mode.config)
                inst = insts[0]
            depends.append(MapConfigId("container", self.map_name, mode.config, inst))
            return "container:" + container_name(self.map_name, mode.config, inst)
        mode = str(mode)
        if mode in ("", "disabled"):
            return "none"
        if mode.startswith("/"):
            return "container:" + mode[1:]
        if mode in PRESET_NETWORKS or mode.startswith("container:"):
            return mode
        # a managed config reference given as plain string
        ref = self._ref_instances(mode)[0]
        depends.append(MapConfigId("container", self.map_name, *ref))
        return "container:" + container_name(self.map_name, *ref)


def _number(value: Any) -> float | None:
    """A positive number of seconds, or None."""
    if value is None or value is NotSet or isinstance(value, bool):
        return None
    number = float(value)
    return number if number > 0 else None


def redact_fields(fields: Mapping[str, Any]) -> dict:
    """``fields`` with every secret (``!secret`` values, environment values whose names look
    secret) replaced by a salted digest: changes with the value, never shows it."""
    result = redact({k: v for k, v in fields.items() if k != "environment"})
    if fields.get("environment"):
        result["environment"] = redact_environment(fields["environment"])
    return result


def _user_str(user: Any) -> str:
    if isinstance(user, tuple | list):
        return ":".join(str(u) for u in user)
    return str(user)


def _healthcheck(hc: Any) -> dict | None:
    hc = resolve_deep(hc)
    if isinstance(hc, Mapping):
        data = dict(hc)
    else:
        data = hc._asdict() if hasattr(hc, "_asdict") else {"test": hc}
    test = data.get("test")
    result: dict[str, Any] = {
        "test": ["NONE"] if test is None else list(test) if not isinstance(test, str) else test
    }
    for key in ("interval", "timeout", "retries", "start_period"):
        if data.get(key) is not None:
            result[key] = data[key]
    return result


def _explicit_bindings(value: Any) -> list[list[str]]:
    result = []
    for port, targets in dict(value).items():
        if not isinstance(targets, list):
            targets = [targets]
        for target in targets:
            if isinstance(target, tuple | list):
                ip, host_port = (str(target[0]), str(target[1])) if len(target) > 1 else (str(target[0]), "")
            elif isinstance(target, Mapping):
                ip, host_port = str(target.get("HostIp", "")), str(target.get("HostPort", ""))
            else:
                ip, host_port = "", "" if target is None else str(target)
            result.append([_port_key(port), ip, host_port])
    return sorted(result)
