"""Fault injection on a private Docker engine (``fault_engine``: own dockerd, socket, data
root and bridge; the shared engine is never touched).

Faults: the engine SIGKILLed in the middle of the startup of an 11-container map (3 trials) and
in the middle of an update that re-creates 6 of 11 running containers (3 trials), a
container that exits at once, an image that does not exist, a host port held by another
process, the apply process SIGKILLed mid-way. After each, ONE plain apply converges and the
named-volume and bind data are intact (sha256 before/after).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from containermap import labels
from containermap.exceptions import ContainerMapError

from tests.reliability.conftest import checksum_in, common_cfg, sha256_file, write_random

pytestmark = [pytest.mark.docker, pytest.mark.slow]

UTILS = Path(__file__).resolve().parents[2] / "_utils"
K = 5  # db + K app + K web = 11 containers
TRIALS = 3


def eleven(host_dir: str | None = None, db_extra: dict | None = None, image: str | None = None) -> dict:
    """db (attached named volume, optional host bind) + K app (require db) + K web (require app)."""
    extra = {"image": image} if image else {}
    db = common_cfg(networks="net", attaches="data", **extra)
    if host_dir:
        db["binds"] = [["/bind", str(host_dir)]]
    db.update(db_extra or {})
    data: dict = {"networks": {"net": {}}, "volumes": {"data": "/data"}, "db": db}
    for i in range(1, K + 1):
        data[f"app{i}"] = common_cfg(networks="net", requires="db", **extra)
        data[f"web{i}"] = common_cfg(networks="net", requires=f"app{i}", **extra)
    return data


def _running(api, name: str) -> int:
    return len(api.containers(filters={"label": f"{labels.MAP}={name}", "status": "running"}))


def _crash_and_rerun(engine, worker, make_client, api, name: str, what: str, rstats) -> tuple[int, bool, int]:
    """SIGKILL the engine while ``worker`` applies, restart it, then ONE plain ``update`` with a
    new client (``make_client()``): (running after the restart, update ok, running after it)."""
    engine.kill()
    worker.join(120)
    assert not worker.is_alive(), "the apply did not return after the engine died"
    engine.restart()
    before = _running(api, name)
    try:
        make_client().run("update")
        ok = True
    except ContainerMapError as exc:
        ok = False
        rstats.note(f"{what}: the one apply failed: {exc}")
    return before, ok, _running(api, name)


def _all(api, name: str) -> list[dict]:
    return api.containers(all=True, filters={"label": f"{labels.MAP}={name}"})


def _seed_data(env, host_dir: Path) -> dict:
    """Write random data into db's named volume and host bind; return the checksums."""
    api = env.api
    db = f"{env.name}.db"
    write_random(api, db, "/data/payload", 1024)
    write_random(api, db, "/bind/payload", 512)
    return {"volume": checksum_in(api, db, "/data/payload"), "bind": sha256_file(host_dir / "payload")}


def _check_data(env, host_dir: Path, expected: dict, rstats) -> None:
    api = env.api
    db = f"{env.name}.db"
    assert checksum_in(api, db, "/data/payload") == expected["volume"], "named-volume data changed"
    assert sha256_file(host_dir / "payload") == expected["bind"], "bind data changed"
    rstats.checked(expected["volume"][1] + expected["bind"][1])


def _no_leftovers(api, name: str) -> None:
    names = [c["Names"][0] for c in _all(api, name)]
    assert not [n for n in names if "-dfold-" in n], names


# --- engine crash --------------------------------------------------------------------------------


