"""Docker clients (containermap.clients) and error translation against the real engine:
default client from DOCKER_HOST, explicit URLs, version auto, unreachable engines named in the
message within the timeout, TLS wiring, ssh without paramiko, and the real API errors (missing
image, port in use, name conflict)."""

from __future__ import annotations

import http.server
import importlib.util
import shutil
import socket
import subprocess
import threading
import time
import uuid

import docker
import pytest
from containermap.clients import DEFAULT_CLIENT, ClientSet, EngineClient, build_tls
from containermap.config.lazy import Lazy
from containermap.errors import (
    ClientSetupError,
    ImageMissing,
    NameConflict,
    PortInUse,
    RegistryError,
    engine_call,
)
from containermap.exceptions import ConfigurationError, EngineUnreachable

LOCAL = "unix:///var/run/docker.sock"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clients(docker_engine):
    """A ClientSet whose default client is the test bed's engine."""
    cs = ClientSet({DEFAULT_CLIENT: {"base_url": docker_engine}})
    yield cs
    cs.close()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (backlog) but never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


# -- connections ----------------------------------------------------------------------------


@pytest.mark.docker
def test_default_client_uses_docker_host(monkeypatch, clients):
    monkeypatch.setenv("DOCKER_HOST", LOCAL)
    cs = ClientSet()
    api = cs.get()
    assert isinstance(api, EngineClient) and api.engine_url == LOCAL and api.client_name == DEFAULT_CLIENT
    assert cs.get() is api
    assert cs.ping() is True
    missing = f"unix:///tmp/h5-{uuid.uuid4().hex[:8]}.sock"
    monkeypatch.setenv("DOCKER_HOST", missing)
    with pytest.raises(EngineUnreachable) as info:
        ClientSet().get()
    assert str(info.value) == f"connect: cannot reach {missing}: no such file or directory"
    cs.close()


