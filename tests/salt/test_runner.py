"""The runner ``_runners/dockerfabric.py`` with a REAL salt-master and two minions
(pytest-salt-factories): files from a minion's containers and images reach the master with
verified size and sha256; a truncated delivery (``file_recv_max_size: 1`` MB here) is detected and
removed; a minion that is not there or lacks the module gives a clear error; ``transfer_image``
moves an image from the minion on the test engine to a minion on the second engine and checks the
image id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
import uuid
from pathlib import Path

import docker
import pytest
from saltfactories.utils import random_string

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "local/busybox:latest"

pytestmark = [pytest.mark.salt, pytest.mark.slow, pytest.mark.docker]


@pytest.fixture(scope="module")
def ids():
    return {"src": random_string("dfsrc-"), "dst": random_string("dfdst-")}


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory, ids, test_labels, second_engine, base_image):
    file_root = tmp_path_factory.mktemp("runner-files")
    pillar_root = tmp_path_factory.mktemp("runner-pillar")
    for name in ("_modules", "_states", "_renderers", "_utils"):
        (file_root / name).symlink_to(REPO / name)
    settings = {"labels": dict(test_labels)}
    (pillar_root / "top.sls").write_text(
        json.dumps({"base": {ids["src"]: ["src"], ids["dst"]: ["dst"]}}),
    )
    (pillar_root / "src.sls").write_text(json.dumps({"dockerfabric": {"settings": settings}}))
    (pillar_root / "dst.sls").write_text(
        json.dumps({"dockerfabric": {"settings": {**settings, "docker_url": second_engine}}})
    )
    factory = salt_factories.salt_master_daemon(
        random_string("dfrmaster-"),
        overrides={
            "file_roots": {"base": [str(file_root)]},
            "pillar_roots": {"base": [str(pillar_root)]},
            "runner_dirs": [str(REPO / "_runners")],
            "file_recv": True,
            "file_recv_max_size": 1,
            # inside file_roots, so transfer_image can serve saved images to other minions
            "dockerfabric.runner_dir": str(file_root / "dfrunner"),
        },
    )
    with factory.started():
        factory.runner_dir = file_root / "dfrunner"
        yield factory


@pytest.fixture(scope="module")
def src(master, ids):
    factory = master.salt_minion_daemon(ids["src"])
    with factory.started():
        ret = factory.salt_call_cli().run("saltutil.sync_all")
        assert ret.returncode == 0, ret.stderr
        yield factory


@pytest.fixture(scope="module")
def dst(master, ids):
    factory = master.salt_minion_daemon(ids["dst"])
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def image(src, api_client):
    """A labelled image on the test engine with a small directory and a 3 MB random file."""
    tag = f"local/dftest-{uuid.uuid4().hex[:8]}:runner"
    dockerfile = (
        f"FROM {BASE_IMAGE}\nRUN mkdir -p /data/sub && echo hello > /data/sub/h.txt "
        "&& head -c 3000000 /dev/urandom > /big.bin\n"
    )
    ret = src.salt_call_cli().run(
        "dockerfabric.build", tag, "contents=" + json.dumps(dockerfile), "network_mode=none"
    )
    assert ret.returncode == 0 and ret.data["result"] is True, ret.stdout + ret.stderr
    yield tag
    with contextlib.suppress(docker.errors.NotFound):
        api_client.remove_image(tag, force=True)


def leftovers(master, minion_id: str) -> list[str]:
    """Files left in the master's receive area for the minion."""
    root = Path(master.config["cachedir"]) / "minions" / minion_id / "files"
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_copy_resource_to_master_with_matching_sha256(master, src, image):
    ret = master.salt_run_cli().run("dockerfabric.copy_resource", src.id, image, "/data")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    data = ret.data
    assert data["result"] is True, data
    path = Path(data["path"])
    assert path.parent == master.runner_dir / src.id
    assert path.stat().st_size == data["size"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data["sha256"]
    with tarfile.open(path) as tar:
        assert tar.extractfile("sub/h.txt").read() == b"hello\n"
    assert leftovers(master, src.id) == []


def test_save_image_and_isolate_and_get_delivered(master, src, api_client, image, test_labels):
    small = image.replace(":runner", ":small")
    try:
        made = src.salt_call_cli().run("dockerfabric.isolate_to_image", image, "[/data/sub]", small)
        assert made.returncode == 0, made.stdout + made.stderr
        ret = master.salt_run_cli().run("dockerfabric.save_image", src.id, small, "dest=images/")
        assert ret.returncode == 0, ret.stdout + ret.stderr
        data = ret.data
        path = Path(data["path"])
        assert path.parent == master.runner_dir / "images"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == data["sha256"]
        with tarfile.open(path) as tar:
            assert "manifest.json" in tar.getnames()
        ret = master.salt_run_cli().run("dockerfabric.isolate_and_get", src.id, image, "[/data/sub]")
        assert ret.returncode == 0, ret.stdout + ret.stderr
        with tarfile.open(ret.data["path"]) as tar:
            assert "data/sub/h.txt" in tar.getnames()
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api_client.remove_image(small, force=True)


def test_truncated_delivery_is_detected_and_removed(master, src, image):
    before = set(master.runner_dir.rglob("*")) if master.runner_dir.exists() else set()
    ret = master.salt_run_cli().run("dockerfabric.copy_resource", src.id, image, "/big.bin")
    assert ret.returncode != 0
    assert ret.data["result"] is False
    assert "file_recv_max_size" in ret.data["comment"], ret.data
    assert leftovers(master, src.id) == []
    after = set(master.runner_dir.rglob("*")) if master.runner_dir.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()
    # the minion's temporary archive is gone as well
    cache = Path(src.config["cachedir"]) / "dockerfabric" / "files"
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_missing_minion_and_flatten(master, src, image, api_client):
    ret = master.salt_run_cli().run(
        "dockerfabric.copy_resource", "dfnosuchminion", image, "/data", "timeout=5"
    )
    assert ret.returncode != 0
    assert "dfnosuchminion did not answer" in ret.data["comment"]
    flat = image.replace(":runner", ":flat")
    try:
        ret = master.salt_run_cli().run("dockerfabric.flatten_image", src.id, image, flat)
        assert ret.returncode == 0 and ret.data["result"] is True, ret.stdout + ret.stderr
        assert len(api_client.inspect_image(flat)["RootFS"]["Layers"]) == 1
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api_client.remove_image(flat, force=True)


def test_transfer_image_to_a_minion_on_the_second_engine(master, src, dst, api_client, image, second_engine):
    small = image.replace(":runner", ":xfer")
    engine2 = docker.APIClient(base_url=second_engine, version="auto", timeout=60)
    try:
        made = src.salt_call_cli().run("dockerfabric.isolate_to_image", image, "[/data/sub]", small)
        assert made.returncode == 0, made.stdout + made.stderr
        source_id = api_client.inspect_image(small)["Id"]
        # dst has not synced the modules yet: clear error
        ret = master.salt_run_cli().run("dockerfabric.transfer_image", src.id, small, dst.id)
        assert ret.returncode != 0
        assert "not available on minion" in ret.data["targets"][dst.id]["comment"], ret.data
        synced = dst.salt_call_cli().run("saltutil.sync_all")
        assert synced.returncode == 0, synced.stderr
        ret = master.salt_run_cli().run("dockerfabric.transfer_image", src.id, small, dst.id)
        assert ret.returncode == 0, ret.stdout + ret.stderr
        assert ret.data["result"] is True and ret.data["targets"][dst.id]["id"] == source_id, ret.data
        assert engine2.inspect_image(small)["Id"] == source_id
        # the master keeps no copy
        assert not any(p.is_file() for p in (master.runner_dir / "transfer").rglob("*"))
    finally:
        for client in (api_client, engine2):
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_image(small, force=True)
        engine2.close()


def load_runner(opts: dict):
    """The runner module as plain Python with the given master opts (no daemons)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dockerfabric_runner", REPO / "_runners" / "dockerfabric.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__opts__ = opts
    module.__context__ = {}
    return module


def test_verification_removes_truncated_and_corrupt_files(tmp_path):
    runner = load_runner({"file_recv_max_size": 1, "cachedir": str(tmp_path)})
    payload = b"x" * 5000
    digest = hashlib.sha256(payload).hexdigest()
    good = tmp_path / "good.bin"
    good.write_bytes(payload)
    runner._verify(str(good), len(payload), digest)
    assert good.exists()
    short = tmp_path / "short.bin"
    short.write_bytes(payload[:4096])
    with pytest.raises(runner.RunnerError, match="truncated delivery: 4096 of 5000 bytes"):
        runner._verify(str(short), len(payload), digest)
    assert not short.exists()
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"y" + payload[1:])
    with pytest.raises(runner.RunnerError, match="corrupt delivery"):
        runner._verify(str(corrupt), len(payload), digest)
    assert not corrupt.exists()
    with pytest.raises(runner.RunnerError, match="file_recv: True"):
        runner._verify(str(tmp_path / "missing.bin"), 1, digest)
    failed = runner._fail("boom")
    assert failed == {"result": False, "comment": "boom", "retcode": 1}
    assert runner.__context__["retcode"] == 1
