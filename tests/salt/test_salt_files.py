"""File utilities through real ``salt-call --local`` on the real engine (issue 7 item 2):
copy_resource / isolate_and_get / copy_resources from a labelled test container (by name and by
map reference) and from an image, flatten_image to one layer, get_ip / get_ipv6."""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
import uuid

import docker
import pytest
from containermap import labels

pytestmark = [pytest.mark.salt, pytest.mark.docker]

BASE_IMAGE = "local/busybox:latest"


@pytest.fixture(scope="module")
def files_env(salt_env, test_labels, api_client, base_image):
    """Minion with a map ``<map>.box`` (its container created directly, labelled) and an image
    with nested files in two layers (a file deleted in the second)."""
    suffix = uuid.uuid4().hex[:8]
    map_name = f"dftf{suffix}"
    tag = f"local/dftest-{suffix}:files"
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "settings": {"labels": dict(test_labels)},
                "maps": {map_name: {"box": {"image": tag}}},
            }
        }
    )
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        "RUN mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt "
        "&& echo gone > /data/gone.txt && ln -s a.txt /data/link\n"
        "RUN rm /data/gone.txt\n"
        "ENV FLAT=kept\n"
        'CMD ["sleep", "60"]\n'
    )
    built = salt_env.call(
        "dockerfabric.build", tag, "contents=" + json.dumps(dockerfile), "network_mode=none"
    )
    assert built["result"] is True, built
    name = f"{map_name}.box"
    api_client.create_container(tag, name=name, labels=dict(test_labels))
    salt_env.map_name, salt_env.image_tag, salt_env.container = map_name, tag, name
    yield salt_env
    with contextlib.suppress(docker.errors.NotFound):
        api_client.remove_container(name, force=True)
    with contextlib.suppress(docker.errors.NotFound):
        api_client.remove_image(tag, force=True)


def members(path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return {m.name.lstrip("./"): m for m in tar.getmembers() if m.name not in (".", "./")}


def test_copy_resource_by_map_reference_into_tarball(files_env, tmp_path):
    out = tmp_path / "data.tar.gz"
    ret = files_env.call("dockerfabric.copy_resource", f"{files_env.map_name}.box", "/data", str(out))
    assert ret["container"] == files_env.container
    assert ret["path"] == str(out) and ret["size"] == out.stat().st_size
    assert ret["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    got = members(out)
    assert {"a.txt", "sub", "sub/b.txt", "link"} <= set(got)
    assert "gone.txt" not in got
    assert got["link"].issym() and got["link"].linkname == "a.txt"
    with tarfile.open(out) as tar:
        assert tar.extractfile("sub/b.txt").read() == b"two\n"


def test_copy_resource_from_image_leaves_no_temporary_container(files_env, api_client, tmp_path, test_labels):
    out = tmp_path / "a.tar"
    ret = files_env.call("dockerfabric.copy_resource", files_env.image_tag, "/data/a.txt", str(out))
    assert ret["container"] == files_env.image_tag
    with tarfile.open(out) as tar:
        assert tar.extractfile("a.txt").read() == b"one\n"
    label = f"{labels.TEST}={test_labels[labels.TEST]}"
    temporary = api_client.containers(all=True, filters={"label": [label, labels.TEMPORARY]})
    assert temporary == []


def test_isolate_and_get_and_copy_resources_with_rename(files_env, tmp_path):
    ret = files_env.call(
        "dockerfabric.isolate_and_get",
        files_env.container,
        "[/data/sub, /data/a.txt]",
        str(tmp_path) + "/",
    )
    assert ret["path"].endswith(f"container_{files_env.container}.tar.gz")
    got = members(ret["path"])
    assert {"data/sub/b.txt", "data/a.txt"} <= set(got)
    paths = files_env.call(
        "dockerfabric.copy_resources",
        files_env.container,
        "[/data/sub]",
        str(tmp_path / "store"),
        'dst_directories={"/data/sub": "renamed"}',
        "apply_chmod=0750",
    )
    assert paths == [str(tmp_path / "store" / "renamed")]
    assert (tmp_path / "store" / "renamed" / "b.txt").read_text() == "two\n"
    assert (tmp_path / "store" / "renamed").stat().st_mode & 0o777 == 0o750


def test_flatten_image_one_layer_config_kept(files_env, api_client):
    dest = files_env.image_tag.replace(":files", ":flat")
    try:
        ret = files_env.call("dockerfabric.flatten_image", files_env.image_tag, dest)
        assert ret["result"] is True, ret
        info = api_client.inspect_image(dest)
        assert ret["id"] == info["Id"]
        assert len(info["RootFS"]["Layers"]) == 1
        assert "FLAT=kept" in info["Config"]["Env"]
        assert info["Config"]["Cmd"] == ["sleep", "60"]
        assert len(api_client.inspect_image(files_env.image_tag)["RootFS"]["Layers"]) > 1
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            api_client.remove_image(dest, force=True)


def test_errors_name_the_problem(files_env, tmp_path):
    proc = files_env.run(
        "dockerfabric.copy_resource", f"dftnone{uuid.uuid4().hex[:6]}", "/x", str(tmp_path / "x")
    )
    assert proc.returncode != 0 and "no container or image" in proc.stdout + proc.stderr
    # without a file name: the private output directory is removed again on failure
    proc = files_env.run("dockerfabric.copy_resource", files_env.container, "/nonexistent")
    assert proc.returncode != 0
    outputs = files_env.root / "minion" / "var" / "cache" / "salt" / "minion" / "dockerfabric" / "files"
    assert outputs.is_dir() and list(outputs.iterdir()) == []
    proc = files_env.run("dockerfabric.get_ip", "dftnoiface0")
    assert proc.returncode != 0 and "no network interface dftnoiface0" in proc.stdout + proc.stderr


def test_get_ip_and_ipv6(files_env):
    assert files_env.call("dockerfabric.get_ip", "lo") == "127.0.0.1"
    assert files_env.call("dockerfabric.get_ipv6", "lo") == "::1"
    assert (
        files_env.call("dockerfabric.get_ipv6", "lo", "expand=True")
        == "0000:0000:0000:0000:0000:0000:0000:0001"
    )