@pytest.mark.docker
def test_default_client_without_docker_host_uses_local_socket(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    cs = ClientSet()
    assert cs.url() == LOCAL
    assert cs.get().engine_url == LOCAL
    cs.close()


@pytest.mark.docker
def test_explicit_unix_url_and_versions(clients):
    engine_version = clients.get().version(api_version=False)["ApiVersion"]
    cs = ClientSet(
        {
            "auto": {"base_url": LOCAL, "version": "auto", "timeout": 5},
            "fixed": {"base_url": LOCAL, "version": "1.40"},
            "path": {"base_url": "/var/run/docker.sock", "version": 1.41},
        }
    )
    assert cs.names() == (DEFAULT_CLIENT, "auto", "fixed", "path")
    assert cs.get("auto").api_version == engine_version and cs.get("auto").timeout == 5
    fixed = cs.get("fixed")
    assert fixed.api_version == "1.40"
    assert fixed.version()["ApiVersion"] == engine_version  # a real request through /v1.40
    assert cs.get("path").api_version == "1.41" and cs.url("path") == LOCAL
    cs.close()


@pytest.fixture
def tcp_proxy():
    """tcp://127.0.0.1:PORT forwarding to the local engine socket (a plain TCP engine)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(LOCAL[len("unix://") :])
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


@pytest.mark.docker
def test_tcp_engine(clients, tcp_proxy):
    cs = ClientSet({"tcp": {"base_url": tcp_proxy, "timeout": 10}})
    api = cs.get("tcp")
    assert api.engine_url == tcp_proxy and api.base_url == "http" + tcp_proxy[3:]
    assert cs.ping("tcp") is True
    assert api.version()["ApiVersion"] == clients.get().version()["ApiVersion"]
    cs.close()


def test_second_engine_is_a_separate_client(clients, second_engine):
    cs = ClientSet({"host2": {"base_url": second_engine}})
    assert cs.get("host2") is not cs.get()
    assert cs.get("host2").info()["DockerRootDir"] != clients.get().info()["DockerRootDir"]
    assert cs.get("host2").engine_url == second_engine
    cs.close()


def test_requests_made_by_clients(request_log):
    """Creating a client costs one GET /version with version auto, none with a fixed version."""
    cs = ClientSet(
        {
            "auto": {"base_url": request_log.base_url},
            "fixed": {"base_url": request_log.base_url, "version": "1.41"},
        }
    )
    cs.get("auto")
    assert request_log.requests == [("GET", "/version")]
    request_log.clear()
    cs.get("fixed")
    cs.get("auto")
    assert request_log.requests == []
    assert cs.ping("fixed") and request_log.requests == [("GET", "/_ping")]
    cs.close()


@pytest.mark.docker
def test_client_configuration_objects(clients):
    cc = pytest.importorskip("containermap.config.client")
    cfg = cc.ClientConfiguration(
        base_url=LOCAL, interfaces={"private": "127.0.0.1"}, wait_timeout=12, stop_timeout=3
    )
    cs = ClientSet({"web1": cfg})
    assert cs.get("web1").engine_url == LOCAL
    assert cs.interfaces("web1") == {"private": "127.0.0.1"}
    assert cs.wait_timeout("web1") == 12 and cs.stop_timeout("web1") == 3
    cs.close()


@pytest.mark.docker
def test_prebuilt_client_is_used_and_not_closed(clients):
    own = docker.APIClient(base_url=LOCAL, version="auto")
    cs = ClientSet({"pre": own, "key": {"client": own}})
    assert cs.get("pre") is own and cs.get("key") is own
    cs.close()
    assert own.ping()  # still usable
    own.close()


def test_unreachable_tcp_port_is_named_quickly():
    port = _free_port()
    cs = ClientSet({"gone": {"base_url": f"tcp://127.0.0.1:{port}", "timeout": 2}})
    start = time.monotonic()
    with pytest.raises(EngineUnreachable) as info:
        cs.get("gone")
    assert time.monotonic() - start < 2
    assert str(info.value) == f"[gone] connect: cannot reach tcp://127.0.0.1:{port}: connection refused"
    # a fixed version makes no request at creation: ping (and any call) names the URL
    cs = ClientSet({"gone": {"base_url": f"tcp://127.0.0.1:{port}", "version": "1.41"}})
    api = cs.get("gone")
    with pytest.raises(EngineUnreachable, match=f"ping: cannot reach tcp://127.0.0.1:{port}"):
        cs.ping("gone")
    with pytest.raises(EngineUnreachable, match=f"tcp://127.0.0.1:{port}"):
        with engine_call("m.c", action="list", api=api):
            api.containers()


def test_silent_engine_fails_within_timeout(silent_server):
    cs = ClientSet({"silent": {"base_url": f"tcp://127.0.0.1:{silent_server}", "timeout": 1}})
    start = time.monotonic()
    with pytest.raises(EngineUnreachable) as info:
        cs.get("silent")
    elapsed = time.monotonic() - start
    assert elapsed < 3, elapsed
    assert f"tcp://127.0.0.1:{silent_server}" in str(info.value) and "no answer within 1 s" in str(info.value)


def test_http_server_that_is_no_engine():
    class NotDocker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            self.send_error(404)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), NotDocker)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"tcp://127.0.0.1:{srv.server_address[1]}"
        with pytest.raises(EngineUnreachable, match=f"cannot reach the Docker engine at {url}: 404"):
            ClientSet({"web": {"base_url": url, "timeout": 2}}).get("web")
    finally:
        srv.shutdown()
        srv.server_close()


def test_invalid_url_and_unknown_client():
    with pytest.raises(ClientSetupError, match="invalid base_url ftp://x"):
        ClientSet({"x": {"base_url": "ftp://x"}}).get("x")
    with pytest.raises(ConfigurationError, match="client 'nope' is not configured"):
        ClientSet({"x": {}}).get("nope")


@pytest.mark.skipif(importlib.util.find_spec("paramiko") is not None, reason="paramiko installed")
def test_ssh_without_paramiko_says_what_to_install():
    with pytest.raises(ClientSetupError) as info:
        ClientSet({"remote": {"base_url": "ssh://deploy@203.0.113.9"}}).get("remote")
    assert "paramiko" in str(info.value) and "pip install paramiko" in str(info.value)
    assert str(info.value).startswith("[remote] base URL ssh://deploy@203.0.113.9")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """Throwaway CA and client certificate made with openssl (only to check the wiring)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl missing")
    d = tmp_path_factory.mktemp("tls")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=h5-test-ca")  # fmt: skip
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "client.csr",
        "-subj",
        "/CN=h5-client",
    )
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "cert.pem", "-days", "1")  # fmt: skip
    return d


