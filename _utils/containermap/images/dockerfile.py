"""Dockerfile generation (docker-map's ``DockerFile``).

Immediate instructions (``FROM``, ``MAINTAINER``, ``RUN``, ``ADD``, comments, raw text) are
written as they are called; the image properties (volumes, user, workdir, shell, entrypoint,
command, exposed ports, labels, stop signal, health check) are kept and written by
:meth:`DockerFile.finalize` in a fixed order, after which the file cannot change any more.
Files and archives added with :meth:`DockerFile.add_file` / :meth:`DockerFile.add_archive` are
remembered so that :class:`~containermap.images.context.DockerContext` can put them into the
build context.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import shlex
import tarfile
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import FinalizedError

# properties that can be given to the constructor; aliases of docker-map's names included
_PROPERTY_ALIASES = {
    "volumes": "volumes",
    "entrypoint": "entrypoint",
    "command": "command",
    "cmd": "command",
    "command_shell": "command_shell",
    "command_user": "command_user",
    "cmd_user": "command_user",
    "command_workdir": "command_workdir",
    "cmd_workdir": "command_workdir",
    "expose": "expose",
    "labels": "labels",
    "shell": "shell",
    "stopsignal": "stopsignal",
    "healthcheck": "healthcheck",
}


def _split_escaped(cmd: str) -> list[str]:
    """Split on spaces, except backslash-escaped ones (``a\\ b c`` -> ``['a b', 'c']``)."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in cmd:
        if escaped:
            if char != " ":
                current.append("\\")
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == " ":
            if current:
                parts.append("".join(current))
                current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    if current:
        parts.append("".join(current))
    return parts


def format_command(cmd: str | Iterable[Any] | None, shell: bool = False) -> str:
    """Format ``CMD``/``ENTRYPOINT``/``SHELL`` arguments.

    Exec form (default): a JSON list; a string is split on spaces (``\\ `` keeps a space), list
    items are stringified. ``shell=True``: shell form, list items joined by spaces. Empty ->
    ``[]``.
    """
    if cmd is None or cmd == "" or (not isinstance(cmd, str) and isinstance(cmd, Iterable) and not list(cmd)):
        return "[]"
    if isinstance(cmd, str):
        return cmd if shell else json.dumps(_split_escaped(cmd))
    if isinstance(cmd, Iterable) and not isinstance(cmd, Mapping | bytes):
        items = [str(item) for item in cmd]
        return " ".join(items) if shell else json.dumps(items)
    raise ValueError(f"invalid command: {cmd!r} (expected a string or a list)")


def format_expose(expose: Any) -> str:
    """``EXPOSE`` arguments from an int, a string (``'80 443/udp'``) or a list of them."""
    if isinstance(expose, str):
        return expose
    if isinstance(expose, Iterable):
        return " ".join(str(item) for item in expose)
    return str(expose)


def _quote_label(text: Any) -> str:
    """A double-quoted Dockerfile word: ``"`` and ``\\`` escaped, newlines as ``\\n``.

    The Dockerfile parser has no escape for a literal newline; ``\\n`` keeps the value on one
    line and readable instead of silently joining the lines (docker-map's continuation).
    """
    value = str(text).replace("\\", "\\\\").replace('"', '\\"')
    value = value.replace("\r\n", "\n").replace("\n", "\\n")
    return f'"{value}"'


