"""With a master (pytest-salt-factories): the lazy_yaml pillar is rendered on the master, sent to
the minion as msgpack, and the minion resolves ``!pillar`` / ``!grain`` when it builds the maps."""

from __future__ import annotations

from pathlib import Path

import pytest
from saltfactories.utils import random_string

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.salt, pytest.mark.slow]


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory):
    file_root = tmp_path_factory.mktemp("master-files")
    pillar_root = tmp_path_factory.mktemp("master-pillar")
    for name in ("_modules", "_states", "_renderers", "_utils"):
        (file_root / name).symlink_to(REPO / name)
    (file_root / "dockerfabric").symlink_to(REPO / "formulas" / "dockerfabric")
    (pillar_root / "top.sls").write_text("base:\n  '*':\n    - dockerfabric\n")
    (pillar_root / "dockerfabric.sls").write_text(
        """#!lazy_yaml
db: {host: db.example.com, port: 5432}
container_maps:
  mastermap:
    web:
      image: local/busybox:latest
      create_options:
        environment:
          DB_HOST: !pillar db:host
          DB_PORT: !pillar db:port
          MINION: !grain id
"""
    )
    factory = salt_factories.salt_master_daemon(
        random_string("dfmaster-"),
        overrides={
            "file_roots": {"base": [str(file_root)]},
            "pillar_roots": {"base": [str(pillar_root)]},
        },
    )
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master):
    factory = master.salt_minion_daemon(random_string("dfminion-"))
    with factory.started():
        yield factory


def test_lazy_pillar_from_master_resolved_on_minion(master, minion):
    run = master.salt_run_cli()
    synced = run.run("saltutil.sync_renderers")
    assert synced.returncode == 0, synced.stderr
    call = minion.salt_call_cli()
    ret = call.run("saltutil.sync_all")
    assert ret.returncode == 0, ret.stderr
    ret = call.run("saltutil.refresh_pillar", "wait=True")
    assert ret.returncode == 0, ret.stderr
    ret = call.run("dockerfabric.show", "mastermap")
    assert ret.returncode == 0, ret.stderr
    env = ret.data["containers"]["web"]["create_options"]["environment"]
    assert env == {"DB_HOST": "db.example.com", "DB_PORT": 5432, "MINION": minion.id}
    shown = call.run("state.show_sls", "dockerfabric.maps")
    assert shown.returncode == 0, shown.stderr
    assert {"dockerfabric-map-mastermap", "dockerfabric-mastermap.web"} <= set(shown.data)
