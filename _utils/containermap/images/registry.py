"""Image references, presence checks, and registry login/pull/push.

Credentials come from ``auth_configs``: a mapping of registry host -> ``{'username': ..,
'password': .., 'email': ..}`` (pillar ``dockerfabric:registries``; keys may carry a scheme or a
``/v1/`` path, they are normalised). A registry without an entry is used anonymously — a host
with a dot or a port needs no entry (docker-map raised ``KeyError`` there). Passwords never
appear in return values, log records or exception messages.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors

from ..exceptions import ConfigurationError
from .errors import (
    TRANSPORT_ERRORS,
    ImageError,
    PullError,
    PushError,
    RegistryAuthError,
    RegistryError,
    engine_failure,
    exception_text,
    looks_like_auth_failure,
    scrub,
)

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
AuthConfigs = Mapping[str, Mapping[str, Any]]

# names of Docker Hub: an image without registry (or with one of these) is on the Hub
HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
PULL_POLICIES = ("missing", "always", "latest")


def low_level(api: Any) -> docker.APIClient:
    """The low-level ``APIClient`` of ``api`` (accepts ``docker.DockerClient`` too)."""
    return getattr(api, "api", api)


def parse_image(ref: str) -> tuple[str | None, str, str | None]:
    """Split an image reference into ``(registry, repository, tag)``.

    The first path component is a registry when it holds a dot, a port or is ``localhost``
    (Docker's rule): ``127.0.0.1:5000/app`` -> ``('127.0.0.1:5000', 'app', None)``,
    ``registry.example.com/team/app:1.2`` -> ``('registry.example.com', 'team/app', '1.2')``,
    ``docker.io/library/busybox`` and ``busybox`` -> registry None. A digest stays on the
    repository (``app@sha256:..``, tag None) so the reference can still be pulled as is.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigurationError(f"invalid image reference {ref!r}")
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    registry: str | None = None
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    tag: str | None = None
    if ":" in name:
        name, tag = name.rsplit(":", 1)
        if not tag or "/" in tag:
            raise ConfigurationError(f"invalid image reference {ref!r}")
    if not name:
        raise ConfigurationError(f"invalid image reference {ref!r}")
    if registry is not None and registry.lower() in HUB_NAMES:
        registry = None
    if digest:
        name, tag = f"{name}@{digest}", None
    return registry, name, tag


def join_image(registry: str | None, repository: str, tag: str | None = None) -> str:
    """Inverse of :func:`parse_image`."""
    name = f"{registry}/{repository}" if registry else repository
    return f"{name}:{tag}" if tag else name


def _registry_key(name: str) -> str:
    """Normalise an auth_configs key: no scheme, no path, lower case (``https://h:5000/v2/`` -> ``h:5000``)."""
    key = name.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    key = key.split("/", 1)[0].lower()
    return "docker.io" if key in HUB_NAMES else key


def registry_auth(auth_configs: AuthConfigs | None, registry: str | None) -> dict | None:
    """The SDK ``auth_config`` for ``registry`` from ``auth_configs``, or None (anonymous).

    Accepts entries with ``username``/``password`` (``user`` as an alias), a base64 ``auth``
    (``user:password``) or an ``identitytoken``; ``email`` is passed on when given.
    """
    if not auth_configs:
        return None
    wanted = _registry_key(registry or "docker.io")
    entry = None
    for key, value in auth_configs.items():
        if _registry_key(str(key)) == wanted:
            entry = value
            break
    if not entry:
        return None
    entry = dict(entry)
    username = entry.get("username", entry.get("user"))
    password = entry.get("password")
    if (username is None or password is None) and entry.get("auth"):
        decoded = base64.b64decode(entry["auth"]).decode("utf-8")
        username, _, password = decoded.partition(":")
    result: dict[str, Any] = {"serveraddress": registry or "https://index.docker.io/v1/"}
    if username is not None:
        result["username"] = str(username)
    if password is not None:
        result["password"] = str(password)
    if entry.get("identitytoken"):
        result["identitytoken"] = entry["identitytoken"]
    if entry.get("email"):
        result["email"] = entry["email"]
    return result


def _secrets(auth: Mapping[str, Any] | None) -> list[str]:
    if not auth:
        return []
    return [str(auth[k]) for k in ("password", "identitytoken", "auth") if auth.get(k)]


def inspect_image(api: Any, ref: str) -> dict | None:
    """The engine's inspection of the local image ``ref``, or None when it does not exist."""
    try:
        return low_level(api).inspect_image(ref)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        raise ImageError(f"inspecting image {ref} failed: {exception_text(exc)}", cause=exc) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "inspect image", image=ref) from None


