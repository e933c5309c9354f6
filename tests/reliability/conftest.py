"""Shared fixtures of the reliability and security suite, and its summary.

Every test of ``tests/reliability`` reports what it tried into :data:`STATS` (``rstats``
fixture): bad-input cases tried, faults injected and survived, bytes of user data verified by
checksum, leaks found. ``pytest_terminal_summary`` prints the totals at the end of the run, e.g.::

    ==== dockerfabric reliability summary ====
    cases tried: 93   faults survived: 9/9   bytes checked: 12.6 MB   leaks found: 0
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import pytest
from containermap import labels
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
from containermap.lock import apply_lock

from tests.testbed.procs import alive, pids_with

BASE = "local/busybox:latest"
SLEEP = "sleep 100000"
PREFIX = "h10"


@dataclass
class Stats:
    """Counters of the reliability suite (one per pytest process)."""

    cases: int = 0
    faults_injected: int = 0
    faults_survived: int = 0
    bytes_checked: int = 0
    leaks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def case(self, n: int = 1) -> None:
        with self._lock:
            self.cases += n

    def fault(self, survived: bool) -> None:
        with self._lock:
            self.faults_injected += 1
            self.faults_survived += int(bool(survived))

    def checked(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_checked += int(nbytes)

    def leak(self, what: str) -> None:
        with self._lock:
            self.leaks.append(what)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)


STATS = Stats()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the suite's counters (only when a reliability test ran)."""
    s = STATS
    if not (s.cases or s.faults_injected or s.bytes_checked or s.leaks or s.notes):
        return
    tr = terminalreporter
    tr.write_sep("=", "dockerfabric reliability summary")
    tr.write_line(
        f"cases tried: {s.cases}   faults survived: {s.faults_survived}/{s.faults_injected}   "
        f"bytes checked: {s.bytes_checked} ({s.bytes_checked / 1e6:.1f} MB)   leaks found: {len(s.leaks)}"
    )
    for leak in s.leaks:
        tr.write_line(f"  LEAK: {leak}")
    for note in s.notes:
        tr.write_line(f"  {note}")


@pytest.fixture(scope="session")
def rstats() -> Stats:
    """The suite's counters (see :class:`Stats`)."""
    return STATS


# --- helpers -------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(sha256 hex, size) of a host file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def exec_out(api: docker.APIClient, container: str, cmd: list[str]) -> str:
    """Run ``cmd`` (argv, no shell) in a running container; assert exit 0, return stdout."""
    exec_id = api.exec_create(container, cmd)["Id"]
    out = api.exec_start(exec_id).decode(errors="replace")
    code = api.exec_inspect(exec_id)["ExitCode"]
    assert code == 0, f"{cmd} in {container} exited {code}: {out}"
    return out


def write_random(api: docker.APIClient, container: str, path: str, kib: int = 256) -> None:
    """Fill ``path`` in the container with ``kib`` KiB of random bytes."""
    exec_out(api, container, ["dd", "if=/dev/urandom", f"of={path}", "bs=1024", f"count={kib}"])
    exec_out(api, container, ["sync"])


def checksum_in(api: docker.APIClient, container: str, path: str) -> tuple[str, int]:
    """(sha256, size) of a file inside a running container (busybox sha256sum/stat)."""
    digest = exec_out(api, container, ["sha256sum", path]).split()[0]
    size = int(exec_out(api, container, ["stat", "-c", "%s", path]).strip())
    return digest, size


def map_objects(api: docker.APIClient, label: str) -> dict[str, list[str]]:
    """Names of containers, volumes and networks carrying ``label`` (``key=value``)."""
    flt = {"label": label}
    return {
        "containers": [c["Names"][0].lstrip("/") for c in api.containers(all=True, filters=flt)],
        "volumes": [v["Name"] for v in (api.volumes(filters=flt) or {}).get("Volumes") or ()],
        "networks": [n["Name"] for n in api.networks(filters=flt)],
    }


def remove_objects(api: docker.APIClient, label_values: list[str]) -> None:
    """Remove containers, then volumes and networks, carrying any of the labels given."""
    for lab in label_values:
        for c in api.containers(all=True, filters={"label": lab}):
            try:
                api.remove_container(c["Id"], force=True, v=True)
            except docker.errors.NotFound:
                pass
    for lab in label_values:
        for v in (api.volumes(filters={"label": lab}) or {}).get("Volumes") or ():
            try:
                api.remove_volume(v["Name"], force=True)
            except docker.errors.NotFound:
                pass
        for n in api.networks(filters={"label": lab}):
            _remove_network(api, n["Id"])


