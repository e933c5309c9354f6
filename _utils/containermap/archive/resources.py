"""Copying files and directories out of containers (or images) through the Engine API.

Everything streams: ``get_archive`` chunks are parsed as a tar stream, members are renamed on the
fly and written straight into the output (a .tar.gz, an image import, or a safe extraction), so
memory stays constant whatever the size. No docker CLI, no shell, no tool inside the container.

``container`` arguments: a container name or id, or an image reference; for an image a temporary
container is created (never started), labelled ``org.dockerfabric.temporary`` and removed
afterwards, also on errors; ``temp_labels`` are added to its labels. Map references
(``map.config[.instance]``) are container names: the caller resolves them with
``containermap.config.naming``. An existing container wins over an image of the same name.

Archives written (``copy_resource``, ``isolate_and_get``) and imported images keep members as
the engine sends them: modes (setuid included), owners, symlinks whatever their target. Only
``copy_resources`` extracts to disk, through :mod:`.tarsafe` (unsafe members refused, sane modes).
Outputs are gzip-compressed (in parallel, one standard gzip member) unless the file name ends in
``.tar``, and written atomically: a failure leaves no partial file.

Destination rules (``copy_resources``, ``isolate_and_get``, ``isolate_to_image``):

* without ``dst_directories`` a resource keeps its container path below the destination
  (``/var/lib/app/data1`` -> ``var/lib/app/data1``);
* ``dst_directories[resource]`` RENAMES the resource to that path (relative to the destination;
  a leading ``/`` is ignored, ``..`` is refused). A value ending in ``/`` is a directory the
  resource goes into under its own name;
* ``dst_directories['*']`` is the destination of every resource without its own entry, so the
  contents of several directories can be merged into one;
* a directory whose destination already exists (from an earlier resource or, for
  ``copy_resources``, on disk) is merged into it; a file whose destination is an existing
  directory goes into it under its own name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import docker.errors

from .. import labels as label_names
from ..exceptions import ConfigurationError
from . import streams, tarsafe, tarstream
from .importing import config_changes, import_stream
from .modes import parse_chmod, parse_chown
from .tarsafe import ArchiveError

log = logging.getLogger(__name__)

# a command for temporary containers of images that have none: they are never started
NO_OP_COMMAND = ["/.dockerfabric-no-op"]


# -- sources ------------------------------------------------------------------------------------


@contextlib.contextmanager
def temp_container(api: Any, image: str, labels: Mapping[str, str] | None = None) -> Iterator[str]:
    """Create a container from ``image`` (never started) for reading its file system; yields its
    id and removes it (with its anonymous volumes) afterwards, also when the body raises."""
    try:
        info = api.inspect_image(image)
    except docker.errors.NotFound as exc:
        raise ArchiveError(f"no image {image!r}", target=image, cause=exc) from exc
    config = info.get("Config") or {}
    command = None if (config.get("Cmd") or config.get("Entrypoint")) else NO_OP_COMMAND
    all_labels = {label_names.TEMPORARY: "archive", **(labels or {})}
    try:
        created = api.create_container(info["Id"], command=command, labels=all_labels, network_disabled=True)
    except docker.errors.APIError as exc:
        raise ArchiveError(f"cannot create a temporary container: {exc}", target=image, cause=exc) from exc
    container_id = created["Id"]
    try:
        yield container_id
    finally:
        try:
            api.remove_container(container_id, v=True, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # do not hide the body's error
            log.warning("could not remove temporary container %s: %s", container_id[:12], exc)


@contextlib.contextmanager
def open_source(api: Any, ref: str, labels: Mapping[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """Yields ``(container_id, name)`` for a container name/id or an image reference (then
    through :func:`temp_container`). An existing container wins over an image of the same name."""
    try:
        info = api.inspect_container(ref)
    except docker.errors.NotFound:
        info = None
    except docker.errors.APIError as exc:
        raise ArchiveError(f"cannot inspect container: {exc}", target=ref, cause=exc) from exc
    if info is not None:
        yield info["Id"], info["Name"].lstrip("/")
        return
    try:
        api.inspect_image(ref)
    except docker.errors.NotFound as exc:
        raise ArchiveError("no container or image of this name", target=ref, cause=exc) from exc
    with temp_container(api, ref, labels) as container_id:
        yield container_id, ref


# -- destinations -------------------------------------------------------------------------------


def _clean_rel(path: str, what: str) -> str:
    """A relative, normalised destination path; refuses ``..`` components."""
    rel = path.replace(os.sep, "/").strip("/")
    if ".." in rel.split("/"):
        raise ConfigurationError(f"dst_directories: {what} {path!r} must not contain '..'")
    return posixpath.normpath(rel) if rel else ""


def destination(resource: str, dst_directories: Mapping[str, str] | None) -> tuple[str, bool]:
    """``(relative destination, into)`` of ``resource``: ``into`` means the destination is a
    directory the resource goes into under its own name."""
    mapping = dst_directories or {}
    target = mapping.get(resource)
    if target is None:
        target = mapping.get(resource.rstrip("/") or "/")
    if target is None:
        target = mapping.get("*")
    if target is None:
        rel = _clean_rel(resource, "resource")
        if not rel:
            raise ConfigurationError("copying '/' needs a dst_directories entry")
        return rel, False
    into = target.endswith("/")
    rel = _clean_rel(target, f"destination of {resource}")
    if not rel and not into:
        raise ConfigurationError(f"dst_directories: empty destination for {resource!r}")
    return rel, into


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


# -- reading a resource -------------------------------------------------------------------------


def _get_archive(api: Any, container_id: str, name: str, resource: str) -> tuple[Iterable[bytes], dict]:
    try:
        return api.get_archive(container_id, resource, chunk_size=streams.CHUNK)
    except docker.errors.NotFound as exc:
        raise ArchiveError(f"{resource}: no such file or directory", target=name, cause=exc) from exc
    except docker.errors.APIError as exc:
        raise ArchiveError(f"{resource}: {exc}", target=name, cause=exc) from exc


def resource_members(
    api: Any,
    container_id: str,
    name: str,
    resource: str,
    dest: str | None,
    *,
    contents_only: bool = False,
    into: bool = False,
    into_dirs: set[str] | frozenset[str] = frozenset(),
    progress: streams.Progress | None = None,
) -> Iterator[streams.Entry]:
    """``(member, fileobj)`` pairs of one resource, renamed on the fly.

    ``get_archive`` names the resource's top member by its base name; here it becomes ``dest``
    (``None``: unchanged). With ``contents_only`` a directory's contents go to the root and its
    own entry is left out. With ``into``, or if ``dest`` is one of ``into_dirs`` and the resource
    is not a directory, it goes into ``dest`` under its own name. Hard link targets are renamed the same
    way. Members with unsafe names are refused (the engine never sends them; the check is cheap).
    """
    chunks, _stat = _get_archive(api, container_id, name, resource)
    # socket reads in a thread of their own, overlapping the consumer's disk or CPU work
    chunks = streams.counted(streams.read_ahead(chunks), progress)
    # the engine names the members of "/" absolutely ("", "/bin" ...): made relative here
    whole_fs = posixpath.normpath(resource).strip("/") in ("", ".")
    top = None
    new_top = dest
    members = tarstream.iter_tar(chunks)
    with contextlib.closing(members):
        for member, data in members:
            member_name = member.name.lstrip("/") if whole_fs else member.name
            if member_name.startswith("/"):
                raise tarsafe.UnsafeArchiveMember(member.name, "absolute path", target=name)
            if ".." in member_name.split("/"):
                raise tarsafe.UnsafeArchiveMember(member.name, "path has a '..' component", target=name)
            path = member_name.rstrip("/")
            if top is None:
                top = "" if whole_fs else path.split("/", 1)[0]
                if contents_only and member.isdir():
                    new_top = ""
                elif dest is None:
                    new_top = top
                elif into or (dest in into_dirs and not member.isdir()):
                    new_top = f"{dest}/{top}"
            changes = {"name": _rename(path, top, new_top)}
            if member.islnk():
                link = member.linkname.lstrip("/") if whole_fs else member.linkname
                changes["linkname"] = _rename(link.rstrip("/"), top, new_top)
            if not changes["name"]:
                continue  # contents only: the directory itself is not copied
            yield streams.copy_info(member, **changes), data


def _rename(path: str, top: str, new_top: str) -> str:
    if path == top:
        return new_top
    if not top:  # the whole file system
        return f"{new_top}/{path}" if new_top else path
    if path.startswith(top + "/"):
        rest = path[len(top) + 1 :]
        return f"{new_top}/{rest}" if new_top else rest
    return path


# -- owners and modes in tar headers ------------------------------------------------------------


def _owner_mode(
    entries: Iterable[streams.Entry], chown: tuple[int, int] | None, chmod: Any
) -> Iterator[streams.Entry]:
    """Apply ``apply_chown`` / ``apply_chmod`` to tar headers (no extraction needed)."""
    names = {}
    if chown:
        uid, gid = chown
        names = {
            "uname": _name_of(uid, "pwd") if uid != -1 else None,
            "gname": _name_of(gid, "grp") if gid != -1 else None,
        }
    for info, fileobj in entries:
        if chown:
            if chown[0] != -1:
                info.uid, info.uname = chown[0], names["uname"]
            if chown[1] != -1:
                info.gid, info.gname = chown[1], names["gname"]
        if chmod is not None and not info.issym():
            info.mode = chmod(info.mode & 0o7777, info.isdir())
        yield info, fileobj


def _name_of(ident: int, db: str) -> str:
    import grp
    import pwd

    try:
        return pwd.getpwuid(ident).pw_name if db == "pwd" else grp.getgrgid(ident).gr_name
    except KeyError:
        return ""


def _dir_entry(name: str, mtime: float) -> streams.Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = mtime
    return info, None


def isolated_entries(
    api: Any,
    container_id: str,
    name: str,
    src_resources: Sequence[str],
    dst_directories: Mapping[str, str] | None = None,
    apply_chown: Any = None,
    apply_chmod: Any = None,
    progress: streams.Progress | None = None,
) -> Iterator[streams.Entry]:
    """Tar entries of several resources with the destination rules of this module: parent
    directories are added, a directory merged from several resources appears once."""
    chown = parse_chown(apply_chown)
    chmod = parse_chmod(apply_chmod)
    plans = [(resource, *destination(resource, dst_directories)) for resource in src_resources]
    now = time.time()

    def generate() -> Iterator[streams.Entry]:
        dirs: set[str] = set()
        base = 0
        for resource, rel, into in plans:
            for parent in _parents(rel) + ([rel] if into else []):
                if parent not in dirs:
                    dirs.add(parent)
                    yield _dir_entry(parent, now)
            done = [0]

            def report(count: int, _total: int | None, done: list[int] = done, base: int = base) -> None:
                done[0] = count
                if progress is not None:
                    progress(base + count, None)

            for info, fileobj in resource_members(
                api, container_id, name, resource, rel, into=into, into_dirs=dirs, progress=report
            ):
                if info.isdir():
                    if info.name in dirs:
                        continue  # merged: the first resource's directory entry stands
                    dirs.add(info.name)
                yield info, fileobj
            base += done[0]

    return _owner_mode(generate(), chown, chmod)


# -- public functions ---------------------------------------------------------------------------


def copy_resource(
    api: Any,
    container: str,
    resource: str,
    local_filename: str,
    contents_only: bool = True,
    progress: streams.Progress | None = None,
    temp_labels: Mapping[str, str] | None = None,
    compresslevel: int = 6,
    checksum: bool = True,
) -> dict:
    """Copy one path (file or directory) out of a container into a tar archive.

    A directory's contents are at the root of the archive unless ``contents_only=False`` (then
    the directory itself is the top entry); a file is at the root under its own name. The output
    is gzip-compressed unless ``local_filename`` ends in ``.tar``; it is written atomically.
    Returns ``{'path', 'size', 'sha256', 'data_size', 'container', 'resource'}`` (``sha256`` of
    the file, computed while writing; None with ``checksum=False``).
    """
    with open_source(api, container, temp_labels) as (container_id, name):
        entries = resource_members(
            api, container_id, name, resource, None, contents_only=contents_only, progress=progress
        )
        chunks = streams.tar_chunks(entries)  # socket reads already run in a thread of their own
        result = streams.write_file(chunks, local_filename, level=compresslevel, checksum=checksum)
    result.update(container=name, resource=resource)
    return result


def _merge(src: str, dst: str) -> None:
    """Move the staged tree ``src`` to ``dst``: directories are merged, other things replace
    what is there (a symlink at ``dst`` is replaced, never followed)."""
    if os.path.isdir(src) and not os.path.islink(src) and os.path.isdir(dst) and not os.path.islink(dst):
        for entry in os.listdir(src):
            _merge(os.path.join(src, entry), os.path.join(dst, entry))
        return
    if os.path.isdir(dst) and not os.path.islink(dst):
        raise ArchiveError(f"{dst}: a directory is in the way of a file")
    if os.path.lexists(dst) and os.path.isdir(src) and not os.path.islink(src):
        os.unlink(dst)
    os.replace(src, dst)


def copy_resources(
    api: Any,
    src_container: str,
    src_resources: Sequence[str] | str,
    storage_dir: str,
    dst_directories: Mapping[str, str] | None = None,
    apply_chown: Any = None,
    apply_chmod: Any = None,
    *,
    on_unsafe: str = tarsafe.ERROR,
    keep_modes: bool = False,
    progress: streams.Progress | None = None,
    temp_labels: Mapping[str, str] | None = None,
) -> list[str]:
    """Copy several paths out of a container into ``storage_dir`` (see the module docstring for
    the destination rules), extracting safely (:mod:`.tarsafe`), then ``apply_chown`` /
    ``apply_chmod`` to everything written (including parent directories this call created).

    All resources are extracted into a staging directory inside ``storage_dir`` first and moved
    into place at the end, so a failure leaves ``storage_dir`` as it was. Returns the written
    destination paths, one per resource.
    """
    if isinstance(src_resources, str):
        src_resources = [src_resources]
    chown = parse_chown(apply_chown)
    chmod = parse_chmod(apply_chmod)
    plans = [(resource, *destination(resource, dst_directories)) for resource in src_resources]
    created_storage = not os.path.isdir(storage_dir)
    os.makedirs(storage_dir, exist_ok=True)
    storage = os.path.realpath(storage_dir)
    staging = tempfile.mkdtemp(prefix=".dockerfabric-staging-", dir=storage)
    written: list[str] = []
    ok = False
    try:
        with open_source(api, src_container, temp_labels) as (container_id, name):
            extractor = tarsafe.SafeExtractor(
                staging, keep_modes=keep_modes, chown=chown, chmod=chmod, on_unsafe=on_unsafe
            )
            try:
                for resource, rel, into in plans:
                    existing = {
                        rel
                        for root in (staging, storage)
                        if os.path.isdir(os.path.join(root, rel))
                        and not os.path.islink(os.path.join(root, rel))
                    }
                    if into:
                        extractor.extract(_dir_entry(rel, time.time())[0])
                    members = resource_members(
                        api,
                        container_id,
                        name,
                        resource,
                        rel,
                        into=into,
                        into_dirs=existing,
                        progress=progress,
                    )
                    top = None
                    try:
                        for info, fileobj in members:
                            top = top or info.name
                            extractor.extract(info, fileobj)
                    except tarsafe.UnsafeArchiveMember as exc:
                        hint = "; on_unsafe='skip' leaves such members out"
                        raise tarsafe.UnsafeArchiveMember(
                            exc.member, exc.reason + hint, target=name
                        ) from None
                    written.append(os.path.join(storage, top or rel))
            finally:
                extractor.finish()
            if extractor.skipped:
                log.warning("%s: skipped unsafe members: %s", name, extractor.skipped)
        for entry in os.listdir(staging):
            _merge(os.path.join(staging, entry), os.path.join(storage, entry))
        if created_storage:
            if chown:
                os.chown(storage, *chown)
            if chmod:
                os.chmod(storage, chmod(0o755, True))
        ok = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not ok and created_storage:
            with contextlib.suppress(OSError):
                os.rmdir(storage)
    return written


def default_archive_name(name: str) -> str:
    """``container_<name>.tar.gz`` with characters unsafe in file names replaced."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"container_{safe}.tar.gz"


