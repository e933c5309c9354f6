"""Lifecycle engine against the real Docker engine: seed 001's map, no-op request count,
change detection per kind, data survival, validation before any request, the other actions
(create/start/stop/remove/restart/kill, exec policies, script, single_cmd), missing images,
leftovers of an interrupted recreate, unmanaged name clashes, persistent containers."""

from __future__ import annotations

import io
import socket
import time

import docker
import pytest
from containermap import labels
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
from containermap.exceptions import ActionError, ConfigurationError

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
SLEEP = "sleep 100000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(env, data, check_integrity=True, clients=None):
    cmap = ContainerMap(env["name"], data, check_integrity=check_integrity)
    return MapClient(cmap, clients=clients, extra_labels=env["labels"])


def _count(api):
    """Record every HTTP request this APIClient makes (method, path)."""
    log: list[tuple[str, str]] = []
    api.hooks["response"].append(lambda r, *a, **k: log.append((r.request.method, r.request.path_url)))
    return log


def _ids(api, name):
    return {
        c["Labels"].get(labels.CONFIG)
        + ("." + c["Labels"][labels.INSTANCE] if c["Labels"].get(labels.INSTANCE) else ""): c["Id"]
        for c in api.containers(all=True, filters={"label": f"{labels.MAP}={name}"})
    }


def _exec(api, container, cmd):
    exec_id = api.exec_create(container, cmd)["Id"]
    out = api.exec_start(exec_id).decode()
    assert api.exec_inspect(exec_id)["ExitCode"] == 0, out
    return out.strip()


# ---------------------------------------------------------------------------------------------


def seed_map(root: str, p80: int, p443: int) -> dict:
    """Seed 001's example map, on busybox images (links added: web -> app instance1)."""
    # this engine has no default bridge (docker0): every container joins the map network
    common = {
        "create_options": {"command": SLEEP},
        "host_config": {"init": True},
        "stop_timeout": 1,
        "networks": "net",
    }
    return {
        "host_root": root,
        "networks": {"net": {}},
        "web_server": {
            "image": BASE,
            "binds": {"/etc/nginx": ("config/nginx", "ro")},
            "uses": "app_server_socket",
            "attaches": "web_log",
            "links": "app_server.instance1",
            "exposes": [(80, p80, "local"), (443, p443, "local")],
            **common,
        },
        "app_server": {
            "image": BASE,
            "instances": ("instance1", "instance2"),
            "binds": ({"app_config": "ro"}, "app_data"),
            "attaches": ("app_log", "app_server_socket"),
            "user": 2000,
            "permissions": "u=rwX,g=rX,o=",
            **common,
        },
        "volumes": {
            "web_log": "/var/log/nginx",
            "app_server_socket": "/var/lib/app/socket",
            "app_config": "/var/lib/app/config",
            "app_log": "/var/lib/app/log",
            "app_data": "/var/lib/app/data",
        },
        "host": {
            "app_config": {"instance1": "config/app1", "instance2": "config/app2"},
            "app_data": {"instance1": "data/app1", "instance2": "data/app2"},
        },
    }


