"""Translation of docker SDK / requests exceptions into the engine's exception classes.

Docker answers every failure with an HTTP status and an ``explanation`` string; the SDK raises
``docker.errors.APIError`` (``NotFound``, ``ImageNotFound``) or, when the engine cannot be
reached, ``requests`` connection errors. :func:`translate` turns each of them into an
:class:`~containermap.exceptions.EngineError` subclass with a message a user can act on
(``host port 127.0.0.1:8080 is already in use``, ``image 127.0.0.1:5000/app:2 not found
(registry 127.0.0.1:5000)``) and keeps the original exception as ``cause``.
:func:`engine_call` does the same as a context manager around a block of SDK calls;
:func:`translate_message` handles errors that arrive as text in progress streams (pull, push,
build).

Messages never contain credentials: ``user:password@`` in URLs is masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker.errors
import requests.exceptions
import urllib3.exceptions

from .exceptions import EngineError, EngineUnreachable

DOCKER_HUB = "docker.io"


class ApiError(EngineError):
    """Docker answered with an error status; ``status`` and ``explanation`` as sent by the engine."""

    def __init__(self, message: str, *, status: int | None = None, explanation: str | None = None, **kwargs):
        self.status = status
        self.explanation = explanation
        super().__init__(message, **kwargs)


class ObjectMissing(ApiError):
    """A container, network, volume or exec the operation needs does not exist (404)."""


class ImageMissing(ObjectMissing):
    """An image is neither present locally nor available from its registry; ``image`` and
    ``registry`` name them."""

    def __init__(self, message: str, *, image: str | None = None, registry: str | None = None, **kwargs):
        self.image = image
        self.registry = registry
        super().__init__(message, **kwargs)


class RegistryError(ApiError):
    """A registry could not be reached or refused access (login needed, wrong credentials)."""

    def __init__(self, message: str, *, registry: str | None = None, **kwargs):
        self.registry = registry
        super().__init__(message, **kwargs)


class Conflict(ApiError):
    """The engine refused the operation because of the current state (409): running container
    removed, container not running for an exec, network/volume in use ..."""


class NameConflict(Conflict):
    """A container name is already taken; ``name`` and ``existing_id`` (full id) name them."""

    def __init__(self, message: str, *, name: str | None = None, existing_id: str | None = None, **kwargs):
        self.name = name
        self.existing_id = existing_id
        super().__init__(message, **kwargs)


class PortInUse(ApiError):
    """A published host port is already taken; ``address`` is ``ip:port`` (or ``:port``)."""

    def __init__(self, message: str, *, address: str | None = None, **kwargs):
        self.address = address
        super().__init__(message, **kwargs)


class EngineTimeout(EngineError):
    """The engine was reached but did not answer within the timeout (read timeout)."""


class ClientSetupError(EngineError):
    """A client could not be set up: invalid base URL, TLS files, missing optional dependency."""


# -- helpers ------------------------------------------------------------------------------

_CREDENTIALS_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s\"']+:[^/@\s\"']*@")
_AUTH_FIELD_RE = re.compile(
    r"(?P<key>[\"']?(?:password|passwd|identitytoken|registrytoken|auth)[\"']?\s*[:=]\s*)"
    r"(?P<val>\"[^\"]*\"|'[^']*'|[^\s,}]+)",
    re.IGNORECASE,
)


def sanitize(text: str) -> str:
    """Mask credentials in ``text``: ``scheme://user:secret@`` and ``password=...`` style fields."""
    text = _CREDENTIALS_RE.sub(lambda m: m.group("scheme") + "***@", text)
    return _AUTH_FIELD_RE.sub(lambda m: m.group("key") + "***", text)


def registry_of(image: str) -> str:
    """Registry host of an image reference (``docker.io`` when the first path component is not a
    host name: no ``.`` or ``:`` and not ``localhost``)."""
    name = image.split("@", 1)[0]
    first, sep, _rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def short_id(value: str) -> str:
    """First 12 hex digits of a container/image id (``sha256:`` prefix dropped)."""
    return value.split(":", 1)[-1][:12]


