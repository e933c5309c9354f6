"""ContainerConfiguration: one container configuration of a map (reference 1.3)."""

from __future__ import annotations

from typing import ClassVar

from .normalize import (
    ConfigurationObject,
    Field,
    dict_field,
    keyed_field,
    list_field,
    parse_attaches,
    parse_binds,
    parse_bool,
    parse_config_names,
    parse_create_options,
    parse_exec_commands,
    parse_exposes,
    parse_healthcheck,
    parse_host_config,
    parse_image,
    parse_instances,
    parse_links,
    parse_names,
    parse_network_mode,
    parse_networks,
    parse_number,
    parse_permissions,
    parse_requires,
    parse_shares,
    parse_signal,
    parse_user,
    parse_uses,
)


class ContainerConfiguration(ConfigurationObject):
    """A container configuration, every value normalised (see docs/architecture.md).

    ``ContainerConfiguration({'image': 'nginx', 'binds': {'/etc/nginx': ('conf', 'ro')}})``;
    ``config.binds`` and ``config['binds']`` are equivalent. Unset scalars are ``NotSet``,
    unset lists ``()``, unset option dicts ``{}``.
    """

    KIND = "container configuration"
    FIELDS: ClassVar[dict[str, Field]] = {
        "image": Field(parse_image),
        "instances": list_field(parse_instances),
        "abstract": Field(parse_bool),
        "extends": list_field(parse_config_names),
        "clients": list_field(parse_names),
        "shares": list_field(parse_shares),
        "binds": keyed_field(parse_binds),
        "attaches": keyed_field(parse_attaches),
        "uses": keyed_field(parse_uses),
        "links": list_field(parse_links),
        "exposes": keyed_field(parse_exposes),
        "user": Field(parse_user),
        "permissions": Field(parse_permissions),
        "stop_timeout": Field(parse_number),
        "stop_signal": Field(parse_signal),
        "start_delay": Field(parse_number),
        "network_mode": Field(parse_network_mode),
        "networks": keyed_field(parse_networks),
        "exec_commands": list_field(parse_exec_commands),
        "healthcheck": Field(parse_healthcheck),
        "persistent": Field(parse_bool),
        "create_options": dict_field(parse_create_options),
        "host_config": dict_field(parse_host_config),
        "requires": list_field(parse_requires),
    }

    #: keys that inheritance (``extends``) does not pass on
    NOT_INHERITED: ClassVar[frozenset[str]] = frozenset({"extends", "abstract"})

    def instance_names(self) -> tuple[str | None, ...]:
        """The configured instances, or ``(None,)`` for the single unnamed instance."""
        return self.instances or (None,)

    def copy(self) -> ContainerConfiguration:
        return super().copy()  # type: ignore[return-value]

    def extended_with(self, bases: list[ContainerConfiguration]) -> ContainerConfiguration:
        """This config with inheritance applied: ``bases`` (already extended, in ``extends``
        order) merged first, then this config's own values; ``extends``/``abstract`` dropped."""
        result = ContainerConfiguration.__new__(ContainerConfiguration)
        object.__setattr__(result, "_values", {})
        object.__setattr__(result, "_extra", {})
        for base in bases:
            result._merge_values(base._values, skip=self.NOT_INHERITED)
        result._merge_values(self._values, skip=self.NOT_INHERITED)
        return result

    def without_inheritance(self) -> ContainerConfiguration:
        """Copy without ``extends``/``abstract`` (a config that extends nothing)."""
        result = self.copy()
        result._values.pop("extends", None)
        result._values.pop("abstract", None)
        return result