def image_id(api: Any, ref: str) -> str | None:
    """Id (``sha256:...``) of the local image ``ref``, or None when it does not exist."""
    info = inspect_image(api, ref)
    return info["Id"] if info else None


def image_exists(api: Any, ref: str) -> bool:
    """True when the image ``ref`` exists locally (a reference without tag means ``:latest``)."""
    return image_id(api, ref) is not None


def image_tag_exists(api: Any, ref: str) -> bool:
    """True when exactly the tag ``ref`` (``repo:tag``, ``:latest`` when omitted) exists locally."""
    registry, repository, tag = parse_image(ref)
    if "@" in repository:
        return image_id(api, ref) is not None
    if registry is None:
        # Docker Hub names are listed without docker.io/ and library/
        repository = repository.removeprefix("library/")
    wanted = join_image(registry, repository, tag or "latest")
    info = inspect_image(api, ref)
    return bool(info) and wanted in (info.get("RepoTags") or [])


def _registry_name(registry: str | None) -> str:
    return registry or "docker.io"


def _consume(
    stream: Any, progress: Progress | None, secrets: list[str], fail: Callable[[str], Exception]
) -> list[dict]:
    """Read a decoded progress stream, forward each record, raise on an ``error`` record.

    Returns the ``aux`` records (push digests, build ids).
    """
    aux: list[dict] = []
    for record in stream:
        if not isinstance(record, dict):
            continue
        if "error" in record or "errorDetail" in record:
            detail = record.get("errorDetail") or {}
            message = record.get("error") or detail.get("message") or "unknown error"
            raise fail(scrub(str(message), secrets))
        if "aux" in record:
            aux.append(record["aux"])
        if progress is not None:
            progress(record)
    return aux


def pull_image(
    api: Any,
    ref: str,
    auth_configs: AuthConfigs | None = None,
    progress: Progress | None = None,
) -> str:
    """Pull ``ref`` (``:latest`` when it has no tag) and return the local image id.

    Credentials are looked up by registry host in ``auth_configs``; without an entry the pull is
    anonymous (or uses what :func:`login` stored on this client). The progress records of the
    engine are passed to ``progress`` one by one as they arrive.
    """
    registry, repository, tag = parse_image(ref)
    repo = join_image(registry, repository)
    if tag is None and "@" not in repository:
        tag = "latest"
    full = join_image(registry, repository, tag)
    auth = registry_auth(auth_configs, registry)
    secrets = _secrets(auth)
    where = _registry_name(registry)

    def fail(message: str, cause: BaseException | None = None) -> RegistryError:
        text = scrub(f"pull of {full} from {where} failed: {message}", secrets)
        cls = RegistryAuthError if looks_like_auth_failure(message) else PullError
        return cls(text, registry=where, image=full, cause=cause)

    client = low_level(api)
    log.info("pulling %s from %s", full, where)
    try:
        stream = client.pull(repo, tag=tag, stream=True, decode=True, auth_config=auth)
        _consume(stream, progress, secrets, fail)
    except docker.errors.APIError as exc:
        raise fail(exception_text(exc)) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "pull", image=full, secrets=secrets) from None
    result = image_id(client, full if tag else repo)
    if result is None:
        raise fail("image not present after the pull")
    return result