_IMAGE_PATTERNS = (
    re.compile(r"no such image: (?P<image>[^\s:]+(?::[^\s:/]+)?(?::[^\s]+)?)\s*$", re.IGNORECASE),
    re.compile(r"pull access denied for (?P<image>[^\s,]+)", re.IGNORECASE),
    re.compile(r"manifest for (?P<image>\S+) not found", re.IGNORECASE),
    re.compile(r"repository (?P<image>\S+) not found", re.IGNORECASE),
)
_PORT_PATTERNS = (
    re.compile(r"Bind for (?P<addr>\S+?) failed: port is already allocated"),
    re.compile(r"listen (?:tcp|udp)[46]? (?P<addr>\S+?): bind: address already in use"),
    re.compile(r"(?:Ports are not available|cannot expose).*?(?P<addr>[\d.:\[\]a-f]*:\d+)", re.IGNORECASE),
)
_NAME_CONFLICT_RE = re.compile(
    r'container name "/?(?P<name>[^"]+)" is already in use by container "(?P<id>[0-9a-f]+)"'
)
# the engine could not talk to a registry (pull/push/login): name the registry, not the image
_REGISTRY_DIAL_RE = re.compile(
    r'(?:Get|Head|Post|Put) "?https?://[^/"\s]+/v2/[^"\s]*"?: (?P<reason>.+)', re.I
)
_REGISTRY_URL_RE = re.compile(r"https?://(?P<host>[^/\"\s]+)/v2/")
_AUTH_MARKERS = (
    "no basic auth credentials",
    "unauthorized",
    "authentication required",
    "incorrect username or password",
)


def _image_from_explanation(explanation: str) -> str | None:
    for pattern in _IMAGE_PATTERNS:
        m = pattern.search(explanation)
        if m:
            image = m.group("image").rstrip(".,:")
            # "no such image: x:1: No such image: x:1" (inspect) -> x:1
            return image.split(": ", 1)[0]
    return None


def _registry_label(registry: str) -> str:
    return "Docker Hub (docker.io)" if registry == DOCKER_HUB else f"registry {registry}"


def _registry_in(explanation: str) -> str | None:
    """Registry host named by a registry URL in the explanation (Docker Hub's API host is
    reported as ``docker.io``)."""
    m = _REGISTRY_URL_RE.search(explanation)
    if not m:
        return None
    host = m.group("host")
    return DOCKER_HUB if host in ("registry-1.docker.io", "index.docker.io") else host


def _url_of(api: Any) -> str | None:
    return getattr(api, "engine_url", None) or getattr(api, "base_url", None)


