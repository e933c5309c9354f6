"""Issue 12 on the real engine: leftovers of killed runs, stuck and half-made containers,
recreate rollback (port taken) and missing images, the apply lock, and the in-place update cache.

Acceptance (a) (engine SIGKILLed mid-apply) is in test_lifecycle_crash.py (private dockerd).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import docker
import pytest
from containermap import labels, update_cache
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
from containermap.exceptions import ActionError
from containermap.lock import LockTimeout, apply_lock
from containermap.plan import LEFTOVER_MARK

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
SLEEP = "sleep 100000"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def small_map(**over) -> dict:
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1, "networks": "net"}
    data = {
        "networks": {"net": {}},
        "volumes": {"data": "/data"},
        "db": {**common, "create_options": {"command": SLEEP}, "attaches": "data"},
        "app": {**common, "create_options": {"command": SLEEP}, "requires": "db"},
    }
    for path, value in over.items():
        cfg, key = path.split("__")
        data[cfg][key] = value
    return data


def _client(env, data, clients=None) -> MapClient:
    return MapClient(ContainerMap(env["name"], data), clients=clients, extra_labels=env["labels"])


def _state(api, name):
    try:
        return api.inspect_container(name)["State"]["Status"]
    except docker.errors.NotFound:
        return "absent"


def _temporaries(api, env) -> list[dict]:
    return api.containers(
        all=True, filters={"label": [labels.TEMPORARY, f"{labels.TEST}={env['labels'][labels.TEST]}"]}
    )


def _blocker() -> tuple[socket.socket, int]:
    """A port held by another process's socket on 127.0.0.1 (listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOCAL = {"__default__": {"interfaces": {"local": "127.0.0.1"}}}

# child processes that get SIGKILLed in the middle of a script run / a volume preparation
SCRIPT_CHILD = """
import sys
sys.path.insert(0, {utils!r})
from containermap import labels
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
import json
data = json.loads({data!r})
mc = MapClient(ContainerMap({name!r}, data), extra_labels={labels!r})
mc.script("app", "sleep 1000\\n", entrypoint="/bin/sh")
"""

VOLUME_CHILD = """
import sys, time
sys.path.insert(0, {utils!r})
import docker
from containermap import volumes
# hold still between creating the helper container and setting owner/mode, so the kill
# lands at a known point (the engine calls are real)
volumes._root_entry = lambda api, cid: time.sleep(1000)
api = docker.APIClient(version="auto")
api.create_volume({volume!r}, labels={labels!r})
volumes.prepare_volume(api, {volume!r}, 2000, "0750", helper_image={base!r}, labels={labels!r})
"""


def _kill_when(proc: subprocess.Popen, ready, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    try:
        while not ready():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "child never reached the point to kill"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)


