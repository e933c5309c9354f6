"""Build contexts (docker-map's ``DockerContext``) and ``.dockerignore`` matching.

The context is a tar archive written straight into a temporary file (never held in memory),
optionally gzip or bzip2 compressed, ready to be streamed to the engine's build endpoint.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Any

from .dockerfile import DockerFile
from .errors import FinalizedError

_COMPRESSION = {
    "gz": ("w:gz", "gzip"),
    "gzip": ("w:gz", "gzip"),
    "bz2": ("w:bz2", "bzip2"),
    "bzip2": ("w:bz2", "bzip2"),
    "": ("w", None),
    "none": ("w", None),
    None: ("w", None),
}


# every Dockerfile instruction (the engine accepts them in any case)
DOCKERFILE_INSTRUCTIONS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL "
    "STOPSIGNAL USER VOLUME WORKDIR".split()
)
_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)[ \t]")


def is_dockerfile_text(value: str) -> bool:
    """True when ``value`` is Dockerfile text rather than a path: it contains a newline, or its
    first word is a Dockerfile instruction followed by whitespace (``FROM busybox``)."""
    if "\n" in value:
        return True
    match = _FIRST_WORD.match(value)
    return bool(match) and match.group(1).upper() in DOCKERFILE_INSTRUCTIONS


# -- .dockerignore ---------------------------------------------------------------------------


def _glob_to_regex(pattern: str) -> str:
    """Translate a Go ``filepath.Match`` pattern with Docker's ``**`` extension to a regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                # "**/" matches zero or more directories, a trailing "**" anything
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2 if i + 1 < n and pattern[i + 1] in "!^" else i + 1)
            if end == -1:
                raise ValueError(f"invalid .dockerignore pattern {pattern!r}: unterminated '['")
            body = pattern[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"


class DockerIgnore:
    """``.dockerignore`` rules: the last matching pattern wins, ``!`` re-includes.

    A pattern also matches everything below a matching directory (Docker's rule: a path is
    tested, and so is its parent path with as many components as the pattern has).
    """

    def __init__(self, lines: Iterable[str] = ()):
        self.patterns: list[tuple[bool, re.Pattern[str], int]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            line = posixpath.normpath(line.lstrip("/")) if line else line
            if not line or line == ".":
                continue
            self.patterns.append((exclusion, re.compile(_glob_to_regex(line)), line.count("/") + 1))

    @classmethod
    def from_file(cls, path: str) -> DockerIgnore:
        """Rules read from a ``.dockerignore`` file (empty when it does not exist)."""
        try:
            with open(path, encoding="utf-8") as fileobj:
                return cls(fileobj.read().splitlines())
        except FileNotFoundError:
            return cls()

    @property
    def has_exceptions(self) -> bool:
        return any(exclusion for exclusion, _, _ in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, relpath: str) -> bool:
        """True when ``relpath`` (relative to the context root, ``/``-separated) is ignored."""
        path = posixpath.normpath(relpath)
        parts = path.split("/")
        matched = False
        for exclusion, regex, depth in self.patterns:
            hit = bool(regex.match(path))
            if not hit and len(parts) > 1 and depth < len(parts):
                hit = bool(regex.match("/".join(parts[:depth])))
            if hit:
                matched = not exclusion
        return matched


# -- context -----------------------------------------------------------------------------------


class DockerContext:
    """A build context in a temporary tar file.

    ``DockerContext(dockerfile=None, compression='gz', encoding='utf-8', finalize=False,
    **tar_kwargs)``: ``dockerfile`` (a DockerFile, a path or Dockerfile text: see
    :meth:`add_dockerfile`) is added right away, ``finalize``
    closes the archive afterwards. Use as a context manager (the temp file is removed on close).
    """

    def __init__(
        self,
        dockerfile: DockerFile | str | bytes | os.PathLike[str] | None = None,
        compression: str | None = "gz",
        encoding: str = "utf-8",
        finalize: bool = False,
        **tar_kwargs: Any,
    ):
        if compression not in _COMPRESSION:
            raise ValueError(f"unknown context compression {compression!r} (gz, bz2 or none)")
        mode, self._stream_encoding = _COMPRESSION[compression]
        self._fileobj: IO[bytes] = tempfile.NamedTemporaryFile(prefix="dockerfabric-ctx-", suffix=".tar")  # noqa: SIM115 - kept open for the object's life
        self.encoding = encoding
        self._tar: tarfile.TarFile | None = tarfile.open(
            fileobj=self._fileobj, mode=mode, encoding=encoding, **tar_kwargs
        )
        self._names: set[str] = set()
        if dockerfile is not None:
            self.add_dockerfile(dockerfile)
        if finalize:
            self.finalize()

    @property
    def tarfile(self) -> tarfile.TarFile:
        if self._tar is None:
            raise FinalizedError("the build context has been finalised and cannot be changed")
        return self._tar

    @property
    def name(self) -> str:
        """Path of the temporary archive."""
        return self._fileobj.name

    @property
    def fileobj(self) -> IO[bytes]:
        """The archive (finalise first to read it)."""
        return self._fileobj

    @property
    def stream_encoding(self) -> str | None:
        """``gzip``, ``bzip2`` or None: the ``encoding`` to pass to the build endpoint."""
        return self._stream_encoding

    @property
    def names(self) -> set[str]:
        """Archive names added so far."""
        return set(self._names)

    def gettarinfo(
        self, name: str | None = None, arcname: str | None = None, fileobj: Any = None
    ) -> tarfile.TarInfo:
        return self.tarfile.gettarinfo(name, arcname, fileobj)

    def _record(self, name: str) -> None:
        self._names.add(posixpath.normpath(name.lstrip("/")))

    def add(
        self,
        path: str,
        arcname: str | None = None,
        recursive: bool = True,
        filter: Callable[[tarfile.TarInfo], tarfile.TarInfo | None] | None = None,  # noqa: A002 - tarfile's name
        dockerignore: bool = True,
    ) -> None:
        """Add a file or directory as ``arcname`` (default: its base name; ``.`` = context root).

        A directory's own ``.dockerignore`` (when ``dockerignore``) excludes paths below it,
        ``!`` patterns re-include; excluded directories are only entered when an exception
        could re-include something inside them.
        """
        tar = self.tarfile
        if arcname is None:
            arcname = os.path.basename(os.path.normpath(path))
        arcname = posixpath.normpath(arcname.replace(os.sep, "/").lstrip("/")) if arcname else "."
        if not os.path.isdir(path) or not recursive:
            tar.add(path, arcname=arcname, recursive=False, filter=filter)
            self._record(arcname)
            return
        ignore = (
            DockerIgnore.from_file(os.path.join(path, ".dockerignore")) if dockerignore else DockerIgnore()
        )

        def arc(rel: str) -> str:
            return rel if arcname == "." else f"{arcname}/{rel}"

        if arcname != ".":
            tar.add(path, arcname=arcname, recursive=False, filter=filter)
            self._record(arcname)
        for root, dirs, files in os.walk(path):
            dirs.sort()
            rel_root = os.path.relpath(root, path)
            keep_dirs = []
            for entry in dirs:
                rel = entry if rel_root == "." else f"{rel_root}/{entry}".replace(os.sep, "/")
                full = os.path.join(root, entry)
                if ignore.excluded(rel):
                    # descend only when an exception may re-include something below
                    if ignore.has_exceptions and not os.path.islink(full):
                        keep_dirs.append(entry)
                    continue
                tar.add(full, arcname=arc(rel), recursive=False, filter=filter)
                self._record(arc(rel))
                if not os.path.islink(full):
                    keep_dirs.append(entry)
            dirs[:] = keep_dirs
            for entry in sorted(files):
                rel = entry if rel_root == "." else f"{rel_root}/{entry}".replace(os.sep, "/")
                if ignore.excluded(rel):
                    continue
                tar.add(os.path.join(root, entry), arcname=arc(rel), recursive=False, filter=filter)
                self._record(arc(rel))

    def addfile(self, tarinfo: tarfile.TarInfo, fileobj: IO[bytes] | None = None) -> None:
        """Add a member from a TarInfo and a file object (see ``tarfile.TarFile.addfile``)."""
        self.tarfile.addfile(tarinfo, fileobj)
        self._record(tarinfo.name)

    def addbytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file with the given content."""
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        self.addfile(info, io.BytesIO(data))

    def addarchive(self, tar: str | tarfile.TarFile) -> None:
        """Copy the members of another tar archive (path or open TarFile) into the context.

        Members leaving the context (absolute after normalisation, ``..``) are refused; device
        files are skipped.
        """
        own = isinstance(tar, str)
        source = tarfile.open(tar, "r:*") if own else tar
        try:
            for member in source:
                name = posixpath.normpath(member.name.lstrip("/"))
                if name in (".", ""):
                    continue
                if name == ".." or name.startswith("../"):
                    raise ValueError(f"archive member {member.name!r} leaves the build context")
                if member.isdev():
                    continue
                member.name = name
                data = source.extractfile(member) if member.isfile() else None
                self.addfile(member, data)
        finally:
            if own:
                source.close()

    def add_dockerfile(self, dockerfile: DockerFile | str | bytes | os.PathLike[str]) -> None:
        """Add the Dockerfile as ``Dockerfile``.

        ``dockerfile`` is one of:

        * a :class:`DockerFile`: first the files and archives it references are added (the
          DockerFile is finalised);
        * a path: an ``os.PathLike``, or a ``str`` that is not Dockerfile text (see below);
        * Dockerfile text: ``bytes``, or a ``str`` that contains a newline or whose first word is
          a Dockerfile instruction followed by whitespace (``FROM busybox``, ``ARG V=1``, case
          insensitive, like the engine).

        The text/path decision is made from the value alone, never from what exists on disk, so
        a one-line string cannot change meaning; pass a ``pathlib.Path`` for a file whose name
        looks like an instruction. A path that is not a file raises ``FileNotFoundError``.
        """
        if isinstance(dockerfile, DockerFile):
            for source, context_path in dockerfile.files:
                self.add(source, arcname=context_path)
            for archive in dockerfile.archives:
                self.addarchive(archive)
            self.addbytes("Dockerfile", dockerfile.getbytes(self.encoding))
        elif isinstance(dockerfile, bytes | bytearray):
            self.addbytes("Dockerfile", bytes(dockerfile))
        elif isinstance(dockerfile, str) and is_dockerfile_text(dockerfile):
            text = dockerfile if dockerfile.endswith("\n") else dockerfile + "\n"
            self.addbytes("Dockerfile", text.encode(self.encoding))
        elif isinstance(dockerfile, str | os.PathLike):
            path = os.fspath(dockerfile)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"Dockerfile {path!r} is not a file (Dockerfile text must contain a newline or "
                    "start with an instruction such as FROM)"
                )
            self.add(path, arcname="Dockerfile", recursive=False)
        else:
            raise TypeError(
                f"dockerfile must be a DockerFile, a path or Dockerfile text, not {type(dockerfile).__name__}"
            )

    def finalize(self) -> None:
        """Close the archive and rewind it for reading."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
            self._fileobj.flush()
        self._fileobj.seek(0)

    @property
    def finalized(self) -> bool:
        return self._tar is None

    def save(self, path: str) -> None:
        """Finalise and copy the archive to ``path``."""
        self.finalize()
        with open(path, "wb") as out:
            shutil.copyfileobj(self._fileobj, out, 1024 * 1024)
        self._fileobj.seek(0)

    def close(self) -> None:
        """Finalise and remove the temporary file."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        self._fileobj.close()

    def __enter__(self) -> DockerContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
