"""Streaming plumbing: chunk iterators <-> file objects, tar writing as a generator, output
files written atomically with their size and sha256, a read-ahead thread.

Nothing here holds more than a few chunks in memory, whatever the size of the data.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import io
import os
import queue
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO

CHUNK = 1 << 20
BLOCKSIZE = tarfile.BLOCKSIZE
RECORDSIZE = tarfile.RECORDSIZE

Progress = Callable[[int, "int | None"], None]
Entry = tuple[tarfile.TarInfo, "IO[bytes] | None"]


class IterReader(io.RawIOBase):
    """A readable binary file over an iterator of byte chunks (e.g. a docker SDK stream).

    ``count`` is the number of bytes taken from the iterator; ``progress(count, total)`` is
    called after each chunk.
    """

    def __init__(self, chunks: Iterable[bytes], progress: Progress | None = None, total: int | None = None):
        super().__init__()
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")
        self._progress = progress
        self._total = total
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._buf:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return 0
            self._buf = memoryview(chunk)
            self.count += len(chunk)
            if self._progress is not None:
                self._progress(self.count, self._total)
        size = min(len(buffer), len(self._buf))
        buffer[:size] = self._buf[:size]
        self._buf = self._buf[size:]
        return size

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


def counted(chunks: Iterable[bytes], progress: Progress | None, total: int | None = None) -> Iterator[bytes]:
    """Pass chunks through, reporting the running byte count to ``progress``."""
    iterator = iter(chunks)
    done = 0
    try:
        for chunk in iterator:
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


_PAX_REGENERATED = ("path", "linkpath", "uid", "gid", "uname", "gname", "size", "mtime")


def copy_info(member: tarfile.TarInfo, **changes) -> tarfile.TarInfo:
    """A copy of ``member`` with ``changes`` applied. Pax records that would override the changed
    fields (``path``, ``uid`` ...) are dropped: they are regenerated when needed on writing."""
    info = tarfile.TarInfo(changes.pop("name", member.name))
    for attr in (
        "mode",
        "uid",
        "gid",
        "size",
        "mtime",
        "type",
        "linkname",
        "uname",
        "gname",
        "devmajor",
        "devminor",
    ):
        setattr(info, attr, changes.pop(attr, getattr(member, attr)))
    if changes:
        raise TypeError(f"unknown tar member fields {sorted(changes)}")
    info.pax_headers = {k: v for k, v in member.pax_headers.items() if k not in _PAX_REGENERATED}
    return info


def tar_chunks(entries: Iterable[Entry], chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Write a (pax) tar archive as a stream of byte chunks from ``(member, fileobj)`` pairs.

    A regular member's data is read from its fileobj in ``chunk_size`` pieces; the archive ends
    with the two zero blocks and is padded to a whole record, like ``tarfile`` does.
    """
    offset = 0
    for info, fileobj in entries:
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield header
        offset += len(header)
        if info.isreg() and info.size:
            remaining = info.size
            while remaining:
                data = fileobj.read(min(chunk_size, remaining)) if fileobj is not None else b""
                if not data:
                    raise tarfile.ReadError(f"unexpected end of data in member {info.name!r}")
                remaining -= len(data)
                yield data
            pad = -info.size % BLOCKSIZE
            if pad:
                yield bytes(pad)
            offset += info.size + pad
    end = 2 * BLOCKSIZE
    end += -(offset + end) % RECORDSIZE
    yield bytes(end)


def coalesce(chunks: Iterable[bytes], min_size: int = CHUNK) -> Iterator[bytes]:
    """Join small chunks (tar headers, padding) into pieces of at least ``min_size`` bytes."""
    pending = bytearray()
    for chunk in chunks:
        if not pending and len(chunk) >= min_size:
            yield chunk
            continue
        pending += chunk
        if len(pending) >= min_size:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


_DONE = object()


READ_AHEAD_BATCH = 256 * 1024


