"""Exception classes of the engine.

Every error the engine raises derives from :class:`ContainerMapError`. The Salt adapters
translate them at the edge (``SaltInvocationError`` for configuration problems,
``CommandExecutionError`` for engine/runtime problems).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class ContainerMapError(Exception):
    """Base class of every engine error."""


@dataclass(frozen=True)
class Problem:
    """One configuration problem, located by map, config and key path.

    ``str(problem)`` gives ``webapp.app_server.binds[1]: alias 'app_log' has no entry in host``.
    ``config`` is None for map-level keys (``webapp.volumes.app_log: ...``); ``path`` is the key
    path below the config (or below the map when ``config`` is None), may be empty.
    """

    map_name: str | None
    config: str | None
    path: str
    message: str

    @property
    def location(self) -> str:
        parts = [p for p in (self.map_name, self.config) if p]
        loc = ".".join(parts)
        if self.path:
            if loc and not self.path.startswith("["):
                loc += "."
            loc += self.path
        return loc or "<map>"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigurationError(ContainerMapError, ValueError):
    """Invalid configuration input (one or several problems)."""

    def __init__(self, problems: Problem | Iterable[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, "", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems found:"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._format()


class MapValidationError(ConfigurationError):
    """A map (or set of maps) failed validation; ``problems`` lists all of them at once."""


class CircularDependency(MapValidationError):
    """The dependency graph has a cycle; the message shows the cycle path."""


class LazyResolutionError(ConfigurationError):
    """A lazy value (``!env_lazy``, ``!pillar`` ...) could not be resolved."""


class EngineError(ContainerMapError):
    """A Docker engine operation failed.

    ``target`` is the map reference (``map.config[.instance]``, ``network:map.net``...) the
    operation was for, when known; ``client`` the client name; ``cause`` the original exception.
    """

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        client: str | None = None,
        cause: BaseException | None = None,
    ):
        self.message = message
        self.target = target
        self.client = client
        self.cause = cause
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = ""
        if self.client and self.client != "__default__":
            prefix += f"[{self.client}] "
        if self.target:
            prefix += f"{self.target}: "
        return prefix + self.message


class EngineUnreachable(EngineError):
    """The Docker engine could not be reached (message names the URL tried)."""


class ActionError(EngineError):
    """Applying a plan failed part-way; ``results`` holds what was done before and after."""

    def __init__(self, message: str, *, results: Sequence[Any] = (), **kwargs: Any):
        self.results = list(results)
        super().__init__(message, **kwargs)