def is_read_timeout(exc: BaseException) -> bool:
    """Read timeouts come as ``requests.ReadTimeout`` over TCP but as a ``ConnectionError``
    wrapping urllib3's ``ReadTimeoutError`` over unix sockets."""
    if isinstance(exc, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return True
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen or cur is None:
            continue
        seen.add(id(cur))
        if isinstance(cur, urllib3.exceptions.ReadTimeoutError):
            return True
        if isinstance(cur, BaseException):
            stack.extend(a for a in cur.args if isinstance(a, BaseException))
            stack.append(cur.__cause__)
            stack.append(cur.__context__)
            stack.append(getattr(cur, "reason", None))
    return False


def _connection_cause(exc: BaseException) -> BaseException | None:
    """The connection-level error behind ``exc`` (also inside the SDK's ``DockerException``
    raised while fetching the server version), or None."""
    cur: BaseException | None = exc
    for _ in range(8):
        if cur is None:
            return None
        if isinstance(
            cur, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError | ConnectionError
        ):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _prefix(action: str | None) -> str:
    return f"{action}: " if action else ""


# -- translation --------------------------------------------------------------------------


def translate(
    exc: BaseException,
    target: str | None = None,
    client: str | None = None,
    action: str | None = None,
    *,
    url: str | None = None,
    image: str | None = None,
    timeout: float | None = None,
) -> EngineError:
    """Return the engine exception for ``exc`` (does not raise it).

    ``target`` (``map.config.instance``, ``network:map.net``...), ``client`` (client name) and
    ``action`` (``create``, ``start``, ``pull``...) go into the message; ``url`` is the engine
    URL for "unreachable" messages (taken from ``api.engine_url`` by :func:`engine_call`);
    ``image`` names the image when the engine's explanation does not. An ``EngineError`` is
    returned unchanged, with ``target``/``client`` filled in when they were missing.
    """
    if isinstance(exc, EngineError):
        if target and not exc.target:
            exc.target = target
        if client and not exc.client:
            exc.client = client
        return exc
    common: dict[str, Any] = {"target": target, "client": client, "cause": exc}
    if isinstance(exc, docker.errors.APIError) and exc.response is not None:
        return _translate_api_error(exc.status_code, exc.explanation, exc, action, image, common)
    engine = url or "the Docker engine"
    if is_read_timeout(exc):
        within = f" within {timeout:g} s" if timeout else " within the timeout"
        return EngineTimeout(sanitize(f"{_prefix(action)}no answer from {engine}{within}"), **common)
    conn = _connection_cause(exc)
    if conn is not None:
        reason = _connection_reason(conn)
        return EngineUnreachable(sanitize(f"{_prefix(action)}cannot reach {engine}: {reason}"), **common)
    if isinstance(exc, docker.errors.TLSParameterError):
        return ClientSetupError(sanitize(f"{_prefix(action)}TLS configuration: {exc}"), **common)
    if isinstance(exc, docker.errors.DockerException):
        return EngineError(sanitize(f"{_prefix(action)}{exc}"), **common)
    return EngineError(sanitize(f"{_prefix(action)}{type(exc).__name__}: {exc}"), **common)


def _connection_reason(conn: BaseException) -> str:
    text = str(conn)
    for marker in (
        "Connection refused",
        "No such file or directory",
        "Name or service not known",
        "Network is unreachable",
        "No route to host",
        "timed out",
        "Permission denied",
        "Temporary failure in name resolution",
        "Connection reset",
        "Remote end closed",
    ):
        if marker.lower() in text.lower():
            return marker.lower() if marker != "timed out" else "connection timed out"
    return text or type(conn).__name__


def translate_message(
    explanation: str,
    target: str | None = None,
    client: str | None = None,
    action: str | None = None,
    *,
    image: str | None = None,
    status: int | None = None,
) -> EngineError:
    """Engine exception for an error the engine reported as text rather than as an HTTP
    status: the ``error`` / ``errorDetail.message`` items of pull, push and build progress
    streams. Same messages as :func:`translate` (missing image, registry access...)."""
    common: dict[str, Any] = {"target": target, "client": client, "cause": None}
    return _translate_api_error(status, explanation, None, action, image, common)


def _translate_api_error(
    status: int | None,
    raw_explanation: Any,
    exc: docker.errors.APIError | None,
    action: str | None,
    image: str | None,
    common: dict[str, Any],
) -> EngineError:
    if isinstance(raw_explanation, bytes):  # pragma: no cover - the SDK decodes already
        raw_explanation = raw_explanation.decode("utf-8", "replace")
    explanation = sanitize(str(raw_explanation or "").strip())
    api_kw = {"status": status, "explanation": explanation, **common}
    pre = _prefix(action)

    m = _NAME_CONFLICT_RE.search(explanation)
    if status == 409 and m:
        name, cid = m.group("name"), m.group("id")
        return NameConflict(
            f"{pre}container name '{name}' is already in use by container {short_id(cid)}",
            name=name,
            existing_id=cid,
            **api_kw,
        )
    for pattern in _PORT_PATTERNS:
        m = pattern.search(explanation)
        if m:
            addr = m.group("addr")
            if addr.startswith("0.0.0.0:") or addr.startswith("[::]:"):
                where = f"host port {addr.rsplit(':', 1)[1]} (all addresses)"
            else:
                where = f"host port {addr}"
            return PortInUse(f"{pre}{where} is already in use", address=addr, **api_kw)

    parsed = _image_from_explanation(explanation)
    lowered = explanation.lower()
    if (
        isinstance(exc, docker.errors.ImageNotFound)
        or ("repository does not exist" in lowered)
        or (parsed and (status == 404 or "pull access denied" in lowered or "manifest unknown" in lowered))
    ):
        # the caller's reference is more complete ("pull access denied for repo" has no tag)
        img = (
            image if image and (not parsed or image.startswith(parsed)) else (parsed or image or "<unknown>")
        )
        registry = registry_of(img)
        if "no such image" in lowered:
            # create/inspect: the engine looked only at its local images
            msg = f"image {img} not found locally (registry {registry}; pull it first)"
        elif registry == DOCKER_HUB:
            msg = f"image {img} not found locally and on Docker Hub ({DOCKER_HUB})"
        else:
            msg = f"image {img} not found (registry {registry})"
        return ImageMissing(pre + msg, image=img, registry=registry, **api_kw)

    registry = _registry_in(explanation) or (registry_of(image) if image else None)
    if status == 401 or any(marker in lowered for marker in _AUTH_MARKERS):
        where = f" by {_registry_label(registry)}" if registry else ""
        return RegistryError(
            f"{pre}access denied{where} (login needed or wrong credentials): {explanation}",
            registry=registry,
            **api_kw,
        )
    m = _REGISTRY_DIAL_RE.search(explanation)
    if m:
        subject = f"image {image}" if image else "image"
        return RegistryError(
            f"{pre}{subject} cannot be fetched: {_registry_label(registry or DOCKER_HUB)} unreachable: "
            f"{m.group('reason')}",
            registry=registry,
            **api_kw,
        )
    if status == 404:
        return ObjectMissing(f"{pre}{_not_found_message(explanation)}", **api_kw)
    if status == 409:
        return Conflict(f"{pre}{_conflict_message(explanation)}", **api_kw)
    if exc is None:
        return ApiError(f"{pre}{explanation or 'unknown engine error'}", **api_kw)
    reason = getattr(exc.response, "reason", "") or ""
    detail = explanation or sanitize(str(exc))
    return ApiError(f"{pre}Docker API error {status} {reason}: {detail}".replace("  ", " "), **api_kw)


def _conflict_message(explanation: str) -> str:
    m = re.match(r"container (?P<id>[0-9a-f]{12,}) is not running", explanation, re.IGNORECASE)
    if m:
        return f"container {short_id(m.group('id'))} is not running"
    m = re.search(r"cannot remove a running container (?P<id>[0-9a-f]{12,})", explanation, re.IGNORECASE)
    if m:
        return f"container {short_id(m.group('id'))} is running (stop it first)"
    m = re.search(r"volume is in use - \[(?P<ids>[^\]]*)\]", explanation)
    if m:
        ids = ", ".join(short_id(i.strip()) for i in m.group("ids").split(",") if i.strip())
        return f"volume is in use by container(s) {ids}"
    return explanation or "conflict with the current state"


def _not_found_message(explanation: str) -> str:
    m = re.match(r"get (?P<name>\S+): no such volume", explanation, re.IGNORECASE)
    if m:
        return f"volume {m.group('name')} does not exist"
    m = re.match(
        r"no such (?P<kind>container|network|exec instance|volume): ?(?P<name>\S*)", explanation, re.I
    )
    if m:
        kind = m.group("kind").lower().replace(" instance", "")
        return f"{kind} {m.group('name')} does not exist".replace("  ", " ")
    m = re.match(r"network (?P<name>\S+) not found", explanation, re.IGNORECASE)
    if m:
        return f"network {m.group('name')} does not exist"
    return explanation or "not found"


@contextmanager
def engine_call(
    target: str | None = None,
    client: str | None = None,
    action: str | None = None,
    *,
    api: Any = None,
    image: str | None = None,
) -> Iterator[None]:
    """Translate docker SDK / requests / urllib3 exceptions raised inside the block.

    ``api`` (the client of :class:`~containermap.clients.ClientSet`) supplies the engine URL and
    the client name when ``client`` is not given. Programming errors (``TypeError`` ...) and
    engine exceptions pass through unchanged.

    Example::

        with engine_call("webapp.app.1", "web1", "start", api=api):
            api.start(container_id)
    """
    try:
        yield
    except EngineError as exc:
        translate(exc, target, client or getattr(api, "client_name", None))  # fills in missing context
        raise
    except (
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,
        ConnectionError,
    ) as exc:
        name = client or getattr(api, "client_name", None)
        timeout = getattr(api, "timeout", None)
        raise translate(
            exc,
            target,
            name,
            action,
            url=_url_of(api),
            image=image,
            timeout=timeout if isinstance(timeout, int | float) else None,
        ) from exc
