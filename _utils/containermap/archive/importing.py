"""Image import from a tar stream, and image configuration as import ``changes``.

What Docker's import ``changes`` can carry (verified on Engine 20.10, API 1.41): ``CMD``,
``ENTRYPOINT``, ``ENV``, ``EXPOSE``, ``HEALTHCHECK``, ``LABEL``, ``ONBUILD``, ``USER``,
``VOLUME``, ``WORKDIR``. It refuses ``STOPSIGNAL``, ``SHELL`` and ``MAINTAINER``, and has no
instruction at all for ``StopTimeout``, ``Hostname``, ``Domainname``, ``Author``, ``Comment``
or the history: those are lost (:func:`config_changes` lists them so the caller can warn).
Architecture and OS become the engine's own.

The engine expands ``$VAR`` in most instruction arguments, so values are written as
double-quoted (or JSON) strings with ``\\``, ``"`` and ``$`` escaped; a value containing a line
break cannot be written at all and is reported as lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import docker.errors
from docker.utils import parse_repository_tag

from .tarsafe import ArchiveError

# image Config fields import cannot set (StopSignal is refused by Engine 20.10)
UNSUPPORTED_FIELDS = ("StopSignal", "StopTimeout", "Shell", "Hostname", "Domainname")


def _escape(value: str) -> str:
    """An argument for a change line: quoted, with ``\\``, ``"`` and ``$`` escaped."""
    out = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{out}"'


def _json_expanded(values: Iterable[str]) -> str:
    """A JSON array for instructions whose words the engine still expands (VOLUME)."""
    return json.dumps([str(v).replace("\\", "\\\\").replace("$", "\\$") for v in values])


def _duration(nanoseconds: int) -> str:
    return f"{int(nanoseconds)}ns"


def config_changes(config: Mapping[str, Any] | None) -> tuple[list[str], list[str]]:
    """Import ``changes`` (Dockerfile lines) that recreate an image ``Config``; also returns the
    names of set fields that cannot be carried. Empty/None fields produce no line."""
    config = config or {}
    changes: list[str] = []
    lost: list[str] = []

    def ok(text: Any) -> bool:
        return "\n" not in str(text) and "\r" not in str(text)

    for item in config.get("Env") or ():
        key, _, value = item.partition("=")
        if ok(item):
            changes.append(f"ENV {key}={_escape(value)}")
        else:
            lost.append(f"Env {key}")
    for key, value in (config.get("Labels") or {}).items():
        if ok(key) and ok(value):
            changes.append(f"LABEL {_escape(key)}={_escape(value)}")
        else:
            lost.append(f"Labels {key}")
    ports = sorted(config.get("ExposedPorts") or ())
    if ports:
        changes.append("EXPOSE " + " ".join(ports))
    volumes = sorted(config.get("Volumes") or ())
    if volumes:
        changes.append("VOLUME " + _json_expanded(volumes))
    for field, instruction in (("WorkingDir", "WORKDIR"), ("User", "USER")):
        value = config.get(field)
        if value:
            if ok(value):
                changes.append(f"{instruction} {_escape(value)}")
            else:
                lost.append(field)
    # ENTRYPOINT before CMD: an ENTRYPOINT line resets a CMD set earlier
    for field, instruction in (("Entrypoint", "ENTRYPOINT"), ("Cmd", "CMD")):
        value = config.get(field)
        if value:
            if isinstance(value, str):
                value = ["/bin/sh", "-c", value]
            changes.append(f"{instruction} {json.dumps(list(value))}")
    health = config.get("Healthcheck")
    if health and health.get("Test"):
        test = list(health["Test"])
        if test[0] == "NONE":
            changes.append("HEALTHCHECK NONE")
        else:
            flags = []
            for key, flag in (
                ("Interval", "interval"),
                ("Timeout", "timeout"),
                ("StartPeriod", "start-period"),
            ):
                if health.get(key):
                    flags.append(f"--{flag}={_duration(health[key])}")
            if health.get("Retries"):
                flags.append(f"--retries={int(health['Retries'])}")
            if test[0] == "CMD-SHELL":
                command = "CMD " + test[1] if ok(test[1]) else None
            else:
                command = "CMD " + json.dumps(test[1:])
            if command:
                changes.append(" ".join(["HEALTHCHECK", *flags, command]))
            else:
                lost.append("Healthcheck")
    for trigger in config.get("OnBuild") or ():
        if ok(trigger):
            changes.append(f"ONBUILD {trigger}")
        else:
            lost.append("OnBuild")
    for field in UNSUPPORTED_FIELDS:
        if config.get(field):
            lost.append(field)
    return changes, lost


def import_result(response: Any) -> str:
    """The image id from an ``import_image`` response (a JSON-lines string in SDK 7)."""
    text = response if isinstance(response, str) else json.dumps(response)
    image_id = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("error") or obj.get("errorDetail"):
            raise ArchiveError(f"import failed: {obj.get('error') or obj.get('errorDetail')}")
        status = obj.get("status", "")
        if status.startswith("sha256:"):
            image_id = status
    if image_id is None:
        raise ArchiveError(f"import returned no image id: {text[:200]!r}")
    return image_id


def import_stream(api: Any, chunks: Iterable[bytes], image: str, changes: list[str] | None = None) -> str:
    """Import a tar stream (iterator of byte chunks, sent with chunked transfer encoding) as
    ``image`` (``repo[:tag]``, default tag ``latest``); returns the new image id."""
    repository, tag = parse_repository_tag(image)
    try:
        response = api.import_image(
            src=chunks, repository=repository, tag=tag or "latest", changes=changes or None, stream_src=True
        )
    except docker.errors.APIError as exc:
        raise ArchiveError(f"import failed: {exc}", target=image, cause=exc) from exc
    return import_result(response)
