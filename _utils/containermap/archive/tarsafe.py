"""Safe handling of tar members: checks, sane modes and a streaming extractor.

Every archive the engine extracts to disk goes through :class:`SafeExtractor`. It refuses, with
an error naming the member:

* absolute member names and names with ``..`` components;
* symbolic links whose target is absolute or resolves outside the target directory;
* hard links whose target is absolute, has ``..`` components or is not an already extracted
  regular file inside the target;
* device nodes, FIFOs and any other special file;
* members whose path would pass through an existing symbolic link leading outside the target.

Nothing is ever written outside the target directory: files are opened with ``O_NOFOLLOW`` and
an existing symbolic link at a member's path is replaced, never followed.

Modes: by default a member keeps its permission bits minus setuid, setgid, sticky and group/other
write (``mode & 0o755``); the owner always keeps read/write on files and read/write/search on
directories, so everything extracted can be read, updated and removed again. ``keep_modes=True``
keeps the archive's bits unchanged (setuid included). Owners: files belong to the extracting user
unless ``keep_owner=True`` (only effective as root) or an explicit ``chown`` is given.

Python's own ``tarfile.data_filter`` runs after these checks as a second line of defence; its
errors are reported as :class:`UnsafeArchiveMember` too.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from typing import IO

from ..exceptions import EngineError

COPY_BUFSIZE = 1 << 20
# on_unsafe values
ERROR = "error"
SKIP = "skip"

ModeFunc = Callable[[int, bool], int]


class ArchiveError(EngineError):
    """Copying, extracting, importing or flattening failed (missing resource, engine error ...)."""


class UnsafeArchiveMember(ArchiveError, ValueError):
    """A tar member was refused: ``member`` is its name, ``reason`` why."""

    def __init__(self, member: str, reason: str, *, target: str | None = None):
        self.member = member
        self.reason = reason
        super().__init__(f"unsafe archive member {member!r}: {reason}", target=target)


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    if member.isfifo():
        return "FIFO"
    return f"special file (type {member.type!r})"


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` is unsafe, judged from the archive alone (no file system), or None.

    Covers names, link targets and types; :meth:`SafeExtractor.check` adds the checks that need
    the target directory (existing symlinks on the way).
    """
    name = member.name
    if name.startswith("/") or posixpath.isabs(name):
        return "absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "path has a '..' component"
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            return f"symbolic link to absolute path {target!r} (outside the target)"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name.rstrip("/")), target))
        if resolved == ".." or resolved.startswith("../"):
            return f"symbolic link to {target!r} points outside the target"
    elif member.islnk():
        target = member.linkname
        if target.startswith("/"):
            return f"hard link to absolute path {target!r} (outside the target)"
        if ".." in target.split("/"):
            return f"hard link to {target!r} points outside the target"
    elif not (member.isreg() or member.isdir()):
        return f"{_kind(member)} not allowed"
    return None


def check_member(member: tarfile.TarInfo) -> None:
    """Raise :class:`UnsafeArchiveMember` if ``member`` is unsafe by name, link or type."""
    problem = member_problem(member)
    if problem:
        raise UnsafeArchiveMember(member.name, problem)