def read_ahead(chunks: Iterable[bytes], depth: int = 8) -> Iterator[bytes]:
    """Produce ``chunks`` in a background thread, handed over in batches of about 256 KiB, at most
    ``depth`` batches (2 MiB with small chunks) ahead of the consumer.

    Overlaps reading from the engine (socket, HTTP chunk parsing) with the consumer's disk or CPU
    work; batching keeps the hand-over cheap and absorbs short stalls (disk write-back) without
    blocking the engine. Exceptions of the producer are raised in the consumer; when the
    consumer stops early the producer is stopped and its iterator closed.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(chunks)
        try:
            batch: list = []
            size = 0
            for chunk in iterator:
                batch.append(chunk)
                size += len(chunk)
                if size >= READ_AHEAD_BATCH:
                    if not put(batch):
                        return
                    batch, size = [], 0
            if batch and not put(batch):
                return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="archive-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        thread.join(5)  # a producer stuck in a socket read is left to its timeout (daemon thread)


class _HashingWriter(io.RawIOBase):
    """Counts what is written through it and hashes it (sha256) in a thread of its own, fed in
    batches of about a megabyte, so hashing overlaps the rest of the pipeline."""

    def __init__(self, raw: IO[bytes], checksum: bool = True):
        super().__init__()
        self.raw = raw
        self.size = 0
        self.checksum = checksum
        self._sha256 = hashlib.sha256()
        self._batch: list = []
        self._batch_size = 0
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._hash, name="archive-sha256", daemon=True)
        if checksum:
            self._thread.start()

    def _hash(self) -> None:
        while (batch := self._queue.get()) is not None:
            for data in batch:
                self._sha256.update(data)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.raw.write(data)
        size = len(data)
        self.size += size
        if not self.checksum:
            return size
        self._batch.append(data)
        self._batch_size += size
        if self._batch_size >= CHUNK:
            self._queue.put(self._batch)
            self._batch, self._batch_size = [], 0
        return size

    def hexdigest(self) -> str | None:
        """Finish hashing (stops the thread) and return the digest (None without checksum)."""
        if not self.checksum:
            return None
        if self._thread.is_alive():
            self._queue.put(self._batch)
            self._queue.put(None)
            self._thread.join()
            self._batch = []
        return self._sha256.hexdigest()


def is_gzip_name(filename: str) -> bool:
    """Whether an output file name asks for gzip compression (anything but ``.tar``)."""
    return not filename.lower().endswith(".tar")


OUTPUT_FILE_MODE = 0o600
OUTPUT_DIR_MODE = 0o700


def make_private_dirs(directory: str) -> None:
    """Create ``directory`` and missing parents with :data:`OUTPUT_DIR_MODE` (0700; existing
    directories are left as they are)."""
    missing = []
    path = os.path.abspath(directory)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, OUTPUT_DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


def write_file(
    chunks: Iterable[bytes],
    filename: str,
    compress: bool | None = None,
    level: int = 6,
    checksum: bool = True,
) -> dict:
    """Write ``chunks`` to ``filename`` atomically (temporary file in the same directory,
    renamed at the end, removed on any error); gzip-compressed unless the name ends in ``.tar``
    (or as ``compress`` says). Returns ``{'path', 'size', 'sha256', 'data_size'}`` where
    ``data_size`` is the uncompressed size and ``sha256`` that of the file (None when
    ``checksum=False``: it costs a CPU core at about 1 GB/s). The file is made 0600 and the
    directories created for it 0700: archives hold user data, and Salt writes them as root."""
    if compress is None:
        compress = is_gzip_name(filename)
    directory = os.path.dirname(os.path.abspath(filename))
    make_private_dirs(directory)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".tmp", dir=directory)
    data_size = 0
    try:
        with os.fdopen(fd, "wb", buffering=CHUNK) as raw:
            hashing = _HashingWriter(raw, checksum)
            try:
                _write_all(chunks, hashing, compress, level, filename)
            finally:
                hashing.hexdigest()  # stops the hash thread, also on errors
            data_size = getattr(hashing, "data_size", hashing.size)
        # archives hold user data (volume contents, image layers): owner only, like the
        # directories created for them (mkstemp makes it 0600 already; stated for clarity)
        os.chmod(tmp, OUTPUT_FILE_MODE)
        os.replace(tmp, filename)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return {
        "path": os.path.abspath(filename),
        "size": hashing.size,
        "sha256": hashing.hexdigest(),
        "data_size": data_size,
    }


GZIP_BLOCK = 1 << 20
_WINDOW = 32768


def _write_all(
    chunks: Iterable[bytes], out: _HashingWriter, compress: bool, level: int, filename: str
) -> None:
    if compress:
        name = os.path.basename(filename).removesuffix(".gz").removesuffix(".tgz")
        _write_gzip(chunks, out, level, name)
    else:
        for chunk in chunks:
            out.write(chunk)


def _deflate_block(block: bytes, zdict: bytes, level: int) -> bytes:
    """Raw deflate of one block ending on a byte boundary (sync flush, not final), primed with
    the previous block's last 32 KiB so the ratio matches a single-threaded stream."""
    if zdict:
        compressor = zlib.compressobj(
            level, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, zdict
        )
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    return compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


def _write_gzip(
    chunks: Iterable[bytes], out: _HashingWriter, level: int, name: str, workers: int | None = None
) -> None:
    """One gzip member (RFC 1952) from ``chunks``, compressed in parallel like pigz: blocks are
    deflated independently by a thread pool (zlib releases the GIL) and concatenated; the crc32
    runs over the data in order. At most ``2 * workers`` blocks are in flight."""
    workers = workers or min(4, os.cpu_count() or 1)
    fname = name.encode("latin-1", "replace")
    out.write(b"\x1f\x8b\x08\x08" + bytes(4) + b"\x00\xff" + fname + b"\x00")
    crc = 0
    size = 0
    pending: collections.deque = collections.deque()
    previous = b""
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="gzip") as pool:
        for block in _blocks(chunks, GZIP_BLOCK):
            crc = zlib.crc32(block, crc)
            size += len(block)
            pending.append(pool.submit(_deflate_block, block, previous[-_WINDOW:], level))
            previous = block
            while len(pending) > 2 * workers:
                out.write(pending.popleft().result())
        while pending:
            out.write(pending.popleft().result())
    # an empty final block ends the deflate stream
    out.write(zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH))
    out.write(crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
    out.data_size = size
