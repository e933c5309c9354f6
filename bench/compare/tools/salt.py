"""Masterless ``salt-call --local state.apply`` tools.

* ``salt-dockerfabric``: this project's state module, one ``dockerfabric.updated`` state for
  the map (``dockerfabric.shut_down`` with ``remove_attached`` / ``remove_networks`` for the
  teardown); map in pillar ``dockerfabric:maps``. Runs in the project's venv (its salt-call).
* ``salt-formula``: the project's formula, ``state.apply dockerfabric.maps`` with the formula's
  defaults (one state per map plus one per configuration) and install/service switched off.
* ``saltext-dockermod``: Salt's Docker extension (PyPI ``saltext-dockermod``) in a separate
  venv: ``docker_network.present``, ``docker_volume.present``, ``docker_container.running`` with
  ``require`` per container (workload.SALTEXT_SLS), default minion config (``docker.update_mine``
  on, as users get it).

Each gets a private root_dir, file_roots and pillar_roots under the run's work directory.
``DOCKER_HOST`` points both at the counting proxy when requests are counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..workload import LABEL_KEY, SALTEXT_DOWN_SLS, SALTEXT_SLS, Workload
from .base import PhaseFailed, Tool, command_version, run_timed, source_root

SALTEXT_VENV = Path(os.environ.get("DFBENCH_SALTEXT_VENV", "/opt/dfbench-saltext-venv"))


class SaltTool(Tool):
    """Common part: a masterless minion configuration in ``<workdir>/<name>``."""

    salt_call = str(Path(sys.executable).with_name("salt-call"))
    apply_sls = "dfbench"
    down_sls = "dfbench_down"

    def _dirs(self, workdir: Path) -> tuple[Path, Path, Path]:
        root = workdir / self.name
        return root / "conf", root / "srv" / "salt", root / "srv" / "pillar"

    def unavailable(self) -> str | None:
        if not os.path.exists(self.salt_call):
            return f"{self.salt_call} not found"
        return None

    def versions(self) -> dict[str, str]:
        return {f"Salt ({self.name})": command_version([self.salt_call, "--version"])}

    def setup(self, workdir: Path) -> None:
        conf, files, pillar = self._dirs(workdir)
        for d in (conf, files, pillar):
            d.mkdir(parents=True, exist_ok=True)
        config = {
            "id": f"dfbench-{self.code}",
            "file_client": "local",
            "root_dir": str(workdir / self.name / "root"),
            "file_roots": {"base": [str(files)]},
            "pillar_roots": {"base": [str(pillar)]},
            "log_level_logfile": "warning",
        }
        (conf / "minion").write_text(json.dumps(config))
        (pillar / "top.sls").write_text(json.dumps({"base": {"*": ["dfbench"]}}))

    def base_cmd(self, workdir: Path) -> list[str]:
        conf, _, _ = self._dirs(workdir)
        return [self.salt_call, "--local", "-c", str(conf), "--retcode-passthrough", "--state-output=terse"]

    def env(self, docker_host: str | None) -> dict:
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        env.pop("PYTHONPATH", None)
        if docker_host:
            env["DOCKER_HOST"] = docker_host
        return env

    def phase(self, phase, wl, workdir, docker_host, timeout, profile=None):
        sls = self.down_sls if phase == "down" else self.apply_sls
        cmd = self.base_cmd(workdir) + ["state.apply", sls]
        if profile:  # cProfile of the whole salt-call process
            cmd = [self.python(), "-m", "cProfile", "-o", profile] + cmd
        return run_timed(cmd, self.env(docker_host), timeout)

    def python(self) -> str:
        return str(Path(self.salt_call).with_name("python"))

    def overhead_cmds(self, workdir: Path) -> dict[str, list[str]]:
        """Commands whose wall time is Salt's own per-call cost."""
        conf, _, _ = self._dirs(workdir)
        return {"test.ping": [self.salt_call, "--local", "-c", str(conf), "test.ping"]}


