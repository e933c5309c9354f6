"""Maintenance (docker-fabric tasks): cleanup, list tables, version.

Every function takes ``label`` (``'key=value'`` or ``'key'``, or a list) and ``filters`` (the
engine's list filters) to narrow what it looks at; cleanups with a narrowed scope still protect
everything the whole engine needs (images used by any container, parents of kept images).
List functions return rows (lists of dicts) with docker-fabric's table columns, ready for
Salt's table outputter.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import docker.errors

from ..errors import engine_call
from ..exceptions import EngineError
from .errors import exception_text
from .registry import inspect_image, low_level

log = logging.getLogger(__name__)

NONE_TAG = "<none>:<none>"


def _translated(action: str) -> Callable:
    """SDK/transport errors of the wrapped function become engine errors naming ``action``."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(api: Any, *args: Any, **kwargs: Any) -> Any:
            with engine_call(action=action, api=api):
                return func(api, *args, **kwargs)

        return wrapper

    return decorate


class CleanupResult(list):
    """Names/ids removed (or, with ``list_only``, that would be removed); ``failed`` maps each
    item that could not be removed to the engine's message."""

    def __init__(self, items: Iterable[str] = (), failed: Mapping[str, str] | None = None):
        super().__init__(items)
        self.failed: dict[str, str] = dict(failed or {})


def _filters(label: str | Sequence[str] | None, filters: Mapping[str, Any] | None, **extra: Any) -> dict:
    result: dict[str, Any] = {
        k: (list(v) if isinstance(v, list | tuple) else v) for k, v in (filters or {}).items()
    }
    if label:
        labels = [label] if isinstance(label, str) else list(label)
        existing = result.get("label") or []
        result["label"] = ([existing] if isinstance(existing, str) else list(existing)) + labels
    for key, value in extra.items():
        if value is not None:
            result[key] = value
    return result


def _short(value: str | None, full: bool) -> str:
    if not value:
        return ""
    value = value.removeprefix("sha256:")
    return value if full else value[:12]


def _iso(timestamp: int | float | str | None) -> str:
    if timestamp in (None, ""):
        return ""
    if isinstance(timestamp, str):
        return timestamp
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _finish(result: CleanupResult, what: str, raise_on_error: bool) -> CleanupResult:
    if result.failed:
        summary = "; ".join(f"{k}: {v}" for k, v in result.failed.items())
        if raise_on_error:
            error = EngineError(f"{what}: {len(result.failed)} failed: {summary}")
            error.result = result  # type: ignore[attr-defined]
            raise error
        log.warning("%s: %s", what, summary)
    return result


# -- containers --------------------------------------------------------------------------------


def _scoped_containers(
    client: Any, exclude: Iterable[str], filters: dict
) -> list[tuple[str, str, str | None]]:
    """``(name, id, state)`` of every container matching ``filters`` with no name in ``exclude``."""
    excluded = {name.lstrip("/") for name in exclude}
    found = []
    for container in client.containers(all=True, filters=filters):
        names = [n.lstrip("/") for n in container.get("Names") or []]
        if not excluded.intersection(names):
            found.append(
                (names[0] if names else container["Id"][:12], container["Id"], container.get("State"))
            )
    return found


@_translated("cleanup of containers")
def cleanup_containers(
    api: Any,
    include_initial: bool = False,
    exclude: Iterable[str] = (),
    list_only: bool = False,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    raise_on_error: bool = False,
) -> CleanupResult:
    """Remove exited and dead containers (``include_initial``: also never started ones).

    Containers whose names are in ``exclude`` are never touched: the caller passes the
    persistent map containers and attached-volume holders. Returns the removed names.
    """
    client = low_level(api)
    statuses = ["exited", "dead"] + (["created"] if include_initial else [])
    candidates = _scoped_containers(client, exclude, _filters(label, filters, status=statuses))
    result = CleanupResult()
    for name, cid, _state in candidates:
        if list_only:
            result.append(name)
            continue
        try:
            client.remove_container(cid, v=False)
            result.append(name)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            result.failed[name] = exception_text(exc)
    return _finish(result, "cleanup of containers", raise_on_error)


