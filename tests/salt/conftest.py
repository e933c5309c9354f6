"""Real ``salt-call --local`` runs against this repository's Salt modules and formula.

Each :class:`SaltEnv` is a private minion: its own root_dir, file_roots holding symlinks to the
repository's ``_modules``, ``_states``, ``_renderers``, ``_utils`` and ``formulas/dockerfabric``
(synced the way ``saltutil.sync_all`` ships them to minions), and a pillar root the test writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SALT_CALL = Path(sys.executable).with_name("salt-call")


class SaltCallError(AssertionError):
    """salt-call failed or printed no JSON."""


class SaltEnv:
    """A masterless minion configuration in ``root`` (see module docstring)."""

    def __init__(self, root: Path, minion_id: str):
        self.root = root
        self.id = minion_id
        self.conf = root / "conf"
        self.file_root = root / "srv" / "salt"
        self.pillar_root = root / "srv" / "pillar"
        for d in (self.conf, self.file_root, self.pillar_root):
            d.mkdir(parents=True, exist_ok=True)
        for name in ("_modules", "_states", "_renderers", "_utils"):
            (self.file_root / name).symlink_to(REPO / name)
        (self.file_root / "dockerfabric").symlink_to(REPO / "formulas" / "dockerfabric")
        config = {
            "id": minion_id,
            "file_client": "local",
            "root_dir": str(root / "minion"),
            "file_roots": {"base": [str(self.file_root)]},
            "pillar_roots": {"base": [str(self.pillar_root)]},
            "fileserver_list_cache_time": 0,
            "log_level_logfile": "info",
        }
        (self.conf / "minion").write_text(json.dumps(config))
        self.write_pillar({})

    def write_pillar(self, data: dict | str, name: str = "dockerfabric") -> None:
        """Pillar for every minion: ``data`` as YAML (a dict) or raw SLS text."""
        text = data if isinstance(data, str) else json.dumps(data)
        (self.pillar_root / f"{name}.sls").write_text(text)
        (self.pillar_root / "top.sls").write_text(json.dumps({"base": {"*": [name]}}))

    def write_sls(self, name: str, text: str) -> None:
        (self.file_root / f"{name}.sls").write_text(text)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        cmd = [
            str(SALT_CALL),
            "--local",
            "-c",
            str(self.conf),
            "--out",
            "json",
            "--log-level",
            "quiet",
            *args,
        ]
        env = dict(os.environ)
        env.pop("DOCKER_HOST", None)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def call(self, *args: str, timeout: float = 300):
        """Run a function; return its JSON return value (``local``)."""
        proc = self.run(*args, timeout=timeout)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise SaltCallError(
                f"salt-call {' '.join(args)} exit {proc.returncode}\nstdout: {proc.stdout[-3000:]}\n"
                f"stderr: {proc.stderr[-3000:]}"
            ) from None
        return data.get("local", data)

    def apply(self, *args: str, timeout: float = 300) -> dict[str, dict]:
        """``state.apply``; returns the state returns keyed by state id."""
        ret = self.call("state.apply", *args, timeout=timeout)
        if not isinstance(ret, dict):
            raise SaltCallError(f"state.apply {' '.join(args)} failed: {ret}")
        return {value.get("__id__", key): value for key, value in ret.items()}


@pytest.fixture(scope="module")
def salt_env(tmp_path_factory) -> SaltEnv:
    """A synced masterless minion for the tests of one module."""
    if not SALT_CALL.exists():
        pytest.fail(f"salt-call not found at {SALT_CALL}: install salt into the test venv")
    suffix = uuid.uuid4().hex[:8]
    env = SaltEnv(tmp_path_factory.mktemp(f"salt-{suffix}"), f"dftest-{suffix}")
    synced = env.call("saltutil.sync_all")
    assert "modules.dockerfabric" in synced.get("modules", []), synced
    return env


@pytest.fixture
def unique_map(request) -> str:
    """A map name no other test uses (container names are ``<map>.<config>``)."""
    return "dft" + uuid.uuid4().hex[:8]