class SaltDockerfabric(SaltTool):
    name = "salt-dockerfabric"
    title = "salt-dockerfabric state via salt-call --local"
    code = "d"

    def unavailable(self) -> str | None:
        missing = super().unavailable()
        if missing:
            return missing
        for path in ("_modules/dockerfabric.py", "_states/dockerfabric.py"):
            if not (source_root() / path).exists():
                return f"not ready: {path} missing"
        return None

    def setup(self, workdir: Path) -> None:
        super().setup(workdir)
        _, files, _ = self._dirs(workdir)
        src = source_root()
        for name in ("_modules", "_states", "_renderers", "_utils"):
            if (src / name).exists() and not (files / name).exists():
                (files / name).symlink_to(src / name)
        if not (files / "dockerfabric").exists():
            (files / "dockerfabric").symlink_to(src / "formulas" / "dockerfabric")
        # sync once, untimed (state.apply syncs again on every run, as for users)
        proc = subprocess.run(
            self.base_cmd(workdir) + ["--out", "json", "saltutil.sync_all"],
            capture_output=True,
            text=True,
            env=self.env(None),
            timeout=300,
            check=False,
        )
        if proc.returncode or "dockerfabric" not in proc.stdout:
            raise PhaseFailed(f"saltutil.sync_all failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")

    def pillar(self, wl: Workload) -> dict:
        return {
            "dockerfabric": {
                "maps": {wl.prefix: wl.to_map_dict()},
                "settings": {"labels": {LABEL_KEY: wl.label}},
                "lookup": {
                    "install": {"engine": False, "sdk": False},
                    "service": {"manage": False},
                },
            }
        }

    def prepare(self, wl: Workload, workdir: Path) -> None:
        _, files, pillar = self._dirs(workdir)
        (pillar / "dfbench.sls").write_text(json.dumps(self.pillar(wl)))
        up = {"dfbench-map": {"dockerfabric.updated": [{"name": wl.prefix}]}}
        down = {
            "dfbench-map-down": {
                "dockerfabric.shut_down": [
                    {"name": wl.prefix},
                    {"remove_attached": True},
                    {"remove_networks": True},
                ]
            }
        }
        (files / "dfbench.sls").write_text(json.dumps(up))
        (files / "dfbench_down.sls").write_text(json.dumps(down))

    def logical_name(self, container_name: str, wl: Workload) -> str | None:
        prefix = f"{wl.prefix}."
        return container_name[len(prefix) :] if container_name.startswith(prefix) else None

    def network_name(self, wl: Workload) -> str:
        return f"{wl.prefix}.net"

    def volume_name(self, wl: Workload) -> str:
        return f"{wl.prefix}.vol"


class SaltFormula(SaltDockerfabric):
    name = "salt-formula"
    title = "salt-dockerfabric formula (state.apply dockerfabric.maps)"
    code = "f"
    apply_sls = "dockerfabric.maps"

    def unavailable(self) -> str | None:
        missing = super().unavailable()
        if missing:
            return missing
        if not (source_root() / "formulas" / "dockerfabric" / "maps.sls").exists():
            return "not ready: formulas/dockerfabric/maps.sls missing"
        return None


class SaltextDockermod(SaltTool):
    name = "saltext-dockermod"
    title = "saltext-dockermod states via salt-call --local"
    code = "x"
    salt_call = str(SALTEXT_VENV / "bin" / "salt-call")

    def unavailable(self) -> str | None:
        if not os.path.exists(self.salt_call):
            return (
                f"{self.salt_call} not found: python3 -m venv {SALTEXT_VENV} && "
                f"{SALTEXT_VENV}/bin/pip install salt docker saltext-dockermod"
            )
        return None

    def versions(self) -> dict[str, str]:
        out = super().versions()
        pip = str(SALTEXT_VENV / "bin" / "pip")
        try:
            listing = subprocess.run(
                [pip, "list", "--format=json"], capture_output=True, text=True, timeout=60
            )
            pkgs = {p["name"].lower(): p["version"] for p in json.loads(listing.stdout)}
            out["saltext-dockermod"] = pkgs.get("saltext.dockermod") or pkgs.get("saltext-dockermod", "?")
            out["docker SDK (saltext venv)"] = pkgs.get("docker", "?")
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            out["saltext-dockermod"] = f"? ({exc})"
        return out

    def setup(self, workdir: Path) -> None:
        super().setup(workdir)
        _, files, _ = self._dirs(workdir)
        (files / "dfbench.sls").write_text(SALTEXT_SLS)
        (files / "dfbench_down.sls").write_text(SALTEXT_DOWN_SLS)

    def prepare(self, wl: Workload, workdir: Path) -> None:
        _, _, pillar = self._dirs(workdir)
        (pillar / "dfbench.sls").write_text(json.dumps(wl.to_saltext_pillar()))