@_translated("removal of containers")
def remove_all_containers(
    api: Any,
    stop_timeout: int | float = 10,
    list_only: bool = False,
    exclude: Iterable[str] = (),
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    raise_on_error: bool = False,
    max_workers: int = 8,
) -> CleanupResult:
    """Stop (``stop_timeout`` seconds each, in parallel) and remove every container in scope.

    The orderly shutdown of maps comes first and is the caller's business (the map engine);
    this removes what is left. Named volumes are kept.
    """
    client = low_level(api)
    targets = _scoped_containers(client, exclude, _filters(label, filters))
    result = CleanupResult()
    if list_only:
        result.extend(name for name, _, _ in targets)
        return result

    def remove(item: tuple[str, str, str | None]) -> tuple[str, str | None]:
        name, cid, state = item
        try:
            if state in ("running", "restarting", "paused"):
                client.stop(cid, timeout=int(stop_timeout))
            client.remove_container(cid, v=False, force=True)
            return name, None
        except docker.errors.NotFound:
            return name, None
        except docker.errors.APIError as exc:
            return name, exception_text(exc)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets) or 1))) as pool:
        for name, error in pool.map(remove, targets):
            if error is None:
                result.append(name)
            else:
                result.failed[name] = error
    return _finish(result, "removal of containers", raise_on_error)


# -- images --------------------------------------------------------------------------------------


def _tag_kept(repo_tags: Iterable[str], keep: set[str]) -> bool:
    for repo_tag in repo_tags:
        if repo_tag == NONE_TAG:
            continue
        tag = repo_tag.rsplit(":", 1)[1] if ":" in repo_tag.rsplit("/", 1)[-1] else "latest"
        if tag in keep or repo_tag in keep:
            return True
    return False


@_translated("cleanup of images")
def cleanup_images(
    api: Any,
    remove_old: bool = False,
    keep_tags: Iterable[str] = (),
    force: bool = False,
    list_only: bool = False,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    raise_on_error: bool = False,
) -> CleanupResult:
    """Remove images nobody needs, with docker-fabric's keep rules.

    Kept: images used by any container, and tagged images — with ``remove_old`` only those
    tagged ``latest`` or a tag in ``keep_tags`` (``tag`` or ``repo:tag``). An image is removed
    only when no kept image descends from it. Candidates are the images matching
    ``label``/``filters``; the keep rules always look at the whole engine. Tagged images are
    removed tag by tag (so no ``force`` is needed for several tags), children before parents.
    Returns the removed ids (12 chars).
    """
    client = low_level(api)
    all_images = client.images(all=True)
    by_id = {image["Id"]: image for image in all_images}
    used = {c.get("ImageID") for c in client.containers(all=True)}
    if remove_old:
        keep = {"latest", *keep_tags}

        def tag_check(tags: list[str]) -> bool:
            return _tag_kept(tags, keep)
    else:

        def tag_check(tags: list[str]) -> bool:
            return any(t != NONE_TAG for t in tags)

    kept = {iid for iid, image in by_id.items() if iid in used or tag_check(image.get("RepoTags") or [])}
    # descendants: image -> children
    children: dict[str, list[str]] = {}
    for iid, image in by_id.items():
        parent = image.get("ParentId")
        if parent:
            children.setdefault(parent, []).append(iid)

    def has_kept_descendant(iid: str) -> bool:
        stack, seen = list(children.get(iid, ())), set()
        while stack:
            child = stack.pop()
            if child in seen:
                continue
            seen.add(child)
            if child in kept:
                return True
            stack.extend(children.get(child, ()))
        return False

    scoped = filters or label
    candidates = (
        [image["Id"] for image in client.images(all=True, filters=_filters(label, filters))]
        if scoped
        else list(by_id)
    )
    removable = [
        iid for iid in candidates if iid in by_id and iid not in kept and not has_kept_descendant(iid)
    ]

    def depth(iid: str) -> int:
        level, parent = 0, by_id[iid].get("ParentId")
        while parent and parent in by_id and level < 10000:
            level, parent = level + 1, by_id[parent].get("ParentId")
        return level

    removable.sort(key=depth, reverse=True)
    result = CleanupResult()
    for iid in removable:
        short = _short(iid, False)
        if list_only:
            result.append(short)
            continue
        tags = [t for t in by_id[iid].get("RepoTags") or [] if t != NONE_TAG]
        try:
            for ref in tags or [iid]:
                client.remove_image(ref, force=force)
            result.append(short)
        except docker.errors.NotFound:
            result.append(short)
        except docker.errors.APIError as exc:
            result.failed[short] = exception_text(exc)
    return _finish(result, "cleanup of images", raise_on_error)


