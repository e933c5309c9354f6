"""Naming rules of the map schema (reference section 2) and Docker's name/reference grammar.

Containers are ``map.config[.instance]``, attached volumes ``map.alias`` (``map.parent.alias``
with ``use_attached_parent_name``), networks ``map.net`` (presets keep their name). Hostnames
and default link aliases are the dotted names with ``_`` and ``.`` replaced by ``-``.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_CLIENT = "__default__"
PRESET_NETWORKS = frozenset({"bridge", "host", "none"})
DEFAULT_TAG = "latest"

# Docker's container name rule (also used for volume names); the engine builds names by joining
# parts with '.', so a single part may be one character long.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# map, config and instance names: no '.', because 'config.instance' references split on it
PART_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")

# Docker's image reference grammar (distribution/reference): lower-case path components, an
# optional registry host (which may have a port and upper-case letters), tag, digest.
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|-+)"
_PATH_COMP = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMP}(?:/{_PATH_COMP})*"
_REFERENCE_RE = re.compile(rf"^(?:{_NAME})(?::{_TAG})?(?:@{_DIGEST})?$")
_REPOSITORY_RE = re.compile(rf"^(?:{_DOMAIN}(?:/{_PATH_COMP})*|{_NAME})$")
_TAG_RE = re.compile(rf"^{_TAG}$")


def _map_name(map_: Any) -> str:
    """Accept a map name or anything with a ``name`` attribute (a ContainerMap)."""
    return map_ if isinstance(map_, str) else map_.name


def container_name(map_: Any, config: str, instance: str | None = None) -> str:
    """``map.config`` or ``map.config.instance``."""
    if instance:
        return f"{_map_name(map_)}.{config}.{instance}"
    return f"{_map_name(map_)}.{config}"


def volume_name(map_: Any, alias: str, parent: str | None = None) -> str:
    """Attached volume name: ``map.alias``, or ``map.parent.alias`` when a parent is given.

    Pass ``parent`` only when the map has ``use_attached_parent_name`` (see
    ``ContainerMap.attached_volume_name``). An alias already in ``parent.alias`` form (a ``uses``
    entry of such a map) gives the same name without ``parent``.
    """
    if parent:
        return f"{_map_name(map_)}.{parent}.{alias}"
    return f"{_map_name(map_)}.{alias}"


def network_name(map_: Any, net: str) -> str:
    """``map.net``; the presets ``bridge``, ``host`` and ``none`` keep their name."""
    if net in PRESET_NETWORKS:
        return net
    return f"{_map_name(map_)}.{net}"


def _hostname_form(name: str) -> str:
    return name.replace("_", "-").replace(".", "-")


def hostname(container_name: str, client_name: str | None = None) -> str:
    """Hostname for a container: ``_`` and ``.`` become ``-``; ``-client`` is appended unless
    the client is the default client (``main.web_server`` -> ``main-web-server``)."""
    result = _hostname_form(container_name)
    if client_name and client_name != DEFAULT_CLIENT:
        result = f"{result}-{_hostname_form(client_name)}"
    return result


def default_link_alias(ref: str) -> str:
    """Default alias of a link or endpoint link: ``app_server.instance1`` -> ``app-server-instance1``."""
    return _hostname_form(ref)


def split_image(image: str) -> tuple[str, str | None]:
    """Split ``name[:tag][@digest]`` into ``(name, tag or None)``.

    The tag is only looked for after the last ``/``, so a registry port is never taken for a
    tag: ``127.0.0.1:5000/app`` -> ``('127.0.0.1:5000/app', None)``,
    ``registry.local:5000/app:1.0`` -> ``('registry.local:5000/app', '1.0')``. A digest stays
    attached to the name (``app@sha256:...``).
    """
    base, at, digest = image.partition("@")
    slash = base.rfind("/")
    colon = base.rfind(":")
    if colon > slash:
        return base[:colon] + at + digest, base[colon + 1 :]
    return image, None


def join_image(name: str, tag: str | None) -> str:
    """Inverse of :func:`split_image` (a digest in ``name`` stays last)."""
    if not tag:
        return name
    base, at, digest = name.partition("@")
    return f"{base}:{tag}{at}{digest}"


def expand_image(image: str, repository: str | None = None, default_tag: str | None = None) -> str:
    """Image name expansion of ``ContainerMap.get_image`` (reference 2.4), on resolved values.

    A leading ``/`` strips it and suppresses the repository prefix; names containing ``/`` are
    used as they are; other names get ``repository/`` in front when a repository is set. An
    image without tag (and without digest) gets ``default_tag`` or ``latest``.
    """
    name, tag = split_image(image)
    if name.startswith("/"):
        name = name[1:]
    elif repository and "/" not in name:
        name = f"{repository.rstrip('/')}/{name}"
    if tag is None and "@" not in name:
        tag = default_tag or DEFAULT_TAG
    return join_image(name, tag)


def image_problem(image: str) -> str | None:
    """Why ``image`` (as written in a map, optional leading ``/``) is not a valid Docker image
    reference, or None when it is valid."""
    ref = image[1:] if image.startswith("/") else image
    if not ref:
        return "image name is empty"
    if len(split_image(ref)[0].partition("@")[0]) > 255:
        return f"image name {image!r} is longer than 255 characters"
    if not _REFERENCE_RE.match(ref):
        hint = " (repository names must be lower-case)" if ref != ref.lower() else ""
        return f"invalid image reference {image!r}{hint}"
    return None


def repository_problem(repository: str) -> str | None:
    """Why a map ``repository`` prefix is invalid, or None."""
    if not _REPOSITORY_RE.match(repository.rstrip("/")):
        hint = " (must be lower-case)" if repository != repository.lower() else ""
        return f"invalid repository prefix {repository!r}{hint}"
    return None


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` is not a valid image tag, or None."""
    if not _TAG_RE.match(tag):
        return f"invalid image tag {tag!r} (letters, digits, '_', '.', '-'; at most 128 characters)"
    return None


def name_problem(name: Any, what: str, dots: bool = False) -> str | None:
    """Why ``name`` cannot be used as a Docker object name part, or None.

    ``dots=False`` (map, config and instance names) also rejects ``.``, which separates the parts
    of ``map.config.instance``.
    """
    if not isinstance(name, str):
        return f"{what} must be a string, got {type(name).__name__} {name!r}"
    if (NAME_RE if dots else PART_RE).match(name):
        return None
    allowed = "letters, digits, '_', '.', '-'" if dots else "letters, digits, '_', '-'"
    return f"invalid {what} {name!r} (allowed: {allowed}; must start with a letter or digit)"
