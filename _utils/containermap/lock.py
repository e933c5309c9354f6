"""Per-host apply lock: two applies on the same host run one after the other.

An ``fcntl.flock`` on a file under ``/run/dockerfabric`` (``DOCKERFABRIC_LOCK_DIR`` or the
``lock_dir`` argument override it). The kernel releases a flock when its holder dies, so a
killed apply never leaves a stale lock behind. The holder writes its pid, start time and
command line into the file, so a waiter that times out can say who holds it.

Example::

    with apply_lock("webapp", timeout=60):
        client.apply(plan)

Two processes, or two threads of one process, are serialised. Within one thread the lock is
re-entrant (``run`` may hold it around plan + apply while ``apply`` takes it again).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .exceptions import ContainerMapError

__all__ = ["DEFAULT_LOCK_DIR", "LockInfo", "LockTimeout", "apply_lock", "lock_dir", "lock_path"]

DEFAULT_LOCK_DIR = "/run/dockerfabric"
LOCK_DIR_ENV = "DOCKERFABRIC_LOCK_DIR"
DEFAULT_TIMEOUT = 600.0
_POLL = 0.05
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# locks held by this process: path -> [owning thread id, depth] (re-entrancy per thread)
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()


class LockTimeout(ContainerMapError, TimeoutError):
    """The apply lock could not be taken within the timeout; ``holder`` describes who holds it."""

    def __init__(self, message: str, *, path: str, holder: dict | None):
        self.path = path
        self.holder = holder
        super().__init__(message)


@dataclass(frozen=True)
class LockInfo:
    """A held lock: its file and how long the caller waited for it (seconds)."""

    name: str
    path: str
    waited: float


def lock_dir(directory: str | os.PathLike[str] | None = None) -> str:
    """The directory of the lock files: ``directory``, ``$DOCKERFABRIC_LOCK_DIR``, or
    ``/run/dockerfabric`` (a per-user temp dir when that cannot be created, e.g. not root)."""
    if directory is not None:
        return os.fspath(directory)
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return configured
    try:
        os.makedirs(DEFAULT_LOCK_DIR, mode=0o700, exist_ok=True)
    except OSError:
        return os.path.join(tempfile.gettempdir(), f"dockerfabric-{os.getuid()}")
    if not os.access(DEFAULT_LOCK_DIR, os.W_OK):
        return os.path.join(tempfile.gettempdir(), f"dockerfabric-{os.getuid()}")
    return DEFAULT_LOCK_DIR


def lock_path(name: str = "__default__", directory: str | os.PathLike[str] | None = None) -> str:
    """Path of the lock file of ``name`` (characters outside ``[A-Za-z0-9_.-]`` become ``_``,
    so a name can never point outside the lock directory)."""
    safe = _UNSAFE.sub("_", name) or "_"
    if safe.strip(".") == "":
        safe = "_" + safe
    return os.path.join(lock_dir(directory), f"apply-{safe}.lock")


def _read_holder(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
    except OSError:
        return None
    try:
        holder = json.loads(data.decode("utf-8", "replace") or "null")
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict | None) -> str:
    if not holder or "pid" not in holder:
        return "by another process (holder unknown)"
    since = holder.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"
    )
    cmd = holder.get("cmd") or ""
    text = f"by pid {holder['pid']} since {when}"
    return f"{text} ({cmd})" if cmd else text


@contextlib.contextmanager
def apply_lock(
    name: str = "__default__",
    timeout: float | None = DEFAULT_TIMEOUT,
    directory: str | os.PathLike[str] | None = None,
) -> Iterator[LockInfo]:
    """Hold the host's apply lock ``name`` for the ``with`` block.

    ``timeout``: seconds to wait (``None`` = forever, ``0`` = one try). On timeout raises
    :class:`LockTimeout` naming the lock file and the holder's pid.
    """
    path = lock_path(name, directory)
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(path)
        if held is not None and held[0] == me:
            held[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield LockInfo(name, path, 0.0)
        finally:
            with _HELD_GUARD:
                _HELD[path][1] -= 1
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # O_NOFOLLOW: a symlink planted at the lock path must not make us truncate another file
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            waited = time.monotonic() - start
            if timeout is not None and waited >= timeout:
                holder = _read_holder(fd)
                raise LockTimeout(
                    f"apply lock '{name}' ({path}) is held {_describe(holder)}; gave up after {waited:.1f} s",
                    path=path,
                    holder=holder,
                )
            time.sleep(_POLL if timeout is None else min(_POLL, max(timeout - waited, 0.001)))
        waited = time.monotonic() - start
        record = {"pid": os.getpid(), "since": time.time(), "name": name, "cmd": " ".join(sys.argv)[:200]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        with _HELD_GUARD:
            _HELD[path] = [me, 1]
        try:
            yield LockInfo(name, path, waited)
        finally:
            with _HELD_GUARD:
                _HELD.pop(path, None)
            # clear the holder record before unlocking so no waiter reads a stale pid
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