def _carries(labels: Mapping[str, str], label: str | Sequence[str]) -> bool:
    """True when ``labels`` has every ``'key=value'`` / ``'key'`` in ``label`` (as a filter)."""
    for wanted in [label] if isinstance(label, str) else label:
        key, sep, value = wanted.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def remove_image(
    api: Any, image: str, force: bool = False, label: str | Sequence[str] | None = None
) -> dict[str, Any]:
    """Remove the image reference ``image`` like ``docker rmi`` (``force`` as ``-f``): a tag is
    untagged, and the image is deleted with its last tag.

    ``label`` (``'key=value'`` or ``'key'``, or a list: all must match) guards the removal: an
    image that does not carry it is left alone. Returns ``{'image', 'id' (None when absent),
    'untagged': [refs], 'deleted': [ids]}``; both lists are empty when nothing was removed
    (absent image, label not matched). Engine failures (image in use without ``force`` ...)
    raise engine errors naming ``image:<image>``.
    """
    result: dict[str, Any] = {"image": image, "id": None, "untagged": [], "deleted": []}
    info = inspect_image(api, image)
    if info is None:
        return result
    result["id"] = info["Id"]
    if label and not _carries((info.get("Config") or {}).get("Labels") or {}, label):
        return result
    with engine_call(f"image:{image}", action="remove image", api=api, image=image):
        try:
            response = low_level(api).remove_image(image, force=force)
        except docker.errors.NotFound:  # removed meanwhile: nothing left to do
            response = []
    for record in response or ():
        if record.get("Untagged"):
            result["untagged"].append(record["Untagged"])
        if record.get("Deleted"):
            result["deleted"].append(record["Deleted"])
    return result


# -- lists ---------------------------------------------------------------------------------------


@_translated("list images")
def list_images(
    api: Any,
    list_all: bool = False,
    full_ids: bool = False,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``Id, RepoTags, ParentId, Created (ISO UTC), VirtualSize, Size``."""
    rows = []
    for image in low_level(api).images(all=list_all, filters=_filters(label, filters)):
        rows.append(
            {
                "Id": _short(image["Id"], full_ids),
                "RepoTags": [t for t in image.get("RepoTags") or [] if t != NONE_TAG],
                "ParentId": _short(image.get("ParentId"), full_ids),
                "Created": _iso(image.get("Created")),
                "VirtualSize": image.get("VirtualSize", image.get("Size")),
                "Size": image.get("Size"),
            }
        )
    return rows


def _format_port(port: Mapping[str, Any]) -> str:
    private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
    if port.get("PublicPort") is None:
        return private
    return f"{port.get('IP', '')}:{port['PublicPort']}->{private}"


def _short_image(image: str) -> str:
    """Hide the registry prefix (``registry.example.com:5000/team/app:1`` -> ``team/app:1``)."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return rest
    return image


@_translated("list containers")
def list_containers(
    api: Any,
    list_all: bool = True,
    short_image: bool = True,
    full_ids: bool = False,
    full_cmd: bool = False,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``Id, Names, Image, Command (25 chars unless full_cmd), Ports, Status, Created``."""
    rows = []
    for container in low_level(api).containers(all=list_all, filters=_filters(label, filters)):
        command = container.get("Command") or ""
        image = container.get("Image") or ""
        rows.append(
            {
                "Id": _short(container["Id"], full_ids),
                "Names": [n.lstrip("/") for n in container.get("Names") or []],
                "Image": _short_image(image) if short_image else image,
                "Command": command if full_cmd or len(command) <= 25 else command[:25],
                "Ports": [_format_port(p) for p in container.get("Ports") or []],
                "Status": container.get("Status"),
                "Created": _iso(container.get("Created")),
            }
        )
    return rows


@_translated("list networks")
def list_networks(
    api: Any,
    full_ids: bool = False,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``Id, Name, Driver, Scope, Internal, Created``."""
    rows = []
    for network in low_level(api).networks(filters=_filters(label, filters)):
        rows.append(
            {
                "Id": _short(network["Id"], full_ids),
                "Name": network.get("Name"),
                "Driver": network.get("Driver"),
                "Scope": network.get("Scope"),
                "Internal": bool(network.get("Internal")),
                "Created": network.get("Created", ""),
            }
        )
    return rows


@_translated("list volumes")
def list_volumes(
    api: Any,
    label: str | Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``Name, Driver, Mountpoint, Created``."""
    response = low_level(api).volumes(filters=_filters(label, filters)) or {}
    return [
        {
            "Name": volume.get("Name"),
            "Driver": volume.get("Driver"),
            "Mountpoint": volume.get("Mountpoint"),
            "Created": volume.get("CreatedAt", ""),
        }
        for volume in response.get("Volumes") or []
    ]


@_translated("version")
def version(api: Any) -> dict[str, Any]:
    """The engine's version information (``Version``, ``ApiVersion``, ``Os``, ``Arch`` ...)."""
    return dict(low_level(api).version())
