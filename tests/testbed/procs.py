"""Processes of the private Docker engines the tests start and kill: found through /proc."""

from __future__ import annotations

import os
import time


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads)."""
    result = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                result.extend(int(x) for x in fh.read().split())
    except OSError:
        pass
    return result


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Wait up to ``seconds`` for ``pids`` to end; returns those still alive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def pids_with(program: bytes, marker: bytes) -> list[int]:
    """Processes whose executable path ends with ``program`` and one of whose arguments
    contains ``marker`` (a socket path, data root or containerd namespace of ours)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(program) and any(marker in a for a in args):
            pids.append(int(entry))
    return pids
