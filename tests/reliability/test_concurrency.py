"""Concurrency: the per-host apply lock serialises applies (processes, threads, killed
holders, timeouts with the holder's pid), and 100 containers converge and re-converge
repeatedly without leaking containers, volumes, networks, threads or file descriptors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from containermap import labels
from containermap.exceptions import ActionError
from containermap.lock import LockTimeout, apply_lock, lock_path

from tests.reliability.conftest import common_cfg

UTILS = Path(__file__).resolve().parents[2] / "_utils"

HOLDER = """
import json, sys, time
from containermap.lock import apply_lock
name, hold, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
t0 = time.time()
with apply_lock(name, timeout=60) as info:
    t1 = time.time()
    open(out + ".ready", "w").close()
    time.sleep(hold)
    t2 = time.time()
json.dump({"asked": t0, "got": t1, "released": t2, "waited": info.waited}, open(out, "w"))
"""


def _holder(tmp_path: Path, name: str, hold: float, tag: str) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / f"{tag}.json"
    env = {**os.environ, "PYTHONPATH": str(UTILS), "DOCKERFABRIC_LOCK_DIR": str(tmp_path / "locks")}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, name, str(hold), str(out)], env=env)
    return proc, out


def _wait_file(path: Path, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None or path.exists(), "lock holder ended early"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


@pytest.fixture
def lock_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKERFABRIC_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def test_two_processes_are_serialised(lock_env, rstats):
    rstats.case()
    a, out_a = _holder(lock_env, "webapp", 1.0, "a")
    _wait_file(Path(str(out_a) + ".ready"), a)
    b, out_b = _holder(lock_env, "webapp", 0.0, "b")
    assert a.wait(30) == 0 and b.wait(30) == 0
    ra, rb = json.loads(out_a.read_text()), json.loads(out_b.read_text())
    assert rb["got"] >= ra["released"], (ra, rb)
    assert rb["waited"] > 0.3


def test_other_names_do_not_wait(lock_env, rstats):
    rstats.case()
    a, out_a = _holder(lock_env, "one", 2.0, "a")
    _wait_file(Path(str(out_a) + ".ready"), a)
    with apply_lock("two", timeout=0) as info:
        assert info.waited < 0.5
    a.wait(30)


def test_timeout_names_the_holder(lock_env, rstats):
    rstats.case()
    a, out_a = _holder(lock_env, "__default__", 3.0, "a")
    try:
        _wait_file(Path(str(out_a) + ".ready"), a)
        start = time.monotonic()
        with pytest.raises(LockTimeout) as info, apply_lock(timeout=0.5):
            pass
        assert 0.4 < time.monotonic() - start < 2.5
        assert f"held by pid {a.pid}" in str(info.value)
        assert lock_path() in str(info.value)
        assert info.value.holder["pid"] == a.pid
    finally:
        a.wait(30)


def test_killed_holder_releases_the_lock(lock_env, rstats):
    """SIGKILL of the holder: the kernel drops the flock, the next apply gets it at once."""
    a, out_a = _holder(lock_env, "__default__", 60.0, "a")
    _wait_file(Path(str(out_a) + ".ready"), a)
    a.send_signal(signal.SIGKILL)
    a.wait(30)
    with apply_lock(timeout=5) as info:
        rstats.fault(info.waited < 1)
        assert info.waited < 1


def test_threads_are_serialised(lock_env, rstats):
    rstats.case()
    inside = 0
    max_inside = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, max_inside
        with apply_lock("t", timeout=30):
            with guard:
                inside += 1
                max_inside = max(max_inside, inside)
            time.sleep(0.05)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert max_inside == 1


def test_reentrant_in_one_thread_only(lock_env, rstats):
    """``run`` may hold the lock around plan + apply while ``apply`` takes it again; another
    thread still waits for the outer holder."""
    rstats.case()
    other: list[float] = []

    def contender() -> None:
        start = time.monotonic()
        with apply_lock(timeout=10):
            other.append(time.monotonic() - start)

    with apply_lock(timeout=1):
        with apply_lock(timeout=0) as inner:
            assert inner.waited == 0.0
        t = threading.Thread(target=contender)
        t.start()
        time.sleep(0.5)
        assert other == [], "another thread got the lock while it was held"
    t.join(10)
    assert other and other[0] >= 0.4


def test_lock_file_is_private_and_name_cannot_escape(lock_env, rstats):
    rstats.case(2)
    path = lock_path("../../etc/passwd")
    assert os.path.dirname(path) == str(lock_env / "locks")
    with apply_lock("../../etc/passwd", timeout=1):
        assert os.stat(path).st_mode & 0o077 == 0
        assert os.stat(os.path.dirname(path)).st_mode & 0o077 == 0
    # a symlink planted at the lock path is never followed (the target is not truncated)
    victim = lock_env / "victim"
    victim.write_text("keep me")
    os.symlink(victim, lock_path("planted"))
    with pytest.raises(OSError), apply_lock("planted", timeout=1):
        pass
    assert victim.read_text() == "keep me"


# --- through the engine --------------------------------------------------------------------------


def _wide_map(n: int, per_config: int = 20) -> dict:
    """``n`` containers: n/per_config configurations with ``per_config`` instances each, one
    attached volume per configuration, one network."""
    data: dict = {"networks": {"net": {}}, "volumes": {}}
    for i in range(n // per_config):
        data["volumes"][f"v{i}"] = f"/v{i}"
        data[f"c{i}"] = common_cfg(
            networks="net", instances=[f"i{j}" for j in range(per_config)], attaches=f"v{i}"
        )
    return data


def test_mapclient_apply_waits_for_the_host_lock(rel_env, lock_env, rstats):
    """Another process holds the host's apply lock: MapClient.apply waits for it."""
    rstats.case()
    client = rel_env.client({"networks": {"net": {}}, "web": common_cfg(networks="net")})
    plan = client.plan("startup")
    a, out_a = _holder(lock_env, "__default__", 3.0, "a")
    try:
        _wait_file(Path(str(out_a) + ".ready"), a)
        start = time.monotonic()
        client.apply(plan)
        waited = time.monotonic() - start
    finally:
        a.wait(30)
    assert waited > 1.5, f"apply ran while another process held the lock ({waited:.2f} s)"


