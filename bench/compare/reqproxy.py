"""Count Engine API requests: the test bed's HTTP-aware proxy, run as a separate process.

The parsing proxy itself is ``tests/testbed/reqproxy.py`` (request framing by Content-Length /
chunked, so every request on a keep-alive connection is seen; hijacked connections copied raw);
this module only runs it in a child process (so it never competes with an in-process tool for
the GIL), logs its ``METHOD PATH`` lines to a file and counts them between marks.

    with CountingProxy(workdir) as proxy:
        mark = proxy.mark()
        ...  # a tool talks to proxy.base_url (DOCKER_HOST for the peers, base_url for ours)
        requests = proxy.since(mark)  # [(method, path), ...]
"""

from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROXY_SCRIPT = REPO / "tests" / "testbed" / "reqproxy.py"
UPSTREAM = "/var/run/docker.sock"


class CountingProxy:
    """A request-logging proxy on ``<workdir>/proxy.sock`` in front of ``upstream``."""

    def __init__(self, workdir: str | os.PathLike, upstream: str = UPSTREAM, python: str = sys.executable):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = str(self.workdir / "proxy.sock")
        self.log_path = self.workdir / "proxy.log"
        self.upstream = upstream
        self.python = python
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> CountingProxy:
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(
            [self.python, str(PROXY_SCRIPT), self.socket_path, self.upstream],
            stdout=self._log,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"request proxy exited with {self._proc.returncode}")
            if os.path.exists(self.socket_path):
                probe = socket.socket(socket.AF_UNIX)
                try:
                    probe.connect(self.socket_path)
                    return self
                except OSError:
                    pass
                finally:
                    probe.close()
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("request proxy did not come up within 10 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self) -> list[tuple[str, str]]:
        """Every ``(method, path)`` seen so far (path without query and API version)."""
        if not self.log_path.exists():
            return []
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            method, _, path = line.partition(" ")
            if method and path:
                out.append((method, path))
        return out

    def mark(self) -> int:
        """Position to count from (see :meth:`since`)."""
        return len(self.requests())

    def since(self, mark: int) -> list[tuple[str, str]]:
        """Requests recorded after ``mark``.

        The child logs a request before it forwards it, so every request whose response the
        tool has received is already in the log.
        """
        return self.requests()[mark:]


_ID = re.compile(r"^[0-9a-f]{12,64}$")
# image references contain '/' (local/x:tag), so they are matched as a whole
_IMAGE_PATH = re.compile(r"^/(images|distribution)/(.+)/(json|history|push|tag|get)$")
_OBJECT_COLLECTIONS = frozenset({"containers", "networks", "volumes", "exec"})
_KEEP = frozenset({"json", "create", "prune", "bridge", "host", "none"})


def endpoint(path: str, names: tuple[str, ...] = ()) -> str:
    """Path with object names / ids replaced by ``{x}`` (for per-endpoint breakdowns).

    The object position of ``/containers/X/..``, ``/networks/X/..``, ``/volumes/X``, ``/exec/X/..``
    is always an object (random names of temporary objects included) unless it is a collection
    verb (``json``, ``create``, ``prune``) or a preset network (``bridge``, ``host``, ``none``).
    """
    image = _IMAGE_PATH.match(path)
    if image:
        return f"/{image.group(1)}/{{img}}/{image.group(3)}"
    parts = path.split("/")
    if len(parts) > 2 and parts[1] in _OBJECT_COLLECTIONS and parts[2] not in _KEEP:
        parts[2] = "{x}"
    out = []
    for part in parts:
        if _ID.match(part) or part.startswith("sha256:") or any(part.startswith(n) for n in names if n):
            out.append("{x}")
        else:
            out.append(part)
    return "/".join(out)


def breakdown(requests: list[tuple[str, str]], names: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """``[("GET /containers/json", 3), ...]`` most common first."""
    counter = collections.Counter(f"{m} {endpoint(p, names)}" for m, p in requests)
    return counter.most_common()