def isolate_and_get(
    api: Any,
    src_container: str,
    src_resources: Sequence[str] | str,
    local_dst_dir_or_file: str,
    dst_directories: Mapping[str, str] | None = None,
    apply_chown: Any = None,
    apply_chmod: Any = None,
    *,
    progress: streams.Progress | None = None,
    temp_labels: Mapping[str, str] | None = None,
    compresslevel: int = 6,
) -> str:
    """The selected resources as one archive (destination rules and chown/chmod as for
    :func:`copy_resources`, applied to the tar headers on the fly: nothing is extracted).

    ``local_dst_dir_or_file`` an existing directory (or a path ending in ``/``): the file is
    ``container_<name>.tar.gz`` in it. Gzip-compressed unless the name ends in ``.tar``; written
    atomically. Returns the path of the archive.
    """
    if isinstance(src_resources, str):
        src_resources = [src_resources]
    with open_source(api, src_container, temp_labels) as (container_id, name):
        target = local_dst_dir_or_file
        if os.path.isdir(target) or target.endswith(("/", os.sep)):
            target = os.path.join(target, default_archive_name(name))
        entries = isolated_entries(
            api, container_id, name, src_resources, dst_directories, apply_chown, apply_chmod, progress
        )
        chunks = streams.tar_chunks(entries)
        result = streams.write_file(chunks, target, level=compresslevel, checksum=False)
    return result["path"]