def sanitize_mode(mode: int, is_dir: bool) -> int:
    """Permission bits for an extracted file: no setuid/setgid/sticky, no group/other write,
    owner read/write (and search on directories) always set."""
    mode &= 0o755
    return mode | (0o700 if is_dir else 0o600)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class SafeExtractor:
    """Extracts tar members one at a time (streaming) below ``dest``.

    ``chown`` is ``(uid, gid)`` with -1 for "unchanged" and ``chmod`` a function
    ``(mode, is_dir) -> mode``; both apply to every member and to the parent directories this
    extractor creates. Call :meth:`finish` at the end: directory modes and times are set last,
    so that restrictive directory modes do not block their own extraction.
    """

    def __init__(
        self,
        dest: str,
        *,
        keep_modes: bool = False,
        keep_owner: bool = False,
        chown: tuple[int, int] | None = None,
        chmod: ModeFunc | None = None,
        on_unsafe: str = ERROR,
    ):
        if on_unsafe not in (ERROR, SKIP):
            raise ValueError(f"on_unsafe must be {ERROR!r} or {SKIP!r}, not {on_unsafe!r}")
        os.makedirs(dest, exist_ok=True)
        self.dest = os.path.realpath(dest)
        self.keep_modes = keep_modes
        self.keep_owner = keep_owner and os.geteuid() == 0
        self.chown = chown if chown and chown != (-1, -1) else None
        self.chmod = chmod
        self.on_unsafe = on_unsafe
        self.skipped: list[tuple[str, str]] = []
        self.count = 0
        self.bytes = 0
        self._dirs: list[tuple[str, int, float | None]] = []

    # -- checks -------------------------------------------------------------------------------

    def check(self, member: tarfile.TarInfo) -> None:
        """Raise :class:`UnsafeArchiveMember` if ``member`` must not be extracted here."""
        check_member(member)
        name = member.name.rstrip("/")
        # the parent is resolved; the member's own path never is: an existing symlink there is
        # replaced, not followed
        parent = os.path.realpath(os.path.join(self.dest, os.path.dirname(name)))
        if not _inside(parent, self.dest):
            raise UnsafeArchiveMember(member.name, f"path leads outside the target (through {parent})")
        replaces_link = os.path.islink(os.path.join(self.dest, name))
        if member.issym():
            target = os.path.realpath(os.path.join(self.dest, os.path.dirname(name), member.linkname))
            if not _inside(target, self.dest):
                raise UnsafeArchiveMember(
                    member.name, f"symbolic link resolves outside the target ({target})"
                )
        elif member.islnk():
            target = os.path.join(self.dest, member.linkname)
            real = os.path.realpath(target)
            if not _inside(real, self.dest):
                raise UnsafeArchiveMember(
                    member.name, f"hard link target resolves outside the target ({real})"
                )
            if os.path.islink(target) or not os.path.isfile(target):
                raise UnsafeArchiveMember(
                    member.name, f"hard link target {member.linkname!r} is not an extracted regular file"
                )
        # Python's own filter as a second line of defence
        data_filter = getattr(tarfile, "data_filter", None)
        if data_filter is not None and not replaces_link:  # it would resolve the link
            try:
                data_filter(member, self.dest)
            except tarfile.FilterError as exc:
                raise UnsafeArchiveMember(member.name, str(exc)) from exc

    # -- extraction ---------------------------------------------------------------------------

    def _mode(self, mode: int, is_dir: bool) -> int:
        mode &= 0o7777
        if not self.keep_modes:
            mode = sanitize_mode(mode, is_dir)
        if self.chmod is not None:
            mode = self.chmod(mode, is_dir)
        return mode

    def _owner(self, path: str, member: tarfile.TarInfo | None) -> None:
        uid = gid = -1
        if self.keep_owner and member is not None:
            uid, gid = member.uid, member.gid
        if self.chown:
            cu, cg = self.chown
            uid = cu if cu != -1 else uid
            gid = cg if cg != -1 else gid
        if uid != -1 or gid != -1:
            os.lchown(path, uid, gid)

    def _make_parents(self, rel: str) -> None:
        """Create missing parent directories of ``rel`` (recorded like extracted dirs)."""
        parent = posixpath.dirname(rel)
        missing = []
        while parent and not os.path.lexists(os.path.join(self.dest, parent)):
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for part in reversed(missing):
            path = os.path.join(self.dest, part)
            os.mkdir(path, 0o700)
            self._owner(path, None)
            self._dirs.append((path, self._mode(0o755, True), None))

    def _clear(self, path: str, for_dir: bool) -> None:
        """Make room at ``path``: a symlink or file is removed (never followed); a directory
        is kept for a directory and is an error for anything else."""
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            os.unlink(path)
        elif os.path.isdir(path) and not for_dir:
            raise UnsafeArchiveMember(os.path.relpath(path, self.dest), "a directory exists at this path")

    def extract(self, member: tarfile.TarInfo, fileobj: IO[bytes] | None = None) -> bool:
        """Extract one member (``fileobj`` gives a regular file's data). Returns False when the
        member was skipped (``on_unsafe='skip'``); raises :class:`UnsafeArchiveMember` otherwise."""
        rel = member.name.rstrip("/")
        if rel in ("", "."):
            return True  # the archive root is the target itself: its attributes are not ours to set
        try:
            self.check(member)
        except UnsafeArchiveMember as exc:
            if self.on_unsafe == SKIP:
                self.skipped.append((exc.member, exc.reason))
                return False
            raise
        self._make_parents(rel)
        path = os.path.join(self.dest, rel)
        if member.isdir():
            self._clear(path, True)
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
            self._owner(path, member)
            self._dirs.append((path, self._mode(member.mode, True), member.mtime))
        elif member.isreg():
            self._clear(path, False)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb", buffering=COPY_BUFSIZE) as out:
                remaining = member.size
                while remaining > 0:
                    data = fileobj.read(min(COPY_BUFSIZE, remaining)) if fileobj else b""
                    if not data:
                        raise tarfile.ReadError(f"unexpected end of data in member {member.name!r}")
                    out.write(data)
                    remaining -= len(data)
            self.bytes += member.size
            self._owner(path, member)
            os.chmod(path, self._mode(member.mode, False))
            os.utime(path, (member.mtime, member.mtime))
        elif member.issym():
            self._clear(path, False)
            os.symlink(member.linkname, path)
            self._owner(path, member)
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        elif member.islnk():
            self._clear(path, False)
            os.link(os.path.join(self.dest, member.linkname), path, follow_symlinks=False)
        self.count += 1
        return True

    def finish(self) -> None:
        """Set the modes and times of the directories (deepest first)."""
        for path, mode, mtime in sorted(self._dirs, key=lambda d: d[0], reverse=True):
            os.chmod(path, mode)
            if mtime is not None:
                os.utime(path, (mtime, mtime))
        self._dirs.clear()


