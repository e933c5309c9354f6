"""Exceptions of the image/registry part of the engine and their translation from the SDK.

Every message names the image and the registry it was for and never contains a password: the
text of each error passes through :func:`scrub` with the secrets of the request.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests.exceptions
import urllib3.exceptions

from .. import errors as engine_errors
from ..exceptions import ContainerMapError, EngineError

# transport-level failures (engine unreachable, read timeouts): translated by the engine's
# common translator (containermap.errors.translate)
TRANSPORT_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, ConnectionError)


class ImageError(EngineError):
    """An image operation (inspect, tag, remove, save, load) failed."""


class ImageNotFound(ImageError, engine_errors.ImageMissing):
    """The image does not exist on the engine (also a ``containermap.errors.ImageMissing``)."""


class RegistryError(ImageError, engine_errors.RegistryError):
    """A registry operation (login, pull, push) failed; ``registry`` names the host, ``image``
    the image (also a ``containermap.errors.RegistryError``)."""

    def __init__(self, message: str, *, registry: str | None = None, image: str | None = None, **kwargs):
        self.image = image
        super().__init__(message, registry=registry, **kwargs)


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or asked for credentials that were not given)."""


class PullError(RegistryError):
    """Pulling an image failed."""


class PushError(RegistryError):
    """Pushing an image failed."""


class BuildError(ImageError):
    """A build failed; ``step`` is the failing step (``3/5 RUN false``) when known, ``log`` the tail."""

    def __init__(self, message: str, *, step: str | None = None, log: list[str] | None = None, **kwargs):
        self.step = step
        self.log = list(log or ())
        super().__init__(message, **kwargs)


class FinalizedError(ContainerMapError, RuntimeError):
    """A DockerFile or DockerContext was modified after it had been finalised."""


def engine_failure(
    exc: BaseException,
    action: str,
    image: str | None = None,
    target: str | None = None,
    secrets: Iterable[str | None] = (),
) -> EngineError:
    """The engine exception for a transport failure (unreachable engine, timeout) during
    ``action``, via ``containermap.errors.translate``, with ``secrets`` scrubbed."""
    error = engine_errors.translate(exc, target=target, action=action, image=image)
    error.message = scrub(error.message, secrets)
    error.args = (str(error),)
    return error


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


_AUTH_MARKERS = ("unauthorized", "authentication required", "no basic auth", "incorrect username", "denied")


def looks_like_auth_failure(text: str) -> bool:
    """True when an engine/registry message says that credentials were missing or wrong."""
    low = text.lower()
    return any(m in low for m in _AUTH_MARKERS)


def exception_text(exc: BaseException) -> str:
    """The useful text of an SDK exception: the engine's explanation when there is one."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        return str(explanation)
    return str(exc) or exc.__class__.__name__
