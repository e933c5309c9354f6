"""docker-compose v1 (Debian package ``docker-compose``): ``up -d`` / ``down -v``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from ..workload import Workload
from .base import Tool, command_version, run_timed


class Compose(Tool):
    name = "compose"
    title = "docker-compose v1"
    code = "c"

    def __init__(self, binary: str | None = None):
        self.binary = binary or shutil.which("docker-compose") or "/usr/bin/docker-compose"

    def unavailable(self) -> str | None:
        if not os.path.exists(self.binary):
            return "docker-compose not installed (apt-get install docker-compose)"
        return None

    def versions(self) -> dict[str, str]:
        return {"docker-compose": command_version([self.binary, "version", "--short"])}

    def _file(self, workdir: Path, wl: Workload) -> Path:
        return workdir / f"{wl.prefix}.yml"

    def prepare(self, wl: Workload, workdir: Path) -> None:
        self._file(workdir, wl).write_text(yaml.safe_dump(wl.to_compose(), sort_keys=False))

    def phase(self, phase, wl, workdir, docker_host, timeout, profile=None):
        cmd = [self.binary, "-p", wl.prefix, "-f", str(self._file(workdir, wl))]
        cmd += ["down", "-v"] if phase == "down" else ["up", "-d"]
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        return run_timed(cmd, env, timeout)