def extract_members(
    members: Iterable[tuple[tarfile.TarInfo, IO[bytes] | None]], dest: str, **options
) -> SafeExtractor:
    """Extract ``(member, fileobj)`` pairs below ``dest`` with :class:`SafeExtractor`
    (``options`` are its keyword arguments). Returns the extractor (counts, skipped members)."""
    extractor = SafeExtractor(dest, **options)
    try:
        for member, fileobj in members:
            extractor.extract(member, fileobj)
    finally:
        extractor.finish()
    return extractor


def iter_tar_members(tar: tarfile.TarFile) -> Iterable[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """``(member, fileobj)`` pairs of an open tar file, in archive order (works on streams)."""
    for member in tar:
        yield member, (tar.extractfile(member) if member.isreg() else None)


def safe_extract(source: str | os.PathLike | IO[bytes], dest: str, **options) -> SafeExtractor:
    """Extract a tar archive (path or readable binary stream; any compression tarfile knows)
    below ``dest``, streaming, with the checks and mode rules of this module.

    ``options``: ``keep_modes``, ``keep_owner``, ``chown``, ``chmod``, ``on_unsafe``
    (``'error'``, the default, stops at the first unsafe member; ``'skip'`` leaves it out and
    lists it in the returned extractor's ``skipped``).
    """
    if isinstance(source, (str, os.PathLike)):
        tar = tarfile.open(os.fspath(source), mode="r|*", bufsize=COPY_BUFSIZE)
    else:
        tar = tarfile.open(fileobj=source, mode="r|*", bufsize=COPY_BUFSIZE)
    with tar:
        return extract_members(iter_tar_members(tar), dest, **options)


def is_dir_mode(go_mode: int) -> bool:
    """Whether a Go ``os.FileMode`` (the ``mode`` of Docker's path stat) is a directory."""
    return bool(go_mode & (1 << 31))