def test_seed_001_startup_then_noop_update(api, env, tmp_path, request_log):
    for sub in ("config/nginx", "config/app1", "config/app2", "data/app1", "data/app2"):
        (tmp_path / sub).mkdir(parents=True)
    p80, p443 = _free_port(), _free_port()
    clients = {"__default__": {"interfaces": {"local": "127.0.0.1"}}}
    mc = _client(env, seed_map(str(tmp_path), p80, p443), clients=clients)
    n = env["name"]

    result = mc.startup("web_server")
    assert result.ok
    assert result.changes[f"container:{n}.web_server"] == {"old": "absent", "new": "running"}
    assert result.changes[f"volume:{n}.app_log"] == {"old": "absent", "new": "present"}

    web = api.inspect_container(f"{n}.web_server")
    app1 = api.inspect_container(f"{n}.app_server.instance1")
    app2 = api.inspect_container(f"{n}.app_server.instance2")
    for c in (web, app1, app2):
        assert c["State"]["Running"], c["Name"]
    # names, hostname, user, links
    assert app1["Config"]["Hostname"] == f"{n}-app-server-instance1"
    assert app1["Config"]["User"] == "2000"
    # on a user network the engine keeps a legacy link as an endpoint link (DNS alias)
    endpoint = web["NetworkSettings"]["Networks"][f"{n}.net"]
    assert f"{n}.app_server.instance1:app-server-instance1" in endpoint["Links"]
    # mounts: host binds (per instance, ro), attached named volumes, used volume
    mounts = {m["Destination"]: m for m in web["Mounts"]}
    assert (
        mounts["/etc/nginx"]["Source"] == str(tmp_path / "config/nginx")
        and mounts["/etc/nginx"]["RW"] is False
    )
    assert mounts["/var/log/nginx"]["Name"] == f"{n}.web_log"
    assert mounts["/var/lib/app/socket"]["Name"] == f"{n}.app_server_socket"
    mounts = {m["Destination"]: m for m in app2["Mounts"]}
    assert mounts["/var/lib/app/config"]["Source"] == str(tmp_path / "config/app2")
    assert mounts["/var/lib/app/config"]["RW"] is False
    assert mounts["/var/lib/app/data"]["Source"] == str(tmp_path / "data/app2")
    assert mounts["/var/lib/app/log"]["Name"] == f"{n}.app_log"
    # ownership uid 2000 and mode u=rwX,g=rX,o= (0750 on a directory) of the attached volumes
    assert _exec(api, f"{n}.app_server.instance1", ["stat", "-c", "%u %a", "/var/lib/app/log"]) == "2000 750"
    assert (
        _exec(api, f"{n}.app_server.instance1", ["stat", "-c", "%u %a", "/var/lib/app/socket"]) == "2000 750"
    )
    # the app user can write its volume
    _exec(api, f"{n}.app_server.instance1", ["touch", "/var/lib/app/log/x"])
    # published ports on the client's "local" interface
    ports = web["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p80)}]
    assert ports["443/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p443)}]
    # every object carries our labels
    assert app1["Config"]["Labels"][labels.MAP] == n
    assert app1["Config"]["Labels"][labels.INSTANCE] == "instance1"
    assert labels.HASH in app1["Config"]["Labels"]

    # second run, counted by the test bed's request-logging proxy: nothing to do, at most 4
    # (list) requests, no state change
    before = _ids(api, n)
    proxied = {"__default__": {"interfaces": {"local": "127.0.0.1"}, "base_url": request_log.base_url}}
    mc2 = _client(env, seed_map(str(tmp_path), p80, p443), clients=proxied)
    mc2.api()  # connect (version negotiation) before counting
    request_log.clear()
    plan = mc2.plan("update", "web_server")
    assert plan.steps == [], str(plan)
    result = mc2.apply(plan)
    assert result.changes == {} and result.ok
    log = request_log.requests
    assert len(log) <= 4, log
    assert all(method == "GET" for method, _ in log), log
    assert _ids(api, n) == before

    # startup again is a no-op too
    request_log.clear()
    assert mc2.startup("web_server").changes == {}
    log = request_log.requests
    assert len(log) <= 4 and all(m == "GET" for m, _ in log), log

    # shutdown with remove_attached: containers and attached volumes gone
    result = mc.shutdown("__all__", remove_attached=True)
    assert result.ok
    assert _ids(api, n) == {}
    vols = {
        v["Name"] for v in (api.volumes(filters={"label": f"{labels.MAP}={n}"}) or {}).get("Volumes") or ()
    }
    assert vols == set()


# ---------------------------------------------------------------------------------------------


def chain_map(**over) -> dict:
    """db <- app (link) <- web (uses app: volumes_from), on a user network, attached volume."""
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1, "networks": "net"}
    data = {
        "networks": {"net": {}},
        "volumes": {"data": "/data"},
        "db": {
            **common,
            "create_options": {"command": SLEEP, "environment": {"A": "1", "B": "2"}},
            "attaches": "data",
        },
        "app": {**common, "create_options": {"command": SLEEP}, "links": "db", "shares": "/shared"},
        "web": {**common, "create_options": {"command": SLEEP}, "uses": "app"},
    }
    for path, value in over.items():
        cfg, key = path.split("__")
        if value is None:
            data[cfg].pop(key, None)
        else:
            data[cfg][key] = value
    return data


def _recreated(before: dict, after: dict) -> set[str]:
    return {k for k in after if before.get(k) != after[k]}


CHANGES = [
    # (description, map changes, expected re-created)
    (
        "env value",
        {"db__create_options": {"command": SLEEP, "environment": {"A": "1", "B": "3"}}},
        {"db", "app", "web"},
    ),
    ("env removed", {"db__create_options": {"command": SLEEP, "environment": ["A=1"]}}, {"db", "app", "web"}),
    ("command", {"web__create_options": {"command": "sleep 99999"}}, {"web"}),
    ("entrypoint", {"web__create_options": {"command": SLEEP, "entrypoint": ["/bin/busybox"]}}, {"web"}),
    ("user", {"app__user": "1000"}, {"app", "web"}),
    ("labels", {"web__create_options": {"command": SLEEP, "labels": {"x": "y"}}}, {"web"}),
    ("ports", {"web__exposes": [8080]}, {"web"}),
    ("shares", {"app__shares": ["/shared", "/other"]}, {"app", "web"}),
    ("binds", {"web__binds": [("/srv", "/tmp")]}, {"web"}),
    ("healthcheck", {"web__healthcheck": {"test": ["CMD", "true"], "interval": "30s"}}, {"web"}),
    ("stop_signal", {"web__stop_signal": "SIGINT"}, {"web"}),
    ("stop_timeout", {"web__stop_timeout": 2}, {"web"}),
    ("host_config key", {"web__host_config": {"init": True, "cap_add": ["NET_ADMIN"]}}, {"web"}),
    ("create_options key", {"web__create_options": {"command": SLEEP, "working_dir": "/tmp"}}, {"web"}),
    (
        "network_mode",
        {"app__network_mode": "none", "app__links": None, "app__networks": None},
        {"app", "web"},
    ),
]


@pytest.mark.parametrize("what,changes,expected", CHANGES, ids=[c[0] for c in CHANGES])
def test_change_recreates_exactly(api, env, what, changes, expected):
    mc = _client(env, chain_map())
    assert mc.startup().ok
    before = _ids(api, env["name"])
    assert set(before) == {"db", "app", "web"}
    mc2 = _client(env, chain_map(**changes))
    plan = mc2.plan("update")
    assert {s.target.config_name for s in plan.steps if s.kind == "recreate"} == expected, str(plan)
    result = mc2.apply(plan)
    after = _ids(api, env["name"])
    assert _recreated(before, after) == expected
    assert all(
        c["State"] == "running" for c in api.containers(filters={"label": f"{labels.MAP}={env['name']}"})
    )
    assert len(api.containers(filters={"label": f"{labels.MAP}={env['name']}"})) == 3
    for key in expected:
        assert result.changes[f"container:{env['name']}.{key}"]["new"] == "updated"
    if what == "env removed":
        db_step = next(s for s in plan.steps if s.target.config_name == "db")
        assert "environment B removed" in db_step.reason
    # converged: the next plan is empty
    assert mc2.plan("update").steps == []


def test_in_place_update_and_network_connect(api, env):
    mc = _client(env, chain_map())
    assert mc.startup().ok
    before = _ids(api, env["name"])
    mc2 = _client(
        env,
        chain_map(web__host_config={"init": True, "mem_limit": "64m", "restart_policy": {"Name": "always"}}),
    )
    plan = mc2.plan("update")
    assert [(s.kind, s.target.config_name) for s in plan.steps] == [("update", "web")], str(plan)
    mc2.apply(plan)
    assert _ids(api, env["name"]) == before
    hc = api.inspect_container(f"{env['name']}.web")["HostConfig"]
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["RestartPolicy"]["Name"] == "always"
    # stale update-hash label: one inspect, nothing to do
    assert mc2.plan("update").steps == []
    # a network disconnected behind our back is re-connected in place
    api.disconnect_container_from_network(f"{env['name']}.web", f"{env['name']}.net")
    plan = mc2.plan("update")
    assert [(s.kind, s.reason) for s in plan.steps] == [
        ("connect", f"network {env['name']}.net not connected")
    ]
    mc2.apply(plan)
    nets = api.inspect_container(f"{env['name']}.web")["NetworkSettings"]["Networks"]
    assert f"{env['name']}.net" in nets
    assert _ids(api, env["name"]) == before


def _build(api, tag: str, marker: str) -> str:
    dockerfile = f"FROM {BASE}\nLABEL h4.marker={marker}\n".encode()
    for _ in api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, decode=True):
        pass
    return api.inspect_image(tag)["Id"]