def test_parallel_applies_under_lock_converge_once(rel_env, lock_env, rstats):
    """Two processes start the same 10-container map at once, each under the apply lock: both
    succeed, the second has nothing left to do, and each container exists exactly once."""
    rstats.case()
    data = _wide_map(10, per_config=5)
    code = (
        "import json, sys\n"
        "from containermap.config.map import ContainerMap\n"
        "from containermap.engine import MapClient\n"
        "from containermap.lock import apply_lock\n"
        "name, data, lab = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])\n"
        "client = MapClient(ContainerMap(name, data), extra_labels=lab)\n"
        "with apply_lock(timeout=120):\n"
        "    result = client.run('startup')\n"
        "print(json.dumps(len(result.changes)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(UTILS), "DOCKERFABRIC_LOCK_DIR": str(lock_env / "locks")}
    args = [sys.executable, "-c", code, rel_env.name, json.dumps(data), json.dumps(rel_env.labels)]
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    changes = sorted(int(out.decode().strip().splitlines()[-1]) for out, _err in outs)
    assert changes[0] == 0 and changes[1] >= 10, changes
    running = rel_env.api.containers(filters={"label": f"{labels.MAP}={rel_env.name}", "status": "running"})
    assert len(running) == 10


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _engine_count_defect(exc: ActionError) -> bool:
    """True if the only failure is the removal of a network to which the engine lists no
    endpoint but still counts some (moby/moby#42119), as :mod:`containermap.apply` reports it."""
    failed = [r for r in exc.results if not r.ok and not r.skipped]
    return (
        len(failed) == 1
        and failed[0].step.kind == "remove_network"
        and "still counts active endpoints" in (failed[0].error or "")
        and "(endpoints listed: none)" in (failed[0].error or "")
    )


# rounds in which the engine may keep a phantom endpoint count (its defect, moby/moby#42119)
# before the test fails: measured here, 2 of 36 rounds with the parallel re-creates of this test
# (4 of 23 before re-creates stopped containers on user-defined networks before renaming them)
ENGINE_DEFECT_ROUNDS = 1


@pytest.mark.slow
def test_100_containers_reconverge_without_leaks(fault_env, fault_engine, rstats):
    """3 rounds of: converge 100 containers from nothing, a no-op converge, a forced
    re-creation of 20, shutdown with volumes and networks. After each round nothing of the
    map is left, and the process holds no more threads or file descriptors than after round 1.
    Runs on the private engine: a network the engine refuses to remove must not pile up on the
    shared one.

    dockerd 20.10 can keep a stale endpoint count of the map network after parallel starts
    and stops (moby/moby#42119; docker-compose's ``down`` hits it too): removal then fails with
    a clear error although no endpoint is left. Such a round is verified (no container of the
    map left, and the network goes once the engine restarted and recounted), noted in the
    summary, and tolerated in at most :data:`ENGINE_DEFECT_ROUNDS` round; any other failure,
    or a second such round, fails the test."""
    rel_env = fault_env
    n = 100
    data = _wide_map(n)
    api = rel_env.api
    client = rel_env.client(data)
    baseline: tuple[int, int] | None = None
    defects = 0
    for round_no in range(3):
        t0 = time.monotonic()
        result = client.run("update", max_workers=8)
        assert result.ok
        running = api.containers(filters={"label": f"{labels.MAP}={rel_env.name}", "status": "running"})
        assert len(running) == n
        noop = client.plan("update")
        assert [s for s in noop.steps if s.kind != "warning"] == [], str(noop)
        client.run("update", force_update="c0")
        running = api.containers(filters={"label": f"{labels.MAP}={rel_env.name}", "status": "running"})
        assert len(running) == n
        try:
            client.run("shutdown", remove_attached=True, remove_networks=True)
        except ActionError as exc:
            if not _engine_count_defect(exc) or defects >= ENGINE_DEFECT_ROUNDS:
                # counted as a leak by the fixture if the object outlives its cleanup as well
                rstats.note(f"load round {round_no + 1}: shutdown failed: {exc}")
                raise
            defects += 1
            assert api.containers(all=True, filters={"label": f"{labels.MAP}={rel_env.name}"}) == []
            fault_engine.stop()
            fault_engine.restart()
            client.run("shutdown", remove_networks=True)  # it recounted: the network goes
            rstats.note(
                f"load round {round_no + 1}: the engine kept a phantom endpoint count of the map "
                "network (moby/moby#42119); removed after an engine restart"
            )
        left = rel_env.objects()
        for kind, names in left.items():
            for name in names:
                rstats.leak(f"round {round_no + 1}: {kind[:-1]} {name}")
        assert left == {"containers": [], "volumes": [], "networks": []}
        # no temporary helper containers of ours left either
        temps = api.containers(
            all=True, filters={"label": [labels.TEMPORARY, f"{labels.TEST}={rel_env.test_value}"]}
        )
        assert temps == []
        now = (threading.active_count(), _fd_count())
        if baseline is None:
            baseline = now
        rstats.note(
            f"load round {round_no + 1}: {n} containers up/no-op/recreate 20/down in "
            f"{time.monotonic() - t0:.1f} s, threads {now[0]}, fds {now[1]}"
        )
        if now[0] > baseline[0] + 2:
            rstats.leak(f"round {round_no + 1}: threads {baseline[0]} -> {now[0]}")
        if now[1] > baseline[1] + 4:
            rstats.leak(f"round {round_no + 1}: file descriptors {baseline[1]} -> {now[1]}")
        assert now[0] <= baseline[0] + 2, f"threads grew {baseline[0]} -> {now[0]}"
        assert now[1] <= baseline[1] + 4, f"fds grew {baseline[1]} -> {now[1]}"