def test_engine_killed_mid_startup_then_one_apply_converges(fault_engine, fault_env, tmp_path, rstats):
    """3 trials: db with data first, then the cold startup of the other 10 is cut by SIGKILL of
    dockerd; after a restart, ONE plain ``update`` must bring all 11 up with the data intact."""
    env, api = fault_env, fault_env.api
    counts = []
    for trial in range(TRIALS):
        name = f"{env.name}t{trial}"
        trial_env = type(env)(api=api, name=name, test_value=env.test_value, base_url=env.base_url)
        host_dir = tmp_path / f"bind{trial}"
        host_dir.mkdir()
        data = eleven(host_dir)
        trial_env.client(data).run("startup", "db")
        expected = _seed_data(trial_env, host_dir)

        errors: list[BaseException] = []

        def cold(data=data, trial_env=trial_env, errors=errors) -> None:
            try:
                trial_env.client(data, timeout=20).run("startup")
            except BaseException as exc:  # noqa: BLE001 - the crash makes it fail; recorded
                errors.append(exc)

        worker = threading.Thread(target=cold)
        worker.start()
        # kill once a few (trial-dependent) containers of the 10 exist
        target = 2 + 3 * trial
        deadline = time.monotonic() + 60
        while len(_all(api, name)) < 1 + target and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.02)
        created_at_kill = len(_all(api, name))
        before, ok, running = _crash_and_rerun(
            fault_engine,
            worker,
            functools.partial(trial_env.client, data),
            api,
            name,
            f"engine crash trial {trial + 1}",
            rstats,
        )
        counts.append(running)
        rstats.fault(ok and running == 11)
        rstats.note(
            f"engine crash trial {trial + 1}: killed with {created_at_kill}/11 created, "
            f"{before} running after restart, {running}/11 running after ONE apply"
        )
        assert ok and running == 11, f"trial {trial + 1}: {running}/11 running after one apply"
        _check_data(trial_env, host_dir, expected, rstats)
        _no_leftovers(api, name)
        # the first apply converged: a second one has nothing to do
        again = trial_env.client(data).plan("update")
        assert [s for s in again.steps if s.kind != "warning"] == [], str(again)
        trial_env.cleanup()
    rstats.note(f"engine crash: running after one apply per trial: {counts} of 11")


# --- engine crash during an update -------------------------------------------------------------

CHANGED = ("db", "app1", "app2", "app3", "web1", "web4")


def _with_generation(data: dict, gen: int) -> dict:
    """``data`` with ``GEN=<gen>`` in the environment of the CHANGED containers (a config change
    an update can only apply by re-creating them)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name in CHANGED:
        out[name]["create_options"] = {**out[name]["create_options"], "environment": {"GEN": str(gen)}}
    return out


def test_engine_killed_mid_update_then_one_apply_converges(fault_engine, fault_env, tmp_path, rstats):
    """3 trials: 11 containers running with data in db's named volume and bind, then an update
    that re-creates 6 of them (db included: new environment) is cut by SIGKILL of dockerd at a
    trial-dependent point of the re-creations; after a restart, ONE plain ``update`` must leave
    all 11 running with the NEW environment, no renamed old container left, data intact."""
    env, api = fault_env, fault_env.api
    counts = []
    for trial in range(TRIALS):
        name = f"{env.name}u{trial}"
        trial_env = type(env)(api=api, name=name, test_value=env.test_value, base_url=env.base_url)
        host_dir = tmp_path / f"ubind{trial}"
        host_dir.mkdir()
        old = _with_generation(eleven(host_dir), 1)
        new = _with_generation(eleven(host_dir), 2)
        trial_env.client(old).run("startup")
        assert _running(api, name) == 11
        expected = _seed_data(trial_env, host_dir)
        ids_before = {c["Names"][0].lstrip("/"): c["Id"] for c in _all(api, name)}

        errors: list[BaseException] = []

        def update(new=new, trial_env=trial_env, errors=errors) -> None:
            try:
                trial_env.client(new, timeout=20).run("update", max_workers=2)
            except BaseException as exc:  # noqa: BLE001 - the crash makes it fail; recorded
                errors.append(exc)

        worker = threading.Thread(target=update)
        worker.start()
        # kill once the update has started re-creating: trial 0 at the first renamed or new
        # container, later trials a few re-creations further in
        target = 1 + 2 * trial
        deadline = time.monotonic() + 60

        def progress(name=name, ids_before=ids_before) -> int:
            now = _all(api, name)
            renamed = sum(1 for c in now if "-dfold-" in c["Names"][0])
            replaced = sum(1 for c in now if ids_before.get(c["Names"][0].lstrip("/")) not in (None, c["Id"]))
            return renamed + replaced

        while progress() < target and time.monotonic() < deadline and worker.is_alive():
            time.sleep(0.02)
        at_kill = progress()
        before, ok, running = _crash_and_rerun(
            fault_engine,
            worker,
            functools.partial(trial_env.client, new),
            api,
            name,
            f"engine crash in update, trial {trial + 1}",
            rstats,
        )
        gens = {}
        for cname in CHANGED:
            envs = api.inspect_container(f"{name}.{cname}")["Config"]["Env"] or []
            gens[cname] = [e for e in envs if e.startswith("GEN=")]
        new_config = all(g == ["GEN=2"] for g in gens.values())
        counts.append(running)
        rstats.fault(ok and running == 11 and new_config)
        rstats.note(
            f"engine crash in update, trial {trial + 1}: killed after {at_kill} re-creation steps, "
            f"{before} running after restart, {running}/11 running after ONE apply, "
            f"new config: {'yes' if new_config else gens}"
        )
        assert ok and running == 11, f"trial {trial + 1}: {running}/11 running after one apply"
        assert new_config, f"trial {trial + 1}: old environment left: {gens}"
        _check_data(trial_env, host_dir, expected, rstats)
        _no_leftovers(api, name)
        again = trial_env.client(new).plan("update")
        assert [s for s in again.steps if s.kind != "warning"] == [], str(again)
        trial_env.cleanup()
    rstats.note(f"engine crash in update: running after one apply per trial: {counts} of 11")


# --- container that exits at once ---------------------------------------------------------------


def test_container_exiting_at_once(fault_env, tmp_path, rstats):
    """web1 exits with 1 right after start: the others come up, the failure is visible, and
    once the command is fixed one apply converges; db's data is untouched throughout."""
    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    good = eleven(host_dir)
    env.client(good).run("startup", "db")
    expected = _seed_data(env, host_dir)
    bad = eleven(host_dir)
    bad["web1"]["create_options"] = {"command": ["sh", "-c", "exit 1"]}
    start = time.monotonic()
    try:
        result = env.client(bad).run("update")
    except ContainerMapError as exc:
        assert "web1" in str(exc)
    else:
        # started, then exited: a warning if the engine's check saw the exit (it does not wait)
        seen = any(f"{env.name}.web1" in w and "exited" in w for w in result.warnings)
        rstats.note(f"container exiting at once: apply warned about it: {seen}")
    assert time.monotonic() - start < 60
    assert _running(api, env.name) >= 10
    env.client(good).run("update")
    running = _running(api, env.name)
    rstats.fault(running == 11)
    assert running == 11
    _check_data(env, host_dir, expected, rstats)


