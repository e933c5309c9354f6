"""ClientConfiguration: one Docker engine (host) the maps are deployed to (reference 1.7)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ..exceptions import ConfigurationError, Problem
from .lazy import Lazy
from .normalize import (
    INVALID,
    ConfigurationObject,
    Ctx,
    Field,
    describe,
    dict_field,
    did_you_mean,
    parse_dict,
    parse_lazy_string,
    parse_number,
    parse_timeout,
)

_URL_SCHEMES = ("unix://", "tcp://", "http://", "https://", "ssh://", "npipe://")
_VERSION_RE = re.compile(r"^\d+\.\d+$")
TLS_KEYS = ("client_cert", "ca_cert", "verify")
AUTH_KEYS = (
    "username",
    "password",
    "email",
    "registry",
    "serveraddress",
    "reauth",
    "dockercfg_path",
    "identitytoken",
)


def _parse_base_url(value: Any, ctx: Ctx) -> Any:
    if value is None or isinstance(value, Lazy):
        return value
    if isinstance(value, str) and (value.startswith(_URL_SCHEMES) or value.startswith("/")):
        return value
    ctx.error(
        f"invalid base_url {describe(value)} (expected unix://, tcp://, https://, ssh:// or a socket path)"
    )
    return INVALID


def _parse_version(value: Any, ctx: Ctx) -> Any:
    if value is None or value == "auto":
        return value
    if isinstance(value, float):  # YAML reads 1.41 as a number
        value = f"{value:.2f}"
    if isinstance(value, str) and _VERSION_RE.match(value):
        return value
    ctx.error(f"invalid API version {describe(value)} (expected 'auto' or a version such as '1.41')")
    return INVALID


def _parse_tls(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, (bool, Lazy)) or value is None:
        return value
    if not isinstance(value, Mapping):
        ctx.error(
            f"expected true/false or a dict of TLS settings ({', '.join(TLS_KEYS)}), got {describe(value)}"
        )
        return INVALID
    ok = True
    for key, item in value.items():
        if key not in TLS_KEYS:
            ctx.key(key).error(f"unknown TLS setting {key!r}{did_you_mean(key, TLS_KEYS)}")
            ok = False
        elif key == "client_cert" and not (
            isinstance(item, (str, Lazy))
            or (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(isinstance(i, (str, Lazy)) for i in item)
            )
        ):
            ctx.key(key).error(f"expected a certificate path or (cert, key) paths, got {describe(item)}")
            ok = False
        elif key == "ca_cert" and not isinstance(item, (str, Lazy)):
            ctx.key(key).error(f"expected a CA certificate path, got {describe(item)}")
            ok = False
        elif key == "verify" and not isinstance(item, (bool, str, Lazy)):
            ctx.key(key).error(f"expected true/false or a CA certificate path, got {describe(item)}")
            ok = False
    if not ok:
        return INVALID
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def _interfaces(version: int) -> Any:
    def parse(value: Any, ctx: Ctx) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            ctx.error(f"expected a mapping of interface name to IPv{version} address, got {describe(value)}")
            return INVALID
        result = {}
        for name, address in value.items():
            if isinstance(address, Lazy):
                result[name] = address
                continue
            try:
                valid = isinstance(address, str) and ipaddress.ip_address(address).version == version
            except ValueError:
                valid = False
            if valid:
                result[name] = address
            else:
                ctx.key(name).error(f"invalid IPv{version} address {describe(address)}")
        return result

    return parse


def _parse_auth_configs(value: Any, ctx: Ctx) -> Any:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        ctx.error(f"expected a mapping of registry to login settings, got {describe(value)}")
        return INVALID
    result = {}
    for registry, settings in value.items():
        sub = ctx.key(registry)
        if not isinstance(settings, Mapping):
            sub.error(
                f"expected a mapping of login settings ({', '.join(AUTH_KEYS[:3])}, ...), got {describe(settings)}"
            )
            continue
        unknown = [k for k in settings if k not in AUTH_KEYS]
        for key in unknown:
            sub.key(key).error(f"unknown login setting {key!r}{did_you_mean(key, AUTH_KEYS)}")
        if not unknown:
            result[registry] = dict(settings)
    return result


def _parse_any(value: Any, ctx: Ctx) -> Any:
    return value


class ClientConfiguration(ConfigurationObject):
    """Settings of one Docker engine: connection (``base_url``, ``version`` incl. ``auto``,
    ``timeout``, ``tls``), ``interfaces``/``interfaces_ipv6`` (virtual interface name ->
    address, for ``exposes``), ``auth_configs`` (registry -> login settings), ``domainname``,
    ``stop_timeout`` (client-wide default stop timeout, used when a container config has none),
    ``wait_timeout``. Other keys (e.g. ``fabric_host``) are kept as items; a key close to a
    known one is reported as a probable misspelling.
    """

    KIND = "client configuration"
    EXTRA_KEYS = True
    FIELDS: ClassVar[dict[str, Field]] = {
        "base_url": Field(_parse_base_url),
        "version": Field(_parse_version),
        "timeout": Field(parse_timeout),
        "tls": Field(_parse_tls),
        "interfaces": dict_field(_interfaces(4)),
        "interfaces_ipv6": dict_field(_interfaces(6)),
        "auth_configs": dict_field(_parse_auth_configs),
        "domainname": Field(parse_lazy_string),
        "stop_timeout": Field(parse_number),
        "wait_timeout": Field(parse_timeout),
        "client": Field(_parse_any),
        "features": dict_field(parse_dict),
        "constraints": dict_field(parse_dict),
    }

    __slots__ = ("name",)

    def __init__(
        self,
        base_url: Any = None,
        version: Any = None,
        timeout: Any = None,
        *,
        name: str | None = None,
        **kwargs: Any,
    ):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_extra", {})
        data = {
            k: v
            for k, v in (("base_url", base_url), ("version", version), ("timeout", timeout))
            if v is not None
        }
        data.update(kwargs)
        ctx = Ctx(config=f"clients.{name}" if name else None)
        self._load(data, ctx)
        if ctx.problems:
            raise ConfigurationError(ctx.problems)

    @classmethod
    def parse(cls, data: Any, ctx: Ctx) -> ClientConfiguration:
        obj = super().parse(data, ctx)
        object.__setattr__(obj, "name", None)
        return obj  # type: ignore[return-value]

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _coerce(self, values: Any) -> ClientConfiguration:
        if isinstance(values, ClientConfiguration):
            return values
        return ClientConfiguration(name=self.name, **dict(values))

    def copy(self) -> ClientConfiguration:
        obj = super().copy()
        object.__setattr__(obj, "name", self.name)
        return obj  # type: ignore[return-value]

    def get_init_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the docker SDK client (only the ones that are set)."""
        return {k: self._values[k] for k in ("base_url", "version", "timeout", "tls") if k in self._values}


def build_clients(data: Any, source: str = "clients") -> dict[str, ClientConfiguration]:
    """``{client_name: {base_url: ..., ...}}`` -> ClientConfigurations (YAML files and pillar);
    every problem of every client is reported at once."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            Problem(
                None, None, source, f"clients must be a mapping of client names, not {type(data).__name__}"
            )
        )
    clients: dict[str, ClientConfiguration] = {}
    problems: list[Problem] = []
    for name, values in data.items():
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            problems.append(
                Problem(None, None, f"{source}.{name}", "a client configuration must be a mapping")
            )
            continue
        try:
            clients[str(name)] = ClientConfiguration(name=str(name), **{str(k): v for k, v in values.items()})
        except ConfigurationError as exc:
            problems.extend(exc.problems)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(None, None, f"{source}.{name}", str(exc)))
    if problems:
        raise ConfigurationError(problems)
    return clients