def test_tls_config_from_files(tls_files, silent_server):
    ca, cert, key = (str(tls_files / n) for n in ("ca.pem", "cert.pem", "key.pem"))
    url = f"tcp://127.0.0.1:{silent_server}"
    cs = ClientSet(
        {
            "dict": {
                "base_url": url,
                "version": "1.41",
                "tls": {"ca_cert": ca, "client_cert": cert, "client_key": key},
            },
            "pair": {"base_url": url, "version": "1.41", "tls": {"client_cert": (cert, key), "ca_cert": ca}},
            "dir": {"base_url": url, "version": "1.41", "tls": {"cert_path": str(tls_files), "verify": True}},
            "system": {"base_url": url, "version": "1.41", "tls": True},
        }
    )
    for name in ("dict", "pair", "dir"):
        api = cs.get(name)
        assert api.base_url == f"https://127.0.0.1:{silent_server}"
        assert api.cert == (cert, key) and api.verify == ca
    assert cs.get("system").base_url.startswith("https://") and cs.get("system").cert is None
    # the engine does not speak TLS: a clear "unreachable" within the timeout
    cs2 = ClientSet({"t": {"base_url": url, "timeout": 1, "tls": {"ca_cert": ca}}})
    start = time.monotonic()
    with pytest.raises(EngineUnreachable, match=f"127.0.0.1:{silent_server}"):
        cs2.get("t")
    assert time.monotonic() - start < 3


def test_tls_errors_name_the_key(tls_files, monkeypatch):
    with pytest.raises(ClientSetupError, match="tls.ca_cert: file /nonexistent/ca.pem does not exist"):
        build_tls({"ca_cert": "/nonexistent/ca.pem"}, "web1")
    with pytest.raises(ClientSetupError, match="client_cert and client_key must be given together"):
        build_tls({"client_cert": str(tls_files / "cert.pem")})
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(ClientSetupError, match="tls needs a tcp:// base_url"):
        ClientSet({"x": {"tls": True}}).get("x")
    assert build_tls(None) is False and build_tls(False) is False and build_tls(True) is True


def test_accessors_resolve_lazy_values():
    cs = ClientSet(
        {
            "web1": {
                "interfaces": {"private": Lazy(lambda: "10.0.0.1"), "public": "192.0.2.1"},
                "interfaces_ipv6": {"private": "fd00::1"},
                "stop_timeout": 5,
                "wait_timeout": Lazy(lambda: 30),
                "domainname": "example.com",
                "auth_configs": {"127.0.0.1:5000": {"username": "u", "password": "p"}},
            }
        }
    )
    assert cs.interfaces("web1") == {"private": "10.0.0.1", "public": "192.0.2.1"}
    assert cs.interfaces_ipv6("web1") == {"private": "fd00::1"}
    assert cs.stop_timeout("web1") == 5 and cs.wait_timeout("web1") == 30
    assert cs.domainname("web1") == "example.com"
    assert cs.auth_configs("web1")["127.0.0.1:5000"]["username"] == "u"
    assert cs.interfaces() == {} and cs.stop_timeout() is None and cs.timeout() == 60
    with pytest.raises(ConfigurationError, match="stop_timeout must be a number"):
        ClientSet({"x": {"stop_timeout": "soon"}}).stop_timeout("x")


@pytest.mark.docker
def test_get_is_thread_safe_and_lazy(clients):
    created = []

    class Counting(ClientSet):
        def _create(self, name):
            created.append(name)
            time.sleep(0.05)  # widen the race window
            return super()._create(name)

    cs = Counting({"a": {"base_url": LOCAL}})
    assert cs.created() == ()
    results = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(cs.get(n))) for n in ["a", DEFAULT_CLIENT] * 8
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == sorted(["a", DEFAULT_CLIENT])
    assert len({id(r) for r in results}) == 2
    cs.close()
    assert cs.created() == ()
    assert cs.get("a").ping()
    cs.close()


