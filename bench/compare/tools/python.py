"""The Python tools, one child process per phase (bench/compare/drive.py): this project's
engine API (``MapClient``) and the SDK floor (sequential and parallel per level)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from ..workload import Workload
from .base import REPO, Tool, run_timed, source_root


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(source_root() / "_utils"), str(REPO)])
    env.pop("DOCKER_HOST", None)
    return env


class PythonTool(Tool):
    drive_name = "?"
    profile_dir: Path | None = None  # set by the runner for a profiled pass

    def __init__(self, python: str = sys.executable):
        self.python = python

    def versions(self) -> dict[str, str]:
        import docker

        return {"Python": sys.version.split()[0], "docker SDK": docker.__version__}

    def command(
        self, phase: str, wl: Workload, docker_host: str | None, profile: str | None = None
    ) -> list[str]:
        cmd = [self.python, "-m", "bench.compare.drive", self.drive_name, phase]
        cmd.append(json.dumps(dataclasses.asdict(wl)))
        if docker_host:
            cmd += ["--docker-host", docker_host]
        if profile:
            cmd += ["--profile", profile]
        return cmd

    def phase(self, phase, wl, workdir, docker_host, timeout, profile: str | None = None):
        return run_timed(self.command(phase, wl, docker_host, profile), child_env(), timeout, cwd=str(REPO))


class ContainerMapApi(PythonTool):
    name = "containermap"
    title = "salt-dockerfabric engine API (MapClient)"
    code = "m"
    drive_name = "containermap"

    def logical_name(self, container_name: str, wl: Workload) -> str | None:
        prefix = f"{wl.prefix}."
        return container_name[len(prefix) :] if container_name.startswith(prefix) else None

    def network_name(self, wl: Workload) -> str:
        return f"{wl.prefix}.net"

    def volume_name(self, wl: Workload) -> str:
        return f"{wl.prefix}.vol"


class SdkSeq(PythonTool):
    name = "sdk-seq"
    title = "docker SDK, sequential (floor)"
    code = "s"
    drive_name = "sdk-seq"


class SdkPar(PythonTool):
    name = "sdk-par"
    title = "docker SDK, 8 threads per level (floor)"
    code = "p"
    drive_name = "sdk-par"
