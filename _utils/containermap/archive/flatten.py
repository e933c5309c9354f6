"""Flattening an image to one layer: a temporary container's export streamed into an import.

The export of a created (never started) container is the image's merged file system (files
deleted in later layers stay deleted, whiteouts are resolved); it is fed chunk by chunk into
``import_image`` with chunked transfer encoding, so neither the client nor the daemon buffers it.
The image configuration is re-applied as import ``changes`` (see :mod:`.importing` for what an
import can and cannot carry), which the old tools lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import docker.errors
from docker.utils import parse_repository_tag

from . import streams
from .importing import config_changes, import_stream
from .resources import temp_container
from .tarsafe import ArchiveError

log = logging.getLogger(__name__)


def _is_id(ref: str, info: Mapping[str, Any]) -> bool:
    """Whether ``ref`` names the image by (a prefix of) its id rather than by a tag."""
    tags = info.get("RepoTags") or []
    if ref in tags or f"{ref}:latest" in tags:
        return False
    bare = ref.removeprefix("sha256:")
    return ref.startswith("sha256:") or info["Id"].removeprefix("sha256:").startswith(bare)


def flatten_image(
    api: Any,
    image: str,
    dest_image: str | None = None,
    keep_config: bool = True,
    progress: streams.Progress | None = None,
    temp_labels: Mapping[str, str] | None = None,
) -> str:
    """Make a one-layer image of ``image`` and tag it ``dest_image`` (default: ``image``'s own
    tag, which then moves to the new image; the old image keeps its other tags and is not
    removed). The configuration (env, cmd, entrypoint, workdir, user, exposed ports, volumes,
    labels, healthcheck, onbuild) is kept unless ``keep_config=False``; fields an import cannot
    carry (stop signal, shell ...) are logged as lost. ``progress(bytes, estimate)`` follows the
    export stream (the estimate is the image size). Returns the new image id.
    """
    try:
        info = api.inspect_image(image)
    except docker.errors.NotFound as exc:
        raise ArchiveError("no such image", target=image, cause=exc) from exc
    if dest_image is None:
        if _is_id(image, info) or "@" in image:
            raise ArchiveError(
                "give dest_image: the image is named by id or digest, there is no tag to replace",
                target=image,
            )
        repository, tag = parse_repository_tag(image)
        dest_image = f"{repository}:{tag or 'latest'}"
    changes: list[str] = []
    if keep_config:
        changes, lost = config_changes(info.get("Config"))
        if lost:
            log.warning("%s: not carried over by the import: %s", image, ", ".join(lost))
    with temp_container(api, info["Id"], temp_labels) as container_id:
        try:
            exported = api.export(container_id, chunk_size=streams.CHUNK)
        except docker.errors.APIError as exc:
            raise ArchiveError(f"export failed: {exc}", target=image, cause=exc) from exc
        chunks = streams.read_ahead(streams.counted(exported, progress, info.get("Size")))
        return import_stream(api, chunks, dest_image, changes)
