"""Secret values: used for real by the container, never shown in plans, labels or logs.

A value is secret when it is tagged ``!secret`` in a map file (a :class:`Secret`, a ``str``
that compares and hashes by its value but prints as ``***``), or when it is the value of an
environment variable whose *name* matches :data:`SECRET_NAME_PATTERN` (``DB_PASSWORD``,
``API_TOKEN``, ...). The engine stores a salted hash of a secret (:func:`secret_digest`) in the
``org.dockerfabric.spec`` label instead of the value, so a changed secret still re-creates the
container and the plan says ``environment DB_PASSWORD changed (value hidden)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

# environment variable names whose values are secret (case-insensitive substring match)
SECRET_NAME_PATTERN = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL", re.I)
# prefix of the digest that replaces a secret value in stored specs
SECRET_MARK = "secret:sha256:"
HIDDEN = "***"


class Secret(str):
    """A string value that is secret: equal to and hashed like its value, used unchanged by
    ``json`` (API calls), but ``str()``/``repr()``/formatting show ``***``. :func:`reveal`
    returns the plain value."""

    __slots__ = ()

    def __str__(self) -> str:
        return HIDDEN

    def __repr__(self) -> str:
        return repr(HIDDEN)

    def __format__(self, spec: str) -> str:
        return format(HIDDEN, spec)

    def __reduce__(self) -> tuple:  # pickles (and copies) keep the real value
        return (Secret, (reveal(self),))


def reveal(value: Any) -> Any:
    """The plain value of a :class:`Secret` (other values unchanged)."""
    return str.__str__(value) if isinstance(value, Secret) else value


def reveal_deep(value: Any) -> Any:
    """``value`` with every :class:`Secret` in nested dicts, lists and tuples made plain
    (what goes to the Docker API)."""
    if isinstance(value, Secret):
        return reveal(value)
    if isinstance(value, Mapping):
        return {k: reveal_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_deep(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(reveal_deep(v) for v in value)
    return value


def is_secret_name(name: Any) -> bool:
    """True for environment variable names whose values are secret by default."""
    return bool(SECRET_NAME_PATTERN.search(str(name)))


def secret_digest(name: Any, value: Any) -> str:
    """Salted (by ``name``) sha256 of a secret value, as stored instead of the value."""
    data = f"{reveal(name)}\0{reveal(value)}".encode()
    return SECRET_MARK + hashlib.sha256(data).hexdigest()[:32]


def is_digest(value: Any) -> bool:
    """True for a value produced by :func:`secret_digest`."""
    return isinstance(value, str) and value.startswith(SECRET_MARK)


def redact(value: Any, name: str = "") -> Any:
    """``value`` with every :class:`Secret` replaced by its digest (salted with the key it
    is found under)."""
    if isinstance(value, Secret):
        return secret_digest(name, value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, name) for v in value]
    return value


def redact_environment(env: Mapping[str, Any]) -> dict[str, Any]:
    """Environment with secret values (by name or :class:`Secret`) replaced by digests."""
    return {
        k: secret_digest(k, v) if isinstance(v, Secret) or is_secret_name(k) else v for k, v in env.items()
    }


def contains_secret(value: Any) -> bool:
    """True if ``value`` (nested) holds a :class:`Secret` or a digest of one."""
    if isinstance(value, Secret) or is_digest(value):
        return True
    if isinstance(value, Mapping):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(contains_secret(v) for v in value)
    return False
