"""What the runner needs from a tool adapter, and running one timed child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..workload import Workload

REPO = Path(__file__).resolve().parents[3]


def source_root() -> Path:
    """Where the project's code is taken from: the run's snapshot (``DFBENCH_SRC``, set by
    run.py so that edits made to the work tree during a run do not mix versions), else the
    repository."""
    return Path(os.environ.get("DFBENCH_SRC") or REPO)


PHASES = ("cold", "noop", "update", "down")


class PhaseFailed(RuntimeError):
    """A tool's command failed or ran into the phase time limit (``wall``: seconds until then)."""

    def __init__(self, message: str, wall: float | None = None):
        super().__init__(message)
        self.wall = wall


@dataclass
class PhaseRun:
    wall: float  # seconds, whole invocation (process start to exit)
    inproc: float | None = None  # seconds inside the process (Python tools only)
    output: dict | None = None


# the tool process running now: a stopped run (SIGTERM, Ctrl-C) kills its process group before
# cleaning up, so a tool cannot go on creating containers after the clean-up
CURRENT: dict[str, subprocess.Popen] = {}


def kill_current() -> None:
    """Kill the running tool process group, if any."""
    proc = CURRENT.pop("proc", None)
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_timed(cmd: list[str], env: dict | None = None, timeout: float | None = None, cwd=None) -> PhaseRun:
    """Run ``cmd`` (no shell); wall time of the whole process; last stdout line parsed as JSON
    when it is JSON. The process group is killed on timeout."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    CURRENT["proc"] = proc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise PhaseFailed(f"timed out after {timeout} s: {' '.join(cmd[:6])} ...") from None
    wall = time.perf_counter() - start
    CURRENT.pop("proc", None)
    if proc.returncode:
        raise PhaseFailed(f"exit {proc.returncode}: {' '.join(cmd[:8])}\n{out[-2500:]}\n{err[-2500:]}", wall)
    parsed = None
    lines = out.strip().splitlines()
    if lines:
        try:
            parsed = json.loads(lines[-1])
        except ValueError:
            parsed = None
    inproc = parsed.get("inproc") if isinstance(parsed, dict) else None
    return PhaseRun(wall, inproc, parsed)


class Tool:
    """One tool of the comparison.

    ``prepare`` writes the tool's input for the workload's current state (called before every
    phase, outside the timing: ``update`` and ``down`` see ``dbver=2``); ``phase`` runs one
    phase against ``docker_host`` (None: the local socket, else the counting proxy);
    ``logical_name`` maps a Docker container name of this tool's workload to the workload's
    logical name (``db``, ``app3``) or None; ``cleanup`` removes whatever is left by label or
    by the tool's unique names.
    """

    name = "?"
    title = "?"
    code = "x"  # one letter in object names

    def unavailable(self) -> str | None:
        """Why the tool cannot run here, or None."""
        return None

    def versions(self) -> dict[str, str]:
        return {}

    def setup(self, workdir: Path) -> None:
        """One-time preparation (configs, sync); not timed."""

    def prepare(self, wl: Workload, workdir: Path) -> None:
        """Write the tool's input files for ``wl``."""

    def phase(self, phase: str, wl: Workload, workdir: Path, docker_host: str | None, timeout: float | None):
        raise NotImplementedError

    def logical_name(self, container_name: str, wl: Workload) -> str | None:
        prefix = f"{wl.prefix}-"
        return container_name[len(prefix) :] if container_name.startswith(prefix) else None

    def network_name(self, wl: Workload) -> str:
        return wl.network

    def volume_name(self, wl: Workload) -> str:
        return wl.volume


def command_version(cmd: list[str]) -> str:
    """First line of a version command's output, or the error."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else f"exit {out.returncode}"
