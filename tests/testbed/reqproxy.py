"""Request-logging proxy for a Docker engine's unix socket.

Tests point a docker SDK client at ``RequestLog.base_url`` to count exactly which Engine API
requests a piece of code sends (for example "a no-op apply sends only GET requests").

The client-to-engine direction is parsed as HTTP/1.1: request line, headers, and a body framed by
``Content-Length`` or ``Transfer-Encoding: chunked``, so every request of a keep-alive connection
is seen, also one that directly follows a body. After a request that asks for a protocol upgrade
(the SDK's attach and exec-start hijack the connection), the rest of that connection is copied as
raw bytes, as is anything that does not parse as HTTP. The engine-to-client direction is always
copied unparsed, so streaming responses (logs, attach, events, pull progress) flow as they come.

Usable on its own: ``python tests/testbed/reqproxy.py LISTEN_SOCK [UPSTREAM_SOCK]`` prints one
``METHOD PATH`` line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from urllib.parse import unquote

DEFAULT_UPSTREAM = "/var/run/docker.sock"
# the SDK prefixes every path with the API version (/v1.41/containers/json)
_VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")
_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r?\n$")
_COPY_SIZE = 1 << 16
# header lines and chunk-size lines longer than this are not HTTP from the SDK: raw mode
_LINE_LIMIT = 1 << 20
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def normalize_path(target: str) -> str:
    """Request target -> path without query string and without the ``/vX.Y`` API prefix."""
    path = target.split("?", 1)[0]
    return unquote(_VERSION_PREFIX.sub("", path))


class RequestLog:
    """A proxy on a private unix socket in front of an engine socket, run in a daemon thread.

    ``requests`` is the list of ``(method, path)`` seen so far, in arrival order. A request is
    recorded before it is forwarded, so it is counted by the time its response arrives.
    """

    def __init__(self, upstream: str = DEFAULT_UPSTREAM, socket_path: str | None = None) -> None:
        self.upstream = upstream.removeprefix("unix://")
        self._own_dir: str | None = None
        if socket_path is None:
            # a short private path: unix socket paths are limited to 107 bytes
            self._own_dir = tempfile.mkdtemp(prefix="dfproxy-")
            socket_path = os.path.join(self._own_dir, "proxy.sock")
        self.socket_path = socket_path
        self._requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.on_request: Callable[[str, str], None] | None = None

    # --- public API ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Docker SDK base URL of the proxy."""
        return f"unix://{self.socket_path}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Copy of the recorded ``(method, path)`` pairs."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()

    def count(self, method: str | None = None, prefix: str | None = None) -> int:
        """Number of recorded requests, optionally only those with ``method`` and path ``prefix``."""
        return sum(
            1
            for m, p in self.requests
            if (method is None or m == method.upper()) and (prefix is None or p.startswith(prefix))
        )

    def state_changing(self) -> list[tuple[str, str]]:
        """Every recorded request other than GET/HEAD."""
        return [(m, p) for m, p in self.requests if m not in READ_ONLY_METHODS]

    def start(self) -> RequestLog:
        """Start listening; returns once the socket accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_unix_server(self._handle, self.socket_path, limit=_LINE_LIMIT)
                )
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="reqproxy", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, stop the thread, remove the socket."""
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        if self._own_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self._own_dir)

    def __enter__(self) -> RequestLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- proxy internals -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        # closing the transports ends every handler (its reads see EOF); cancel what still hangs
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _record(self, method: str, target: str) -> None:
        path = normalize_path(target)
        with self._lock:
            self._requests.append((method, path))
        if self.on_request is not None:
            self.on_request(method, path)

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(cwriter)
        uwriter = None
        try:
            ureader, uwriter = await asyncio.open_unix_connection(self.upstream, limit=_LINE_LIMIT)
            self._writers.add(uwriter)
            up = asyncio.ensure_future(self._client_to_engine(creader, uwriter))
            try:
                # the engine closing its side ends the connection; the client closing only its
                # sending side (half close) is passed on and the response keeps flowing
                await self._copy(ureader, cwriter)
            finally:
                up.cancel()
                await asyncio.gather(up, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # only at stop(); ending normally keeps asyncio's server callback quiet
            pass
        finally:
            for writer in (cwriter, uwriter):
                if writer is not None:
                    writer.close()
                    self._writers.discard(writer)
            self._tasks.discard(task)

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int = -1) -> None:
        """Copy ``size`` bytes (all until EOF when negative)."""
        while size != 0:
            data = await reader.read(_COPY_SIZE if size < 0 else min(size, _COPY_SIZE))
            if not data:
                if size > 0:
                    raise asyncio.IncompleteReadError(b"", size)
                return
            writer.write(data)
            await writer.drain()
            if size > 0:
                size -= len(data)

    async def _client_to_engine(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 2.2)
                    writer.write(line)
                    continue
                match = _REQUEST_LINE.match(line)
                if match is None:
                    writer.write(line)
                    await self._copy(reader, writer)
                    break
                head = [line]
                headers: dict[str, str] = {}
                while True:
                    hline = await reader.readline()
                    if not hline:
                        raise asyncio.IncompleteReadError(b"", None)
                    head.append(hline)
                    if hline in (b"\r\n", b"\n"):
                        break
                    name, _, value = hline.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                self._record(match.group(1).decode("ascii"), match.group(2).decode("latin-1"))
                writer.write(b"".join(head))
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    await self._copy_chunked(reader, writer)
                elif headers.get("content-length", "0").strip() not in ("", "0"):
                    await self._copy(reader, writer, int(headers["content-length"]))
                await writer.drain()
                if "upgrade" in headers or "upgrade" in headers.get("connection", "").lower():
                    # hijacked connection (attach, exec start): raw stream from here on
                    await self._copy(reader, writer)
                    break
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()

    async def _copy_chunked(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            size_line = await reader.readline()
            if not size_line:
                raise asyncio.IncompleteReadError(b"", None)
            writer.write(size_line)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # optional trailer fields, then the empty line
                while True:
                    trailer = await reader.readline()
                    if not trailer:
                        raise asyncio.IncompleteReadError(b"", None)
                    writer.write(trailer)
                    if trailer in (b"\r\n", b"\n"):
                        return
            await self._copy(reader, writer, size + 2)  # chunk data + CRLF


def main(argv: list[str] | None = None) -> int:
    """Run the proxy in the foreground, printing one ``METHOD PATH`` line per request."""
    import sys
    import time

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: reqproxy.py LISTEN_SOCK [UPSTREAM_SOCK]")
        return 0 if args else 2
    proxy = RequestLog(args[1] if len(args) > 1 else DEFAULT_UPSTREAM, socket_path=args[0])
    proxy.on_request = lambda method, path: print(method, path, flush=True)
    proxy.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