# --- unhealthy container -------------------------------------------------------------------------


def test_unhealthy_container_warned_then_fixed_converges(rel_env, rstats):
    """A container whose healthcheck always fails (``exit 1``, 200 ms interval, 1 retry).

    Decision: Docker neither stops an unhealthy container nor fails its start, so the engine
    does not fail the step either (the container IS running; a failed apply would make every
    rerun re-create it for nothing). Instead the apply result carries a warning when a container
    it started is unhealthy (or exited) within ``apply.HEALTH_GRACE`` s (3 s; waited for only when
    the healthcheck can decide within it). The plan of a rerun is a no-op (the configuration is
    unchanged: nothing misleading like a re-creation), and once the healthcheck is fixed ONE
    apply re-creates the container, without a warning, and the container turns healthy."""
    env, api = rel_env, rel_env.api
    hc = {"interval": "200ms", "timeout": "1s", "retries": 1}
    bad = {"probe": common_cfg(healthcheck={"test": "exit 1", **hc}), "other": common_cfg()}
    good = {"probe": common_cfg(healthcheck={"test": "exit 0", **hc}), "other": common_cfg()}
    name = f"{env.name}.probe"

    result = env.client(bad).run("startup")
    assert result.ok
    state = api.inspect_container(name)["State"]
    assert state["Running"] and state["Health"]["Status"] == "unhealthy", state
    assert [w for w in result.warnings if name in w and "healthcheck fails" in w], result.warnings
    assert not [w for w in result.warnings if f"{env.name}.other" in w], result.warnings
    rstats.case()

    rerun = env.client(bad).plan("update")
    assert [s for s in rerun.steps if s.kind != "warning"] == [], str(rerun)
    rstats.case()

    fixed = env.client(good).run("update")
    assert fixed.ok and list(fixed.changes) == [f"container:{name}"], fixed.changes
    assert not [w for w in fixed.warnings if "healthcheck" in w], fixed.warnings
    deadline = time.monotonic() + 10
    while api.inspect_container(name)["State"]["Health"]["Status"] != "healthy":
        assert time.monotonic() < deadline, "the fixed healthcheck never passed"
        time.sleep(0.1)
    again = env.client(good).plan("update")
    assert [s for s in again.steps if s.kind != "warning"] == [], str(again)
    rstats.case()


