"""Crash recovery (issue 12): the engine is SIGKILLed in the middle of a cold apply of an
11-container map, restarted, and ONE plain apply must converge with the named-volume data
intact.

The engine killed here is a private ``dockerd`` this test starts itself (own socket, data
root, exec root, pidfile and containerd namespace, no iptables), so the shared test engine is
never touched. It runs in a network namespace of its own (``unshare --net``): a dockerd started
with ``--bridge none`` in the host's namespace deletes the host's ``docker0``, the shared
engine's default bridge; the test checks that the engine runs in its own namespace. The base image is copied
into it with ``get_image``/``load_image``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import docker
import pytest
from containermap import labels
from containermap.config.map import ContainerMap
from containermap.engine import MapClient

from tests.testbed.procs import alive, children, pids_with, wait_gone

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = "local/busybox:latest"
SLEEP = "sleep 100000"
K = 5  # 1 db + K app + K web = 11 containers
TRIALS = 3
KILL_AFTER_STEPS = (1, 5, 9)


class PrivateEngine:
    """A dockerd of our own (started and ended by this test, by pid)."""

    def __init__(self, root: str, namespace: str):
        self.root = root
        self.ns = namespace
        self.sock = f"{root}/d.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    def start(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                self._start_once()
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                self._end_process()
                for pid in self._own_containerd():
                    os.kill(pid, signal.SIGKILL)
                time.sleep(2)

    def _start_once(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        log = open(f"{self.root}/dockerd.log", "ab")  # noqa: SIM115 - kept by the process
        cmd = [
            # unshare execs dockerd (same pid); its own network namespace keeps docker0 safe
            shutil.which("unshare") or "/usr/bin/unshare",
            "--net",
            "--",
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "-H",
            self.url,
            "--data-root",
            f"{self.root}/data",
            "--exec-root",
            f"{self.root}/x",
            "--pidfile",
            f"{self.root}/d.pid",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip-masq=false",
            "--containerd-namespace",
            self.ns,
            "--containerd-plugins-namespace",
            self.ns + "p",
        ]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        api = docker.APIClient(base_url=self.url, version="1.41", timeout=5)
        deadline = time.monotonic() + 40
        try:
            while True:
                try:
                    api.ping()
                    return
                except Exception:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        with open(f"{self.root}/dockerd.log", errors="replace") as fh:
                            tail = fh.read()[-800:]
                        raise RuntimeError(f"private dockerd did not start:\n{tail}") from None
                    time.sleep(0.2)
        finally:
            api.close()

    def _end_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def _own_containerd(self) -> list[int]:
        return [p for p in pids_with(b"containerd", self.root.encode()) if alive(p)]

    def kill(self) -> None:
        """SIGKILL dockerd, then wait for it and its containerd to be gone."""
        assert self.proc is not None
        containerd = children(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        left = wait_gone(containerd, 30)
        for pid in left:  # our own containerd: make sure it is gone before a restart
            os.kill(pid, signal.SIGKILL)
        wait_gone(left, 10)

    def _own_shims(self) -> list[int]:
        return pids_with(b"containerd-shim-runc-v2", self.ns.encode())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            containerd = children(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            wait_gone(containerd, 20)
        # shims orphaned by the kills (started by our containerd): end them by pid
        for pid in self._own_shims():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # network namespaces and overlay mounts left under our root (deepest first)
        with open("/proc/mounts") as fh:
            mounts = [line.split()[1] for line in fh if line.split()[1].startswith(self.root + "/")]
        for mount in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def engine():
    shared = docker.APIClient(version="auto")
    try:
        shared.inspect_image(BASE)
    except docker.errors.NotFound:
        pytest.skip(f"{BASE} missing (run tests/testbed/setup.sh)")
    run = uuid.uuid4().hex[:6]
    eng = PrivateEngine(f"/tmp/h4e{run}", f"h4e{run}")
    try:
        eng.start()
        private = docker.APIClient(base_url=eng.url, version="1.41")
        private.load_image(shared.get_image(BASE))
        private.close()
        yield eng
    finally:
        shared.close()
        eng.stop()


def crash_map() -> dict:
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1, "networks": "net"}
    data: dict = {
        "networks": {"net": {}},
        "volumes": {"vol": "/data"},
        "db": {**common, "attaches": "vol", "create_options": {"command": SLEEP}},
    }
    for i in range(1, K + 1):
        data[f"app{i}"] = {**common, "requires": "db", "create_options": {"command": SLEEP}}
        data[f"web{i}"] = {**common, "requires": f"app{i}", "create_options": {"command": SLEEP}}
    return data


def _client(eng: PrivateEngine, name: str) -> MapClient:
    clients = {"__default__": {"base_url": eng.url, "version": "1.41", "timeout": 30}}
    return MapClient(ContainerMap(name, crash_map()), clients=clients, extra_labels={labels.TEST: name})


def _running(api, name: str) -> int:
    return len(api.containers(filters={"label": f"{labels.MAP}={name}", "status": "running"}))


def _netns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def test_acceptance_engine_killed_mid_cold_apply_converges(engine, record_property):
    """Issue 12 acceptance (a): 11 containers, dockerd SIGKILLed during the cold apply,
    restarted, ONE plain apply: all running, the named volume's data intact (checksum);
    3 trials killed at different points, counts printed."""
    # the private dockerd (--bridge none) lives in its own network namespace, so the host's
    # docker0 is out of its reach (docker0 itself may change meanwhile: other sessions' engines)
    assert engine.proc is not None and _netns(engine.proc.pid) != _netns("self")
    name = f"h4k{uuid.uuid4().hex[:6]}"
    mc = _client(engine, name)
    mc.startup("db")
    single = mc.single_cmd(
        "db",
        ["sh", "-c", "dd if=/dev/urandom of=/data/blob bs=1024 count=512 2>/dev/null && md5sum /data/blob"],
    )
    assert single["exit_code"] == 0
    checksum = single["output"].split()[0]
    outcomes = []
    for trial in range(TRIALS):
        mc = _client(engine, name)
        mc.shutdown()  # containers gone, the volume stays
        errors: list[BaseException] = []

        # kill at a different point of the apply in each trial: after 1, 5 and 9 finished steps
        # (network, volume, 11 containers)
        finished: list[str] = []
        reached = threading.Event()
        threshold = KILL_AFTER_STEPS[trial]

        def progress(step, event: str, finished=finished, reached=reached, threshold=threshold) -> None:
            if event in ("done", "failed"):
                finished.append(step.key)
                if len(finished) >= threshold:
                    reached.set()

        def cold(client: MapClient = mc, errors: list = errors, progress=progress) -> None:
            try:
                client.startup(raise_on_error=False, progress=progress)
            except Exception as exc:  # noqa: BLE001 - the engine dies under it
                errors.append(exc)

        thread = threading.Thread(target=cold)
        thread.start()
        assert reached.wait(60), finished
        at_kill = len(finished)
        engine.kill()
        thread.join(120)
        assert not thread.is_alive()
        time.sleep(1)
        engine.start()
        api = docker.APIClient(base_url=engine.url, version="1.41")
        before = _running(api, name)
        states = sorted(
            c["State"] for c in api.containers(all=True, filters={"label": f"{labels.MAP}={name}"})
        )
        # one plain apply
        mc2 = _client(engine, name)
        plan = mc2.plan("update")
        result = mc2.apply(plan, raise_on_error=False)
        after = _running(api, name)
        assert result.ok, (trial, states, str(plan), result.comment)
        kept = mc2.single_cmd("db", ["md5sum", "/data/blob"])["output"].split()[0]
        leftovers = [c["Names"][0] for c in api.containers(all=True) if "-dfold-" in c["Names"][0]]
        outcomes.append(
            {
                "trial": trial + 1,
                "killed_after_steps": at_kill,
                "containers": 1 + 2 * K,
                "running_before": before,
                "states_after_crash": states,
                "plan": {
                    k: sum(1 for s in plan.steps if s.kind == k) for k in sorted({s.kind for s in plan.steps})
                },
                "recreate_reasons": sorted({s.reason for s in plan.steps if s.kind == "recreate"}),
                "running_after": after,
                "checksum_kept": kept == checksum,
            }
        )
        api.close()
        assert result.ok, result.comment
        assert after == 1 + 2 * K, (trial, states, str(plan))
        assert kept == checksum
        assert leftovers == []
    record_property("crash_trials", outcomes)
    print("crash trials:", outcomes)
