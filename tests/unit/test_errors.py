"""Error translation (containermap.errors): the explanations below are the texts Docker 20.10
sends; the same cases are provoked on the real engine in tests/engine/test_clients.py."""

from __future__ import annotations

import json

import docker.errors
import pytest
import requests
import urllib3
from containermap.errors import (
    ApiError,
    ClientSetupError,
    Conflict,
    EngineTimeout,
    ImageMissing,
    NameConflict,
    ObjectMissing,
    PortInUse,
    RegistryError,
    engine_call,
    is_read_timeout,
    registry_of,
    sanitize,
    short_id,
    translate,
    translate_message,
)
from containermap.exceptions import EngineError, EngineUnreachable

CID = "a73d079b968d6d06f05ad146796c2483b5135d68095db5170b79bce09f76a8b7"


def api_error(status: int, message: str, reason: str = "Error") -> docker.errors.APIError:
    """The exception the SDK raises for an engine answer (built by the SDK's own factory)."""
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response.url = "http+docker://localhost/v1.41/containers/create"
    response._content = json.dumps({"message": message}).encode()
    try:
        docker.errors.create_api_error_from_http_exception(requests.HTTPError(response=response))
    except docker.errors.APIError as exc:
        return exc
    raise AssertionError("factory did not raise")


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("busybox", "docker.io"),
        ("library/busybox:1", "docker.io"),
        ("org/app:2", "docker.io"),
        ("127.0.0.1:5000/app:2", "127.0.0.1:5000"),
        ("registry.example.com/ns/app", "registry.example.com"),
        ("localhost/app", "localhost"),
        ("app@sha256:abc", "docker.io"),
    ],
)
def test_registry_of(image, registry):
    assert registry_of(image) == registry


def test_sanitize_masks_credentials():
    text = (
        'Get "https://bob:s3cret@reg.example.com/v2/": denied; password=hunter2 {"auth": "Ym9iOnMzY3JldA=="}'
    )
    masked = sanitize(text)
    assert "s3cret" not in masked and "hunter2" not in masked and "Ym9iOnMzY3JldA" not in masked
    assert "https://***@reg.example.com/v2/" in masked


def test_short_id():
    assert short_id(CID) == CID[:12]
    assert short_id("sha256:" + CID) == CID[:12]


def test_missing_image_locally_names_registry():
    err = translate(api_error(404, "No such image: 127.0.0.1:5000/app:2"), "web.app", action="create")
    assert isinstance(err, ImageMissing) and isinstance(err, EngineError)
    assert err.image == "127.0.0.1:5000/app:2" and err.registry == "127.0.0.1:5000"
    assert (
        str(err)
        == "web.app: create: image 127.0.0.1:5000/app:2 not found locally (registry 127.0.0.1:5000; pull it first)"
    )


def test_missing_image_on_registry():
    exc = api_error(404, "manifest for 127.0.0.1:5000/app:2 not found: manifest unknown: manifest unknown")
    err = translate(exc, action="pull", image="127.0.0.1:5000/app:2")
    assert isinstance(err, ImageMissing)
    assert err.message == "pull: image 127.0.0.1:5000/app:2 not found (registry 127.0.0.1:5000)"


def test_missing_image_on_docker_hub():
    exc = api_error(
        404,
        "pull access denied for nosuch/app, repository does not exist or may require 'docker login': "
        "denied: requested access to the resource is denied",
    )
    assert isinstance(exc, docker.errors.ImageNotFound)
    err = translate(exc, action="pull", image="nosuch/app:3")
    assert isinstance(err, ImageMissing)
    assert err.message == "pull: image nosuch/app:3 not found locally and on Docker Hub (docker.io)"


def test_registry_unreachable():
    exc = api_error(
        500, 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'
    )
    err = translate(exc, action="pull", image="busybox:1")
    assert isinstance(err, RegistryError) and err.registry == "docker.io"
    assert "Docker Hub (docker.io) unreachable" in err.message and "busybox:1" in err.message


def test_registry_access_denied():
    exc = api_error(500, 'Head "http://127.0.0.1:5000/v2/app/manifests/1": no basic auth credentials')
    err = translate(exc, action="pull", image="127.0.0.1:5000/app:1")
    assert isinstance(err, RegistryError) and err.registry == "127.0.0.1:5000"
    assert err.message.startswith("pull: access denied by registry 127.0.0.1:5000 (login needed or wrong")
    exc = api_error(500, "login attempt to http://reg.example.com/v2/ failed with status: 401 Unauthorized")
    assert translate(exc, action="login").registry == "reg.example.com"


def test_stream_errors_use_the_same_messages():
    err = translate_message(
        "manifest for 127.0.0.1:5000/app:2 not found: manifest unknown: manifest unknown",
        "image:127.0.0.1:5000/app:2",
        action="pull",
        image="127.0.0.1:5000/app:2",
    )
    assert isinstance(err, ImageMissing) and err.cause is None
    assert (
        str(err)
        == "image:127.0.0.1:5000/app:2: pull: image 127.0.0.1:5000/app:2 not found (registry 127.0.0.1:5000)"
    )
    err = translate_message(
        "unauthorized: authentication required", action="push", image="127.0.0.1:5000/app:2"
    )
    assert isinstance(err, RegistryError) and err.registry == "127.0.0.1:5000"
    other = translate_message("failed to register layer: no space left on device", action="pull")
    assert (
        type(other) is ApiError and other.message == "pull: failed to register layer: no space left on device"
    )