def ensure_image(
    api: Any,
    ref: str,
    auth_configs: AuthConfigs | None = None,
    policy: str = "missing",
    progress: Progress | None = None,
) -> tuple[str, bool]:
    """Make sure ``ref`` is present; return ``(image_id, pulled)``.

    ``policy``: ``missing`` (default) pulls only when the image is absent — so a startup never
    re-pulls a present image; ``always`` pulls every time; ``latest`` pulls when absent or when
    the tag is ``latest`` (or none). ``pulled`` is True when the local image changed (it was
    absent, or the pull brought a different id), so callers can report a change.
    """
    if policy not in PULL_POLICIES:
        raise ConfigurationError(f"pull policy {policy!r} is not one of {', '.join(PULL_POLICIES)}")
    current = image_id(api, ref)
    if current is not None:
        if policy == "missing":
            return current, False
        if policy == "latest":
            _registry, repository, tag = parse_image(ref)
            if "@" in repository or (tag not in (None, "latest")):
                return current, False
    new = pull_image(api, ref, auth_configs=auth_configs, progress=progress)
    return new, new != current


def push_image(
    api: Any,
    ref: str,
    auth_configs: AuthConfigs | None = None,
    progress: Progress | None = None,
) -> str | None:
    """Push ``ref`` (``:latest`` when it has no tag); return the pushed digest when reported."""
    registry, repository, tag = parse_image(ref)
    repo = join_image(registry, repository)
    tag = tag or "latest"
    full = join_image(registry, repository, tag)
    auth = registry_auth(auth_configs, registry)
    secrets = _secrets(auth)
    where = _registry_name(registry)

    def fail(message: str) -> RegistryError:
        text = scrub(f"push of {full} to {where} failed: {message}", secrets)
        cls = RegistryAuthError if looks_like_auth_failure(message) else PushError
        return cls(text, registry=where, image=full)

    client = low_level(api)
    log.info("pushing %s to %s", full, where)
    try:
        stream = client.push(repo, tag=tag, stream=True, decode=True, auth_config=auth)
        aux = _consume(stream, progress, secrets, fail)
    except docker.errors.APIError as exc:
        raise fail(exception_text(exc)) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "push", image=full, secrets=secrets) from None
    for record in reversed(aux):
        if isinstance(record, dict) and record.get("Digest"):
            return record["Digest"]
    return None


# docker-map's name
push = push_image


def login(
    api: Any,
    registry: str | None,
    username: str,
    password: str,
    email: str | None = None,
    reauth: bool = False,
) -> bool:
    """Log in to ``registry`` (Docker Hub when None); True when the registry accepted.

    The client remembers the credentials for later pulls/pushes. A login with a password that
    differs from the remembered one always asks the registry again (the SDK would otherwise
    return its cached entry and let a wrong password pass). Refused credentials raise
    :class:`RegistryAuthError` whose message names registry and user, never the password.
    """
    client = low_level(api)
    where = _registry_name(registry)
    if not reauth:
        try:
            cached = docker.auth.resolve_authconfig(client._auth_configs, registry)
        except Exception:  # noqa: BLE001 - private SDK state, any failure means "not cached"
            cached = None
        if not cached or cached.get("Username", cached.get("username")) != username:
            reauth = True
        elif cached.get("Password", cached.get("password")) != password:
            reauth = True
    try:
        response = client.login(username, password=password, email=email, registry=registry, reauth=reauth)
    except docker.errors.APIError as exc:
        message = scrub(exception_text(exc), [password])
        cls = (
            RegistryAuthError if looks_like_auth_failure(message) or exc.status_code == 401 else RegistryError
        )
        raise cls(f"login to {where} as {username} failed: {message}", registry=where) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "login", secrets=[password]) from None
    if not isinstance(response, dict):
        return False
    status = str(response.get("Status") or "")
    # a cached entry (no request made) has no Status but is a prior successful login
    return "succeeded" in status.lower() or ("Status" not in response and bool(response))
