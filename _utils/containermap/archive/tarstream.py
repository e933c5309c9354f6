"""A streaming tar reader over byte chunks with zero-copy member data.

``tarfile`` in stream mode copies every byte several times (its stream buffer, the buffered
member reader, slicing); on a 1 GB copy that costs more than the network. This reader parses
headers with the public ``tarfile.TarInfo.frombuf`` and hands member data out as memoryview
slices of the chunks the engine sent. It understands ustar, pax (local records: path, linkpath,
size, uid, gid, uname, gname, mtime; other records such as xattrs stay in ``pax_headers``) and
the GNU long name/link extensions; sparse files are refused.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator

from .tarsafe import ArchiveError

BLOCKSIZE = tarfile.BLOCKSIZE
_PAX_INT = {"size", "uid", "gid"}
_PAX_FLOAT = {"mtime"}
_PAX_FIELDS = {"path": "name", "linkpath": "linkname", "uname": "uname", "gname": "gname"}


class ChunkStream:
    """Sequential reads over an iterator of byte chunks; ``count`` bytes consumed so far."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")
        self.count = 0

    def _fill(self) -> bool:
        while not self._buf:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                return False
            self._buf = memoryview(chunk)
            self.count += len(chunk)
        return True

    def read_some(self, size: int) -> memoryview:
        """Up to ``size`` bytes (at least one unless at the end), without copying."""
        if not self._buf and not self._fill():
            return memoryview(b"")
        data = self._buf[:size]
        self._buf = self._buf[len(data) :]
        return data

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes (a copy; for headers); fewer only at the end of the stream."""
        parts = []
        while size > 0:
            data = self.read_some(size)
            if not data:
                break
            parts.append(data)
            size -= len(data)
        return b"".join(parts)

    def skip(self, size: int) -> None:
        while size > 0:
            data = self.read_some(size)
            if not data:
                raise ArchiveError("tar stream ends in the middle of a member")
            size -= len(data)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class MemberData:
    """A regular member's data: ``read(n)`` gives up to ``n`` bytes (memoryview, no copy)."""

    def __init__(self, stream: ChunkStream, size: int, name: str):
        self._stream = stream
        self._name = name
        self.size = size
        self.remaining = size

    def read(self, size: int = -1) -> memoryview | bytes:
        if self.remaining <= 0:
            return b""
        if size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.read_some(size)
        if not data:
            raise ArchiveError(f"tar stream ends in the middle of member {self._name!r}")
        self.remaining -= len(data)
        return data


def _padded(size: int) -> int:
    return size + (-size % BLOCKSIZE)


def _read_data(stream: ChunkStream, size: int, last: str) -> bytes:
    data = stream.read_exact(_padded(size))
    if len(data) < _padded(size):
        raise ArchiveError(f"tar stream ends in the middle of an extended header after member {last!r}")
    return data[:size]


def _parse_pax(data: bytes, name: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ArchiveError(f"invalid pax header before member after {name!r}") from None
        if length <= 0 or space < 0 or pos + length > len(data):
            raise ArchiveError(f"invalid pax header before member after {name!r}")
        key, sep, value = data[space + 1 : pos + length - 1].partition(b"=")
        if not sep:
            raise ArchiveError(f"invalid pax record {key!r}")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def iter_tar(chunks: Iterable[bytes]) -> Iterator[tuple[tarfile.TarInfo, MemberData | None]]:
    """``(member, data)`` for each member of a tar stream given as byte chunks; ``data`` is a
    :class:`MemberData` for regular files (read it before asking for the next member; what is
    left unread is skipped), else None. Stops at the end-of-archive marker; a stream without
    one, or cut anywhere, raises :class:`ArchiveError`."""
    stream = ChunkStream(chunks)
    last = "<start>"
    pax: dict[str, str] = {}
    global_pax: dict[str, str] = {}
    long_name = long_link = None
    pending: MemberData | None = None
    try:
        while True:
            if pending is not None:
                stream.skip(pending.remaining + (-pending.size % BLOCKSIZE))
                pending = None
            header = stream.read_exact(BLOCKSIZE)
            if len(header) < BLOCKSIZE:
                # strict, unlike tarfile: a stream cut at a member boundary is an error too
                raise ArchiveError(f"tar stream ends without end-of-archive marker (after member {last!r})")
            try:
                info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
            except tarfile.EOFHeaderError:
                return
            except tarfile.HeaderError as exc:
                raise ArchiveError(f"invalid tar header after member {last!r}: {exc}") from exc
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE):
                records = _parse_pax(_read_data(stream, info.size, last), last)
                if info.type == tarfile.XGLTYPE:
                    global_pax.update(records)
                else:
                    pax.update(records)
                continue
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                value = _read_data(stream, info.size, last).rstrip(b"\0")
                text = value.decode("utf-8", "surrogateescape")
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = text
                else:
                    long_link = text
                continue
            if info.type == tarfile.GNUTYPE_SPARSE or any(k.startswith("GNU.sparse") for k in pax):
                raise ArchiveError(f"sparse file {info.name!r} not supported")
            records = {**global_pax, **pax}
            if long_name is not None:
                info.name = long_name
            if long_link is not None:
                info.linkname = long_link
            for key, value in records.items():
                if key in _PAX_FIELDS:
                    setattr(info, _PAX_FIELDS[key], value)
                elif key in _PAX_INT:
                    setattr(info, key, int(value))
                elif key in _PAX_FLOAT:
                    setattr(info, key, float(value))
            info.pax_headers = records
            if info.isdir():
                info.name = info.name.rstrip("/")
            pax, long_name, long_link = {}, None, None
            last = info.name
            if info.isreg():
                pending = MemberData(stream, info.size, info.name)
                yield info, pending
            else:
                if info.size and info.type not in tarfile.SUPPORTED_TYPES:
                    stream.skip(_padded(info.size))  # unknown types carry data, like tarfile reads it
                yield info, None
    finally:
        stream.close()
