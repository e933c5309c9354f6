"""Which in-place settings were last applied to which container (a local cache).

A container's ``org.dockerfabric.hash.update`` label holds the hash of its in-place settings
(resource limits, restart policy, network endpoints) at creation. After ``container_update``
or a network reconnect the label is stale, and labels cannot change, so without more the
planner would inspect that container on every later plan. This cache remembers, per engine,
``container id -> update hash`` for containers whose settings the engine applied in place or an
inspect found equal to the desired ones; the planner skips the inspect when the desired hash
matches. It only ever saves requests: a missing, unreadable or lost file costs one inspect per
such container and never changes a decision that the inspect would not make.

File: ``$DOCKERFABRIC_CACHE_DIR`` or ``/var/cache/dockerfabric`` (a per-user temp directory when
that is not writable), ``applied-updates.json``: ``{"engines": {url: {"at": epoch, "ids":
{container id: hash}}}}``. Lookups use every section (container ids are random 256-bit values,
unique across engines; one engine reached under two URLs, e.g. through a proxy, shares its
entries). Writes replace the file atomically; concurrent writers may lose an entry (one more
inspect). Entries of containers no longer on the engine are dropped when a plan observes it
under that URL; sections not written for ``MAX_AGE`` seconds are dropped.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping

__all__ = ["DEFAULT_CACHE_DIR", "cache_path", "load", "record"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = "/var/cache/dockerfabric"
CACHE_DIR_ENV = "DOCKERFABRIC_CACHE_DIR"
FILE_NAME = "applied-updates.json"
MAX_AGE = 30 * 86400.0


def cache_path(directory: str | os.PathLike[str] | None = None) -> str:
    """Path of the cache file (see the module docstring for the directory)."""
    if directory is None:
        directory = os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            if not os.access(directory, os.W_OK):
                raise PermissionError(directory)
        except OSError:
            directory = os.path.join(tempfile.gettempdir(), f"dockerfabric-{os.getuid()}")
    return os.path.join(os.fspath(directory), FILE_NAME)


def _read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    engines = data.get("engines") if isinstance(data, dict) else None
    return engines if isinstance(engines, dict) else {}


def _ids(section: object) -> dict[str, str]:
    ids = section.get("ids") if isinstance(section, dict) else None
    if not isinstance(ids, dict):
        return {}
    return {k: v for k, v in ids.items() if isinstance(k, str) and isinstance(v, str)}


def load(directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """``container id -> update hash`` recorded for any engine; {} when none."""
    found: dict[str, str] = {}
    for section in _read(cache_path(directory)).values():
        found.update(_ids(section))
    return found


def record(
    engine: str,
    entries: Mapping[str, str],
    keep: Iterable[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
) -> None:
    """Add ``entries`` (container id -> update hash) for ``engine``; with ``keep`` (the ids of
    all containers on the engine), drop entries of containers that are gone. Never raises: a
    failure to write only costs inspects later."""
    path = cache_path(directory)
    engines = _read(path)
    current = _ids(engines.get(engine))
    updated = {**current, **entries}
    if keep is not None:
        alive = set(keep)
        updated = {k: v for k, v in updated.items() if k in alive}
    if updated == current:
        return
    now = time.time()
    engines = {
        url: section
        for url, section in engines.items()
        if isinstance(section, dict) and now - float(section.get("at") or 0) < MAX_AGE
    }
    engines[engine] = {"at": now, "ids": updated}
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".applied-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"engines": engines}, fh)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)