def test_port_in_use_messages():
    exc = api_error(
        500,
        "driver failed programming external connectivity on endpoint web (abc): "
        "Bind for 127.0.0.1:8080 failed: port is already allocated",
    )
    err = translate(exc, "m.web", action="start")
    assert isinstance(err, PortInUse) and err.address == "127.0.0.1:8080"
    assert str(err) == "m.web: start: host port 127.0.0.1:8080 is already in use"
    exc = api_error(
        500,
        "driver failed programming external connectivity on endpoint web (abc): Error starting userland "
        "proxy: listen tcp4 0.0.0.0:8081: bind: address already in use",
    )
    err = translate(exc)
    assert isinstance(err, PortInUse) and err.message == "host port 8081 (all addresses) is already in use"


def test_name_conflict():
    exc = api_error(
        409,
        f'Conflict. The container name "/m.web" is already in use by container "{CID}". You have to remove '
        "(or rename) that container to be able to reuse that name.",
    )
    err = translate(exc, "m.web", client="host1", action="create")
    assert isinstance(err, NameConflict) and err.existing_id == CID and err.name == "m.web"
    assert (
        str(err) == f"[host1] m.web: create: container name 'm.web' is already in use by container {CID[:12]}"
    )
    assert err.status == 409 and err.cause is exc


def test_conflicts_and_not_found():
    err = translate(api_error(409, f"Container {CID} is not running"), action="exec")
    assert type(err) is Conflict and err.message == f"exec: container {CID[:12]} is not running"
    err = translate(
        api_error(
            409, f"You cannot remove a running container {CID}. Stop the container before attempting removal"
        )
    )
    assert err.message == f"container {CID[:12]} is running (stop it first)"
    err = translate(api_error(409, f"remove m.vol: volume is in use - [{CID}]"))
    assert err.message == f"volume is in use by container(s) {CID[:12]}"
    err = translate(api_error(404, "get m.vol: no such volume"))
    assert type(err) is ObjectMissing and err.message == "volume m.vol does not exist"
    err = translate(api_error(404, "No such container: m.web"))
    assert err.message == "container m.web does not exist"


def test_generic_api_error_has_status_and_explanation():
    err = translate(api_error(403, "operation is not permitted on predefined bridge network ", "Forbidden"))
    assert type(err) is ApiError and err.status == 403
    assert (
        err.message
        == "Docker API error 403 Forbidden: operation is not permitted on predefined bridge network"
    )


def test_unreachable_and_timeouts():
    conn = requests.exceptions.ConnectionError(
        "('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))"
    )
    err = translate(conn, client="web1", action="ping", url="tcp://10.0.0.5:2375")
    assert isinstance(err, EngineUnreachable)
    assert str(err) == "[web1] ping: cannot reach tcp://10.0.0.5:2375: connection refused"
    # unix sockets report read timeouts as ConnectionError(ReadTimeoutError)
    read_timeout = requests.exceptions.ConnectionError(
        urllib3.exceptions.ReadTimeoutError(
            None, "/x", "UnixHTTPConnectionPool(host='localhost'): Read timed out."
        )
    )
    assert is_read_timeout(read_timeout)
    err = translate(read_timeout, action="wait", url="unix:///var/run/docker.sock", timeout=5)
    assert isinstance(err, EngineTimeout)
    assert err.message == "wait: no answer from unix:///var/run/docker.sock within 5 s"
    # the SDK wraps the version request failure of version='auto'
    try:
        try:
            raise conn
        except requests.exceptions.ConnectionError as inner:
            raise docker.errors.DockerException(
                f"Error while fetching server API version: {inner}"
            ) from inner
    except docker.errors.DockerException as wrapped:
        assert isinstance(translate(wrapped, url="unix:///x.sock"), EngineUnreachable)


def test_translate_keeps_engine_errors_and_fills_context():
    original = EngineError("boom")
    assert translate(original, "m.c", "c1") is original
    assert original.target == "m.c" and original.client == "c1"
    tls = translate(docker.errors.TLSParameterError("bad cert"))
    assert isinstance(tls, ClientSetupError)


def test_engine_call_translates_only_engine_exceptions():
    class Api:
        engine_url = "unix:///run/other.sock"
        client_name = "second"
        timeout = 7

    with pytest.raises(NameConflict) as info:
        with engine_call("m.c", action="create", api=Api()):
            raise api_error(
                409, f'Conflict. The container name "/m.c" is already in use by container "{CID}".'
            )
    assert info.value.client == "second" and info.value.target == "m.c"
    assert isinstance(info.value.__cause__, docker.errors.APIError)
    with pytest.raises(EngineUnreachable, match="unix:///run/other.sock"):
        with engine_call(api=Api()):
            raise requests.exceptions.ConnectionError("No such file or directory")
    with pytest.raises(TypeError):
        with engine_call("m.c"):
            raise TypeError("programming error passes through")