def isolate_to_image(
    api: Any,
    src_container: str,
    src_resources: Sequence[str] | str,
    dst_image: str,
    cmd: Sequence[str] | str | None = None,
    env: Mapping[str, str] | Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    dst_directories: Mapping[str, str] | None = None,
    apply_chown: Any = None,
    apply_chmod: Any = None,
    *,
    entrypoint: Sequence[str] | str | None = None,
    workdir: str | None = None,
    user: str | None = None,
    changes: Sequence[str] | None = None,
    progress: streams.Progress | None = None,
    temp_labels: Mapping[str, str] | None = None,
) -> str:
    """A new image ``dst_image`` holding only the selected resources (destination rules as for
    :func:`copy_resources`), imported straight from the tar stream; ``cmd``, ``env``,
    ``labels``, ``entrypoint``, ``workdir``, ``user`` and raw ``changes`` (Dockerfile lines the
    engine's import accepts) configure it. Returns the image id."""
    if isinstance(src_resources, str):
        src_resources = [src_resources]
    if isinstance(env, Mapping):
        env = [f"{k}={v}" for k, v in env.items()]
    if isinstance(cmd, str):
        cmd = ["/bin/sh", "-c", cmd]
    if isinstance(entrypoint, str):
        entrypoint = ["/bin/sh", "-c", entrypoint]
    config = {
        "Cmd": cmd,
        "Env": env,
        "Labels": labels,
        "Entrypoint": entrypoint,
        "WorkingDir": workdir,
        "User": user,
    }
    all_changes, lost = config_changes(config)
    if lost:
        raise ConfigurationError(
            f"isolate_to_image: cannot set {', '.join(lost)} through an import (line break?)"
        )
    all_changes += list(changes or ())
    with open_source(api, src_container, temp_labels) as (container_id, name):
        entries = isolated_entries(
            api, container_id, name, src_resources, dst_directories, apply_chown, apply_chmod, progress
        )
        chunks = streams.coalesce(streams.tar_chunks(entries))  # fewer, larger HTTP chunks
        return import_stream(api, chunks, dst_image, all_changes)
