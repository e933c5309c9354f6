"""Owner and permissions of named volumes, set without any tool inside an image.

docker-map ran ``chown -R user:group`` / ``chmod -R mode`` on the volume, either on the host
(Fabric/Salt ``run_cmd``) or in a temporary ``busybox`` container (broken for plain API
clients, reference §10 item 4). We do it over the Docker API only, so it works on remote engines
and with images that have no shell: a temporary container (created, never started, labelled
``org.dockerfabric.temporary``) mounts the volume at ``/data``; the owner and mode of the
volume's root are read from the first tar header of ``GET /archive?path=/data`` and set with
``put_archive('/', tar)`` whose single directory entry ``data`` carries the wanted
uid/gid/mode; the container is removed, also on errors.

Only the volume's ROOT directory is changed, and the engine applies it once, right after it
created the volume: a fresh volume holds nothing else (or the image's files copied into it,
which keep their own owners). Re-applying to a volume that already holds data leaves that data
alone (no recursive walk).
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Mapping
from typing import Any

import docker

from . import labels as labels_mod
from .errors import EngineError, engine_call
from .exceptions import ConfigurationError
from .observe import TEMPORARY_MIN_AGE, TEMPORARY_RUNNING_MIN_AGE, temporary_left_over

MOUNT_POINT = "/data"
# a command is required at create time for images without CMD/ENTRYPOINT; it never runs
HELPER_COMMAND = ["/.containermap-helper-never-started"]


class VolumePreparationError(EngineError):
    """Owner/permissions of a volume could not be set (unknown user name, ...)."""


# -- permissions --------------------------------------------------------------------------

_CLAUSE_RE = re.compile(r"^(?P<who>[ugoa]*)(?P<ops>(?:[-+=](?:[rwxXst]*|[ugo]))+)$")
_OP_RE = re.compile(r"([-+=])([ugo]|[rwxXst]*)")
_CLASS_SHIFT = {"u": 6, "g": 3, "o": 0}
_SPECIAL = {"u": 0o4000, "g": 0o2000, "o": 0o1000}


def apply_mode(spec: str | int, mode: int, is_dir: bool = True) -> int:
    """The mode ``chmod spec`` gives a file whose mode is ``mode`` (permission bits only).

    ``spec`` is an octal string (``750``, ``0750``, ``02775``), an int (mode bits, e.g.
    ``0o750``) or a symbolic mode like ``u=rwX,g=rX,o=`` / ``a+r,o-w`` / ``g=u`` with GNU
    chmod semantics: ``X`` is execute for directories (or when some execute bit is set), an
    empty ``who`` means ``a`` (no umask: the engine applies it, not a shell), directories keep
    their set-uid/set-gid bits unless the spec names them (``s``) or gives 5 octal digits.
    Raises :class:`~containermap.exceptions.ConfigurationError` for an invalid spec.
    """
    mode &= 0o7777
    if isinstance(spec, bool):
        raise ConfigurationError(f"permissions: invalid mode {spec!r}")
    if isinstance(spec, int):
        if not 0 <= spec <= 0o7777:
            raise ConfigurationError(f"permissions: mode {spec!r} out of range")
        return spec
    text = str(spec).strip()
    if re.fullmatch(r"[0-7]{1,5}", text):
        value = int(text, 8)
        if value > 0o7777:
            raise ConfigurationError(f"permissions: mode {text!r} out of range")
        if is_dir and len(text) < 5:
            value |= mode & 0o6000
        return value
    if not text:
        raise ConfigurationError("permissions: empty mode")
    for clause in text.split(","):
        m = _CLAUSE_RE.match(clause)
        if not m:
            raise ConfigurationError(f"permissions: invalid mode {text!r} (clause {clause!r})")
        who = m.group("who").replace("a", "ugo") or "ugo"
        classes = [c for c in "ugo" if c in who]
        for op, perms in _OP_RE.findall(m.group("ops")):
            mode = _apply_op(mode, classes, op, perms, is_dir)
    return mode & 0o7777


def _apply_op(mode: int, classes: list[str], op: str, perms: str, is_dir: bool) -> int:
    if perms in ("u", "g", "o"):
        # copy the permission bits of one class to the others
        rwx = (mode >> _CLASS_SHIFT[perms]) & 0o7
        bits = sum(rwx << _CLASS_SHIFT[c] for c in classes)
        special = 0
    else:
        rwx = 0
        if "r" in perms:
            rwx |= 0o4
        if "w" in perms:
            rwx |= 0o2
        if "x" in perms or ("X" in perms and (is_dir or mode & 0o111)):
            rwx |= 0o1
        bits = sum(rwx << _CLASS_SHIFT[c] for c in classes)
        special = 0
        if "s" in perms:
            special |= sum(_SPECIAL[c] for c in classes if c in "ug")
        if "t" in perms and "o" in classes:
            special |= _SPECIAL["o"]
    if op == "+":
        return mode | bits | special
    if op == "-":
        return mode & ~(bits | special)
    # "=": clear the classes' bits first; directories keep set-uid/gid unless "s" is named
    clear = sum(0o7 << _CLASS_SHIFT[c] for c in classes)
    for c in classes:
        if c == "o" or not is_dir or "s" in perms:
            clear |= _SPECIAL[c]
    return (mode & ~clear) | bits | special


# -- owner --------------------------------------------------------------------------------


def split_owner(user: Any) -> tuple[str, str | None]:
    """``2000`` / ``"2000"`` / ``"app"`` / ``"app:staff"`` / ``("app", "staff")`` ->
    (user, group or None). None for the group means docker-map's ``user:user``."""
    if isinstance(user, tuple | list):
        if len(user) != 2:
            raise ConfigurationError(f"user: give (user, group), not {user!r}")
        return str(user[0]), str(user[1])
    if isinstance(user, bool) or user is None or user == "":
        raise ConfigurationError(f"user: invalid owner {user!r}")
    text = str(user)
    name, sep, group = text.partition(":")
    if not name or (sep and not group):
        raise ConfigurationError(f"user: invalid owner {text!r} (use user, uid, user:group or uid:gid)")
    return name, group if sep else None