def test_temporaries_of_killed_runs_removed_by_next_apply(api, env):
    """Item 3: a script run and a volume preparation SIGKILLed half-way leave temporary
    containers; the next apply shows and removes them (not while they may still belong to a
    run in progress), and the script's leftover no longer blocks its config's name."""
    import json

    n = env["name"]
    data = small_map()
    utils = os.path.join(ROOT, "_utils")
    script = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SCRIPT_CHILD.format(utils=utils, data=json.dumps(data), name=n, labels=env["labels"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _kill_when(script, lambda: _state(api, f"{n}.app") == "running")
    volume = f"{n}.scratch"
    prep = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(VOLUME_CHILD.format(utils=utils, volume=volume, labels=env["labels"], base=BASE)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    _kill_when(prep, lambda: len(_temporaries(api, env)) == 2)
    left = {c["Names"][0].lstrip("/"): c["State"] for c in _temporaries(api, env)}
    assert left[f"{n}.app"] == "running" and list(left.values()).count("created") == 1

    mc = _client(env, data)
    # fresh: they may belong to runs in progress (60 s, running ones a day): left alone, and
    # the name held by the running script is reported, not fought over
    plan = mc.plan("update")
    assert "remove_temporary" not in [s.kind for s in plan.steps]
    assert any("of a run in progress holds the name" in w for w in plan.warnings), plan.warnings
    # old enough (the ages are options; here: now)
    plan = mc.plan("update", temporary_min_age=0, temporary_running_min_age=0)
    temp_steps = [s for s in plan.steps if s.kind == "remove_temporary"]
    assert len(temp_steps) == 2, str(plan)
    assert all(s.reason.endswith("left by an interrupted run") for s in temp_steps)
    assert any(f"temporary container {n}.app (script, running)" in s.reason for s in temp_steps)
    assert ("create", "app") in [(s.kind, s.target.config_name) for s in plan.steps]
    result = mc.apply(plan)
    assert result.ok and _temporaries(api, env) == []
    assert _state(api, f"{n}.app") == "running" and _state(api, f"{n}.db") == "running"
    assert labels.MAP in api.inspect_container(f"{n}.app")["Config"]["Labels"]  # the real one now
    api.remove_volume(volume)


def test_stuck_created_container_recreated_keeping_data(api, env):
    """Item 2: a container left ``created`` with a network never connected (a create cut
    short) is re-created with a reason; one only ``created`` is started; the named volume's
    data is kept. (``dead`` cannot be produced on demand: planner unit test.)"""
    n = env["name"]
    mc = _client(env, small_map())
    assert mc.startup("db").ok
    mc.single_cmd("db", ["sh", "-c", "echo kept > /data/marker"])
    assert mc.create("app").ok
    assert _state(api, f"{n}.app") == "created"
    api.disconnect_container_from_network(f"{n}.app", f"{n}.net")
    old = api.inspect_container(f"{n}.app")["Id"]
    plan = mc.plan("update")
    assert [(s.kind, s.target.config_name, s.reason) for s in plan.steps] == [
        ("recreate", "app", f"created, never started, network {n}.net not connected")
    ]
    assert mc.apply(plan).ok
    info = api.inspect_container(f"{n}.app")
    assert info["Id"] != old and info["State"]["Running"]
    assert f"{n}.net" in info["NetworkSettings"]["Networks"]
    # created and complete: just started
    mc.stop("app")
    mc.remove("app")
    mc.create("app")
    plan = mc.plan("update")
    assert [(s.kind, s.reason) for s in plan.steps] == [("start", "created, never started")]
    assert mc.apply(plan).ok and _state(api, f"{n}.app") == "running"
    assert mc.single_cmd("db", ["cat", "/data/marker"])["output"].strip() == "kept"
    assert mc.plan("update").steps == []


def test_new_container_failing_half_way_leaves_nothing_behind(api, env):
    """Item 3: a NEW container whose start fails (port held by another process) or whose
    network connect fails is removed again, so the next apply simply converges."""
    n = env["name"]
    sock, port = _blocker()
    try:
        mc = _client(env, small_map(app__exposes=[(80, port, "local")]), clients=LOCAL)
        with pytest.raises(ActionError) as err:
            mc.startup()
        assert f"127.0.0.1:{port}" in str(err.value) and "already in use" in str(err.value)
        assert _state(api, f"{n}.app") == "absent" and _state(api, f"{n}.db") == "running"
    finally:
        sock.close()
    assert mc.startup().ok and _state(api, f"{n}.app") == "running"
    mc.shutdown("app")
    # connect to a second network fails: the network vanished between plan and apply
    data = small_map()
    data["networks"]["other"] = {}
    data["app"]["networks"] = ["net", "other"]
    mc = _client(env, data)
    plan = mc.plan("startup")
    assert any(s.kind == "create_network" for s in plan.steps)
    plan.steps = [s for s in plan.steps if s.kind != "create_network"]  # as if it had gone again
    with pytest.raises(ActionError) as err:
        mc.apply(plan)
    assert "other" in str(err.value)
    assert _state(api, f"{n}.app") == "absent"
    result = mc.startup()
    assert result.ok and _state(api, f"{n}.app") == "running"
    nets = api.inspect_container(f"{n}.app")["NetworkSettings"]["Networks"]
    assert {f"{n}.net", f"{n}.other"} <= set(nets)


def test_acceptance_port_taken_recreate_keeps_old_running(api, env, record_property):
    """Issue 12 acceptance (b): the published port is changed to one held by another process
    (socket on 127.0.0.1:PORT): the apply fails naming the port, the old container keeps
    running under its name with its id; once the port is free, the apply succeeds."""
    n = env["name"]
    mc = _client(env, small_map(app__exposes=[(80, _free_port(), "local")]), clients=LOCAL)
    assert mc.startup().ok
    old = api.inspect_container(f"{n}.app")["Id"]
    sock, port = _blocker()
    try:
        mc2 = _client(env, small_map(app__exposes=[(80, port, "local")]), clients=LOCAL)
        with pytest.raises(ActionError) as err:
            mc2.update()
        message = str(err.value)
        assert f"host port 127.0.0.1:{port} is already in use" in message, message
        assert "the old one was restored" in message
        info = api.inspect_container(f"{n}.app")
        assert info["Id"] == old and info["State"]["Running"]
        names = [c["Names"][0] for c in api.containers(all=True, filters={"label": f"{labels.MAP}={n}"})]
        assert sorted(names) == [f"/{n}.app", f"/{n}.db"]
    finally:
        sock.close()
    result = mc2.update()
    assert result.ok and result.changes[f"container:{n}.app"] == {"old": "running", "new": "updated"}
    info = api.inspect_container(f"{n}.app")
    assert info["Id"] != old and info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == str(port)
    record_property("port_taken", {"message": message})
    print("port taken:", message)


def test_acceptance_missing_image_tag_touches_nothing(api, env, registry, record_property):
    """Issue 12 acceptance (c): the image is changed to a tag that does not exist (in the
    test bed's registry, and on Docker Hub): nothing running is touched, the message names the
    image and where it was looked for."""
    n = env["name"]
    mc = _client(env, small_map())
    assert mc.startup().ok
    before = {c["Id"]: c["State"] for c in api.containers(all=True, filters={"label": f"{labels.MAP}={n}"})}
    repo = f"{registry.host}/dftest-h13-{env['run']}/bb"
    api.tag(BASE, f"{repo}:1")
    env["images"].append(f"{repo}:1")
    for _ in api.push(f"{repo}:1", stream=True, decode=True, auth_config=registry.auth_config):
        pass
    messages = {}
    clients = {"__default__": {"auth_configs": registry.auth_configs}}
    for where, image in (("registry", f"{repo}:missing"), ("hub", f"local/dftest-h13-{env['run']}:missing")):
        mc2 = _client(env, small_map(db__image=image), clients=clients)
        with pytest.raises(ActionError) as err:
            mc2.update()
        messages[where] = str(err.value)
        after = {
            c["Id"]: c["State"] for c in api.containers(all=True, filters={"label": f"{labels.MAP}={n}"})
        }
        assert after == before
        assert image in messages[where]
    # the image and the registry it was looked for in; the missing tag said as such
    assert f"{repo}:missing from {registry.host} failed" in messages["registry"], messages
    assert "not found" in messages["registry"], messages
    assert "from docker.io failed" in messages["hub"], messages
    record_property("missing_image", messages)
    print("missing image:", messages)


def test_in_place_update_needs_no_inspect_afterwards(api, env, request_log):
    """Item 5: after a container_update the creation-time update-hash label is stale; the
    update cache records the applied hash, so the next no-op plan is 4 list requests, no
    inspect. Without the cache (lost file) one inspect re-verifies and records it again."""
    mc = _client(env, small_map())
    assert mc.startup().ok
    limited = small_map(app__host_config={"init": True, "mem_limit": "64m"})
    mc2 = _client(env, limited)
    plan = mc2.plan("update")
    assert [(s.kind, s.target.config_name) for s in plan.steps] == [("update", "app")], str(plan)
    assert mc2.apply(plan).ok
    proxied = {"__default__": {"base_url": request_log.base_url}}
    mc3 = _client(env, limited, clients=proxied)
    mc3.api()
    request_log.clear()
    plan = mc3.plan("update")
    assert plan.steps == [] and len(request_log.requests) <= 4, request_log.requests
    lists = {"/containers/json", "/images/json", "/networks", "/volumes"}
    assert {p.split("?")[0] for _, p in request_log.requests} <= lists, request_log.requests
    counts = {"after_update": len(request_log.requests)}
    # the cache is only an optimisation: without it one inspect, then recorded again
    os.unlink(update_cache.cache_path())
    request_log.clear()
    assert mc3.plan("update").steps == []
    counts["cache_lost"] = len(request_log.requests)
    request_log.clear()
    assert mc3.plan("update").steps == []
    counts["cache_rebuilt"] = len(request_log.requests)
    assert counts == {"after_update": 4, "cache_lost": 5, "cache_rebuilt": 4}, counts
    # a manual change is still seen once the desired settings differ from what was recorded
    mc4 = _client(env, small_map(app__host_config={"init": True, "mem_limit": "96m"}))
    assert [s.kind for s in mc4.plan("update").steps] == ["update"]
    print("no-op plan requests after an in-place update:", counts)


def test_apply_lock_serialises_applies(api, env, tmp_path, monkeypatch):
    """Two applies on this host run one after the other: while another thread holds the
    host's apply lock, an apply gives up after lock_timeout with a message naming the holder,
    or waits and proceeds as soon as the lock is released."""
    monkeypatch.setenv("DOCKERFABRIC_LOCK_DIR", str(tmp_path / "locks"))
    mc = _client(env, small_map())
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with apply_lock(timeout=5):
            held.set()
            release.wait(60)

    other = threading.Thread(target=holder)
    other.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockTimeout) as err:
            mc.startup(lock_timeout=0.3)
        assert f"pid {os.getpid()}" in str(err.value) and "gave up after" in str(err.value)
        assert _state(api, f"{env['name']}.db") == "absent"
        done = []
        waiter = threading.Thread(target=lambda: done.append(mc.startup(lock_timeout=30)))
        waiter.start()
        time.sleep(0.5)
        assert done == [] and _state(api, f"{env['name']}.db") == "absent"
    finally:
        release.set()
        other.join(30)
    waiter.join(60)
    assert done and done[0].ok and _state(api, f"{env['name']}.db") == "running"


@pytest.mark.parametrize(
    "host_config,fails_at",
    [
        ({"init": True, "cap_add": ["NOT_A_CAPABILITY"]}, "creating"),
        ({"init": True, "devices": ["/dev/h13-no-such-device:/dev/x"]}, "starting"),
    ],
    ids=["create-fails", "start-fails"],
)
def test_recreate_with_bad_option_restores_old(api, env, host_config, fails_at):
    """Item 1: a replacement that cannot be created or started (bad option) is removed and
    the old container keeps its name, id and running state; the error says so."""
    n = env["name"]
    mc = _client(env, small_map())
    assert mc.startup().ok
    old = api.inspect_container(f"{n}.app")["Id"]
    mc2 = _client(env, small_map(app__host_config=host_config))
    with pytest.raises(ActionError) as err:
        mc2.update()
    assert f"{fails_at} the new container failed" in str(err.value), str(err.value)
    info = api.inspect_container(f"{n}.app")
    assert info["Id"] == old and info["State"]["Running"]
    names = sorted(c["Names"][0] for c in api.containers(all=True, filters={"label": f"{labels.MAP}={n}"}))
    assert names == [f"/{n}.app", f"/{n}.db"]
    # the old configuration is still converged
    assert mc.plan("update").steps == []


UPDATE_CHILD = """
import json, sys
sys.path.insert(0, {utils!r})
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
mc = MapClient(ContainerMap({name!r}, json.loads({data!r})), clients={clients!r}, extra_labels={labels!r})
mc.update(force_update=["{name}.app"])
"""


def test_apply_process_killed_mid_recreate_converges(api, env):
    """An apply PROCESS SIGKILLed in the middle of a recreate (old one renamed to
    ``-dfold-``, being stopped: it ignores SIGTERM for 3 s) leaves a leftover; one plain apply
    brings the map back: the container running under its name, no leftover, data kept."""
    import json

    n = env["name"]
    # no init: busybox sleep as PID 1 ignores SIGTERM, so the stop of the old one takes 3 s
    data = small_map(app__exposes=[(80, _free_port(), "local")], app__host_config={}, app__stop_timeout=3)
    data["app"]["attaches"] = "appdata"
    data["volumes"]["appdata"] = "/appdata"
    mc = _client(env, data, clients=LOCAL)
    assert mc.startup().ok
    mc.single_cmd("app", ["sh", "-c", "echo kept > /appdata/marker"])
    child = UPDATE_CHILD.format(
        utils=os.path.join(ROOT, "_utils"), name=n, data=json.dumps(data), clients=LOCAL, labels=env["labels"]
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def leftover() -> bool:
        found = api.containers(all=True, filters={"label": f"{labels.MAP}={n}", "name": "-dfold-"})
        return bool(found)

    _kill_when(proc, leftover)
    time.sleep(1)  # a request the killed process had sent may still be completing in the engine
    states = {
        c["Names"][0].lstrip("/"): c["State"]
        for c in api.containers(all=True, filters={"label": f"{labels.MAP}={n}"})
    }
    assert any("-dfold-" in name for name in states), states
    plan = mc.plan("update")
    kinds = sorted(s.kind for s in plan.steps)
    assert kinds and set(kinds) <= {"restore", "remove_leftover", "start"}, str(plan)
    assert mc.apply(plan).ok
    names = sorted(c["Names"][0] for c in api.containers(filters={"label": f"{labels.MAP}={n}"}))
    assert names == [f"/{n}.app", f"/{n}.db"]
    assert api.containers(all=True, filters={"label": f"{labels.MAP}={n}", "name": "-dfold-"}) == []
    assert mc.single_cmd("app", ["cat", "/appdata/marker"])["output"].strip() == "kept"
    assert mc.plan("update").steps == []
    print("killed mid-recreate:", states, "->", kinds)


def _events(api, env, since: float) -> list[dict]:
    """Container events of this test's map since ``since``, in engine order."""
    found = api.events(
        since=since,
        until=time.time() + 0.5,
        filters={"type": "container", "label": f"{labels.MAP}={env['name']}"},
        decode=True,
    )
    return sorted(found, key=lambda e: e["timeNano"])


def _when(events: list[dict], cid: str, action: str, name: str | None = None) -> int:
    """Index of the first event ``action`` of container ``cid`` (whose name is ``name``)."""
    return next(
        i
        for i, e in enumerate(events)
        if e["id"] == cid and e["Action"] == action and name in (None, e["Actor"]["Attributes"].get("name"))
    )


def test_recreate_renames_running_containers_only_off_user_networks(api, env):
    """Renaming a running container makes dockerd write back a stale endpoint count of its
    networks (moby/moby#42119), after which a user-defined network can no longer be removed.
    So a re-create stops the old container before renaming it when it is on a user-defined
    network; one only on Docker's ``bridge`` keeps the start-before-stop order. Afterwards the
    network can be removed."""
    n = env["name"]
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1}
    data = {
        "networks": {"net": {}},
        "onnet": {**common, "create_options": {"command": SLEEP}, "networks": "net"},
        "plain": {**common, "create_options": {"command": SLEEP}},
    }
    mc = _client(env, data)
    assert mc.startup().ok
    old = {cfg: api.inspect_container(f"{n}.{cfg}")["Id"] for cfg in ("onnet", "plain")}
    since = time.time() - 0.5
    result = mc.update(force_update=["onnet", "plain"])
    assert result.ok, result.comment
    new = {cfg: api.inspect_container(f"{n}.{cfg}")["Id"] for cfg in ("onnet", "plain")}
    assert all(new[c] != old[c] for c in old)
    events = _events(api, env, since)
    # on the user-defined network: stopped (die) before it was renamed, new one started after
    assert _when(events, old["onnet"], "die") < _when(events, old["onnet"], "rename")
    assert _when(events, old["onnet"], "die") < _when(events, new["onnet"], "start")
    # on bridge only: renamed running, the new one started before the old one stopped
    assert _when(events, old["plain"], "rename") < _when(events, old["plain"], "die")
    assert _when(events, new["plain"], "start") < _when(events, old["plain"], "die")
    result = mc.shutdown(remove_networks=True)
    assert result.ok and result.changes[f"network:{n}.net"] == {"old": "present", "new": "absent"}


def test_running_leftover_on_user_network_restored_without_running_rename(api, env):
    """A leftover of an interrupted re-create (``<name>-dfold-<id>``) still RUNNING on a
    user-defined network, the real one gone: the next update stops it, renames it back and
    starts it again (same id, running), instead of renaming it while it runs."""
    n = env["name"]
    mc = _client(env, small_map())
    assert mc.startup().ok
    info = api.inspect_container(f"{n}.app")
    leftover = f"{n}.app{LEFTOVER_MARK}{info['Id'][:12]}"
    api.stop(info["Id"], timeout=1)  # the test itself never renames a running container either
    api.rename(info["Id"], leftover)
    api.start(info["Id"])
    plan = mc.plan("update")
    assert [(s.kind, s.reason) for s in plan.steps if s.kind != "warning"] == [
        ("restore", f"left as {leftover} by an interrupted run")
    ]
    since = time.time()
    assert mc.apply(plan).ok
    back = api.inspect_container(f"{n}.app")
    assert back["Id"] == info["Id"] and back["State"]["Running"]
    events = _events(api, env, since)
    renamed = _when(events, info["Id"], "rename", f"{n}.app")
    assert _when(events, info["Id"], "die") < renamed < _when(events, info["Id"], "start")
    assert [s for s in mc.plan("update").steps if s.kind != "warning"] == []
    assert mc.shutdown(remove_networks=True).ok