# -- real API errors, translated ------------------------------------------------------------


@pytest.mark.docker
def test_missing_image_on_create(clients, test_labels):
    api = clients.get()
    image = f"127.0.0.1:{_free_port()}/h5-missing/app:2"
    with pytest.raises(ImageMissing) as info:
        with engine_call("m.app", action="create", api=api):
            api.create_container(image, labels=test_labels)
    assert info.value.registry == image.split("/")[0]
    assert str(info.value) == (
        f"m.app: create: image {image} not found locally (registry {image.split('/')[0]}; pull it first)"
    )


@pytest.mark.docker
def test_registry_errors_name_the_registry(clients, registry, unique_name):
    api = clients.get()
    local_registry = registry.host
    repo = f"{local_registry}/dftest-{unique_name}/app"
    image = f"{repo}:2"
    bad = {"username": registry.username, "password": "wrong-pw-h5"}
    with pytest.raises(ImageMissing) as info:
        with engine_call(action="pull", api=api, image=image):
            api.pull(repo, tag="2", auth_config=registry.auth_config)
    assert str(info.value) == f"pull: image {image} not found (registry {local_registry})"
    for auth in (None, bad):
        with pytest.raises(RegistryError) as info:
            with engine_call(action="pull", api=api, image=image):
                api.pull(repo, tag="2", auth_config=auth)
        message = str(info.value)
        assert message.startswith(
            f"pull: access denied by registry {local_registry} (login needed or wrong credentials)"
        )
        assert info.value.registry == local_registry
        assert registry.password not in message and "wrong-pw-h5" not in message
    with pytest.raises(RegistryError, match=f"access denied by registry {local_registry}"):
        with engine_call(action="login", api=api):
            api.login(registry.username, "wrong-pw-h5", registry=local_registry, reauth=True)


@pytest.mark.docker
def test_unreachable_registry_is_named(clients):
    api = clients.get()
    registry = f"127.0.0.1:{_free_port()}"
    with pytest.raises(RegistryError) as info:
        with engine_call(action="pull", api=api, image=f"{registry}/app:1"):
            api.pull(f"{registry}/app", tag="1")
    assert info.value.registry == registry
    assert f"registry {registry} unreachable" in str(info.value)


@pytest.mark.docker
def test_port_in_use_and_name_conflict(clients, base_image, test_labels, unique_name):
    api = clients.get()
    # a user network: port publishing does not depend on the default bridge
    net = api.create_network(f"dftest-{unique_name}", driver="bridge", labels=test_labels)["Id"]
    port = _free_port()
    name = f"dftest-{unique_name}-a"

    def create(cname):
        return api.create_container(
            base_image,
            ["sleep", "60"],
            name=cname,
            ports=[80],
            labels=test_labels,
            host_config=api.create_host_config(
                port_bindings={80: ("127.0.0.1", port)}, init=True, network_mode=net
            ),
        )["Id"]

    first = create(name)
    api.start(first)
    with pytest.raises(NameConflict) as info:
        with engine_call("m.a", action="create", api=api):
            create(name)
    assert (
        str(info.value) == f"m.a: create: container name '{name}' is already in use by container {first[:12]}"
    )
    second = create(f"dftest-{unique_name}-b")
    with pytest.raises(PortInUse) as info:
        with engine_call("m.b", action="start", api=api):
            api.start(second)
    assert str(info.value) == f"m.b: start: host port 127.0.0.1:{port} is already in use"
    # a port held by another program (not a container)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        held = holder.getsockname()[1]
        third = api.create_container(
            base_image,
            ["sleep", "60"],
            ports=[80],
            labels=test_labels,
            host_config=api.create_host_config(
                port_bindings={80: ("127.0.0.1", held)}, init=True, network_mode=net
            ),
        )["Id"]
        with pytest.raises(PortInUse, match=f"host port 127.0.0.1:{held} is already in use"):
            with engine_call("m.c", action="start", api=api):
                api.start(third)
    finally:
        holder.close()