def test_data_survives_image_update_and_restart_cycle(api, env, tmp_path):
    tag = f"local/dftest-h4-{env['run']}:1"
    env["images"].append(tag)
    id1 = _build(api, tag, "one")
    data = chain_map()
    data["db"]["image"] = tag
    data["db"]["binds"] = [("/hostdata", str(tmp_path))]
    mc = _client(env, data)
    assert mc.startup("db").ok
    db = f"{env['name']}.db"
    _exec(api, db, ["sh", "-c", "echo kept > /data/f && echo bound > /hostdata/g"])
    id2 = _build(api, tag, "two")
    assert id1 != id2
    plan = mc.plan("update", "db")
    assert [s.kind for s in plan.steps] == ["recreate"]
    assert plan.steps[0].reason == f"image {tag} changed ({id1[:19]}.. -> {id2[:19]}..)"
    mc.apply(plan)
    assert api.inspect_container(db)["Image"] == id2
    assert _exec(api, db, ["cat", "/data/f", "/hostdata/g"]) == "kept\nbound"
    assert mc.shutdown("db").ok and _ids(api, env["name"]) == {}
    assert mc.startup("db").ok
    assert _exec(api, db, ["cat", "/data/f", "/hostdata/g"]) == "kept\nbound"


def test_cycle_and_invalid_maps_fail_before_any_request(api, env):
    data = chain_map(db__links="web")
    with pytest.raises(ConfigurationError):
        ContainerMap(env["name"], data)
    mc = _client(env, data, check_integrity=False)
    log = _count(mc.api())
    with pytest.raises(ConfigurationError) as err:
        mc.plan("startup")
    assert "db" in str(err.value) and "web" in str(err.value)
    assert log == []
    # an unknown interface is a configuration error found before any request
    mc = _client(env, chain_map(web__exposes=[(80, _free_port(), "nowhere")]))
    log = _count(mc.api())
    with pytest.raises(ConfigurationError, match="nowhere"):
        mc.plan("startup")
    assert log == []
    assert _ids(api, env["name"]) == {}