def _remove_network(api: docker.APIClient, network_id: str, seconds: float = 30.0) -> None:
    """Remove a network; the engine may count endpoints of just-removed containers for a while."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            api.remove_network(network_id)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if time.monotonic() > deadline:
                return  # reported as a leak by the caller
            time.sleep(0.5)


@dataclass
class RelEnv:
    """One test's namespace on an engine: unique map name and test label."""

    api: docker.APIClient
    name: str
    test_value: str
    base_url: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        return {labels.TEST: self.test_value}

    @property
    def label_filters(self) -> list[str]:
        return [f"{labels.TEST}={self.test_value}", f"{labels.MAP}={self.name}"]

    def client(self, data: dict | ContainerMap, base_url: str | None = None, **clientcfg: Any) -> MapClient:
        """A MapClient on this env's map name (``base_url`` e.g. a request-log proxy)."""
        cmap = data if isinstance(data, ContainerMap) else ContainerMap(self.name, data)
        url = base_url or self.base_url
        clients = {"__default__": {"base_url": url, **clientcfg}} if url else None
        return MapClient(cmap, clients=clients, extra_labels=self.labels)

    def objects(self) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {"containers": set(), "volumes": set(), "networks": set()}
        for lab in self.label_filters:
            for kind, names in map_objects(self.api, lab).items():
                found[kind].update(names)
        return {k: sorted(v) for k, v in found.items()}

    def cleanup(self) -> None:
        remove_objects(self.api, self.label_filters)


def new_env(api: docker.APIClient, base_url: str | None = None) -> RelEnv:
    run = uuid.uuid4().hex[:8]
    return RelEnv(api=api, name=f"{PREFIX}{run}", test_value=f"{PREFIX}-{run}", base_url=base_url)


@pytest.fixture
def rel_env(
    api_client: docker.APIClient, base_image: str, test_labels: dict, rstats: Stats
) -> Iterator[RelEnv]:
    """A unique map name + test label on the shared engine; everything carrying either is
    removed afterwards, and anything that cannot be removed counts as a leak."""
    env = new_env(api_client)
    try:
        yield env
    finally:
        env.cleanup()
        left = env.objects()
        for kind, names in left.items():
            for n in names:
                rstats.leak(f"{kind[:-1]} {n} left after cleanup")


def common_cfg(**extra: Any) -> dict:
    """A container configuration that starts and stops fast on the busybox image."""
    cfg: dict = {
        "image": BASE,
        "host_config": {"init": True},
        "stop_timeout": 1,
        "create_options": {"command": SLEEP},
    }
    cfg.update(extra)
    return cfg


# --- a private Docker engine for fault injection -------------------------------------------------

FAULT_ROOT = "/run/dftest-fault"
FAULT_DATA = "/var/lib/dftest-fault"
FAULT_SOCK = f"{FAULT_ROOT}/docker.sock"
FAULT_URL = f"unix://{FAULT_SOCK}"
FAULT_BRIDGE = "dffault0"
# 172.31.250.0/24 (the brief's choice) overlaps 172.31.0.0/16 networks of the shared engine
FAULT_BRIDGE_CIDR = "10.213.252.1/24"
# NO --default-address-pool: dockerd 20.10 restarted with address pools configured (and no
# live-restore) deletes the HOST's docker0 when it clears its stale default bridge network
# (removeDefaultBridgeInterface), whatever --bridge says; observed here at 10:33:42
FAULT_NS = "dftestfault"
FAULT_LOCK_TIMEOUT = 600.0


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


def _link_state(name: str) -> str:
    proc = _run("ip", "-br", "link", "show", name)
    return proc.stdout.split()[1] if proc.returncode == 0 and proc.stdout.split() else "absent"


