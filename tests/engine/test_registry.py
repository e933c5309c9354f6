"""Real-engine + real-registry tests: login, push, pull, ensure_image policies, anonymous
registries with a port, and passwords kept out of every error.

The authenticated registry is the test bed's (``registry`` fixture of tests/testbed/fixtures.py);
the anonymous registry (no auth, 127.0.0.1:<free port>) is this module's own Debian
docker-registry.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import docker
import docker.errors
import pytest
from containermap.images import (
    PullError,
    RegistryAuthError,
    RegistryError,
    ensure_image,
    image_id,
    login,
    pull_image,
    push_image,
)

pytestmark = [pytest.mark.docker, pytest.mark.registry]

BASE = "local/busybox:latest"


def _status(host: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_registry(directory: str) -> tuple[subprocess.Popen, str]:
    """Debian docker-registry without authentication on 127.0.0.1:<free port>."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed")
    port = _free_port()
    config = os.path.join(directory, "config.yml")
    with open(config, "w") as fileobj:
        fileobj.write(
            f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {directory}/data\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
    log = open(os.path.join(directory, "registry.log"), "wb")  # noqa: SIM115 - lives with the process
    process = subprocess.Popen(["docker-registry", "serve", config], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while _status(host) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"registry on {host} did not start: {open(log.name).read()}")
        time.sleep(0.2)
    return process, host


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def anonymous_registry():
    """A registry without authentication on 127.0.0.1:<port>."""
    directory = tempfile.mkdtemp(prefix="dftest-h6-anon-")
    process, host = _start_registry(directory)
    try:
        yield host
    finally:
        _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def api(docker_engine, base_image):
    """A fresh client per test: logins are remembered per client."""
    client = docker.APIClient(base_url=docker_engine, version="auto", timeout=120)
    yield client
    client.close()


@pytest.fixture
def tagged(api):
    """Tag a labelled test image as ``ref`` (removed afterwards); returns a factory."""
    refs: list[str] = []
    created: list[str] = []

    def make(ref: str) -> str:
        # a tiny image of our own (unique label), so its id is ours alone
        run_id = ref.rsplit("/", 1)[-1]
        container = api.create_container(BASE, "true", labels={"org.dockerfabric.test": run_id})
        try:
            committed = api.commit(container["Id"], conf={"Labels": {"org.dockerfabric.test": run_id}})
        finally:
            api.remove_container(container["Id"], force=True)
        created.append(committed["Id"])
        repo, tag = ref.rsplit(":", 1)
        api.tag(committed["Id"], repo, tag)
        refs.append(ref)
        return committed["Id"]

    yield make
    for ref in refs:
        try:
            api.remove_image(ref, force=True)
        except docker.errors.APIError:
            pass
    for iid in created:
        try:
            api.remove_image(iid)
        except docker.errors.APIError:
            pass


def _unique(host: str) -> str:
    return f"{host}/dftest-h6r-{uuid.uuid4().hex[:10]}:v1"


def test_push_remove_pull_same_id(api, registry, tagged):
    ref = _unique(registry.host)
    original = tagged(ref)
    records: list[dict] = []
    digest = push_image(api, ref, auth_configs=registry.auth_configs, progress=records.append)
    assert digest and digest.startswith("sha256:")
    assert any(r.get("status") == "Pushed" or "digest" in str(r.get("status")) for r in records)
    api.remove_image(ref)
    assert image_id(api, ref) is None
    pulled: list[dict] = []
    assert pull_image(api, ref, auth_configs=registry.auth_configs, progress=pulled.append) == original
    assert pulled, "pull progress was not reported"


def test_wrong_password_error_has_no_password(api, registry, tagged):
    ref = _unique(registry.host)
    tagged(ref)
    wrong = f"wrong-{uuid.uuid4().hex}"
    bad = {registry.host: {"username": registry.username, "password": wrong}}
    with pytest.raises(RegistryAuthError) as push_err:
        push_image(api, ref, auth_configs=bad)
    with pytest.raises(RegistryAuthError) as login_err:
        login(api, registry.host, registry.username, wrong)
    with pytest.raises(RegistryAuthError) as pull_err:
        pull_image(api, ref.replace(":v1", ":missing"), auth_configs=bad)
    for err in (push_err, login_err, pull_err):
        text = f"{err.value} {err.value!r} {err.value.args}"
        assert wrong not in text
        assert registry.host in str(err.value)
        assert err.value.registry == registry.host
    assert registry.username in str(login_err.value)
    assert ref in str(push_err.value)


def test_login_then_push_and_reauth(api, registry, tagged):
    ref = _unique(registry.host)
    original = tagged(ref)
    assert login(api, registry.host, registry.username, registry.password) is True
    # the remembered login is used when no auth_configs are given
    assert push_image(api, ref).startswith("sha256:")
    api.remove_image(ref)
    assert pull_image(api, ref) == original
    # a different (wrong) password is checked again, not answered from the SDK's cache
    with pytest.raises(RegistryAuthError):
        login(api, registry.host, registry.username, "not-the-password")
    assert login(api, registry.host, registry.username, registry.password, reauth=True) is True


def test_push_without_credentials_is_refused(api, registry, tagged):
    ref = _unique(registry.host)
    tagged(ref)
    with pytest.raises(RegistryAuthError) as err:
        push_image(api, ref)
    assert registry.host in str(err.value)


def test_anonymous_registry_with_port_and_pull_policies(api, anonymous_registry, tagged):
    """No auth entry for 127.0.0.1:PORT is needed (docker-map raised KeyError); a present image
    is not pulled again with the default policy."""
    ref = _unique(anonymous_registry)
    original = tagged(ref)
    # credentials for another registry only: the lookup must not fail for this one
    others = {"registry.example.com": {"username": "u", "password": "p"}}
    push_image(api, ref, auth_configs=others)
    api.remove_image(ref)
    records: list[dict] = []
    assert ensure_image(api, ref, auth_configs=others, progress=records.append) == (original, True)
    assert records
    records.clear()
    assert ensure_image(api, ref, progress=records.append) == (original, False)
    assert records == [], "a present image was pulled again"
    # 'always' pulls (and reports no change: same id); 'latest' skips a pinned tag
    assert ensure_image(api, ref, policy="always", progress=records.append) == (original, False)
    assert records
    records.clear()
    assert ensure_image(api, ref, policy="latest", progress=records.append) == (original, False)
    assert records == []
    # the repository without tag means :latest
    latest = ref.rsplit(":", 1)[0]
    api.tag(original, latest, "latest")
    try:
        push_image(api, latest)
        assert ensure_image(api, latest, policy="latest", progress=records.append) == (original, False)
        assert records, "policy 'latest' must pull a :latest image"
    finally:
        api.remove_image(f"{latest}:latest")


def test_pull_missing_image_names_image_and_registry(api, anonymous_registry):
    ref = f"{anonymous_registry}/dftest-h6r-absent-{uuid.uuid4().hex[:8]}:nope"
    with pytest.raises(PullError) as err:
        pull_image(api, ref)
    assert ref in str(err.value)
    assert isinstance(err.value, RegistryError)


def test_invalid_policy(api):
    with pytest.raises(ValueError):
        ensure_image(api, BASE, policy="sometimes")