def test_failed_recreate_keeps_old_container(api, env):
    port = _free_port()
    mc = _client(env, chain_map(web__exposes=[(80, port)]))
    assert mc.startup().ok
    old = _ids(api, env["name"])["web"]
    blocker = socket.socket()
    blocker.bind(("0.0.0.0", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        mc2 = _client(env, chain_map(web__exposes=[(80, taken)]))
        with pytest.raises(ActionError) as err:
            mc2.update()
        assert str(taken) in str(err.value) and "restored" in str(err.value)
        info = api.inspect_container(f"{env['name']}.web")
        assert info["Id"] == old and info["State"]["Running"]
        assert len(api.containers(all=True, filters={"label": f"{labels.MAP}={env['name']}"})) == 3
    finally:
        blocker.close()
    assert mc2.update().ok
    assert _ids(api, env["name"])["web"] != old


# ---------------------------------------------------------------------------------------------
# other actions


def small_map(**over) -> dict:
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1, "networks": "net"}
    data = {
        "networks": {"net": {}},
        "volumes": {"data": "/data"},
        "db": {**common, "create_options": {"command": SLEEP}, "attaches": "data"},
        "app": {
            **common,
            "create_options": {"command": SLEEP},
            "requires": "db",
            "user": 2000,
            "exec_commands": [
                {"cmd": ["sh", "-c", "echo initial >> /tmp/ex"], "policy": "initial"},
                {"cmd": ["sh", "-c", "echo restart >> /tmp/ex"]},
            ],
        },
    }
    for path, value in over.items():
        cfg, key = path.split("__")
        data[cfg][key] = value
    return data


def _state(api, name):
    try:
        return api.inspect_container(name)["State"]["Status"]
    except docker.errors.NotFound:
        return "absent"


def _wait_file(mc, lines, tries=50):
    """Sorted lines of /tmp/ex in app once they match ``lines`` (exec commands run detached)."""
    out = ""
    for _ in range(tries):
        out = mc.single_cmd("app", ["sh", "-c", "cat /tmp/ex 2>/dev/null || true"])["output"]
        if sorted(out.split()) == sorted(lines):
            break
        time.sleep(0.1)
    return sorted(out.split())


def test_basic_actions_and_exec_policies(api, env):
    n = env["name"]
    mc = _client(env, small_map())
    result = mc.create("app")
    assert result.changes[f"container:{n}.app"] == {"old": "absent", "new": "present"}
    assert _state(api, f"{n}.app") == "created" and _state(api, f"{n}.db") == "created"
    result = mc.start("app")
    assert result.changes[f"container:{n}.app"] == {"old": "present", "new": "running"}
    assert _state(api, f"{n}.db") == "running"
    # the first start of a created container runs initial and restart commands
    assert _wait_file(mc, ["initial", "restart"]) == ["initial", "restart"]
    # single_cmd runs as the configured user
    out = mc.single_cmd("app", ["id", "-u"])
    assert out["exit_code"] == 0 and out["output"].strip() == "2000"
    # stop walks dependents first; start again re-runs restart commands only
    result = mc.stop("db")
    assert _state(api, f"{n}.app") == "exited" and _state(api, f"{n}.db") == "exited"
    assert list(result.changes) == [f"container:{n}.app", f"container:{n}.db"]
    mc.start("app")
    assert _wait_file(mc, ["initial", "restart", "restart"]) == ["initial", "restart", "restart"]
    # restart: exec commands only with restart_exec_commands
    started = api.inspect_container(f"{n}.app")["State"]["StartedAt"]
    assert mc.restart("app").changes[f"container:{n}.app"]["new"] == "restarted"
    assert api.inspect_container(f"{n}.app")["State"]["StartedAt"] != started
    mc.restart("app", restart_exec_commands=True)
    assert _wait_file(mc, ["initial"] + ["restart"] * 3) == ["initial"] + ["restart"] * 3
    # kill with a signal
    assert mc.kill("app", signal="SIGKILL").changes[f"container:{n}.app"]["new"] == "signaled"
    for _ in range(50):
        if _state(api, f"{n}.app") == "exited":
            break
        time.sleep(0.1)
    assert _state(api, f"{n}.app") == "exited"
    # remove only removes stopped containers (db still runs: reported, kept)
    result = mc.remove("db")
    assert _state(api, f"{n}.app") == "absent" and _state(api, f"{n}.db") == "running"
    assert any("running; not removed" in w for w in result.warnings)
    # startup of a fresh container runs initial and restart commands
    mc.startup("app")
    assert _wait_file(mc, ["initial", "restart"]) == ["initial", "restart"]
    mc.shutdown(remove_attached=True, remove_networks=True)
    assert _state(api, f"{n}.db") == "absent"
    assert not api.networks(names=[f"{n}.net"])


def test_script_runs_with_dependencies_up(api, env, tmp_path):
    n = env["name"]
    mc = _client(env, small_map())
    result = mc.script("app", "id -u\necho hello > /dev/stderr\n", entrypoint="/bin/sh")
    assert result["exit_code"] == 0, result
    assert "2000" in result["logs"] and "hello" in result["logs"]
    assert result["removed"] is True
    assert _state(api, f"{n}.db") == "running"  # dependency brought up
    assert _state(api, f"{n}.app") == "absent"  # the script container is gone
    assert result["changes"][f"container:{n}.db"] == {"old": "absent", "new": "running"}


def test_missing_image_touches_nothing(api, env):
    n = env["name"]
    mc = _client(env, small_map())
    mc.startup()
    old = api.inspect_container(f"{n}.db")["Id"]
    missing = f"local/dftest-h4-missing-{env['name']}:1"
    mc2 = _client(env, small_map(db__image=missing))
    requests_seen = []
    mc2.api().hooks["response"].append(
        lambda r, *a, **k: requests_seen.append((r.request.method, r.request.path_url))
    )
    plan = mc2.plan("update")
    assert [s.kind for s in plan.steps][:1] == ["pull"]
    with pytest.raises(ActionError) as err:
        mc2.apply(plan)
    assert missing in str(err.value)
    # the pull was the only state-changing request; dependents were skipped
    mutating = [(m, p) for m, p in requests_seen if m in ("POST", "DELETE", "PUT")]
    assert all("/images/create" in p for _, p in mutating), mutating
    result = err.value.apply_result
    assert not result.ok and result.changes == {}
    skipped = [r for r in result.results if r.skipped]
    # db's recreate waited for the pull and was skipped; app had nothing to do
    assert {r.step.target.config_name for r in skipped} == {"db"}
    info = api.inspect_container(f"{n}.db")
    assert info["Id"] == old and info["State"]["Running"]


def test_interrupted_recreate_leftover_is_restored(api, env):
    n = env["name"]
    mc = _client(env, small_map())
    mc.startup()
    old = api.inspect_container(f"{n}.db")["Id"]
    api.rename(old, f"{n}.db-dfold-{old[:12]}")  # as left by a killed recreate
    plan = mc.plan("update")
    assert [(s.kind, s.target.config_name) for s in plan.steps] == [("restore", "db")], str(plan)
    mc.apply(plan)
    info = api.inspect_container(f"{n}.db")
    assert info["Id"] == old and info["State"]["Running"]
    # with the real one present, a leftover is removed
    api.create_container(
        BASE, SLEEP, name=f"{n}.db-dfold-000000000000", labels={**info["Config"]["Labels"], **env["labels"]}
    )
    plan = mc.plan("update")
    assert [(s.kind, s.target.config_name) for s in plan.steps] == [("remove_leftover", "db")]
    mc.apply(plan)
    assert _state(api, f"{n}.db-dfold-000000000000") == "absent"


def test_unmanaged_container_with_our_name(api, env):
    n = env["name"]
    foreign = api.create_container(BASE, SLEEP, name=f"{n}.db", labels=env["labels"])["Id"]
    mc = _client(env, small_map())
    plan = mc.plan("startup", "db")
    assert [s.kind for s in plan.steps if s.target.config_type == "container"] == ["warning"]
    assert "not created by this map" in plan.warnings[0]
    mc.apply(plan)
    assert api.inspect_container(f"{n}.db")["Id"] == foreign
    mc.update("db", replace_unmanaged=True)
    info = api.inspect_container(f"{n}.db")
    assert info["Id"] != foreign and info["State"]["Running"]
    assert info["Config"]["Labels"][labels.MAP] == n


def test_persistent_kept_by_shutdown_option(api, env):
    n = env["name"]
    mc = _client(env, small_map(db__persistent=True))
    mc.startup()
    mc.shutdown(remove_persistent=False, remove_attached=True)
    assert _state(api, f"{n}.db") == "exited" and _state(api, f"{n}.app") == "absent"
    # the attached volume of the kept container is kept too
    assert api.inspect_volume(f"{n}.data")["Name"] == f"{n}.data"
    # update does not start a stopped persistent container; startup does
    assert mc.plan("update", "db").steps == []
    mc.startup("db")
    assert _state(api, f"{n}.db") == "running"


def test_missing_image_pulled_once_from_registry(api, env, registry):
    """A map image only in the (authenticated) registry: pulled once, before anything else,
    with the client's auth_configs; present images are not pulled again unless asked."""
    image = f"{registry.host}/dftest-h4-{env['run']}/bb:1"
    api.tag(BASE, image)
    for _ in api.push(image, stream=True, decode=True, auth_config=registry.auth_config):
        pass
    api.remove_image(image)
    env["images"].append(image)
    data = small_map(db__image=image)
    clients = {"__default__": {"auth_configs": registry.auth_configs}}
    mc = _client(env, data, clients=clients)
    plan = mc.plan("startup")
    assert plan.steps[0].kind == "pull" and plan.steps[0].reason == f"image {image} missing"
    assert [s.kind for s in plan.steps].count("pull") == 1
    result = mc.apply(plan)
    image_id = api.inspect_image(image)["Id"]
    assert result.changes[f"image:{image}"] == {"old": "absent", "new": image_id}
    assert api.inspect_container(f"{env['name']}.db")["Image"] == image_id
    assert mc.plan("startup").steps == []
    assert mc.plan("pull_images").steps == []
    plan = mc.plan("pull_images", "db", pull_all_images=True)
    assert [(s.kind, s.reason) for s in plan.steps] == [("pull", f"image {image} pull requested")]
    assert mc.apply(plan).changes == {}  # same image: nothing changed
