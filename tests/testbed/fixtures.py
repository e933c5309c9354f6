"""pytest plugin of the test bed (loaded by ``tests/conftest.py``).

Fixtures for tests against the real Docker engine, the authenticated registry and the second
engine that ``tests/testbed/setup.sh`` starts. A missing service is started on demand by running
setup.sh (as root); if that fails the test errors with setup.sh's output: nothing is skipped.

Every object a test creates must carry ``test_labels`` (``org.dockerfabric.test=<run id>``); the
session finalizer removes all containers, networks, volumes and images with this run's label from
every engine the session used, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import docker.tls
import pytest
from containermap import labels

from tests.testbed.reqproxy import RequestLog

TESTBED_DIR = Path(__file__).resolve().parent
SETUP_SH = TESTBED_DIR / "setup.sh"
ENGINE_URL = "unix:///var/run/docker.sock"
BASE_IMAGE = "local/busybox:latest"
TEST_LABEL = labels.TEST
SETUP_TIMEOUT = 900


def testbed_env_file() -> Path:
    """Where setup.sh writes the test bed's settings."""
    return Path(os.environ.get("DOCKERFABRIC_TESTBED_RUN", "/run/dockerfabric-testbed")) / "testbed.env"


def read_testbed_env() -> dict[str, str]:
    """KEY=VALUE pairs of ``testbed.env`` (empty if setup.sh has not written it yet)."""
    values: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in testbed_env_file().read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    return values


