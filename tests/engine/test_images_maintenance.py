"""Real-engine tests of the maintenance functions. Every call is scoped with this test's label
(``org.dockerfabric.test=<id>``): nothing else on the shared engine is looked at or removed."""

from __future__ import annotations

import re
import socket
import uuid

import docker
import docker.errors
import pytest
from containermap.exceptions import EngineError
from containermap.images import (
    DockerFile,
    build,
    cleanup_containers,
    cleanup_images,
    image_tag_exists,
    list_containers,
    list_images,
    list_networks,
    list_volumes,
    remove_all_containers,
    remove_image,
    version,
)

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
TEST_LABEL = "org.dockerfabric.test"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


@pytest.fixture
def api(api_client, base_image):
    """The test bed's engine (tests/testbed/fixtures.py), base image present."""
    return api_client


@pytest.fixture
def scope(api):
    """(run id, label filter); removes every container, image, network and volume with the label."""
    run_id = f"h6m-{uuid.uuid4().hex[:10]}"
    label = f"{TEST_LABEL}={run_id}"
    yield run_id, label
    for container in api.containers(all=True, filters={"label": label}):
        api.remove_container(container["Id"], force=True)
    for _ in range(3):  # children first: retry what still has children
        for image in api.images(all=True, filters={"label": label}):
            for ref in [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"] or [image["Id"]]:
                try:
                    api.remove_image(ref)
                except docker.errors.APIError:
                    pass
    for network in api.networks(filters={"label": label}):
        api.remove_network(network["Id"])
    for volume in (api.volumes(filters={"label": label}) or {}).get("Volumes") or []:
        api.remove_volume(volume["Name"])


def _image(api, run_id, tag, variant, base=BASE):
    """A tiny labelled image (LABEL-only: no container runs), tagged ``tag`` when given."""
    df = DockerFile(base, labels={TEST_LABEL: run_id, "variant": variant})
    return build(api, df, tag)


def _container(api, run_id, name, image=BASE, command="true", start=True, ports=None, **host):
    host.setdefault("network_mode", "none")
    container = api.create_container(
        image,
        command,
        name=name,
        labels={TEST_LABEL: run_id},
        ports=ports,
        host_config=api.create_host_config(init=True, **host),
    )
    if start:
        api.start(container["Id"])
        if command == "true":
            api.wait(container["Id"], timeout=30)
    return container["Id"]


def test_cleanup_images_keep_rules(api, scope):
    run_id, label = scope
    repo = f"local/dftest-{run_id}"
    ids = {
        "latest": _image(api, run_id, f"{repo}:latest", "latest"),
        "v1": _image(api, run_id, f"{repo}:v1", "v1"),
        "v2": _image(api, run_id, f"{repo}:v2", "v2"),
        "used": _image(api, run_id, f"{repo}:used", "used"),
        "parent": _image(api, run_id, f"{repo}:parent", "parent"),
    }
    ids["child"] = _image(api, run_id, f"{repo}-child:latest", "child", base=f"{repo}:parent")
    # a dangling image: its tag moved to a newer build
    ids["dangling"] = _image(api, run_id, f"{repo}:moving", "old")
    ids["moving"] = _image(api, run_id, f"{repo}:moving", "new")
    _container(api, run_id, f"dftest-{run_id}-user", image=f"{repo}:used", start=False)

    def short(*names):
        return sorted(ids[n].removeprefix("sha256:")[:12] for n in names)

    # default: only untagged images nobody uses
    assert sorted(cleanup_images(api, label=label, list_only=True)) == short("dangling")
    # remove_old: only 'latest' and keep_tags survive, plus used images and kept images' parents
    assert sorted(cleanup_images(api, remove_old=True, label=label, list_only=True)) == short(
        "dangling", "v1", "v2", "moving"
    )
    assert sorted(
        cleanup_images(api, remove_old=True, keep_tags=["v2", f"{repo}:moving"], label=label, list_only=True)
    ) == short("dangling", "v1")
    removed = cleanup_images(api, remove_old=True, keep_tags=["v2"], label=label)
    assert sorted(removed) == short("dangling", "v1", "moving")
    assert removed.failed == {}
    remaining = sorted(tag for row in list_images(api, label=label) for tag in row["RepoTags"])
    assert remaining == sorted(
        [f"{repo}:latest", f"{repo}:v2", f"{repo}:used", f"{repo}:parent", f"{repo}-child:latest"]
    )
    assert not image_tag_exists(api, f"{repo}:v1")
    # nothing left to do
    assert cleanup_images(api, remove_old=True, keep_tags=["v2"], label=label) == []


def test_cleanup_and_remove_containers(api, scope):
    run_id, label = scope
    prefix = f"dftest-{run_id}"
    _container(api, run_id, f"{prefix}-exited")
    _container(api, run_id, f"{prefix}-persistent")
    _container(api, run_id, f"{prefix}-created", start=False)
    _container(api, run_id, f"{prefix}-running", command=["sleep", "300"])
    exclude = [f"{prefix}-persistent"]
    assert cleanup_containers(api, exclude=exclude, label=label, list_only=True) == [f"{prefix}-exited"]
    assert sorted(
        cleanup_containers(api, include_initial=True, exclude=exclude, label=label, list_only=True)
    ) == [
        f"{prefix}-created",
        f"{prefix}-exited",
    ]
    removed = cleanup_containers(api, include_initial=True, exclude=exclude, label=label)
    assert sorted(removed) == [f"{prefix}-created", f"{prefix}-exited"]
    assert removed.failed == {}
    names = sorted(row["Names"][0] for row in list_containers(api, label=label))
    assert names == [f"{prefix}-persistent", f"{prefix}-running"]
    assert sorted(remove_all_containers(api, label=label, list_only=True)) == names
    assert remove_all_containers(api, stop_timeout=1, exclude=exclude, label=label) == [f"{prefix}-running"]
    assert [row["Names"][0] for row in list_containers(api, label=label)] == [f"{prefix}-persistent"]
    assert sorted(remove_all_containers(api, label=label)) == [f"{prefix}-persistent"]
    assert list_containers(api, label=label) == []


def test_list_containers(api, scope):
    run_id, label = scope
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = ["sh", "-c", "echo this command is longer than 25 characters; sleep 300"]
    # a network of our own: port publishing without depending on the engine's default bridge
    network = f"dftest-{run_id}-ports"
    api.create_network(network, labels={TEST_LABEL: run_id})
    cid = _container(
        api,
        run_id,
        f"dftest-{run_id}-web",
        command=command,
        network_mode=network,
        port_bindings={80: ("127.0.0.1", port)},
        ports=[80, (53, "udp")],
        start=False,
    )
    rows = list_containers(api, label=label)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == {"Id", "Names", "Image", "Command", "Ports", "Status", "Created"}
    assert row["Id"] == cid[:12]
    assert row["Names"] == [f"dftest-{run_id}-web"]
    assert row["Image"] == BASE
    assert row["Command"] == "sh -c 'echo this command i"[:25]
    assert len(row["Command"]) == 25
    assert ISO_UTC.match(row["Created"])
    assert list_containers(api, label=label, full_ids=True, full_cmd=True)[0]["Id"] == cid
    assert len(list_containers(api, label=label, full_cmd=True)[0]["Command"]) > 25
    api.start(cid)
    ports = sorted(list_containers(api, label=label)[0]["Ports"])
    assert ports == sorted([f"127.0.0.1:{port}->80/tcp", "53/udp"])


def test_list_images_networks_volumes(api, scope):
    run_id, label = scope
    image_id = _image(api, run_id, f"local/dftest-{run_id}:table", "table")
    images = list_images(api, label=label)
    assert len(images) == 1
    assert set(images[0]) == {"Id", "RepoTags", "ParentId", "Created", "VirtualSize", "Size"}
    assert images[0]["Id"] == image_id.removeprefix("sha256:")[:12]
    assert images[0]["RepoTags"] == [f"local/dftest-{run_id}:table"]
    assert ISO_UTC.match(images[0]["Created"])
    assert images[0]["Size"] > 0

    api.create_network(f"dftest-{run_id}-net", labels={TEST_LABEL: run_id})
    api.create_volume(f"dftest-{run_id}-vol", labels={TEST_LABEL: run_id})
    networks = list_networks(api, label=label)
    assert [(n["Name"], n["Driver"], len(n["Id"])) for n in networks] == [
        (f"dftest-{run_id}-net", "bridge", 12)
    ]
    volumes = list_volumes(api, label=label)
    assert [(v["Name"], v["Driver"]) for v in volumes] == [(f"dftest-{run_id}-vol", "local")]


def test_version(api):
    info = version(api)
    assert info["ApiVersion"]
    assert info["Version"]


def test_remove_image_untags_then_deletes(api, scope):
    run_id, _label = scope
    first = f"local/dftest-{run_id}:a"
    second = f"local/dftest-{run_id}:b"
    image = _image(api, run_id, first, "rm")
    api.tag(image, f"local/dftest-{run_id}", "b")
    result = remove_image(api, first)
    assert result == {"image": first, "id": image, "untagged": [first], "deleted": []}
    assert not image_tag_exists(api, first) and image_tag_exists(api, second)
    result = remove_image(api, second)
    assert result["untagged"] == [second] and image in result["deleted"]
    with pytest.raises(docker.errors.ImageNotFound):
        api.inspect_image(image)
    # absent: nothing removed, no error
    assert remove_image(api, second) == {"image": second, "id": None, "untagged": [], "deleted": []}


def test_remove_image_label_guard_and_in_use(api, scope):
    run_id, _label = scope
    tag = f"local/dftest-{run_id}:guard"
    image = _image(api, run_id, tag, "guard")
    # a label the image does not carry: left alone
    assert remove_image(api, tag, label=f"{TEST_LABEL}=other")["untagged"] == []
    assert remove_image(api, tag, label=[f"{TEST_LABEL}={run_id}", "absent-key"])["untagged"] == []
    assert image_tag_exists(api, tag)
    # used by a container: the engine refuses without force, with an engine error naming it
    _container(api, run_id, f"dftest-{run_id}-user", image=tag, start=False)
    api.tag(image, f"local/dftest-{run_id}", "other")  # a second tag: untag needs no force
    with pytest.raises(EngineError) as err:
        remove_image(api, image)  # by id: would delete the image a container uses
    assert "image:" in str(err.value)
    result = remove_image(api, tag, label=f"{TEST_LABEL}={run_id}")
    assert result["untagged"] == [tag] and result["deleted"] == []
