"""Commands run inside running containers: ``exec_commands`` after starts, ``single_cmd``.

``exec_commands`` (reference §1.3) run after a container start: policy ``restart`` after
every start, ``initial`` only after the first one. The user of a command is, in this order,
the command's own ``user``, the first part of the configuration's ``user`` (``2000`` of
``2000:2000``), else Docker's default (the container's user). docker-map started them detached
and returned the exec ids; :func:`run_exec` can also wait and return output and exit code.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterable, Mapping
from typing import Any

import docker
from docker.utils import socket as docker_socket

from .config.elements import ExecCommand, NotSet
from .config.lazy import resolve_value
from .errors import engine_call
from .exceptions import ConfigurationError

POLICIES = ("restart", "initial")


def _set_socket_timeout(sock: Any, timeout: float | None) -> None:
    # the raw socket is a SocketIO (unix), an ssl socket or a paramiko channel: set it on
    # whatever has settimeout, like the SDK's own _disable_socket_timeout
    for candidate in (sock, getattr(sock, "_sock", None)):
        if candidate is not None and hasattr(candidate, "settimeout"):
            candidate.settimeout(timeout)


def _wait_readable(sock: Any, deadline: float | None) -> bool:
    """Wait until ``sock`` has data or ``deadline`` (monotonic) passes; False on timeout."""
    if deadline is None or (hasattr(sock, "pending") and sock.pending()):
        return True  # no deadline, or TLS data already decrypted in the buffer
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    readable, _w, _x = select.select([sock], [], [], remaining)
    return bool(readable)


def _read_exactly(sock: Any, size: int, deadline: float | None) -> bytes | None:
    """``size`` bytes, or None at end of stream; raises TimeoutError at the deadline."""
    data = b""
    while len(data) < size:
        if not _wait_readable(sock, deadline):
            raise TimeoutError
        chunk = docker_socket.read(sock, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frames(sock: Any, frames: list[tuple[int, bytes]], deadline: float | None) -> bool:
    """Read the multiplexed exec stream (8-byte header: stream id, 3 zero bytes, big-endian
    size) into ``frames`` until it ends; True if the deadline passed first. Own reader because
    the SDK's polls without a timeout."""
    try:
        while True:
            header = _read_exactly(sock, 8, deadline)
            if header is None:
                return False
            stream_id, size = struct.unpack(">BxxxL", header)
            if size:
                data = _read_exactly(sock, size, deadline)
                if data is None:
                    return False
                frames.append((stream_id, data))
    except TimeoutError:
        return True


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def run_exec(
    api: docker.APIClient,
    container: str,
    cmd: str | Iterable[str],
    user: str | int | None = None,
    detach: bool = True,
    timeout: float | None = None,
    *,
    target: str | None = None,
    environment: Mapping[str, str] | None = None,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Run ``cmd`` (string, split like a shell would, or argv) in the running ``container``.

    ``detach=True`` (what exec_commands do) returns at once: ``exit_code`` and ``output`` are
    None. Otherwise waits for the command and returns ``exit_code``, ``output`` (stdout and
    stderr interleaved, decoded as UTF-8), ``stdout`` and ``stderr``. With ``timeout`` (seconds)
    the wait ends after that time with ``timed_out: True`` and the output so far; the process
    itself keeps running (Docker cannot kill an exec process). Returns ``exec_id`` always.
    Errors (container not running, missing) are engine errors with ``target``.
    """
    if not isinstance(cmd, str):
        cmd = [str(c) for c in cmd]
    user_arg = "" if user is None else str(user)
    with engine_call(target or container, action="exec", api=api):
        exec_id = api.exec_create(
            container,
            cmd,
            user=user_arg,
            environment=dict(environment) if environment else None,
            workdir=workdir,
        )["Id"]
        result: dict[str, Any] = {
            "exec_id": exec_id,
            "cmd": cmd,
            "user": user,
            "exit_code": None,
            "output": None,
        }
        if detach:
            api.exec_start(exec_id, detach=True)
            return result
        sock = api.exec_start(exec_id, socket=True)
        frames: list[tuple[int, bytes]] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            _set_socket_timeout(sock, None)  # silence longer than the request timeout is fine
            timed_out = _read_frames(sock, frames, deadline)
        finally:
            sock.close()
        stdout = b"".join(d for s, d in frames if s != docker_socket.STDERR)
        stderr = b"".join(d for s, d in frames if s == docker_socket.STDERR)
        result.update(
            output=_decode(b"".join(d for _s, d in frames)),
            stdout=_decode(stdout),
            stderr=_decode(stderr),
            timed_out=timed_out,
        )
        if not timed_out:
            result["exit_code"] = _exit_code(api, exec_id)
    return result


def _exit_code(api: docker.APIClient, exec_id: str) -> int | None:
    # the output stream ends when the process exits; the exit code can lag a moment behind
    for _ in range(50):
        info = api.exec_inspect(exec_id)
        if not info.get("Running"):
            return info.get("ExitCode")
        time.sleep(0.02)
    return None


def normalize_exec_command(value: Any) -> ExecCommand:
    """``ExecCommand`` from an ``ExecCommand`` (as the config model normalises them), a
    command string, ``(cmd, user[, policy])`` or ``{cmd, user, policy}``; a list command
    becomes an argv tuple."""
    if isinstance(value, ExecCommand):
        cmd, user, policy = value
    elif isinstance(value, str):
        cmd, user, policy = value, None, "restart"
    elif isinstance(value, Mapping):
        cmd, user, policy = value.get("cmd"), value.get("user"), value.get("policy") or "restart"
    elif isinstance(value, tuple | list) and 1 <= len(value) <= 3:
        cmd, user, policy = (*value, None, None)[:3]
        policy = policy or "restart"
    else:
        raise ConfigurationError(f"exec_commands: invalid entry {value!r}")
    cmd = resolve_value(cmd)
    user = resolve_value(user)
    if user is NotSet:
        user = None
    if not cmd:
        raise ConfigurationError(f"exec_commands: entry {value!r} has no command")
    if policy not in POLICIES:
        raise ConfigurationError(f"exec_commands: policy must be restart or initial, not {policy!r}")
    if isinstance(cmd, list):
        cmd = tuple(cmd)
    return ExecCommand(cmd, user, policy)


def exec_user(command_user: Any, config_user: Any) -> str | None:
    """User for an exec command: the command's user, else the first part of the configured
    container user (``2000`` of ``2000:2000`` / ``("app", "staff")``), else None (Docker's
    default)."""
    for value in (command_user, config_user):
        value = resolve_value(value)
        if value is None or value is NotSet or value == "":
            continue
        if isinstance(value, tuple | list):
            return str(value[0])
        return str(value).partition(":")[0]
    return None


def run_exec_commands(
    api: docker.APIClient,
    container: str,
    commands: Iterable[Any],
    first_start: bool,
    default_user: Any = None,
    *,
    detach: bool = True,
    timeout: float | None = None,
    target: str | None = None,
) -> list[dict[str, Any]]:
    """Run the ``exec_commands`` of a container that was just started.

    ``first_start`` True runs ``initial`` and ``restart`` commands, False only ``restart``
    ones. ``default_user`` is the container configuration's ``user``. Returns one
    :func:`run_exec` result per command run, with ``policy`` added, in the configured order.
    """
    results = []
    for entry in commands:
        command = normalize_exec_command(entry)
        if command.policy == "initial" and not first_start:
            continue
        cmd = list(command.cmd) if isinstance(command.cmd, tuple) else command.cmd
        result = run_exec(
            api,
            container,
            cmd,
            user=exec_user(command.user, default_user),
            detach=detach,
            timeout=timeout,
            target=target,
        )
        result["policy"] = command.policy
        results.append(result)
    return results


def single_cmd(
    api: docker.APIClient,
    container: str,
    command: str | Iterable[str],
    user: str | int | None = None,
    *,
    timeout: float | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Run one command in a running map container and wait for it: returns ``exit_code`` and
    ``output`` (plus ``stdout``, ``stderr``, ``exec_id``, ``timed_out``)."""
    return run_exec(api, container, command, user=user, detach=False, timeout=timeout, target=target)
