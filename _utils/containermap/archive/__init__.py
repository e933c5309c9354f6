"""Streaming copy out of containers and images, image import and flattening, safe tar handling.

The docker-fabric utilities (``copy_resource``, ``copy_resources``, ``isolate_and_get``,
``isolate_to_image``, ``flatten_image``) through the Engine API alone: no docker CLI, no shell,
no tool inside the container, constant memory. ``api`` arguments are ``docker.APIClient``
instances (``docker.DockerClient().api`` works).
"""

from .flatten import flatten_image
from .importing import config_changes, import_result, import_stream
from .modes import parse_chmod, parse_chown
from .resources import (
    copy_resource,
    copy_resources,
    default_archive_name,
    destination,
    isolate_and_get,
    isolate_to_image,
    open_source,
    temp_container,
)
from .tarsafe import (
    ArchiveError,
    SafeExtractor,
    UnsafeArchiveMember,
    check_member,
    safe_extract,
    sanitize_mode,
)

__all__ = [
    "ArchiveError",
    "SafeExtractor",
    "UnsafeArchiveMember",
    "check_member",
    "config_changes",
    "copy_resource",
    "copy_resources",
    "default_archive_name",
    "destination",
    "flatten_image",
    "import_result",
    "import_stream",
    "isolate_and_get",
    "isolate_to_image",
    "open_source",
    "parse_chmod",
    "parse_chown",
    "safe_extract",
    "sanitize_mode",
    "temp_container",
]