# --- image missing -------------------------------------------------------------------------------


def test_missing_image_touches_nothing(fault_env, tmp_path, rstats):
    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    data = eleven(host_dir)
    env.client(data).run("startup")
    expected = _seed_data(env, host_dir)
    ids = {c["Id"] for c in _all(api, env.name)}
    missing = f"local/dftest-h10-missing-{uuid.uuid4().hex[:6]}:1"
    with pytest.raises(ContainerMapError) as info:
        env.client(eleven(host_dir, db_extra={"image": missing})).run("update")
    assert missing.split(":")[0] in str(info.value), str(info.value)
    assert {c["Id"] for c in _all(api, env.name)} == ids
    assert _running(api, env.name) == 11
    env.client(data).run("update")
    rstats.fault(_running(api, env.name) == 11)
    _check_data(env, host_dir, expected, rstats)
    _no_leftovers(api, env.name)


# --- port already taken --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_taken_keeps_old_container(fault_env, tmp_path, rstats):
    """db moves to a host port another process listens on: the apply fails naming the port,
    the old db keeps running under its name with its id; once the port is free, one apply
    converges."""
    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    p1, p2 = _free_port(), _free_port()
    data1 = eleven(host_dir, db_extra={"exposes": [[8080, p1, "127.0.0.1"]]})
    data2 = eleven(host_dir, db_extra={"exposes": [[8080, p2, "127.0.0.1"]]})
    clients = {"interfaces": {"127.0.0.1": "127.0.0.1"}}
    env.client(data1, **clients).run("startup")
    expected = _seed_data(env, host_dir)
    db = f"{env.name}.db"
    old_id = api.inspect_container(db)["Id"]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", p2))
    blocker.listen(1)
    try:
        with pytest.raises(ContainerMapError) as info:
            env.client(data2, **clients).run("update")
        assert str(p2) in str(info.value), str(info.value)
        state = api.inspect_container(db)
        assert state["Id"] == old_id and state["State"]["Running"], "old db not restored"
        _check_data(env, host_dir, expected, rstats)
        _no_leftovers(api, env.name)
    finally:
        blocker.close()
    env.client(data2, **clients).run("update")
    state = api.inspect_container(db)
    ok = state["State"]["Running"] and _running(api, env.name) == 11
    rstats.fault(ok)
    assert ok
    assert state["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] == str(p2)
    _check_data(env, host_dir, expected, rstats)


# --- apply process killed ------------------------------------------------------------------------

APPLY = """
import json, sys
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
name, data, lab, url = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
client = MapClient(ContainerMap(name, data), clients={"__default__": {"base_url": url}}, extra_labels=lab)
client.run("update", max_workers=2)
"""


def test_killed_apply_process_then_rerun_converges(fault_env, tmp_path, rstats):
    """An update that re-creates all 11 containers (new image) runs in a subprocess that is
    SIGKILLed mid-way, in 3 places; each time one plain apply converges, without leftovers."""
    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    env.client(eleven(host_dir)).run("startup")
    expected = _seed_data(env, host_dir)
    images = []
    for n in range(3):
        tag = f"local/dftest-h10-fault{n}:{uuid.uuid4().hex[:6]}"
        cid = api.create_container("local/busybox:latest", command=["true"], labels=env.labels)["Id"]
        api.commit(cid, repository=tag.split(":")[0], tag=tag.split(":")[1], conf={"Labels": {"n": str(n)}})
        api.remove_container(cid, force=True)
        images.append(tag)
    envvars = {**os.environ, "PYTHONPATH": str(UTILS)}
    try:
        for n, image in enumerate(images):
            data = eleven(host_dir, image=image)
            args = [
                sys.executable,
                "-c",
                APPLY,
                env.name,
                json.dumps(data),
                json.dumps(env.labels),
                env.base_url,
            ]
            proc = subprocess.Popen(args, env=envvars, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # kill after a few containers carry the new image (2, 5, 8)
            want = 2 + 3 * n
            deadline = time.monotonic() + 90
            while proc.poll() is None and time.monotonic() < deadline:
                done = sum(1 for c in _all(api, env.name) if c["Image"] == image)
                if done >= want:
                    break
                time.sleep(0.02)
            finished_early = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            states = sorted((c["Names"][0], c["State"]) for c in _all(api, env.name))
            try:
                env.client(data).run("update")
                ok = True
            except ContainerMapError as exc:
                ok = False
                at_kill = ", ".join(f"{name.split('.', 1)[-1]}={state}" for name, state in states)
                rstats.note(f"killed apply {n + 1}: rerun failed: {exc} (at the kill: {at_kill})")
            running = [c for c in _all(api, env.name) if c["State"] == "running" and c["Image"] == image]
            rstats.fault(ok and len(running) == 11)
            rstats.note(
                f"killed apply {n + 1}: killed after {want} re-created"
                f"{' (it had already finished)' if finished_early else ''}; "
                f"{len(states)} containers at kill, {len(running)}/11 running on the new image after one rerun"
            )
            assert ok and len(running) == 11, states
            _no_leftovers(api, env.name)
            _check_data(env, host_dir, expected, rstats)
    finally:
        env.cleanup()
        for image in images:
            try:
                api.remove_image(image, force=True)
            except Exception:  # noqa: BLE001, S110 - the engine's data root is removed at the end anyway
                pass


# --- registry down -------------------------------------------------------------------------------


def test_registry_down_touches_nothing(fault_env, tmp_path, rstats):
    """db's image moves to a registry nobody listens on: the pull fails naming the registry,
    before any existing container is touched; the old map still converges as a no-op."""
    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    data = eleven(host_dir)
    env.client(data).run("startup")
    expected = _seed_data(env, host_dir)
    ids = {c["Id"] for c in _all(api, env.name)}
    port = _free_port()  # nothing listens there
    image = f"127.0.0.1:{port}/h10/app:1"
    start = time.monotonic()
    with pytest.raises(ContainerMapError) as info:
        env.client(eleven(host_dir, db_extra={"image": image})).run("update")
    assert f"127.0.0.1:{port}" in str(info.value), str(info.value)
    assert time.monotonic() - start < 60
    assert {c["Id"] for c in _all(api, env.name)} == ids
    assert _running(api, env.name) == 11
    plan = env.client(data).plan("update")
    ok = [s for s in plan.steps if s.kind != "warning"] == []
    rstats.fault(ok)
    assert ok, str(plan)
    _check_data(env, host_dir, expected, rstats)


# --- disk full during an export ------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "h10small", str(mnt)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs: {proc.stderr.decode()}", pytrace=False)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_disk_full_during_export(fault_env, small_tmpfs, tmp_path, rstats):
    """copy_resource of 4 MiB into a 1 MiB file system fails with ENOSPC, leaves no partial
    file behind, and the same export to a roomy directory gives the exact bytes."""
    from containermap.archive import copy_resource

    env, api = fault_env, fault_env.api
    host_dir = tmp_path / "bind"
    host_dir.mkdir()
    data = eleven(host_dir)
    env.client(data).run("startup", "db")
    db = f"{env.name}.db"
    write_random(api, db, "/data/big", 4096)
    digest, size = checksum_in(api, db, "/data/big")
    with pytest.raises((OSError, ContainerMapError)) as info:
        copy_resource(api, db, "/data/big", str(small_tmpfs / "big.tar"), temp_labels=env.labels)
    assert "No space left" in str(info.value) or getattr(info.value, "errno", None) == 28, repr(info.value)
    assert os.listdir(small_tmpfs) == [], "partial export left behind"
    out = tmp_path / "big.tar"
    result = copy_resource(api, db, "/data/big", str(out), temp_labels=env.labels)
    with tarfile.open(out) as tar:
        member = tar.getmember("big")
        h = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    ok = h == digest and member.size == size and result["size"] == out.stat().st_size
    rstats.fault(ok)
    rstats.checked(size)
    assert ok
    # the container and its data are untouched by the failed export
    assert checksum_in(api, db, "/data/big") == (digest, size)
