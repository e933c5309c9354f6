"""Images: Dockerfile/context generation, build, registry login/pull/push, maintenance, save/load.

Everything public is importable from ``containermap.images``:

* ``dockerfile``: :class:`DockerFile`, ``format_command`` ... (Dockerfile generation)
* ``context``: :class:`DockerContext`, :class:`DockerIgnore` (build contexts)
* ``build``: :func:`build`, :func:`build_image` (fuselage style), :func:`tag_image`
* ``registry``: :func:`parse_image`, :func:`image_exists`, :func:`image_id`, :func:`pull_image`,
  :func:`ensure_image`, :func:`push_image`, :func:`login`, :func:`image_tag_exists`
* ``maintenance``: cleanups, :func:`remove_image`, list tables, :func:`version`
* ``saveload``: :func:`save_image`, :func:`load_image`
"""

from .build import build, build_image, tag_image
from .context import DockerContext, DockerIgnore
from .dockerfile import DockerFile, format_command, format_expose, format_healthcheck, format_labels
from .errors import (
    BuildError,
    FinalizedError,
    ImageError,
    ImageNotFound,
    PullError,
    PushError,
    RegistryAuthError,
    RegistryError,
)
from .maintenance import (
    CleanupResult,
    cleanup_containers,
    cleanup_images,
    list_containers,
    list_images,
    list_networks,
    list_volumes,
    remove_all_containers,
    remove_image,
    version,
)
from .registry import (
    PULL_POLICIES,
    ensure_image,
    image_exists,
    image_id,
    image_tag_exists,
    join_image,
    login,
    parse_image,
    pull_image,
    push,
    push_image,
    registry_auth,
)
from .saveload import is_gzip, load_image, save_image

__all__ = [
    "BuildError",
    "CleanupResult",
    "DockerContext",
    "DockerFile",
    "DockerIgnore",
    "FinalizedError",
    "ImageError",
    "ImageNotFound",
    "PULL_POLICIES",
    "PullError",
    "PushError",
    "RegistryAuthError",
    "RegistryError",
    "build",
    "build_image",
    "cleanup_containers",
    "cleanup_images",
    "ensure_image",
    "format_command",
    "format_expose",
    "format_healthcheck",
    "format_labels",
    "image_exists",
    "image_id",
    "image_tag_exists",
    "is_gzip",
    "join_image",
    "list_containers",
    "list_images",
    "list_networks",
    "list_volumes",
    "load_image",
    "login",
    "parse_image",
    "pull_image",
    "push",
    "push_image",
    "registry_auth",
    "remove_all_containers",
    "remove_image",
    "save_image",
    "tag_image",
    "version",
]
