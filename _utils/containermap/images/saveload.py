"""Save images to (gzip) files and load them back, streamed end to end.

Memory stays constant whatever the image size. ``save_image`` reads the engine's export on a
read-ahead thread and writes it with the archive package's atomic writer (pigz-style parallel
gzip: zlib releases the GIL, so reading and compressing overlap like ``docker save | gzip``).
``load_image`` uploads the file as a chunked binary stream (docker-fabric read it in text
mode); the engine detects and unpacks gzip, bzip2 and xz itself, as for ``docker load``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import docker.errors

from ..archive.streams import coalesce, counted, read_ahead, write_file
from .errors import TRANSPORT_ERRORS, ImageError, ImageNotFound, engine_failure, exception_text
from .registry import low_level

CHUNK_SIZE = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

Progress = Callable[[dict], None]


def _reporter(progress: Progress | None, status: str) -> Callable[[int, int | None], None] | None:
    """Adapt a ``progress(dict)`` callback to the archive streams' ``(done, total)`` form."""
    if progress is None:
        return None
    return lambda done, total: progress({"status": status, "current": done, "total": total})


def save_image(
    api: Any,
    image: str,
    filename: str,
    compress: bool = True,
    progress: Progress | None = None,
    compresslevel: int = 6,
    chunk_size: int = CHUNK_SIZE,
    checksum: bool = True,
) -> dict[str, Any]:
    """Write ``image`` (name or id) as a ``docker save`` archive to ``filename``.

    ``compress`` gzips it (``compresslevel`` 6, like ``gzip``). The file is written under a
    temporary name and renamed when complete, so a failure never leaves a truncated archive.
    Progress: ``{'status': 'saving', 'current': bytes read, 'total': image size}``. Returns
    ``{'image', 'filename', 'bytes' (archive bytes read from the engine), 'size' (file size),
    'sha256' (of the file as written, computed while writing; None with ``checksum=False``,
    which saves a CPU core's worth of hashing on fast plain saves)}``.
    """
    client = low_level(api)
    try:
        total = client.inspect_image(image).get("Size")
    except docker.errors.NotFound:
        raise ImageNotFound(f"image {image} not found", image=image) from None
    except docker.errors.APIError as exc:
        raise ImageError(f"inspecting image {image} failed: {exception_text(exc)}", cause=exc) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "save image", image=image) from None
    try:
        chunks: Iterable[bytes] = client.get_image(image, chunk_size=chunk_size)
        report = _reporter(progress, "saving")
        if compress:
            # the engine sends 32 KB chunks: 1 MB blocks for the parallel gzip, read ahead so that
            # reading and compressing overlap (progress is still reported on this thread)
            chunks = counted(read_ahead(coalesce(chunks, chunk_size)), report, total)
        else:
            chunks = counted(chunks, report, total)
        # one atomic writer for images and archives (sha256 on a thread of its own)
        written = write_file(chunks, filename, compress=compress, level=compresslevel, checksum=checksum)
    except docker.errors.APIError as exc:
        raise ImageError(f"saving image {image} failed: {exception_text(exc)}", cause=exc) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "save image", image=image) from None
    return {
        "image": image,
        "filename": filename,
        "bytes": written["data_size"],
        "size": written["size"],
        "sha256": written["sha256"],
    }


def is_gzip(filename: str) -> bool:
    """True when the file starts with the gzip magic number."""
    with open(filename, "rb") as fileobj:
        return fileobj.read(2) == GZIP_MAGIC


def _file_chunks(filename: str, chunk_size: int) -> Iterator[bytes]:
    with open(filename, "rb") as fileobj:
        while chunk := fileobj.read(chunk_size):
            yield chunk


def load_image(
    api: Any,
    filename: str,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Any]:
    """Load a ``docker save`` archive (plain or gzip, detected by its magic number).

    The file is read in binary mode and uploaded as a chunked stream; progress:
    ``{'status': 'loading', 'current': bytes sent, 'total': file size}``. Returns
    ``{'filename', 'compressed', 'bytes', 'images': [loaded names, or ids of untagged images]}``.
    """
    client = low_level(api)
    total = os.path.getsize(filename)
    compressed = is_gzip(filename)
    sent = 0

    def report(done: int, size: int | None) -> None:
        nonlocal sent
        sent = done
        if progress is not None:
            progress({"status": "loading", "current": done, "total": size})

    loaded: list[str] = []
    try:
        response = client.load_image(counted(_file_chunks(filename, chunk_size), report, total), quiet=True)
        for record in response or ():
            if not isinstance(record, dict):
                continue
            if "error" in record or "errorDetail" in record:
                detail = record.get("errorDetail") or {}
                message = record.get("error") or detail.get("message") or "unknown error"
                raise ImageError(f"loading {filename} failed: {message}")
            for line in str(record.get("stream") or "").splitlines():
                for marker in ("Loaded image: ", "Loaded image ID: "):
                    if line.startswith(marker):
                        loaded.append(line[len(marker) :].strip())
    except docker.errors.APIError as exc:
        raise ImageError(f"loading {filename} failed: {exception_text(exc)}", cause=exc) from None
    except TRANSPORT_ERRORS as exc:
        raise engine_failure(exc, "load image") from None
    return {"filename": filename, "compressed": compressed, "bytes": sent, "images": loaded}