def needs_lookup(user: Any) -> bool:
    """True if ``user`` names a user or group (not only numeric ids)."""
    name, group = split_owner(user)
    return not name.isdigit() or (group is not None and not group.isdigit())


def _parse_db(text: str) -> dict[str, list[str]]:
    entries = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            fields = line.split(":")
            if len(fields) >= 3:
                entries.setdefault(fields[0], fields)
    return entries


def resolve_owner(user: Any, passwd: str | None = None, group_db: str | None = None) -> tuple[int, int]:
    """(uid, gid) for ``user``; names are looked up in the texts of ``/etc/passwd`` and
    ``/etc/group``. Without a group, a numeric uid gives gid = uid and a name gives the group of
    the same name, else the user's primary group (docker-map chowned ``user:user``)."""
    name, group = split_owner(user)
    users = _parse_db(passwd or "")
    groups = _parse_db(group_db or "")
    if name.isdigit():
        uid = int(name)
        entry = None
    else:
        entry = users.get(name)
        if entry is None:
            raise VolumePreparationError(f"user '{name}' is not defined in /etc/passwd of the image")
        uid = int(entry[2])
    if group is None:
        if entry is None:
            return uid, uid
        if name in groups:
            return uid, int(groups[name][2])
        return uid, int(entry[3]) if len(entry) > 3 and entry[3].isdigit() else uid
    if group.isdigit():
        return uid, int(group)
    if group not in groups:
        raise VolumePreparationError(f"group '{group}' is not defined in /etc/group of the image")
    return uid, int(groups[group][2])


# -- engine operations --------------------------------------------------------------------


def _read_file(api: docker.APIClient, container: str, path: str) -> str | None:
    """Text of a small file in a (created) container, None if it does not exist."""
    try:
        stream, _stat = api.get_archive(container, path)
        data = b"".join(stream)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        member = tf.next()
        if member is None or not member.isfile():
            return None
        fh = tf.extractfile(member)
        return fh.read().decode("utf-8", "replace") if fh else None


def _root_entry(api: docker.APIClient, container: str) -> tarfile.TarInfo:
    """Tar header of the volume root: only the first header is read, then the connection is
    closed, so a volume full of data is not transferred."""
    url = api._url("/containers/{0}/archive", container)
    res = api._get(url, params={"path": MOUNT_POINT}, stream=True)
    try:
        api._raise_for_status(res)
        res.raw.decode_content = True
        with tarfile.open(fileobj=res.raw, mode="r|") as tf:
            member = tf.next()
    finally:
        res.close()
    if member is None or not member.isdir():
        raise VolumePreparationError(f"{MOUNT_POINT} in the helper container is not a directory")
    return member


