"""NetworkConfiguration: a user-defined network of a map (reference 1.6)."""

from __future__ import annotations

from typing import ClassVar

from .normalize import ConfigurationObject, Field, dict_field, parse_bool, parse_string


class NetworkConfiguration(ConfigurationObject):
    """``driver`` (default ``bridge``), ``driver_options`` (values may be lazy), ``internal``
    (default false), ``create_options`` (extra ``create_network`` arguments such as ``ipam``,
    ``labels``). ``None`` in a map means all defaults."""

    KIND = "network configuration"
    FIELDS: ClassVar[dict[str, Field]] = {
        "driver": Field(parse_string, default="bridge"),
        "driver_options": dict_field(),
        "internal": Field(parse_bool, default=False),
        "create_options": dict_field(),
    }

    def copy(self) -> NetworkConfiguration:
        return super().copy()  # type: ignore[return-value]
