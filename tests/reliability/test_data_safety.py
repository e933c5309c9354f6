"""Data safety on the real engine: image changes, forced re-creation and shutdown never lose
named-volume or bind data (sha256 before/after); a volume whose driver options changed is
reported and kept, not silently re-created."""

from __future__ import annotations

import uuid

import pytest
from containermap import labels

from tests.reliability.conftest import BASE, checksum_in, common_cfg, sha256_file, write_random

pytestmark = pytest.mark.docker


@pytest.fixture
def new_image(rel_env):
    """A second image (different id) that runs like the base image; removed afterwards."""
    api = rel_env.api
    tag = f"local/dftest-h10-{uuid.uuid4().hex[:8]}"
    cid = api.create_container(BASE, command=["true"], labels=rel_env.labels)["Id"]
    try:
        api.commit(cid, repository=tag, tag="2", conf={"Labels": {**rel_env.labels, "h10.version": "2"}})
    finally:
        api.remove_container(cid, force=True)
    yield f"{tag}:2"
    rel_env.cleanup()
    try:
        api.remove_image(f"{tag}:2", force=True)
    except Exception:  # noqa: BLE001 - best effort; the session sweep removes labelled images
        pass


def _safety_map(host_dir: str, image: str = BASE) -> dict:
    return {
        "networks": {"net": {}},
        "volumes": {"data": "/data"},
        "db": common_cfg(image=image, networks="net", attaches="data", binds=[["/bind", str(host_dir)]]),
        "reader": common_cfg(networks="net", uses="data", requires="db"),
    }


def _fill(api, name: str, host_dir) -> dict[str, tuple[str, int]]:
    write_random(api, name, "/data/f1", 512)
    write_random(api, name, "/data/f2", 64)
    write_random(api, name, "/bind/b1", 256)
    return {
        "/data/f1": checksum_in(api, name, "/data/f1"),
        "/data/f2": checksum_in(api, name, "/data/f2"),
        "/bind/b1": sha256_file(host_dir / "b1"),
    }


def _verify(api, name: str, host_dir, expected: dict, rstats) -> None:
    for path, (digest, size) in expected.items():
        got = (
            sha256_file(host_dir / path.rsplit("/", 1)[1])
            if path.startswith("/bind/")
            else checksum_in(api, name, path)
        )
        assert got == (digest, size), f"{path} changed in {name}"
        rstats.checked(size)


def test_image_change_and_forced_recreate_keep_data(rel_env, new_image, tmp_path, rstats):
    api = rel_env.api
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    db = f"{rel_env.name}.db"
    client = rel_env.client(_safety_map(host_dir))
    client.run("startup")
    expected = _fill(api, db, host_dir)
    old_id = api.inspect_container(db)["Id"]
    volume = f"{rel_env.name}.data"
    vol_created = api.inspect_volume(volume)["CreatedAt"]

    # 1. image change: db is re-created (and reader, which uses its volume), the data stays
    client = rel_env.client(_safety_map(host_dir, new_image))
    plan = client.plan("update")
    assert any(s.kind == "recreate" and s.target.config_name == "db" for s in plan.steps), str(plan)
    assert not any(s.kind in ("remove_volume", "replace_volume") for s in plan.steps), str(plan)
    client.apply(plan)
    assert api.inspect_container(db)["Id"] != old_id
    assert api.inspect_container(db)["Config"]["Image"] == new_image
    _verify(api, db, host_dir, expected, rstats)
    _verify(
        api,
        f"{rel_env.name}.reader",
        host_dir,
        {k: v for k, v in expected.items() if k.startswith("/data")},
        rstats,
    )
    assert api.inspect_volume(volume)["CreatedAt"] == vol_created

    # 2. forced re-creation of everything
    mid_id = api.inspect_container(db)["Id"]
    client.run("update", force_update=["db", "reader"])
    assert api.inspect_container(db)["Id"] != mid_id
    _verify(api, db, host_dir, expected, rstats)
    assert api.inspect_volume(volume)["CreatedAt"] == vol_created

    # 3. shutdown without remove_attached keeps the volume; a new startup sees the same data
    client.run("shutdown")
    assert api.containers(all=True, filters={"label": f"{labels.MAP}={rel_env.name}"}) == []
    assert api.inspect_volume(volume)["CreatedAt"] == vol_created
    client.run("startup")
    _verify(api, db, host_dir, expected, rstats)

    # 4. only remove_attached removes it; host bind data is never touched
    client.run("shutdown", remove_attached=True)
    assert not (api.volumes(filters={"name": volume}) or {}).get("Volumes")
    assert sha256_file(host_dir / "b1") == expected["/bind/b1"]
    rstats.checked(expected["/bind/b1"][1])


def test_changed_volume_driver_options_are_reported_not_recreated(rel_env, tmp_path, rstats):
    """The attached volume is a local bind volume; its device changes in the map: the plan warns,
    the volume and its data stay; only ``replace_changed_volumes`` would replace it."""
    api = rel_env.api
    dev1, dev2 = tmp_path / "dev1", tmp_path / "dev2"
    dev1.mkdir()
    dev2.mkdir()

    def data(device) -> dict:
        return {
            "networks": {"net": {}},
            "volumes": {
                "data": {
                    "default_path": "/data",
                    "driver": "local",
                    "driver_options": {"type": "none", "o": "bind", "device": str(device)},
                }
            },
            "db": common_cfg(networks="net", attaches="data"),
        }

    db = f"{rel_env.name}.db"
    rel_env.client(data(dev1)).run("startup")
    write_random(api, db, "/data/f", 256)
    before = sha256_file(dev1 / "f")
    volume = f"{rel_env.name}.data"
    created = api.inspect_volume(volume)["CreatedAt"]

    client = rel_env.client(data(dev2))
    plan = client.plan("update")
    kinds = [(s.kind, str(s.target)) for s in plan.steps]
    assert not any(k in ("replace_volume", "remove_volume", "create_volume") for k, _t in kinds), kinds
    text = str(plan) + " ".join(plan.warnings)
    assert volume in text or "data" in text, text
    assert any(s.kind == "warning" for s in plan.steps) or plan.warnings, kinds
    client.apply(plan)
    info = api.inspect_volume(volume)
    assert info["CreatedAt"] == created
    assert info["Options"]["device"] == str(dev1)
    assert sha256_file(dev1 / "f") == before
    assert checksum_in(api, db, "/data/f") == before
    rstats.checked(before[1] * 2)
