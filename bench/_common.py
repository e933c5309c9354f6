"""Helpers shared by the file benchmarks (``images.py``, ``archive.py``).

* one operation per child process (``run_child``), so each peak RSS is that operation's alone;
* peak RSS of this process (VmHWM) and of CLI pipelines (``wait4``'s ``ru_maxrss`` per process);
* the labelled "fat" test image (layers of random and of base64 text data), built with the
  engine's own ``build``.

Importing this module puts the repository's ``_utils`` on ``sys.path`` (``import containermap``).
Sizes are returned in bytes: each script keeps its own MB unit in its output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
UTILS = os.path.normpath(os.path.join(HERE, "..", "_utils"))
if UTILS not in sys.path:
    sys.path.insert(0, UTILS)

BASE = "local/busybox:latest"
TEST_LABEL = "org.dockerfabric.test"


def docker_cli() -> str:
    """Path of the ``docker`` CLI (the test bed's wrapper in /usr/local/bin first)."""
    for candidate in ("/usr/local/bin/docker", "/usr/bin/docker"):
        if os.path.exists(candidate):
            return candidate
    return shutil.which("docker") or "docker"


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (VmHWM; ``getrusage`` where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_pipeline(commands: list[list[str]], stdout_path: str | None = None) -> int:
    """Run ``commands`` piped into each other (the last one's output to ``stdout_path`` or
    discarded); returns the sum of their peak RSS in bytes. A failing command ends the bench."""
    procs = []
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        previous = None
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            proc = subprocess.Popen(
                command, stdin=previous, stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE
            )
            if previous is not None:
                previous.close()  # only the next process holds the pipe: SIGPIPE reaches the writer
            previous = proc.stdout
            procs.append(proc)
        peak = 0
        for proc in procs:
            # wait4, not wait(): its rusage is this process's own peak, not all children's
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode:
                raise SystemExit(f"{proc.args} failed ({proc.returncode}): {proc.stderr.read().decode()}")
            proc.stderr.close()
            peak += usage.ru_maxrss * 1024
        return peak
    finally:
        if stdout_path:
            out.close()


def parse_args(
    parser: argparse.ArgumentParser, child: Callable[[str, str], None]
) -> argparse.Namespace | None:
    """Parse the command line with the hidden ``--child MODE PATH`` option of :func:`run_child`
    added; in a child process, run ``child(MODE, PATH)`` and return None."""
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return None
    return args


def engine() -> Any:
    """The low-level client of the local engine, with a timeout long enough for 1 GB streams."""
    import docker

    return docker.APIClient(timeout=600)


def run_child(script: str, mode: str, path: str) -> dict[str, Any]:
    """Run ``script --child MODE PATH`` in a fresh interpreter (see :func:`parse_args`); returns
    the JSON object it printed last."""
    output = subprocess.run(
        [sys.executable, os.path.abspath(script), "--child", mode, path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def remove_image(api: Any, ref: str, force: bool = False) -> None:
    """Remove ``ref``; an image that is already gone is fine."""
    import docker.errors

    try:
        api.remove_image(ref, force=force)
    except docker.errors.NotFound:
        pass


def build_fat_image(
    api: Any, image: str, size_mb: int, labels: Mapping[str, str], extra_runs: Iterable[str] = ()
) -> None:
    """Build ``image``: 4 layers of about ``size_mb / 4`` MB each, alternately random data
    (incompressible) and base64 text (compressible like binaries and libraries), then the
    ``extra_runs`` RUN steps. No network, no build cache (so the layers are this image's own)."""
    from containermap.images import DockerFile, build

    layers = 4
    per_layer = -(-size_mb // layers)
    df = DockerFile(BASE, labels=dict(labels))
    for index in range(layers):
        if index % 2:
            df.run(f"head -c {per_layer * 3 // 4}m /dev/urandom | base64 > /layer{index}.txt")
        else:
            df.run(f"dd if=/dev/urandom of=/layer{index}.bin bs=1M count={per_layer} 2>/dev/null")
    for command in extra_runs:
        df.run(command)
    print(f"building {image} ({layers} layers, ~{per_layer} MB each) ...", flush=True)
    start = time.perf_counter()
    build(api, df, image, network_mode="none", nocache=True)
    print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
