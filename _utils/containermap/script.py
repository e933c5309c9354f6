"""Scripts run in a fresh container of a configuration (docker-map's ``script`` action).

The container is created from the configuration's create arguments (the caller resolves them
and brings the dependencies up), with the entrypoint/command overridden to run the script. The
script is copied INTO the created container with ``put_archive`` -- no bind mount of a host
directory, so nothing of the host's temp dir is exposed (salt-container-map mounted the whole
system temp dir, reference §10 item 13) and it works on remote engines. The container is
started, waited for (``wait_timeout``), its logs and exit code collected, and it is removed
afterwards, also on errors and timeouts. Nothing runs in a shell on the host.

``single_cmd`` (one command in a RUNNING map container) lives in :mod:`containermap.execs` and
is re-exported here.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import docker
import requests.exceptions

from . import labels as labels_mod
from .errors import NameConflict, engine_call, is_read_timeout
from .exceptions import ConfigurationError
from .execs import single_cmd

__all__ = ["run_script", "single_cmd", "script_command", "DEFAULT_WORKDIR", "DEFAULT_SCRIPT_NAME"]

DEFAULT_WORKDIR = "/tmp/script_run"
DEFAULT_SCRIPT_NAME = "script"
# archives up to this size stay in memory, larger ones spill to a temporary file
_SPOOL_MAX = 8 * 1024 * 1024


def script_command(
    script_path: str | None,
    entrypoint: str | Sequence[str] | None = None,
    command_format: str | Sequence[str] | None = None,
) -> tuple[Any, Any]:
    """(entrypoint, command) for the script container.

    ``command_format`` (string or list) may contain ``{script_path}``. Without it: with an
    ``entrypoint`` (an interpreter such as ``/bin/sh`` or ``python3``) the command is
    ``[script_path]``; without either the script itself is the entrypoint (it needs a ``#!``
    line; it is uploaded executable) and the image's CMD is not appended.
    """
    path = script_path or ""
    if command_format is not None:
        if isinstance(command_format, str):
            command: Any = command_format.format(script_path=path)
        elif isinstance(command_format, Sequence):
            command = [str(part).format(script_path=path) for part in command_format]
        else:
            raise ConfigurationError("command_format must be a string or a list of strings")
        return entrypoint, command
    if script_path is None:
        return entrypoint, None
    if entrypoint is not None:
        return entrypoint, [script_path]
    return [script_path], []


def _owner(create_kwargs: Mapping[str, Any]) -> tuple[int, int]:
    """uid/gid for the uploaded files: the container's numeric user, else root (the files are
    world-readable and the work dir world-writable anyway)."""
    user = str(create_kwargs.get("user") or "")
    name, _sep, group = user.partition(":")
    uid = int(name) if name.isdigit() else 0
    gid = int(group) if group.isdigit() else uid if name.isdigit() and not group else 0
    return uid, gid


def _script_archive(script: Any, workdir: str, script_name: str, uid: int, gid: int) -> tuple[IO[bytes], str]:
    """Tar (spooled to disk when large) holding the work dir and the script; returns it with
    the script's path in the container."""
    rel_dir = workdir.strip("/")
    buf = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX)  # noqa: SIM115 - returned open

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        top = owned(tarfile.TarInfo(rel_dir))
        top.type, top.mode = tarfile.DIRTYPE, 0o777
        if isinstance(script, os.PathLike):
            path = Path(script)
            if path.is_dir():
                tf.addfile(top)
                for child in sorted(path.iterdir()):
                    tf.add(str(child), arcname=f"{rel_dir}/{child.name}", filter=owned)
                script_path = workdir
            elif path.is_file():
                tf.addfile(top)
                info = owned(tf.gettarinfo(str(path), arcname=f"{rel_dir}/{path.name}"))
                info.mode = 0o755
                with path.open("rb") as fh:
                    tf.addfile(info, fh)
                script_path = posixpath.join(workdir, path.name)
            else:
                raise ConfigurationError(f"script: {path} does not exist")
        else:
            data = script.encode("utf-8") if isinstance(script, str) else bytes(script)
            tf.addfile(top)
            info = owned(tarfile.TarInfo(f"{rel_dir}/{script_name}"))
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
            script_path = posixpath.join(workdir, script_name)
    buf.seek(0)
    return buf, script_path


