"""Volume configurations (map ``volumes``) and host volume paths (map ``host``), reference 1.5."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ..exceptions import ConfigurationError, Problem
from .lazy import Lazy, resolve_value
from .normalize import (
    INVALID,
    ConfigurationObject,
    Ctx,
    Field,
    describe,
    dict_field,
    parse_lazy_string,
    parse_permissions,
    parse_user,
)


def _parse_default_path(value: Any, ctx: Ctx) -> Any:
    if isinstance(value, Lazy):
        return value
    if isinstance(value, str) and value.startswith("/"):
        return value
    if isinstance(value, str) and value:
        ctx.error(f"volume path {value!r} must be absolute (start with '/')")
    else:
        ctx.error(f"expected an absolute container path, got {describe(value)}")
    return INVALID


class VolumeConfiguration(ConfigurationObject):
    """A named volume alias: ``default_path`` (mount path in containers), ``driver`` (default
    ``local``), ``driver_options``, ``create_options``, ``user``, ``permissions``.

    A bare string (or lazy value) is the ``default_path``.
    """

    KIND = "volume configuration"
    FIELDS: ClassVar[dict[str, Field]] = {
        "default_path": Field(_parse_default_path),
        "driver": Field(parse_lazy_string, default="local"),
        "driver_options": dict_field(),
        "create_options": dict_field(),
        "user": Field(parse_user),
        "permissions": Field(parse_permissions),
    }

    def _load(self, data: Any, ctx: Ctx) -> None:
        if isinstance(data, (str, Lazy)):
            data = {"default_path": data}
            # a problem with the bare path is reported at the alias, not at .default_path
            value = _parse_default_path(data["default_path"], ctx)
            if value is not INVALID:
                self._values["default_path"] = value
            return
        super()._load(data, ctx)

    def _not_a_mapping(self, data: Any, ctx: Ctx) -> None:
        ctx.error(f"expected a container path or a volume configuration mapping, got {describe(data)}")

    def as_dict(self) -> Any:
        # keep the short form for a bare path so that round trips stay readable
        if set(self._values) == {"default_path"} and not self._extra:
            return self._values["default_path"]
        return super().as_dict()

    def copy(self) -> VolumeConfiguration:
        return super().copy()  # type: ignore[return-value]


class HostVolumeConfiguration:
    """Host paths of bind aliases (map ``host``): ``alias -> path`` or ``alias -> {instance:
    path, 'default': path}``, and ``root``, the prefix of relative paths (map ``host_root``).

    Values may be lazy; :meth:`get_path` resolves them where a path is needed.
    """

    __slots__ = ("root", "_paths", "map_name")

    def __init__(
        self, initial: Mapping[str, Any] | None = None, root: Any = None, map_name: str | None = None
    ):
        self.root = root
        self._paths: dict[str, Any] = {}
        self.map_name = map_name
        ctx = Ctx(map_name=map_name, path="host")
        self._load(initial, ctx)
        if ctx.problems:
            raise ConfigurationError(ctx.problems)

    @classmethod
    def parse(cls, data: Any, ctx: Ctx) -> HostVolumeConfiguration:
        obj = cls.__new__(cls)
        obj.root = None
        obj._paths = {}
        obj.map_name = ctx.map_name
        obj._load(data, ctx)
        return obj

    def _load(self, data: Any, ctx: Ctx) -> None:
        if data is None:
            return
        if isinstance(data, HostVolumeConfiguration):
            if data.root is not None:
                self.root = data.root
            self._paths.update(data._paths)
            return
        if not isinstance(data, Mapping):
            ctx.error(f"expected a mapping of alias to host path, got {describe(data)}")
            return
        for alias, value in data.items():
            sub = ctx.key(alias)
            if alias == "root":
                if value is None or isinstance(value, Lazy) or (isinstance(value, str) and value):
                    self.root = value
                else:
                    sub.error(f"expected a host path, got {describe(value)}")
                continue
            if not isinstance(alias, str) or not alias:
                sub.error(f"volume aliases must be strings, got {describe(alias)}")
                continue
            parsed = self._parse_path(value, sub)
            if parsed is not INVALID:
                self._paths[alias] = parsed

    @staticmethod
    def _parse_path(value: Any, ctx: Ctx) -> Any:
        if isinstance(value, Lazy) or (isinstance(value, str) and value):
            return value
        if isinstance(value, Mapping) and value:
            result = {}
            for instance, path in value.items():
                if not isinstance(instance, str):
                    ctx.key(instance).error(
                        f"expected an instance name or 'default', got {describe(instance)}"
                    )
                elif isinstance(path, Lazy) or (isinstance(path, str) and path):
                    result[instance] = path
                else:
                    ctx.key(instance).error(f"expected a host path, got {describe(path)}")
            return result if len(result) == len(value) else INVALID
        ctx.error(f"expected a host path or a dict of instance name to host path, got {describe(value)}")
        return INVALID

    # -- access ------------------------------------------------------------------------------

    def __getitem__(self, alias: str) -> Any:
        return self._paths[alias]

    def __setitem__(self, alias: str, value: Any) -> None:
        self.update({alias: value})

    def __contains__(self, alias: object) -> bool:
        return alias in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def get(self, alias: str, default: Any = None) -> Any:
        return self._paths.get(alias, default)

    def items(self) -> Any:
        return self._paths.items()

    def keys(self) -> Any:
        return self._paths.keys()

    def __getattr__(self, alias: str) -> Any:
        if alias.startswith("_"):
            raise AttributeError(alias)
        try:
            return self._paths[alias]
        except KeyError:
            raise AttributeError(alias) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostVolumeConfiguration):
            return NotImplemented
        return self.root == other.root and self._paths == other._paths

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HostVolumeConfiguration({self.as_dict()!r})"

    def has_path(self, alias: str, instance: str | None = None) -> bool:
        """Whether ``alias`` has a host path for ``instance`` (no lazy value is resolved)."""
        value = self._paths.get(alias)
        if isinstance(value, dict):
            return (instance is not None and instance in value) or "default" in value
        return value is not None

    def _problem(self, alias: str, message: str) -> ConfigurationError:
        return ConfigurationError(Problem(self.map_name, None, f"host.{alias}", message))

    def get_path(self, alias: str, instance: str | None = None) -> str:
        """Resolved host path of ``alias`` for ``instance``; relative paths are put under ``root``.

        Raises :class:`ConfigurationError` (with the key path) when there is no entry, no path
        for the instance and no ``default``, or a relative path without a root.
        """
        if alias not in self._paths:
            raise self._problem(alias, f"alias {alias!r} has no entry in host")
        value = self._paths[alias]
        if isinstance(value, dict):
            if instance is not None and instance in value:
                value = value[instance]
            elif "default" in value:
                value = value["default"]
            else:
                which = f"instance {instance!r}" if instance else "the default instance"
                raise self._problem(alias, f"no host path for {which} (and no 'default' entry)")
        return self.join_root(resolve_value(value), alias)

    def join_root(self, path: str, alias: str = "") -> str:
        """``path`` under the resolved ``root`` when it is relative (``./x`` too)."""
        if posixpath.isabs(path):
            return path
        root = resolve_value(self.root)
        if not root:
            raise self._problem(
                alias, f"relative host path {path!r} needs a root (set host_root or host.root)"
            )
        if not posixpath.isabs(root):  # a lazy root is only known now
            raise self._problem(
                "root", f"host root {root!r} must be an absolute path (host_root / host.root)"
            )
        return posixpath.normpath(posixpath.join(root, path))

    # -- serialisation and merging -----------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in self._paths.items()}
        if self.root is not None:
            result["root"] = self.root
        return result

    def copy(self) -> HostVolumeConfiguration:
        obj = HostVolumeConfiguration.__new__(HostVolumeConfiguration)
        obj.root = self.root
        obj._paths = {k: dict(v) if isinstance(v, dict) else v for k, v in self._paths.items()}
        obj.map_name = self.map_name
        return obj

    def update(self, values: Mapping[str, Any] | HostVolumeConfiguration) -> None:
        ctx = Ctx(map_name=self.map_name, path="host")
        self._load(values, ctx)
        if ctx.problems:
            raise ConfigurationError(ctx.problems)

    def merge(self, values: Mapping[str, Any] | HostVolumeConfiguration, lists_only: bool = False) -> None:
        """Per-instance dicts are updated, other entries replaced (not with ``lists_only``)."""
        other = values if isinstance(values, HostVolumeConfiguration) else HostVolumeConfiguration(values)
        for alias, value in other._paths.items():
            old = self._paths.get(alias)
            if isinstance(old, dict) and isinstance(value, dict):
                old.update(value)
            elif old is None or not lists_only:
                self._paths[alias] = dict(value) if isinstance(value, dict) else value
        if other.root is not None and not lists_only:
            self.root = other.root