def run_setup(*options: str) -> None:
    """Run setup.sh with ``options``; fail the requesting test with its output on error."""
    if os.geteuid() != 0:
        pytest.fail(
            f"the test bed is not running and only root can start it: sudo bash {SETUP_SH} {' '.join(options)}",
            pytrace=False,
        )
    try:
        proc = subprocess.run(
            ["bash", str(SETUP_SH), *options],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{SETUP_SH} {' '.join(options)} did not finish within {SETUP_TIMEOUT} s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{SETUP_SH} {' '.join(options)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )


def engine_answers(base_url: str, tls: docker.tls.TLSConfig | None = None) -> bool:
    """True if a Docker engine answers ``/_ping`` on ``base_url`` (with ``tls``: over TLS)."""
    try:
        client = docker.APIClient(base_url=base_url, version="1.41", timeout=10, tls=tls or False)
    except docker.errors.DockerException:
        return False
    # REQUESTS_CA_BUNDLE in the environment would replace the engine's CA (requests issue 3829)
    client.trust_env = False
    try:
        return bool(client.ping())
    except Exception:  # any failure means: not usable
        return False
    finally:
        client.close()


def registry_answers(host: str) -> bool:
    """True if a registry with authentication answers on ``host`` (``/v2/`` refused with 401)."""
    try:
        urllib.request.urlopen(f"http://{host}/v2/", timeout=5)  # noqa: S310 (fixed http URL)
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
    return False


def remove_labelled(base_url: str, label: str) -> dict[str, int]:
    """Remove every container, network, volume and image carrying ``label`` (``key=value``).

    Returns how many of each were removed. Errors on single objects do not stop the sweep.
    """
    removed = {"containers": 0, "networks": 0, "volumes": 0, "images": 0}
    client = docker.APIClient(base_url=base_url, version="auto", timeout=120)
    flt = {"label": label}
    try:
        for c in client.containers(all=True, filters=flt):
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_container(c["Id"], v=True, force=True)
                removed["containers"] += 1
        for n in client.networks(filters=flt):
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_network(n["Id"])
                removed["networks"] += 1
        for v in client.volumes(filters=flt).get("Volumes") or []:
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_volume(v["Name"], force=True)
                removed["volumes"] += 1
        # children before parents: newest first
        images = sorted(client.images(all=True, filters=flt), key=lambda i: i.get("Created", 0), reverse=True)
        for image in images:
            with contextlib.suppress(docker.errors.NotFound):
                client.remove_image(image["Id"], force=True)
                removed["images"] += 1
    finally:
        client.close()
    return removed


@dataclass
class DockerCleanup:
    """Engines this session used; at session end, this run's labelled objects are removed."""

    label: str
    engines: list[str] = field(default_factory=list)
    report: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_engine(self, base_url: str) -> None:
        """Also sweep ``base_url`` at the end of the session."""
        if base_url not in self.engines:
            self.engines.append(base_url)

    def sweep(self) -> None:
        """Remove this run's objects from every engine used; failures are collected, not raised."""
        for url in self.engines:
            try:
                self.report[url] = remove_labelled(url, self.label)
            except Exception as exc:  # the sweep must reach the other engines
                self.report[url] = {"error": 1}
                print(f"\n[testbed] cleanup of {url} failed: {exc}")


@dataclass(frozen=True)
class RegistryInfo:
    """The test bed's registry: ``host`` is ``127.0.0.1:PORT``."""

    host: str
    username: str
    password: str

    @property
    def auth_config(self) -> dict[str, str]:
        """docker SDK ``auth_config`` for push/pull."""
        return {"username": self.username, "password": self.password}

    @property
    def auth_configs(self) -> dict[str, dict[str, str]]:
        """docker-map style ``auth_configs``: registry host -> login arguments."""
        return {self.host: self.auth_config}


# --- markers -------------------------------------------------------------------------------------

_MARKER_FIXTURES = {
    "docker": {
        "docker_engine",
        "api_client",
        "docker_client",
        "base_image",
        "docker_cleanup",
        "request_log",
        "registry",
        "second_engine",
        "tls_engine",
        "ssh_engine",
    },
    "registry": {"registry"},
    "second_engine": {"second_engine"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the test bed fixtures they use, so ``-m 'not docker'`` selects unit tests."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in _MARKER_FIXTURES.items():
            if used & fixtures and not item.get_closest_marker(marker):
                item.add_marker(marker)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_run_id() -> str:
    """Unique id of this test session (value of the test label)."""
    return f"{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def test_labels(test_run_id: str) -> dict[str, str]:
    """Labels every object created by a test must carry."""
    return {TEST_LABEL: test_run_id}


@pytest.fixture(scope="session")
def docker_cleanup(test_run_id: str) -> Iterator[DockerCleanup]:
    """Session finalizer removing everything labelled with this run's id, on every engine used."""
    cleanup = DockerCleanup(label=f"{TEST_LABEL}={test_run_id}")
    yield cleanup
    cleanup.sweep()


def default_bridge_missing(base_url: str) -> bool:
    """True if the engine's default bridge interface (docker0) is gone from this host.

    A dockerd started with ``--bridge none`` deletes docker0; the engine then fails every start of
    a container on its default network. setup.sh puts the interface back.
    """
    client = docker.APIClient(base_url=base_url, version="auto", timeout=30)
    try:
        options = client.inspect_network("bridge").get("Options") or {}
    except docker.errors.DockerException:
        return False
    finally:
        client.close()
    name = options.get("com.docker.network.bridge.name")
    return bool(name) and not Path("/sys/class/net", name).exists()


@pytest.fixture(scope="session")
def docker_engine(docker_cleanup: DockerCleanup) -> str:
    """Base URL of the test bed's engine; runs setup.sh once if it does not answer."""
    if not engine_answers(ENGINE_URL):
        run_setup()
        if not engine_answers(ENGINE_URL):
            pytest.fail(f"the Docker engine does not answer on {ENGINE_URL} after setup.sh", pytrace=False)
    if default_bridge_missing(ENGINE_URL):
        run_setup()
    docker_cleanup.add_engine(ENGINE_URL)
    return ENGINE_URL


@pytest.fixture(scope="session")
def api_client(docker_engine: str) -> Iterator[docker.APIClient]:
    """Low-level docker SDK client of the test bed's engine."""
    client = docker.APIClient(base_url=docker_engine, version="auto", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_client(docker_engine: str) -> Iterator[docker.DockerClient]:
    """High-level docker SDK client of the test bed's engine."""
    client = docker.DockerClient(base_url=docker_engine, version="auto", timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(api_client: docker.APIClient) -> str:
    """``local/busybox:latest`` (busybox-static, every applet), built by setup.sh if missing."""
    try:
        api_client.inspect_image(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        run_setup()
        api_client.inspect_image(BASE_IMAGE)
    return BASE_IMAGE


@pytest.fixture
def unique_name() -> str:
    """A random short suffix for names of maps, containers, networks, ... of one test."""
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def registry(docker_engine: str) -> RegistryInfo:
    """The authenticated registry on 127.0.0.1:PORT, started by ``setup.sh --registry`` if needed."""
    env = read_testbed_env()
    host = env.get("DOCKERFABRIC_TEST_REGISTRY")
    if not host or not registry_answers(host):
        run_setup("--registry")
        env = read_testbed_env()
        host = env.get("DOCKERFABRIC_TEST_REGISTRY")
        if not host or not registry_answers(host):
            pytest.fail(f"the test bed registry does not answer ({testbed_env_file()})", pytrace=False)
    return RegistryInfo(
        host=host,
        username=env["DOCKERFABRIC_TEST_REGISTRY_USER"],
        password=env["DOCKERFABRIC_TEST_REGISTRY_PASSWORD"],
    )


@pytest.fixture(scope="session")
def second_engine(docker_engine: str, docker_cleanup: DockerCleanup) -> str:
    """Base URL of the second engine (own default bridge dftb2, 10.213.250.0/24, no iptables rules)."""
    url = read_testbed_env().get("DOCKERFABRIC_TEST_ENGINE2")
    if not url or not engine_answers(url):
        run_setup("--second-engine")
        url = read_testbed_env().get("DOCKERFABRIC_TEST_ENGINE2")
        if not url or not engine_answers(url):
            pytest.fail(f"the second engine does not answer ({testbed_env_file()})", pytrace=False)
    client = docker.APIClient(base_url=url, version="auto", timeout=60)
    try:
        client.inspect_image(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        run_setup("--second-engine")
    finally:
        client.close()
    docker_cleanup.add_engine(url)
    return url


@pytest.fixture
def request_log(docker_engine: str) -> Iterator[RequestLog]:
    """A request-logging proxy in front of the engine: point a client at ``request_log.base_url``."""
    proxy = RequestLog(docker_engine).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass(frozen=True)
class TlsEngine:
    """The TLS engine (``setup.sh --tls-engine``): ``url`` is ``tcp://127.0.0.1:PORT`` with
    ``--tlsverify``; ``unix_url`` is the same engine's local socket (for checks and cleanup)."""

    url: str
    unix_url: str
    cert_dir: str

    @property
    def ca_cert(self) -> str:
        return os.path.join(self.cert_dir, "ca.pem")

    @property
    def client_cert(self) -> str:
        return os.path.join(self.cert_dir, "cert.pem")

    @property
    def client_key(self) -> str:
        return os.path.join(self.cert_dir, "key.pem")

    @property
    def tls(self) -> dict[str, object]:
        """The client configuration's ``tls`` value in docker-map form: ``client_cert`` is
        ``[certificate, key]``, ``ca_cert`` the CA the engine's certificate is verified with."""
        return {"ca_cert": self.ca_cert, "client_cert": [self.client_cert, self.client_key], "verify": True}


@dataclass(frozen=True)
class SshEngine:
    """sshd of the test bed (``setup.sh --ssh-engine``): ``url`` is ``ssh://root@127.0.0.1:PORT``;
    the far end runs ``docker system dial-stdio`` against the first engine. The docker SDK's
    paramiko transport reads ``~/.ssh/config`` and ``~/.ssh/known_hosts``: run clients with
    ``HOME=home`` (:attr:`env`), which holds the key, the config and the host key."""

    url: str
    home: str

    @property
    def key_path(self) -> str:
        return os.path.join(self.home, ".ssh", "id_ed25519")

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (or ``monkeypatch.setenv``) that connects over ssh."""
        return {"HOME": self.home}


def tls_engine_answers(engine: TlsEngine) -> bool:
    """True if the TLS engine answers ``/_ping`` with the test bed's client certificate."""
    tls = docker.tls.TLSConfig(
        client_cert=(engine.client_cert, engine.client_key), ca_cert=engine.ca_cert, verify=True
    )
    return engine_answers(engine.url, tls)


def _tls_engine_from_env() -> TlsEngine | None:
    env = read_testbed_env()
    url, cert_dir = env.get("DOCKERFABRIC_TEST_TLS_ENGINE"), env.get("DOCKERFABRIC_TEST_TLS_DIR")
    if not url or not cert_dir:
        return None
    run_dir = testbed_env_file().parent
    return TlsEngine(url=url, unix_url=f"unix://{run_dir}/engine3.sock", cert_dir=cert_dir)


@pytest.fixture(scope="session")
def tls_engine(docker_engine: str, docker_cleanup: DockerCleanup) -> TlsEngine:
    """The TLS-verified engine on tcp://127.0.0.1:PORT (own data root and bridge dftb3)."""
    engine = _tls_engine_from_env()
    if engine is None or not tls_engine_answers(engine) or not engine_answers(engine.unix_url):
        run_setup("--tls-engine")
        engine = _tls_engine_from_env()
        if engine is None or not tls_engine_answers(engine):
            pytest.fail(f"the TLS engine does not answer ({testbed_env_file()})", pytrace=False)
    docker_cleanup.add_engine(engine.unix_url)
    return engine


def ssh_engine_answers(engine: SshEngine) -> bool:
    """True if ``docker system dial-stdio`` over the test bed's sshd reaches an engine."""
    proc = subprocess.run(
        [
            "ssh",
            "-F",
            os.path.join(engine.home, ".ssh", "config"),
            engine.url.rpartition("@")[2].split(":")[0],
            "docker",
            "version",
            "--format",
            "{{.Server.APIVersion}}",
        ],
        env={**os.environ, **engine.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=20,
        check=False,
    )
    return proc.returncode == 0


def _ssh_engine_from_env() -> SshEngine | None:
    env = read_testbed_env()
    url, home = env.get("DOCKERFABRIC_TEST_SSH_ENGINE"), env.get("DOCKERFABRIC_TEST_SSH_HOME")
    return SshEngine(url=url, home=home) if url and home else None


@pytest.fixture(scope="session")
def ssh_engine(docker_engine: str) -> SshEngine:
    """``ssh://root@127.0.0.1:PORT`` reaching the first engine through the test bed's sshd."""
    engine = _ssh_engine_from_env()
    if engine is None or not ssh_engine_answers(engine):
        run_setup("--ssh-engine")
        engine = _ssh_engine_from_env()
        if engine is None or not ssh_engine_answers(engine):
            pytest.fail(f"the ssh engine does not answer ({testbed_env_file()})", pytrace=False)
    return engine