def run_script(
    api: docker.APIClient,
    *,
    image: str,
    script: str | bytes | os.PathLike | None,
    name: str,
    create_kwargs: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    entrypoint: str | Sequence[str] | None = None,
    command_format: str | Sequence[str] | None = None,
    workdir: str = DEFAULT_WORKDIR,
    wait_timeout: float | None = None,
    remove_after: bool = True,
    remove_existing: bool = False,
    script_name: str = DEFAULT_SCRIPT_NAME,
    timestamps: bool = False,
    tail: str | int = "all",
    target: str | None = None,
) -> dict[str, Any]:
    """Run ``script`` in a new container ``name`` from ``image`` and return
    ``{'container': id, 'name', 'exit_code', 'logs', 'timed_out', 'removed', 'script_path'}``.

    ``script``: the script text (``str``/``bytes``, uploaded as ``<workdir>/<script_name>``),
    a local file (``pathlib.Path``: uploaded under its name) or directory (its content goes
    into ``workdir``, ``{script_path}`` is the directory), or None (no upload: run
    ``command_format`` as a single command). ``create_kwargs`` are the configuration's
    ``create_container`` arguments (``host_config``, ``environment``, ``user``...);
    ``entrypoint``/``command`` are replaced (see :func:`script_command`), their
    ``org.dockerfabric.*`` labels dropped (not the managed instance). ``labels`` are added;
    the container also carries ``org.dockerfabric.temporary`` unless ``remove_after`` is
    False. An existing container ``name`` is a :class:`~containermap.errors.NameConflict`
    unless ``remove_existing``. After ``wait_timeout`` seconds the container is killed:
    ``timed_out`` True, ``exit_code`` None, ``logs`` so far. A nonzero exit is not an error.
    The container is removed afterwards (``remove_after``), also when anything fails.
    """
    if not workdir.startswith("/") or workdir.rstrip("/") == "":
        raise ConfigurationError(f"script workdir must be an absolute path below /, not {workdir!r}")
    workdir = workdir.rstrip("/")
    target = target or name
    kwargs = dict(create_kwargs or {})
    for key in ("image", "name", "entrypoint", "command"):
        kwargs.pop(key, None)
    # the configuration's identity labels (map, config, hash...) stay off: this container is
    # not the managed instance, and one kept with remove_after=False must not look like it
    inherited = {
        k: v
        for k, v in (kwargs.pop("labels", None) or {}).items()
        if not k.startswith(labels_mod.PREFIX + ".") or k == labels_mod.TEST
    }
    container_labels = {**inherited, **(labels or {})}
    if remove_after:
        container_labels[labels_mod.TEMPORARY] = "script"
    archive = None
    script_path = None
    if script is not None:
        archive, script_path = _script_archive(script, workdir, script_name, *_owner(kwargs))
    try:
        run_entrypoint, command = script_command(script_path, entrypoint, command_format)
        create_args = dict(kwargs, image=image, name=name, labels=container_labels, command=command)
        if run_entrypoint is not None:
            create_args["entrypoint"] = run_entrypoint
        cid = _create(api, create_args, remove_existing, target, image)
        return _run(
            api, cid, name, archive, wait_timeout, remove_after, timestamps, tail, target, script_path
        )
    finally:
        if archive is not None:
            archive.close()


def _create(
    api: docker.APIClient, create_args: dict[str, Any], remove_existing: bool, target: str, image: str
) -> str:
    try:
        with engine_call(target, action="create script container", api=api, image=image):
            return api.create_container(**create_args)["Id"]
    except NameConflict as exc:
        if not remove_existing:
            raise
        with engine_call(target, action="remove existing script container", api=api):
            api.remove_container(exc.existing_id or create_args["name"], v=True, force=True)
        with engine_call(target, action="create script container", api=api, image=image):
            return api.create_container(**create_args)["Id"]


def _run(
    api: docker.APIClient,
    cid: str,
    name: str,
    archive: IO[bytes] | None,
    wait_timeout: float | None,
    remove_after: bool,
    timestamps: bool,
    tail: str | int,
    target: str,
    script_path: str | None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "container": cid,
        "name": name,
        "script_path": script_path,
        "exit_code": None,
        "logs": "",
        "timed_out": False,
        "removed": False,
    }
    finished = False
    try:
        with engine_call(target, action="run script", api=api):
            if archive is not None:
                api.put_archive(cid, "/", archive)
            api.start(cid)
            try:
                status = api.wait(cid, timeout=wait_timeout)
                result["exit_code"] = status.get("StatusCode")
                finished = True
            except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
                if not is_read_timeout(exc):
                    raise
                result["timed_out"] = True
                result["error"] = f"script did not finish within {wait_timeout:g} s"
                api.kill(cid)
            logs = api.logs(cid, stdout=True, stderr=True, timestamps=timestamps, tail=tail)
            result["logs"] = logs.decode("utf-8", "replace") if isinstance(logs, bytes) else str(logs)
    finally:
        if not finished and not remove_after:
            # never leave a half-run script container running
            try:
                api.kill(cid)
            except Exception:  # noqa: S110 - already stopped, or the original error matters more
                pass
        if remove_after:
            try:
                api.remove_container(cid, v=True, force=True)
                result["removed"] = True
            except docker.errors.NotFound:
                result["removed"] = True
            except Exception:  # noqa: S110 - cleanup_temporary removes leftovers later
                pass
    return result
