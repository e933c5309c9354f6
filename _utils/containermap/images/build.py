"""Image builds: stream a context to the engine, follow the log, tag the result.

``build`` accepts a :class:`DockerContext`, a :class:`DockerFile` (a context is made from it)
or a directory path (its ``.dockerignore`` honoured). ``build_image`` is the fuselage-style
convenience (``from_image``, ``tag``, ``env``, ``volumes``, ``ports``, ``cmd``, ``maintainer``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import docker.errors

from .context import DockerContext
from .dockerfile import DockerFile
from .errors import TRANSPORT_ERRORS, BuildError, ImageError, engine_failure, exception_text
from .registry import image_id, low_level, parse_image

log = logging.getLogger(__name__)

_STEP = re.compile(r"^Step (\d+/\d+) : (.*)$")
_BUILT = re.compile(r"Successfully built ([0-9a-f]+)")
# lines of the log kept for an error report
_LOG_TAIL = 20


def _tag_ref(extra: str, repository: str) -> str:
    """An extra tag: a plain tag name applies to the built repository, else a full reference."""
    if "/" in extra or ":" in extra:
        return extra
    return f"{repository}:{extra}"


def tag_image(api: Any, image: str, ref: str, force: bool = False) -> None:
    """Tag ``image`` as ``ref`` (``repo[:tag]``, ``latest`` by default)."""
    registry, repository, tag = parse_image(ref)
    repo = f"{registry}/{repository}" if registry else repository
    try:
        low_level(api).tag(image, repo, tag or "latest", force=force)
    except docker.errors.APIError as exc:
        raise ImageError(f"tagging {image} as {ref} failed: {exception_text(exc)}", cause=exc) from None


def build(
    api: Any,
    context_or_dockerfile: DockerContext | DockerFile | str,
    tag: str,
    add_tags: Iterable[str] = (),
    add_latest_tag: bool = False,
    progress: Callable[[str], None] | None = None,
    compression: str | None = "gz",
    **kwargs: Any,
) -> str:
    """Build an image, tag it ``tag`` (+ ``add_tags``) and return its id (``sha256:...``).

    Every log line is passed to ``progress`` as it arrives. ``add_tags`` items without ``/`` or
    ``:`` are tags of the built repository, others full references; ``add_latest_tag`` adds
    ``latest``. ``kwargs`` go to the engine (``labels``, ``nocache``, ``buildargs``, ``pull``,
    ``rm`` and ``forcerm`` (both default True: no intermediate container is left, even by a
    failed step), ``network_mode``, ``target``, ...). A failing build raises
    :class:`BuildError` naming the step (``step 3/5 RUN false failed: ...``).
    """
    if not tag:
        raise ValueError("build needs a tag")
    owned: DockerContext | None = None
    if isinstance(context_or_dockerfile, DockerContext):
        context = context_or_dockerfile
    elif isinstance(context_or_dockerfile, DockerFile):
        context = owned = DockerContext(context_or_dockerfile, compression=compression)
    elif isinstance(context_or_dockerfile, str) and os.path.isdir(context_or_dockerfile):
        context = owned = DockerContext(compression=compression)
        context.add(context_or_dockerfile, arcname=".")
    else:
        raise TypeError("build needs a DockerContext, a DockerFile or a directory")
    try:
        context.finalize()
        new_id = _run_build(api, context, tag, progress, kwargs)
    finally:
        if owned is not None:
            owned.close()
    _registry, repository, _tag = parse_image(tag)
    repo = f"{_registry}/{repository}" if _registry else repository
    extra = list(add_tags)
    if add_latest_tag:
        extra.append("latest")
    failed = []
    for item in extra:
        ref = _tag_ref(item, repo)
        try:
            tag_image(api, new_id, ref)
        except ImageError as exc:
            failed.append(str(exc))
    if failed:
        raise ImageError(
            f"built {tag} ({new_id}) but tagging failed: {'; '.join(failed)}", target=f"image:{tag}"
        )
    return new_id


def _run_build(
    api: Any, context: DockerContext, tag: str, progress: Callable[[str], None] | None, kwargs: dict
) -> str:
    client = low_level(api)
    kwargs.setdefault("rm", True)
    # a failed step must not leave its intermediate container behind (the old tools did)
    kwargs.setdefault("forcerm", True)
    step: str | None = None
    tail: list[str] = []
    built: str | None = None
    try:
        stream = client.build(
            fileobj=context.fileobj,
            custom_context=True,
            encoding=context.stream_encoding,
            tag=tag,
            decode=True,
            **kwargs,
        )
        for record in stream:
            if not isinstance(record, dict):
                continue
            if "error" in record or "errorDetail" in record:
                detail = record.get("errorDetail") or {}
                message = str(record.get("error") or detail.get("message") or "unknown error").strip()
                where = f"step {step}" if step else "build"
                raise BuildError(f"{where} failed: {message}", step=step, log=tail, target=f"image:{tag}")
            aux = record.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                built = aux["ID"]
            text = record.get("stream") or record.get("status")
            if not text:
                continue
            for line in str(text).splitlines():
                line = line.rstrip()
                if not line:
                    continue
                match = _STEP.match(line)
                if match:
                    step = f"{match.group(1)} {match.group(2)}"
                match = _BUILT.search(line)
                if match and built is None:
                    built = match.group(1)
                tail.append(line)
                del tail[:-_LOG_TAIL]
                if progress is not None:
                    progress(line)
    except docker.errors.APIError as exc:
        raise BuildError(
            f"build failed: {exception_text(exc)}", step=step, log=tail, target=f"image:{tag}"
        ) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "build", image=tag) from None
    result = image_id(client, tag)
    if result is None:
        raise BuildError("build finished without an image", step=step, log=tail, target=f"image:{tag}")
    if built and not result.removeprefix("sha256:").startswith(built.removeprefix("sha256:")):
        log.warning("tag %s points to %s, the build reported %s", tag, result, built)
    return result


def build_image(
    api: Any,
    from_image: str,
    tag: str,
    env: Mapping[str, Any] | None = None,
    volumes: Sequence[str] | None = None,
    ports: Sequence[int | str] | None = None,
    cmd: str | Sequence[Any] | None = None,
    maintainer: str | None = None,
    files: Mapping[str, str] | None = None,
    archives: Sequence[str] = (),
    run: Sequence[str] = (),
    entrypoint: str | Sequence[Any] | None = None,
    user: str | int | None = None,
    workdir: str | None = None,
    labels: Mapping[str, Any] | None = None,
    add_tags: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> str:
    """Fuselage-style build: generate the Dockerfile, build it, return the image id.

    Dockerfile order: comment, ``FROM``, ``MAINTAINER``, one ``ENV`` per item, the ``files``
    (destination path -> local source) and ``archives``, the ``run`` commands, then the
    deferred ``VOLUME``, ``USER``, ``WORKDIR``, ``ENTRYPOINT``, ``CMD`` (exec form), ``EXPOSE``
    and ``LABEL``. ``kwargs`` go to :func:`build`.
    """
    dockerfile = DockerFile(
        from_image,
        initial=f"# generated by salt-dockerfabric for {tag}",
        volumes=list(volumes or ()),
        command=cmd,
        entrypoint=entrypoint,
        expose=list(ports) if ports else None,
        labels=dict(labels) if labels else None,
        cmd_user=user,
        cmd_workdir=workdir,
    )
    # fuselage wrote MAINTAINER after the comment; keep the FROM-first order Docker requires
    if maintainer:
        dockerfile.prefix("MAINTAINER", maintainer)
    if env:
        dockerfile.env(env)
    for dst, src in (files or {}).items():
        dockerfile.add_file(src, dst, ctx_path=f"files/{len(dockerfile.files)}/{os.path.basename(src)}")
    for archive in archives:
        dockerfile.add_archive(archive)
    dockerfile.run_all(*run)
    with DockerContext(dockerfile, compression=kwargs.pop("compression", "gz")) as context:
        return build(api, context, tag, add_tags=add_tags, progress=progress, **kwargs)