def prepare_volume(
    api: docker.APIClient,
    volume_name: str,
    user: Any = None,
    permissions: str | int | None = None,
    *,
    helper_image: str,
    labels: Mapping[str, str] | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Set owner (``user``) and mode (``permissions``) of the root of named volume
    ``volume_name``; either may be None. ``helper_image`` needs no tools at all (the attaching
    container's own image is a good choice: user names resolve against its ``/etc/passwd``).
    ``labels`` go on the temporary container besides ``org.dockerfabric.temporary``.

    Returns ``{'volume', 'uid', 'gid', 'mode' ('0750'), 'changed', 'before': {uid, gid,
    mode}}`` (``{}`` when neither user nor permissions are given). Errors are
    :class:`~containermap.exceptions.EngineError` subclasses with ``target`` (default
    ``volume:<name>``); the temporary container is always removed.
    """
    if user is None and permissions is None:
        return {}
    target = target or f"volume:{volume_name}"
    try:
        if permissions is not None:
            apply_mode(permissions, 0o755)  # validate before touching the engine
        if user is not None:
            split_owner(user)
    except ConfigurationError as exc:
        raise VolumePreparationError(str(exc), target=target, cause=exc) from exc
    container_labels = {**(labels or {}), labels_mod.TEMPORARY: f"volume:{volume_name}"}
    with engine_call(target, action="prepare volume", api=api, image=helper_image):
        # never auto-create a missing volume through the mount (it would have no labels)
        api.inspect_volume(volume_name)
        created = api.create_container(
            image=helper_image,
            command=HELPER_COMMAND,
            labels=container_labels,
            network_disabled=True,
            host_config=api.create_host_config(binds={volume_name: {"bind": MOUNT_POINT, "mode": "rw"}}),
        )
    cid = created["Id"]
    try:
        with engine_call(target, action="prepare volume", api=api, image=helper_image):
            root = _root_entry(api, cid)
            before = {"uid": root.uid, "gid": root.gid, "mode": f"{root.mode & 0o7777:04o}"}
            uid, gid = root.uid, root.gid
            if user is not None:
                passwd = groups = None
                if needs_lookup(user):
                    passwd = _read_file(api, cid, "/etc/passwd")
                    groups = _read_file(api, cid, "/etc/group")
                    if passwd is None:
                        raise VolumePreparationError(
                            f"user {user!r} is a name, but image {helper_image} has no /etc/passwd: "
                            "use a numeric uid[:gid]"
                        )
                try:
                    uid, gid = resolve_owner(user, passwd, groups)
                except VolumePreparationError as exc:
                    raise VolumePreparationError(
                        f"{exc.message.replace('the image', f'image {helper_image}')}; use a numeric uid[:gid]"
                    ) from exc
            mode = root.mode & 0o7777
            if permissions is not None:
                mode = apply_mode(permissions, mode, is_dir=True)
            changed = (uid, gid, mode) != (root.uid, root.gid, root.mode & 0o7777)
            if changed:
                api.put_archive(cid, "/", _dir_tar(MOUNT_POINT.lstrip("/"), uid, gid, mode, root.mtime))
    finally:
        _remove_quietly(api, cid)
    return {
        "volume": volume_name,
        "uid": uid,
        "gid": gid,
        "mode": f"{mode:04o}",
        "changed": changed,
        "before": before,
    }


def _dir_tar(name: str, uid: int, gid: int, mode: int, mtime: float | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.uid, info.gid, info.mode = uid, gid, mode
    info.mtime = int(mtime if mtime else time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info)
    return buf.getvalue()


def _remove_quietly(api: docker.APIClient, container: str) -> None:
    """Remove a temporary container (and its anonymous volumes); a leftover is cleaned up by
    :func:`cleanup_temporary` later, so a failure here must not hide the original error."""
    try:
        api.remove_container(container, v=True, force=True)
    except docker.errors.NotFound:
        pass
    except Exception:  # noqa: S110 - best effort, see docstring
        pass


def cleanup_temporary(
    api: docker.APIClient,
    labels: Mapping[str, str] | None = None,
    min_age: float = TEMPORARY_MIN_AGE,
    running_min_age: float = TEMPORARY_RUNNING_MIN_AGE,
) -> list[str]:
    """Remove temporary containers (label ``org.dockerfabric.temporary``) left over by
    interrupted runs; returns their ids (12 digits).

    Only containers older than ``min_age`` seconds are removed, running ones (a script that
    may still be running in another process) only when older than ``running_min_age``, so a
    concurrent run on the same engine keeps its helpers (the rule is
    :func:`containermap.observe.temporary_left_over`, shared with the planner). ``labels`` restricts the cleanup to
    containers that also carry these labels (e.g. one map, or one test run).
    """
    filters = [labels_mod.TEMPORARY] + [f"{k}={v}" for k, v in (labels or {}).items()]
    now = time.time()
    removed = []
    with engine_call(action="cleanup temporary containers", api=api):
        for info in api.containers(all=True, filters={"label": filters}):
            age = now - float(info.get("Created") or 0)
            if not temporary_left_over(info.get("State") or "", age, min_age, running_min_age):
                continue
            try:
                api.remove_container(info["Id"], v=True, force=True)
            except docker.errors.NotFound:
                continue  # removed concurrently
            removed.append(info["Id"][:12])
    return removed