class FaultEngine:
    """A dockerd of our own (own socket, data root, exec root, pidfile, bridge, containerd
    namespace); started, SIGKILLed and restarted by the fault tests, ended by pid."""

    url = FAULT_URL

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        os.makedirs(FAULT_ROOT, exist_ok=True)
        log = open(f"{FAULT_ROOT}/dockerd.log", "ab")  # noqa: SIM115 - handed to the process
        cmd = [
            "dockerd",
            "-H",
            FAULT_URL,
            "--data-root",
            FAULT_DATA,
            "--exec-root",
            f"{FAULT_ROOT}/exec",
            "--pidfile",
            f"{FAULT_ROOT}/docker.pid",
            "--bridge",
            FAULT_BRIDGE,
            "--iptables=false",
            "--ip-masq=false",
            "--containerd-namespace",
            FAULT_NS,
            "--containerd-plugins-namespace",
            FAULT_NS + "p",
        ]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                api = docker.APIClient(base_url=FAULT_URL, version="1.41", timeout=5)
                try:
                    if api.ping():
                        return
                finally:
                    api.close()
            except Exception:  # noqa: BLE001, S110 - not up yet
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(f"{FAULT_ROOT}/dockerd.log", errors="replace") as fh:
                    tail = fh.read()[-1500:]
                raise RuntimeError(f"private dockerd did not start:\n{tail}")
            time.sleep(0.2)

    def _containerd(self) -> list[int]:
        return [p for p in pids_with(b"containerd", f"{FAULT_ROOT}/exec".encode()) if alive(p)]

    def kill(self) -> None:
        """SIGKILL dockerd (a crash); its containerd is ended too, so a restart starts clean."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._end_containerd()

    def _end_containerd(self) -> None:
        deadline = time.monotonic() + 20
        while self._containerd() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self._containerd():
            os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.restarts += 1
        # the killed containerd may linger as a zombie (nobody reaps it in this container), and
        # dockerd then waits for it forever: drop pid files of processes that are not alive
        for pidfile in (f"{FAULT_ROOT}/exec/containerd/containerd.pid", f"{FAULT_ROOT}/docker.pid"):
            try:
                with open(pidfile) as fh:
                    pid = int(fh.read().strip() or 0)
            except (OSError, ValueError):
                continue
            if not pid or not alive(pid):
                os.unlink(pidfile)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # containers first, so no shim outlives the engine
            try:
                api = docker.APIClient(base_url=FAULT_URL, version="1.41", timeout=60)
                for c in api.containers(all=True):
                    api.remove_container(c["Id"], force=True, v=True)
                api.close()
            except Exception:  # noqa: BLE001, S110 - the engine goes away anyway
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._end_containerd()
        for pid in pids_with(b"containerd-shim-runc-v2", FAULT_NS.encode()):
            os.kill(pid, signal.SIGKILL)


def _unmount_below(root: str) -> None:
    with open("/proc/mounts") as fh:
        mounts = [line.split()[1] for line in fh if line.split()[1].startswith(root + "/")]
    for mount in sorted(mounts, reverse=True):
        _run("umount", "-l", mount)


@pytest.fixture(scope="module")
def fault_engine(api_client: docker.APIClient, base_image: str) -> Iterator[FaultEngine]:
    """Our own dockerd on ``unix:///run/dftest-fault/docker.sock`` with bridge ``dffault0``, for
    one test module; the shared engine is never touched, and ``docker0`` is checked before and
    after. Concurrent runs of the suite (its paths are fixed) take turns through a host lock."""
    if os.geteuid() != 0:
        pytest.fail("the fault engine needs root (own dockerd, bridge)", pytrace=False)
    with apply_lock("dftest-fault-engine", timeout=FAULT_LOCK_TIMEOUT):
        yield from _fault_engine(api_client)


def _fault_engine(api_client: docker.APIClient) -> Iterator[FaultEngine]:
    docker0_before = _link_state("docker0")
    if pids_with(b"dockerd", FAULT_SOCK.encode()):
        pytest.fail(
            f"a dockerd of an earlier, killed run still serves {FAULT_SOCK}: end it, then remove "
            f"{FAULT_ROOT} and {FAULT_DATA}",
            pytrace=False,
        )
    created_bridge = False
    if _link_state(FAULT_BRIDGE) == "absent":
        for cmd in (
            ("ip", "link", "add", FAULT_BRIDGE, "type", "bridge"),
            ("ip", "addr", "add", FAULT_BRIDGE_CIDR, "dev", FAULT_BRIDGE),
            ("ip", "link", "set", FAULT_BRIDGE, "up"),
        ):
            proc = _run(*cmd)
            assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
        created_bridge = True
    engine = FaultEngine()
    try:
        engine.start()
        # right after our dockerd came up: did it touch docker0? (it must not, unlike --bridge none)
        # presence only: docker0 goes UP/DOWN as containers of the shared engine come and go
        docker0_started = _link_state("docker0")
        if (docker0_started == "absent") != (docker0_before == "absent"):
            STATS.leak(f"docker0 changed when our dockerd started: {docker0_before} -> {docker0_started}")
        private = docker.APIClient(base_url=FAULT_URL, version="1.41", timeout=120)
        try:
            private.load_image(api_client.get_image(BASE))
        finally:
            private.close()
        yield engine
    finally:
        engine.stop()
        _unmount_below(FAULT_ROOT)
        _unmount_below(FAULT_DATA)
        _run("rm", "-rf", "--one-file-system", FAULT_DATA, FAULT_ROOT)
        if created_bridge:
            _run("ip", "link", "delete", FAULT_BRIDGE)
        docker0_after = _link_state("docker0")
        if docker0_after != docker0_before:
            # our engine never names docker0; other sessions' engines started with
            # ``--bridge none`` delete it, so this is reported, not counted as our leak
            others = [p for p in pids_with(b"dockerd", b"none") if p != os.getpid()]
            STATS.note(
                f"docker0 changed during the fault tests: {docker0_before} -> {docker0_after} "
                f"(dockerd with --bridge none running now: {others or 'none'})"
            )


@pytest.fixture
def fault_api(fault_engine: FaultEngine) -> Iterator[docker.APIClient]:
    api = docker.APIClient(base_url=FAULT_URL, version="1.41", timeout=60)
    yield api
    api.close()


@pytest.fixture
def fault_env(fault_engine: FaultEngine, rstats: Stats) -> Iterator[RelEnv]:
    """Like ``rel_env``, on the private fault engine (which may have been restarted)."""
    api = docker.APIClient(base_url=FAULT_URL, version="1.41", timeout=60)
    env = new_env(api, base_url=FAULT_URL)
    try:
        yield env
    finally:
        try:
            env.api.ping()
        except Exception:  # noqa: BLE001 - the test left the engine down: bring it back
            fault_engine.restart()
        env.cleanup()
        for kind, names in env.objects().items():
            for n in names:
                rstats.leak(f"fault engine: {kind[:-1]} {n} left after cleanup")
        api.close()