def format_labels(labels: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """``LABEL`` arguments ``"k"="v" ...`` from a dict or (key, value) pairs."""
    items = labels.items() if isinstance(labels, Mapping) else labels
    return " ".join(f"{_quote_label(k)}={_quote_label(v)}" for k, v in items)


def format_healthcheck(healthcheck: str | Mapping[str, Any]) -> str:
    """``HEALTHCHECK`` arguments: a raw string, or a dict with ``test`` (``NONE`` disables),
    ``interval``/``timeout``/``start_period`` (seconds or Docker durations) and ``retries``."""
    if isinstance(healthcheck, str):
        return healthcheck
    hc = dict(healthcheck)
    test = hc.get("test")
    if test in (None, "NONE", ["NONE"]):
        return "NONE"
    options = []
    for key in ("interval", "timeout", "start_period"):
        value = hc.get(key)
        if value is not None:
            duration = f"{value}s" if isinstance(value, int | float) else str(value)
            options.append(f"--{key.replace('_', '-')}={duration}")
    if hc.get("retries") is not None:
        options.append(f"--retries={int(hc['retries'])}")
    if isinstance(test, list | tuple) and test and test[0] in ("CMD", "CMD-SHELL"):
        kind, args = test[0], list(test[1:])
        cmd = args[0] if kind == "CMD-SHELL" and len(args) == 1 else format_command(args, shell=False)
    else:
        cmd = format_command(test, shell=isinstance(test, str))
    return " ".join([*options, "CMD", cmd])


def _add_instruction(context: str, target: str, replace_space: bool) -> str:
    """``ADD`` arguments; paths with spaces use the JSON form.

    docker-map escaped spaces with a backslash, which the builder does not understand (``stat
    my: file does not exist``); the JSON form is the one that works.
    """
    if replace_space and (" " in context or " " in target):
        return json.dumps([context, target])
    return f"{context} {target}"


def _prepare_path(path: str, expandvars: bool, expanduser: bool) -> str:
    if expanduser:
        path = os.path.expanduser(path)
    if expandvars:
        path = os.path.expandvars(path)
    return path


def _to_context_path(path: str) -> str:
    """A path inside the build context: posix separators, no leading ``/`` or ``./``, no ``..``."""
    path = path.replace(os.sep, "/") if os.sep != "/" else path
    norm = posixpath.normpath(path.lstrip("/"))
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        raise ValueError(f"invalid path in the build context: {path!r}")
    return norm


def archive_top_level(members: Iterable[str]) -> list[str]:
    """Names of the top-level entries of an archive, in order, each once (``./a/b`` -> ``a``)."""
    seen: dict[str, None] = {}
    for name in members:
        norm = posixpath.normpath(name.lstrip("/"))
        if norm in (".", ""):
            continue
        if norm == ".." or norm.startswith("../"):
            raise ValueError(f"archive member {name!r} leaves the build context")
        seen.setdefault(norm.split("/", 1)[0], None)
    return list(seen)


class DockerFile:
    """A Dockerfile under construction (docker-map compatible).

    ``DockerFile(baseimage, maintainer=None, initial=None, **props)`` writes ``FROM`` (skipped
    when ``baseimage`` is empty), ``MAINTAINER`` (deprecated by Docker but still honoured: it sets
    the image's Author; ``maintainer_label=True`` writes ``LABEL maintainer=...`` instead) and the
    initial text. ``props`` are the deferred properties (``volumes``, ``entrypoint``, ``command``,
    ``command_shell``, ``cmd_user``, ``cmd_workdir``, ``expose``, ``labels``, ``shell``,
    ``stopsignal``, ``healthcheck``).
    """

    def __init__(
        self,
        baseimage: str | None = "tianon/true:latest",
        maintainer: str | None = None,
        initial: str | Iterable[str] | None = None,
        maintainer_label: bool = False,
        **props: Any,
    ):
        self._buffer = io.StringIO()
        self._finalized = False
        self._files: list[tuple[str, str]] = []  # (source path, context path)
        self._archives: list[str] = []
        self._remove_files: dict[str, None] = {}  # ordered set of paths for RUN rm -Rf
        self.volumes: list[str] = []
        self.entrypoint: Any = None
        self.command: Any = None
        self.command_shell: bool = False
        self.command_user: str | int | None = None
        self.command_workdir: str | None = None
        self.expose: Any = None
        self.labels: Any = None
        self.shell: Any = None
        self.stopsignal: str | int | None = None
        self.healthcheck: Any = None
        for key, value in props.items():
            if key not in _PROPERTY_ALIASES:
                raise TypeError(f"DockerFile got an unexpected property {key!r}")
            attr = _PROPERTY_ALIASES[key]
            setattr(self, attr, list(value) if attr == "volumes" else value)
        if baseimage:
            self.prefix("FROM", baseimage)
        if maintainer:
            if maintainer_label:
                self.prefix("LABEL", format_labels({"maintainer": maintainer}))
            else:
                self.prefix("MAINTAINER", maintainer)
        if initial:
            if isinstance(initial, str):
                self.writeline(initial)
            else:
                self.writelines(initial)

    # -- raw buffer ----------------------------------------------------------------------------

    def _check(self) -> None:
        if self._finalized:
            raise FinalizedError("the Dockerfile has been finalised and cannot be changed")

    def write(self, text: str) -> None:
        """Write raw text."""
        self._check()
        self._buffer.write(text)

    def writeline(self, line: str = "") -> None:
        """Write one line (a newline is appended)."""
        self.write(f"{line}\n")

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each item as one line."""
        for line in lines:
            self.writeline(line)

    def blank(self) -> None:
        """Write an empty line."""
        self.writeline()

    def comment(self, text: str = "") -> None:
        """Write a comment (every line of ``text`` prefixed with ``#``)."""
        for line in str(text).splitlines() or [""]:
            self.prefix("#", line) if line else self.writeline("#")

    # -- instructions --------------------------------------------------------------------------

    def prefix(self, cmd: str = "#", *args: Any) -> None:
        """Write ``cmd`` followed by the space-joined ``args``."""
        if args:
            self.writeline(f"{cmd} {' '.join(str(a) for a in args)}")
        else:
            self.writeline(cmd)

    def prefix_all(self, cmd: str = "#", *lines: Any) -> None:
        """One ``cmd`` line per item; a tuple/list item gives the arguments, an empty item a blank."""
        for line in lines:
            if isinstance(line, tuple | list):
                self.prefix(cmd, *line)
            elif line:
                self.prefix(cmd, line)
            else:
                self.blank()

    def run(self, *args: Any) -> None:
        """``RUN`` with the space-joined arguments."""
        self.prefix("RUN", *args)

    def run_all(self, *lines: Any) -> None:
        """One ``RUN`` per line."""
        self.prefix_all("RUN", *lines)

    def run_join(self, *lines: Any) -> None:
        """One ``RUN`` with the lines joined by ``&&`` (one layer, stops at the first failure)."""
        cmds = [
            " ".join(str(a) for a in line) if isinstance(line, tuple | list) else str(line) for line in lines
        ]
        cmds = [c for c in cmds if c]
        if cmds:
            self.prefix("RUN", " && ".join(cmds))

    def env(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """One ``ENV key="value"`` per item (values quoted, so spaces and quotes survive)."""
        items = {**(values or {}), **kwargs}
        for key, value in items.items():
            self.prefix("ENV", f"{key}={_quote_label(value)}")

    def add_file(
        self,
        src_path: str,
        dst_path: str | None = None,
        ctx_path: str | None = None,
        replace_space: bool = True,
        expandvars: bool = False,
        expanduser: bool = False,
        remove_final: bool = False,
    ) -> str:
        """Write ``ADD <ctx> <dst>`` and remember ``src_path`` for the context.

        ``dst_path`` defaults to the base name of the source (relative to the working
        directory), ``ctx_path`` to ``dst_path``. A path with spaces makes the instruction use the JSON
        form (``replace_space``); the file keeps its real name in the context. ``remove_final`` deletes ``dst`` again at
        finalisation (``RUN rm -Rf``). Returns the context path.
        """
        self._check()
        source = _prepare_path(src_path, expandvars, expanduser)
        if dst_path is None:
            head, tail = os.path.split(source.rstrip(os.sep) or source)
            if not tail:
                raise ValueError(f"cannot derive a target path from {src_path!r}; give dst_path")
            target = tail
        else:
            target = _prepare_path(dst_path, expandvars, expanduser)
        context = _to_context_path(_prepare_path(ctx_path, expandvars, expanduser) if ctx_path else target)
        self.prefix("ADD", _add_instruction(context, target, replace_space))
        self._files.append((source, context))
        if remove_final:
            self._remove_files[shlex.quote(target)] = None
        return context

    def add_archive(self, src_file: str, remove_final: bool = False) -> list[str]:
        """``ADD`` every top-level member of the tar archive ``src_file`` to the same path.

        The archive's contents are copied into the context by the DockerContext; returns the
        top-level names.
        """
        self._check()
        with tarfile.open(src_file, "r:*") as tar:
            names = archive_top_level(tar.getnames())
        for name in names:
            self.prefix("ADD", _add_instruction(name, name, True))
        if remove_final:
            self._remove_files.update(dict.fromkeys(shlex.quote(n) for n in names))
        self._archives.append(src_file)
        return names

    def add_volume(self, path: str) -> None:
        """Add a path to the deferred ``VOLUME`` list."""
        self._check()
        self.volumes.append(path)

    # -- finalisation --------------------------------------------------------------------------

    @property
    def finalized(self) -> bool:
        return self._finalized

    @property
    def files(self) -> list[tuple[str, str]]:
        """``(source path, context path)`` of every added file."""
        return list(self._files)

    @property
    def archives(self) -> list[str]:
        """Paths of the added archives."""
        return list(self._archives)

    def finalize(self) -> None:
        """Write the deferred properties (removals, VOLUME, USER, WORKDIR, SHELL, ENTRYPOINT, CMD,
        EXPOSE, LABEL, STOPSIGNAL, HEALTHCHECK) once; later changes raise FinalizedError."""
        if self._finalized:
            return
        if self._remove_files:
            self.prefix("RUN", "rm -Rf", *self._remove_files)
        if self.volumes:
            self.prefix("VOLUME", json.dumps([str(v) for v in self.volumes]))
        if self.command_user not in (None, ""):
            self.prefix("USER", self.command_user)
        if self.command_workdir:
            self.prefix("WORKDIR", self.command_workdir)
        if self.shell is not None:
            self.prefix("SHELL", format_command(self.shell, shell=False))
        if self.entrypoint is not None:
            self.prefix("ENTRYPOINT", format_command(self.entrypoint, self.command_shell))
        if self.command is not None:
            self.prefix("CMD", format_command(self.command, self.command_shell))
        if self.expose not in (None, "", [], ()):
            self.prefix("EXPOSE", format_expose(self.expose))
        if self.labels:
            self.prefix("LABEL", format_labels(self.labels))
        if self.stopsignal not in (None, ""):
            self.prefix("STOPSIGNAL", self.stopsignal)
        if self.healthcheck:
            self.prefix("HEALTHCHECK", format_healthcheck(self.healthcheck))
        self._finalized = True

    def getvalue(self, finalize: bool = True) -> str:
        """The Dockerfile text (finalised first unless ``finalize=False``)."""
        if finalize:
            self.finalize()
        return self._buffer.getvalue()

    def getbytes(self, encoding: str = "utf-8") -> bytes:
        """The finalised text, encoded."""
        return self.getvalue().encode(encoding)

    def save(self, path: str, encoding: str = "utf-8") -> None:
        """Finalise and write to ``path``."""
        with open(path, "wb") as fileobj:
            fileobj.write(self.getbytes(encoding))

    def close(self) -> None:
        """Release the buffer."""
        self._buffer.close()

    def __enter__(self) -> DockerFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __str__(self) -> str:
        return self._buffer.getvalue()
