"""The test bed itself: engine, base image, registry, second engine, cleanup and request proxy."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import time
import urllib.request

import docker
import docker.errors
import pytest

from tests.testbed.fixtures import TEST_LABEL, remove_labelled
from tests.testbed.reqproxy import normalize_path


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wait_gone(api: docker.APIClient, container: str) -> None:
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(container)


# --- engine and base image -----------------------------------------------------------------------


def test_container_smoke(docker_client, base_image, test_labels, unique_name):
    """Create, start and remove a labelled container from the base image with the docker SDK."""
    name = f"dftest-smoke-{unique_name}"
    container = docker_client.containers.create(
        base_image,
        ["sh", "-c", "ls /bin/wget /bin/tar >/dev/null && id -un && echo hello-testbed"],
        name=name,
        labels=test_labels,
        init=True,
    )
    try:
        assert container.labels[TEST_LABEL] == test_labels[TEST_LABEL]
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0
        assert container.logs().decode().split() == ["root", "hello-testbed"]
    finally:
        container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(name)


def test_cleanup_removes_only_the_given_label(
    api_client, docker_engine, base_image, test_run_id, unique_name
):
    """The session sweep removes every object kind with its label value and nothing else."""
    sweep = {TEST_LABEL: f"{test_run_id}-sweep-{unique_name}"}
    keep = {TEST_LABEL: f"{test_run_id}-keep-{unique_name}"}
    api = api_client
    doomed = api.create_container(base_image, ["true"], labels=sweep)["Id"]
    kept = api.create_container(base_image, ["true"], labels=keep)["Id"]
    api.create_network(f"dftest-sweep-{unique_name}", labels=sweep)
    api.create_volume(f"dftest-sweep-{unique_name}", labels=sweep)
    image_tag = f"local/dftest-sweep-{unique_name}"
    api.import_image_from_data(
        _tar({"f": b"x"}), repository=image_tag, changes=[f"LABEL {TEST_LABEL}={sweep[TEST_LABEL]}"]
    )
    try:
        removed = remove_labelled(docker_engine, f"{TEST_LABEL}={sweep[TEST_LABEL]}")
        assert removed == {"containers": 1, "networks": 1, "volumes": 1, "images": 1}
        _wait_gone(api, doomed)
        with pytest.raises(docker.errors.ImageNotFound):
            api.inspect_image(image_tag)
        assert api.inspect_container(kept)["Id"] == kept
    finally:
        removed = remove_labelled(docker_engine, f"{TEST_LABEL}={keep[TEST_LABEL]}")
        remove_labelled(docker_engine, f"{TEST_LABEL}={sweep[TEST_LABEL]}")
    assert removed["containers"] == 1
    _wait_gone(api, kept)


# --- registry ------------------------------------------------------------------------------------


def _delete_from_registry(registry, repo: str, digest: str) -> None:
    token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    req = urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/{digest}",
        method="DELETE",
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310 (fixed http URL)
        assert response.status == 202


def test_registry_login_push_pull(api_client, registry, test_labels, unique_name):
    """Login, push, remove, pull back a tiny labelled image; wrong credentials are refused."""
    api = api_client
    repo = f"{registry.host}/dftest/smoke"
    ref = f"{repo}:{unique_name}"
    label = test_labels[TEST_LABEL]
    api.import_image_from_data(
        _tar({"hello.txt": unique_name.encode()}),
        repository=repo,
        tag=unique_name,
        changes=[f"LABEL {TEST_LABEL}={label}"],
    )
    digest = None
    try:
        image_id = api.inspect_image(ref)["Id"]
        with pytest.raises(docker.errors.APIError):
            api.login(registry.username, "wrong-password", registry=registry.host, reauth=True)
        assert api.login(registry.username, registry.password, registry=registry.host, reauth=True)["Status"]
        events = list(
            api.push(repo, tag=unique_name, auth_config=registry.auth_config, stream=True, decode=True)
        )
        assert not [e for e in events if "error" in e], events
        digest = next(e["aux"]["Digest"] for e in events if "aux" in e)
        api.remove_image(ref)
        with pytest.raises(docker.errors.ImageNotFound):
            api.inspect_image(ref)
        events = list(
            api.pull(repo, tag=unique_name, auth_config=registry.auth_config, stream=True, decode=True)
        )
        assert not [e for e in events if "error" in e], events
        pulled = api.inspect_image(ref)
        assert pulled["Id"] == image_id
        assert pulled["Config"]["Labels"][TEST_LABEL] == label
    finally:
        if digest:
            _delete_from_registry(registry, "dftest/smoke", digest)
        try:
            api.remove_image(ref, force=True)
        except docker.errors.ImageNotFound:
            pass


# --- second engine -------------------------------------------------------------------------------


def test_second_engine(second_engine, api_client, base_image, test_labels):
    """The second engine is a separate daemon that answers and has the base image."""
    api2 = docker.APIClient(base_url=second_engine, version="auto", timeout=60)
    try:
        assert api2.version()["ApiVersion"]
        assert api2.inspect_image(base_image)["Id"]
        info1, info2 = api_client.info(), api2.info()
        assert info1["ID"] != info2["ID"]
        assert info1["DockerRootDir"] != info2["DockerRootDir"]
        # its own default bridge (dftb2), separate from the first engine's docker0
        cid = api2.create_container(
            base_image,
            ["sh", "-c", "ip addr show eth0 | grep -q 'inet 10.213.250.' && echo engine2"],
            labels=test_labels,
            host_config=api2.create_host_config(init=True),
        )["Id"]
        try:
            api2.start(cid)
            assert api2.wait(cid, timeout=60)["StatusCode"] == 0
            assert api2.logs(cid) == b"engine2\n"
        finally:
            api2.remove_container(cid, force=True)
    finally:
        api2.close()


# --- request-logging proxy -----------------------------------------------------------------------


def test_normalize_path():
    """Version prefix and query string are dropped, escapes decoded."""
    assert normalize_path("/v1.41/containers/json?all=1&limit=-1") == "/containers/json"
    assert normalize_path("/containers/a%2Eb/json") == "/containers/a.b/json"
    assert normalize_path("/_ping") == "/_ping"
    assert normalize_path("/v1.41") == "/v1.41"


def _proxy_client(request_log) -> docker.APIClient:
    client = docker.APIClient(base_url=request_log.base_url, version="1.41", timeout=60)
    request_log.clear()
    return client


def test_proxy_counts_list_exactly(request_log):
    """Listing containers is exactly one GET /containers/json."""
    api = _proxy_client(request_log)
    try:
        api.containers()
        assert request_log.requests == [("GET", "/containers/json")]
        assert request_log.state_changing() == []
        # keep-alive: many requests on one connection, each counted
        for _ in range(20):
            api.containers(all=True)
        assert request_log.count("GET", "/containers/json") == 21
        assert request_log.count() == 21
    finally:
        api.close()


def test_proxy_counts_lifecycle_exactly(request_log, base_image, test_labels):
    """create + start + stop + remove = exactly those 4 state-changing requests."""
    api = _proxy_client(request_log)
    try:
        cid = api.create_container(
            base_image, ["sleep", "60"], labels=test_labels, host_config=api.create_host_config(init=True)
        )["Id"]
        try:
            api.start(cid)
            api.stop(cid, timeout=5)
        finally:
            api.remove_container(cid, force=True)
        assert request_log.state_changing() == [
            ("POST", "/containers/create"),
            ("POST", f"/containers/{cid}/start"),
            ("POST", f"/containers/{cid}/stop"),
            ("DELETE", f"/containers/{cid}"),
        ]
        assert request_log.count() == 4
        assert request_log.count("POST") == 3
        assert request_log.count(prefix=f"/containers/{cid}") == 3
    finally:
        api.close()


def test_proxy_bodies_and_streams(request_log, base_image, test_labels, unique_name):
    """Chunked and sized bodies, streamed logs, exec and attach hijacks pass without hanging."""
    api = _proxy_client(request_log)
    tag = f"local/dftest-proxy-{unique_name}"
    label = test_labels[TEST_LABEL]
    try:
        # chunked request body (generator) followed by another request on the same connection
        data = _tar({"chunked.txt": b"c" * 200_000})
        chunks = (data[i : i + 8192] for i in range(0, len(data), 8192))
        out = api.import_image(
            src=chunks, repository=tag, stream_src=True, changes=[f"LABEL {TEST_LABEL}={label}"]
        )
        assert "error" not in out
        assert api.inspect_image(tag)["Config"]["Labels"][TEST_LABEL] == label
        assert request_log.requests[-2:] == [("POST", "/images/create"), ("GET", f"/images/{tag}/json")]

        # attach (hijacked, raw stream both ways) to `cat`
        cid = api.create_container(
            base_image,
            ["cat"],
            stdin_open=True,
            labels=test_labels,
            host_config=api.create_host_config(init=True),
        )["Id"]
        sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stream": 1})
        raw = sock._sock
        raw.settimeout(20)
        api.start(cid)
        raw.sendall(b"ping-through-proxy\n")
        received = b""
        deadline = time.monotonic() + 20
        while b"ping-through-proxy" not in received and time.monotonic() < deadline:
            received += raw.recv(4096)
        raw.shutdown(1)  # stdin EOF: cat exits
        assert b"ping-through-proxy" in received
        assert api.wait(cid, timeout=30)["StatusCode"] == 0
        sock.close()

        # Content-Length body (put_archive), exec (hijacked), streamed logs until the end
        assert api.put_archive(cid, "/tmp", _tar({"sized.txt": b"s" * 70_000}))
        long_runner = api.create_container(
            base_image,
            ["sh", "-c", "for i in 1 2 3; do echo line$i; done; sleep 60"],
            labels=test_labels,
            host_config=api.create_host_config(init=True),
        )["Id"]
        api.start(long_runner)
        exec_id = api.exec_create(long_runner, ["sh", "-c", "echo exec-ok"])["Id"]
        assert api.exec_start(exec_id) == b"exec-ok\n"
        lines = []
        for chunk in api.logs(long_runner, stream=True, follow=True):
            lines.append(chunk)
            if b"line3" in b"".join(lines):
                break
        assert b"line1\nline2\nline3\n" in b"".join(lines)
        request_log.clear()
        assert json.dumps(api.containers(all=True, filters={"label": f"{TEST_LABEL}={label}"}))
        assert request_log.requests == [("GET", "/containers/json")]
        for container in (cid, long_runner):
            api.remove_container(container, force=True)
    finally:
        try:
            api.remove_image(tag, force=True)
        except docker.errors.ImageNotFound:
            pass
        api.close()
