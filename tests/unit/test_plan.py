"""Pure planning on synthetic observed state (no Docker)."""

from __future__ import annotations

import inspect
import json

import docker
import pytest
from containermap import labels
from containermap.config.elements import MapConfigId
from containermap.exceptions import ConfigurationError
from containermap.observe import ObservedContainer, ObservedNetwork, ObservedState, ObservedVolume
from containermap.plan import Desired, explain_fields, make_plan, update_diff
from containermap.spec import (
    ContainerSpec,
    NetworkSpec,
    VolumeSpec,
    canonical_json,
    hash_of,
    normalize_command,
    normalize_env,
)

M = "m"
IMG = "local/app:1"
IMG_ID = "sha256:" + "a" * 64
IMG_ID2 = "sha256:" + "b" * 64


def cid(config: str, instance: str | None = None) -> MapConfigId:
    return MapConfigId("container", M, config, instance)


def spec(
    config: str, depends=(), fields=None, update=None, networks=None, persistent=False, image=IMG
) -> ContainerSpec:
    f = {"image": image, "command": ["sleep", "100"]}
    f.update(fields or {})
    s = ContainerSpec(
        id=cid(config),
        client="__default__",
        name=f"{M}.{config}",
        image=image,
        fields=f,
        update=update or {},
        networks=networks or {},
        exec_commands=[],
        stop_timeout=1,
        persistent=persistent,
        published_ports=False,
        depends=list(depends),
    )
    s.hash = hash_of(f)
    s.update_hash = hash_of({"update": s.update, "networks": s.networks})
    return s


def observed_from(
    s: ContainerSpec, state="running", image_id=IMG_ID, fields=None, networks=None
) -> ObservedContainer:
    f = fields if fields is not None else s.fields
    lab = {
        labels.MAP: M,
        labels.CONFIG: s.id.config_name,
        labels.INSTANCE: "",
        labels.HASH: hash_of(f),
        labels.UPDATE_HASH: s.update_hash,
        labels.SPEC: canonical_json({"fields": f, "update": s.update}),
    }
    return ObservedContainer(
        s.id.hex if False else "id-" + s.name, s.name, state, image_id, lab, networks or {}
    )


def desired(*specs: ContainerSpec, levels=None, volumes=(), networks=()) -> Desired:
    d = Desired("__default__")
    for s in specs:
        d.containers[s.id] = s
    d.levels = levels or [[s.id] for s in specs]
    d.selected = [s.id for s in specs]
    for v in volumes:
        d.volumes[v.id] = v
    for n in networks:
        d.networks[n.id] = n
    return d


def state(*containers: ObservedContainer, images=None, networks=(), volumes=()) -> ObservedState:
    st = ObservedState("__default__")
    st.images = dict(images if images is not None else {IMG: IMG_ID})
    st.image_ids = set(st.images.values())
    for c in containers:
        st.containers[c.name] = c
    for n in networks:
        st.networks[n.name] = n
    for v in volumes:
        st.volumes[v.name] = v
    return st


def kinds(plan) -> list[tuple[str, str]]:
    return [(s.kind, str(s.target)) for s in plan.steps]


def test_normalize_env_and_command():
    assert normalize_env(["A=1", "B=x=y", "C"]) == {"A": "1", "B": "x=y", "C": ""}
    assert normalize_env({"A": 1, "B": True}) == {"A": "1", "B": "true"}
    assert normalize_command("sh -c 'echo hi'") == ["sh", "-c", "echo hi"]
    assert normalize_command(["a", 1]) == ["a", "1"]


def test_cold_startup_pulls_first_then_creates_by_level():
    db = spec("db")
    app = spec("app", depends=[db.id])
    d = desired(db, app)
    plan = make_plan("startup", [d], {"__default__": state(images={})})
    assert kinds(plan) == [("pull", "m.local/app.1"), ("create", "m.db"), ("create", "m.app")]
    pull, create_db, create_app = plan.steps
    assert pull.level == 0 and create_db.level < create_app.level
    assert create_db.reason == "absent" and create_db.params["start"] is True
    # the pull is shared: both containers wait for it, app also for db
    assert pull.ref in create_db.params["after"]
    assert "__default__|container:m.db" in create_app.params["after"]
    json.dumps(plan.as_list())


def test_noop_update_has_no_steps_and_no_inspect():
    db = spec("db")
    app = spec("app", depends=[db.id])
    plan = make_plan(
        "update", [desired(db, app)], {"__default__": state(observed_from(db), observed_from(app))}
    )
    assert plan.steps == [] and not plan and plan.needs_inspect == []


def test_removed_environment_variable_is_named():
    new = spec("db", fields={"environment": {"A": "1"}})
    old_fields = dict(new.fields, environment={"A": "1", "DB_HOST": "x"})
    plan = make_plan("update", [desired(new)], {"__default__": state(observed_from(new, fields=old_fields))})
    assert kinds(plan) == [("recreate", "m.db")]
    assert "environment DB_HOST removed" in plan.steps[0].reason


def test_command_and_list_changes_explained():
    reasons = explain_fields(
        {"command": ["sleep", "1"], "binds": ["/a:/b:rw"], "user": "1"},
        {"command": ["sleep", "2"], "binds": ["/a:/b:ro"], "hostname": "h"},
    )
    assert "command changed (['sleep', '1'] -> ['sleep', '2'])" in reasons
    assert any(r.startswith("binds changed (removed /a:/b:rw; added /a:/b:ro)") for r in reasons)
    assert "user unset (was 1)" in reasons and "hostname set to h" in reasons


def test_image_change_recreates_and_followers_follow():
    db = spec("db")
    app = spec("app", depends=[db.id], fields={"links": [["m.db", "db"]]})
    web = spec("web", depends=[app.id])  # network-level dependency only: no follow
    obs = state(observed_from(db, image_id=IMG_ID2), observed_from(app), observed_from(web))
    plan = make_plan("update", [desired(db, app, web)], {"__default__": obs})
    assert kinds(plan) == [("recreate", "m.db"), ("recreate", "m.app")]
    assert plan.steps[0].reason.startswith(
        "image local/app:1 changed (sha256:bbbbbbbbbbbb.. -> sha256:aaaaaaaaaaaa.."
    )
    assert plan.steps[1].reason == "m.db is re-created (link)"


def test_persistent_ignores_image_unless_update_persistent_and_stays_stopped():
    db = spec("db", persistent=True)
    obs = {"__default__": state(observed_from(db, image_id=IMG_ID2, state="exited"))}
    assert make_plan("update", [desired(db)], obs).steps == []
    plan = make_plan("update", [desired(db)], obs, {"update_persistent": True})
    assert kinds(plan) == [("recreate", "m.db")]
    # startup still starts it (reference 4.5)
    assert kinds(make_plan("startup", [desired(db)], obs)) == [("start", "m.db")]


def test_stopped_and_created_are_started():
    db = spec("db")
    app = spec("app")
    obs = {"__default__": state(observed_from(db, state="exited"), observed_from(app, state="created"))}
    plan = make_plan("update", [desired(db, app)], obs)
    assert kinds(plan) == [("start", "m.db"), ("start", "m.app")]
    assert plan.steps[1].reason == "created, never started"
    # the first start of a created container also runs the "initial" exec commands
    assert plan.steps[1].params["first_start"] is True and "first_start" not in plan.steps[0].params


def test_missing_image_with_existing_container_is_conditional():
    db = spec("db")
    plan = make_plan("update", [desired(db)], {"__default__": state(observed_from(db), images={})})
    assert kinds(plan) == [("pull", "m.local/app.1"), ("recreate", "m.db")]
    assert plan.steps[1].params["if_image_changed"] is True


def test_unmanaged_name_clash_reported_or_replaced():
    db = spec("db")
    foreign = ObservedContainer("x", "m.db", "running", IMG_ID, {}, {})
    plan = make_plan("update", [desired(db)], {"__default__": state(foreign)})
    assert kinds(plan) == [("warning", "m.db")] and not plan
    assert "not created by this map" in plan.warnings[0]
    plan = make_plan("update", [desired(db)], {"__default__": state(foreign)}, {"replace_unmanaged": True})
    assert kinds(plan) == [("recreate", "m.db")]


def test_force_update():
    db = spec("db")
    plan = make_plan(
        "update", [desired(db)], {"__default__": state(observed_from(db))}, {"force_update": ["m.db"]}
    )
    assert kinds(plan) == [("recreate", "m.db")] and plan.steps[0].reason == "forced update"


def _net(name="net", h="h1"):
    return NetworkSpec(
        MapConfigId("network", M, name), "__default__", f"{M}.{name}", "bridge", {}, False, {}, h
    )


def _vol(alias="data", parent="db", h="v1", user=None):
    return VolumeSpec(
        MapConfigId("volume", M, parent, alias),
        "__default__",
        f"{M}.{alias}",
        "local",
        {},
        {},
        user,
        None,
        IMG,
        h,
    )


def test_networks_and_volumes_created_once_changed_volume_reported():
    net, vol = _net(), _vol()
    db = spec("db", depends=[net.id, vol.id], networks={"m.net": {}})
    d = desired(db, volumes=[vol], networks=[net])
    plan = make_plan("startup", [d], {"__default__": state()})
    assert kinds(plan) == [("create_network", "m.net"), ("create_volume", "m.db.data"), ("create", "m.db")]
    assert plan.steps[0].reason == "network m.net missing"
    # present and matching: nothing; volume with other options: warning only, kept
    obs_net = ObservedNetwork("n1", "m.net", "bridge", {labels.HASH: "h1"}, {}, False)
    obs_vol = ObservedVolume("m.data", "local", {labels.HASH: "other"}, {})
    c = observed_from(db, networks={"m.net": "n1"})
    plan = make_plan("update", [d], {"__default__": state(c, networks=[obs_net], volumes=[obs_vol])})
    assert kinds(plan) == [("warning", "m.db.data")]
    assert "replace_changed_volumes" in plan.steps[0].reason
    c.volumes = ("m.data",)
    plan = make_plan(
        "update",
        [d],
        {"__default__": state(c, networks=[obs_net], volumes=[obs_vol])},
        {"replace_changed_volumes": True},
    )
    # the users are removed with the volume and created again
    assert kinds(plan) == [("replace_volume", "m.db.data"), ("create", "m.db")]
    assert plan.steps[0].params["remove_containers"] == ["m.db"]
    assert plan.steps[1].reason == "removed with volume m.data (replaced)"


def test_network_connections_in_place():
    net = _net()
    db = spec("db", depends=[net.id], networks={"m.net": {"aliases": ["db"]}})
    obs_net = ObservedNetwork("n1", "m.net", "bridge", {labels.HASH: "h1"}, {}, False)
    c = observed_from(db, networks={"bridge": "b0"})
    plan = make_plan("update", [desired(db, networks=[net])], {"__default__": state(c, networks=[obs_net])})
    assert kinds(plan) == [("connect", "m.db")]
    assert plan.steps[0].params == {
        "connect": ["m.net"],
        "disconnect": ["bridge"],
        "after": ["__default__|network:m.net"],
    }
    assert plan.steps[0].reason == "network m.net not connected; network bridge not configured"


def test_in_place_update_needs_inspect_then_updates():
    db = spec("db", update={"mem_limit": "64m", "restart_policy": {"Name": "always", "MaximumRetryCount": 0}})
    c = observed_from(db)
    c.labels[labels.UPDATE_HASH] = "old"
    obs = {"__default__": state(c)}
    plan = make_plan("update", [desired(db)], obs)
    assert plan.steps == [] and plan.needs_inspect == [("__default__", "m.db")]
    inspect = {
        "HostConfig": {"Memory": 32 * 1024 * 1024, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    }
    plan = make_plan("update", [desired(db)], obs, inspected={("__default__", "m.db"): inspect})
    assert kinds(plan) == [("update", "m.db")]
    assert plan.steps[0].params["update"]["mem_limit"] == "64m"
    # already applied (stale label): nothing to do
    inspect = {
        "HostConfig": {
            "Memory": 64 * 1024 * 1024,
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        }
    }
    assert make_plan("update", [desired(db)], obs, inspected={("__default__", "m.db"): inspect}).steps == []


def test_removed_limit_needs_recreate_unless_skipped():
    db = spec("db")
    c = observed_from(db)
    c.labels[labels.UPDATE_HASH] = "old"
    inspected = {("__default__", "m.db"): {"HostConfig": {"Memory": 1 << 26}}}
    plan = make_plan("update", [desired(db)], {"__default__": state(c)}, inspected=inspected)
    assert kinds(plan) == [("recreate", "m.db")] and "mem_limit removed" in plan.steps[0].reason
    plan = make_plan(
        "update", [desired(db)], {"__default__": state(c)}, {"skip_limit_reset": True}, inspected
    )
    assert plan.steps == []


def test_update_diff_bytes():
    kwargs, reasons, removed = update_diff({"mem_limit": "1g"}, {"HostConfig": {"Memory": 1 << 30}})
    assert kwargs == {} and reasons == [] and removed == []


def test_shutdown_reverse_order_and_attached_cleanup():
    net, vol = _net(), _vol(parent="db")
    db = spec("db", depends=[net.id, vol.id], networks={"m.net": {}})
    app = spec("app", depends=[db.id, net.id], networks={"m.net": {}})
    d = desired(db, app, volumes=[vol], networks=[net], levels=[[app.id], [db.id]])
    obs_net = ObservedNetwork("n1", "m.net", "bridge", {}, {}, False)
    obs_vol = ObservedVolume("m.data", "local", {}, {})
    c_db = observed_from(db, networks={"m.net": "n1"})
    c_db.volumes = ("m.data",)
    c_app = observed_from(app, state="exited", networks={"m.net": "n1"})
    obs = {"__default__": state(c_db, c_app, networks=[obs_net], volumes=[obs_vol])}
    plan = make_plan("shutdown", [d], obs)
    assert kinds(plan) == [("remove", "m.app"), ("remove", "m.db")]
    assert plan.steps[1].params["stop"] is True and plan.steps[0].params["stop"] is False
    plan = make_plan("shutdown", [d], obs, {"remove_attached": True, "remove_networks": True})
    assert kinds(plan) == [
        ("remove", "m.app"),
        ("remove", "m.db"),
        ("remove_network", "m.net"),
        ("remove_volume", "m.db.data"),
    ]
    assert plan.steps[3].params["after"] == ["__default__|container:m.db"]
    # a container outside the shutdown still uses the volume: kept, reported
    other = ObservedContainer("o", "other", "running", IMG_ID, {}, {})
    other.volumes = ("m.data",)
    obs["__default__"].containers["other"] = other
    plan = make_plan("shutdown", [d], obs, {"remove_attached": True})
    assert ("warning", "m.db.data") in kinds(plan)
    # persistent kept with remove_persistent=False
    db.persistent = True
    plan = make_plan("shutdown", [d], obs, {"remove_persistent": False})
    assert kinds(plan) == [("remove", "m.app"), ("stop", "m.db")]


def test_remove_skips_running_and_stop_only_running():
    db = spec("db")
    app = spec("app")
    obs = {"__default__": state(observed_from(db), observed_from(app, state="exited"))}
    plan = make_plan("remove", [desired(db, app)], obs)
    assert kinds(plan) == [("warning", "m.db"), ("remove", "m.app")]
    assert kinds(make_plan("stop", [desired(db, app)], obs)) == [("stop", "m.db")]


def test_restart_and_kill_only_selected_running():
    db = spec("db")
    app = spec("app")
    obs = {"__default__": state(observed_from(db), observed_from(app, state="exited"))}
    d = desired(db, app)
    assert kinds(make_plan("restart", [d], obs)) == [("restart", "m.db")]
    plan = make_plan("kill", [d], obs, {"signal": "SIGHUP"})
    assert kinds(plan) == [("kill", "m.db")] and plan.steps[0].params["signal"] == "SIGHUP"


def test_leftover_of_interrupted_recreate():
    db = spec("db")
    left = observed_from(db)
    left.name = "m.db-dfold-0123456789ab"
    plan = make_plan("update", [desired(db)], {"__default__": state(left)})
    assert kinds(plan) == [("restore", "m.db")]
    plan = make_plan("update", [desired(db)], {"__default__": state(left, observed_from(db))})
    assert kinds(plan) == [("remove_leftover", "m.db")]


def test_pull_images_missing_only_or_all():
    db = spec("db")
    obs = {"__default__": state(observed_from(db))}
    assert make_plan("pull_images", [desired(db)], obs).steps == []
    assert kinds(make_plan("pull_images", [desired(db)], obs, {"pull_all_images": True})) == [
        ("pull", "m.local/app.1")
    ]


# ---------------------------------------------------------------------------------------------
# spec building from a real ContainerMap (pure)


def _builder(data, client=None, client_name="__default__"):
    from containermap.config.map import ContainerMap
    from containermap.spec import SpecBuilder

    return SpecBuilder(ContainerMap("m", data).get_extended_map(), client_name, client)


def test_spec_env_forms_and_hash():
    a = _builder({"app": {"create_options": {"environment": {"A": "1", "B": 2}}}}).container("app")
    b = _builder({"app": {"create_options": {"environment": ["A=1", "B=2"]}}}).container("app")
    c = _builder({"app": {"create_options": {"environment": ["A=1"]}}}).container("app")
    assert a.fields["environment"] == {"A": "1", "B": "2"}
    assert a.hash == b.hash and a.hash != c.hash
    assert explain_fields(a.fields, c.fields) == ["environment B removed"]
    create, _host, _ep = a.create_args()
    assert create["environment"] == ["A=1", "B=2"]


def test_spec_command_entrypoint_replaced_and_extends():
    data = {
        "base": {"abstract": True, "create_options": {"entrypoint": ["/bin/a", "b"], "command": "x y"}},
        "app": {"extends": "base", "create_options": {"entrypoint": ["/bin/c"]}},
    }
    spec_ = _builder(data).container("app")
    # child create_options replace the parent's keys; entrypoint is never merged
    assert spec_.fields["entrypoint"] == ["/bin/c"]
    s2 = _builder({"app": {"create_options": {"command": ["x", "y"]}}}).container("app")
    s3 = _builder({"app": {"create_options": {"command": "x y"}}}).container("app")
    assert s2.fields["command"] == s3.fields["command"] == ["x", "y"] and s2.hash == s3.hash


def test_spec_ports_interfaces_ipv6_and_udp():
    client = {"interfaces": {"pub": "10.0.0.1"}, "interfaces_ipv6": {"pub": "fd00::1"}}
    data = {"app": {"exposes": [(80, 8080, "pub"), (80, (8081, "pub", True)), "53/udp", (443, 443)]}}
    spec_ = _builder(data, client).container("app")
    assert spec_.fields["ports"] == ["443/tcp", "53/udp", "80/tcp"]
    assert spec_.fields["port_bindings"] == [
        ["443/tcp", "", "443"],
        ["80/tcp", "10.0.0.1", "8080"],
        ["80/tcp", "fd00::1", "8081"],
    ]
    create, host, _ep = spec_.create_args()
    assert create["ports"] == [443, (53, "udp"), 80]
    assert host["port_bindings"] == {
        "443/tcp": ["443"],
        "80/tcp": [("10.0.0.1", "8080"), ("fd00::1", "8081")],
    }
    assert spec_.published_ports
    with pytest.raises(ConfigurationError, match="interface 'pub' has no IPv4"):
        _builder(data, {}).container("app")


def test_spec_names_links_volumes_user():
    data = {
        "volumes": {"sock": "/run/sock", "log": "/var/log/app"},
        "db": {"attaches": "log", "user": "2000:3000", "permissions": "u=rwX"},
        "app": {
            "instances": ["i1", "i2"],
            "links": ["db", ("db", "database")],
            "uses": ["log", ("db", True)],
        },
    }
    b = _builder({**data, "db": {**data["db"], "shares": "/shared"}}, {"domainname": "example.org"}, "web1")
    spec_ = b.container("app", "i1")
    assert spec_.name == "m.app.i1"
    assert spec_.fields["hostname"] == "m-app-i1-web1" and spec_.fields["domainname"] == "example.org"
    assert spec_.fields["links"] == [["m.db", "db"], ["m.db", "database"]]
    assert spec_.fields["binds"] == ["m.log:/var/log/app:rw"]
    assert spec_.fields["volumes_from"] == ["m.db:ro"]
    dep_keys = {d.key for d in spec_.depends}
    assert {"container:m.db", "volume:m.db.log"} <= dep_keys
    db = b.container("db")
    assert db.fields["user"] == "2000" and db.fields["binds"] == ["m.log:/var/log/app:rw"]
    vol = b.volume("db", "log")
    assert (vol.name, vol.user, vol.permissions) == ("m.log", "2000:3000", "u=rwX")


def test_spec_in_place_keys_and_labels():
    data = {
        "app": {
            "create_options": {"mem_limit": "64m", "labels": {"x": "1"}, "working_dir": "/w"},
            "host_config": {"restart_policy": {"Name": "always"}, "cap_add": ["NET_ADMIN"]},
            "stop_signal": "SIGINT",
            "healthcheck": {"test": ["CMD", "true"], "interval": "10s"},
        }
    }
    spec_ = _builder(data, {"stop_timeout": 7}).container("app")
    assert spec_.update == {"mem_limit": "64m", "restart_policy": {"Name": "always", "MaximumRetryCount": 0}}
    assert spec_.fields["host_config"] == {"cap_add": ["NET_ADMIN"]}
    assert spec_.fields["labels"] == {"x": "1"} and spec_.fields["working_dir"] == "/w"
    assert spec_.fields["stop_signal"] == "SIGINT" and spec_.stop_timeout == 7
    assert spec_.fields["healthcheck"]["test"] == ["CMD", "true"]
    create, host, _ep = spec_.create_args({"org.dockerfabric.test": "t"})
    assert create["labels"]["x"] == "1" and create["labels"]["org.dockerfabric.test"] == "t"
    assert create["labels"][labels.HASH] == spec_.hash and create["stop_timeout"] == 7
    assert host["mem_limit"] == "64m" and host["cap_add"] == ["NET_ADMIN"]
    # extra labels are not hashed; a changed in-place key changes only the update hash
    other = _builder(
        {"app": {**data["app"], "create_options": {**data["app"]["create_options"], "mem_limit": "128m"}}},
        {"stop_timeout": 7},
    ).container("app")
    assert other.hash == spec_.hash and other.update_hash != spec_.update_hash


def test_spec_network_endpoints_and_legacy_links():
    data = {
        "networks": {"front": {}, "back": {"driver": "bridge", "internal": True}},
        "db": {"networks": "back"},
        "app": {"links": "db", "networks": [("front", ["web"]), "back"]},
    }
    b = _builder(data)
    spec_ = b.container("app")
    assert list(spec_.networks) == ["m.front", "m.back"]
    assert spec_.networks["m.front"] == {"aliases": ["web"]}
    create, host, endpoint = spec_.create_args()
    assert host["network_mode"] == "m.front" and "links" not in host
    assert endpoint == {"m.front": {"aliases": ["web"], "links": ["m.db:db"]}}
    assert b.network("back").create_kwargs()["internal"] is True
    assert b.network("back").hash != b.network("front").hash


def test_two_clients_planned_independently_and_serialisable():
    db1 = spec("db")
    db2 = spec("db")
    db2.client = "web2"
    d1, d2 = desired(db1), desired(db2)
    d2.client = "web2"
    obs2 = state(observed_from(db2, state="exited"))
    obs2.client = "web2"
    plan = make_plan("startup", [d1, d2], {"__default__": state(), "web2": obs2})
    assert [(s.client, s.kind) for s in plan.steps] == [("__default__", "create"), ("web2", "start")]
    assert str(plan.steps[1]) == "[web2] start container:m.db: stopped (exited)"
    data = json.loads(json.dumps(plan.as_list()))
    assert data[0]["target"] == "container:m.db" and data[0]["params"]["start"] is True


def test_unresolved_cross_map_requires_fails_before_any_request():
    """Only the graph over all maps sees a dangling cross-map ``requires``; planning must stop
    there (the unreachable client proves no request was attempted)."""
    from containermap.config import ContainerMap
    from containermap.engine import MapClient
    from containermap.exceptions import MapValidationError

    m = ContainerMap("a", {"web": {"image": "x", "requires": "b.db"}})
    client = MapClient({"a": m}, clients={"__default__": {"base_url": "unix:///nonexistent/docker.sock"}})
    with pytest.raises(
        MapValidationError, match=r"a\.web\.requires\[0\]: unknown container or map in 'b\.db'"
    ):
        client.plan("update", "__all__")


# ---------------------------------------------------------------------------------------------
# issue 12: leftovers of interrupted runs, stuck containers, in-place updates already applied


def _temporary(name: str, status: str, age: float, kind="script", **extra) -> ObservedContainer:
    c = ObservedContainer(
        "t" * 52 + name[-12:].rjust(12, "0"),
        name,
        status,
        IMG_ID,
        {labels.TEMPORARY: kind, **extra},
        {},
        created=1000.0 - age,
    )
    return c


def _aged_state(*containers, **kw) -> ObservedState:
    st = state(*containers, **kw)
    st.observed_at = 1000.0
    return st


def test_temporary_leftovers_removed_once_old_enough():
    db = spec("db")
    helper = _temporary("eager_helper", "created", 120, kind="volume:m.data")
    young = _temporary("young_helper", "created", 10)
    script = _temporary("busy_script", "running", 3600)
    obs = {"__default__": _aged_state(observed_from(db), helper, young, script)}
    plan = make_plan("update", [desired(db)], obs)
    assert [(s.kind, s.params["name"]) for s in plan.steps] == [("remove_temporary", helper.id)]
    step = plan.steps[0]
    assert step.level == 1 and step.key == f"temporary:eager_helper.{helper.id[:12]}"
    assert (
        step.reason == "temporary container eager_helper (volume:m.data, created) left by an interrupted run"
    )
    # a running script only after a day; both ages are options (one rule: temporary_left_over)
    script.created = 1000.0 - 90000
    plan = make_plan("update", [desired(db)], obs)
    assert sorted(s.params["name"] for s in plan.steps) == sorted([helper.id, script.id])
    opts = {"temporary_min_age": 0, "temporary_running_min_age": 0}
    assert len(make_plan("startup", [desired(db)], obs, opts).steps) == 3
    # reverse and read-only actions leave them alone
    assert kinds(make_plan("stop", [desired(db)], obs, opts)) == [("stop", "m.db")]
    # temporary_labels restricts the cleanup to one client's objects (the tests' run label)
    mine = _temporary("mine", "created", 120, **{labels.TEST: "run1"})
    obs = {"__default__": _aged_state(observed_from(db), helper, mine)}
    plan = make_plan("update", [desired(db)], obs, {"temporary_labels": {labels.TEST: "run1"}})
    assert [s.params["name"] for s in plan.steps] == [mine.id]


def test_temporary_holding_a_map_name_is_removed_then_created_or_left_alone():
    db = spec("db")
    left = _temporary("m.db", "exited", 120)
    plan = make_plan("update", [desired(db)], {"__default__": _aged_state(left)})
    assert kinds(plan) == [("remove_temporary", f"m.db.{left.id[:12]}"), ("create", "m.db")]
    assert plan.steps[0].level < plan.steps[1].level
    busy = _temporary("m.db", "running", 5)
    plan = make_plan("update", [desired(db)], {"__default__": _aged_state(busy)})
    assert kinds(plan) == [("warning", "m.db")] and "of a run in progress" in plan.steps[0].reason


def test_stuck_containers_are_recreated_with_a_reason():
    db = spec("db", networks={"m.net": {}})
    nets = {"m.net": "nid"}
    # dead: no start possible (a synthetic state: the engine rarely produces one on demand)
    dead = observed_from(db, state="dead", networks=nets)
    plan = make_plan("startup", [desired(db)], {"__default__": state(dead)})
    assert kinds(plan) == [("recreate", "m.db")] and plan.steps[0].reason == "container is dead"
    assert plan.steps[0].params["old_state"] == "present" and plan.steps[0].params["old_id"] == dead.id
    # the apply decides from these whether it may rename the old one running (bridge only)
    assert plan.steps[0].params["old_networks"] == ["m.net"]
    # created but a network connect never happened (create interrupted half-way)
    half = observed_from(db, state="created", networks={})
    plan = make_plan("update", [desired(db)], {"__default__": state(half)})
    assert kinds(plan) == [("recreate", "m.db")]
    assert plan.steps[0].reason == "created, never started, network m.net not connected"
    # created and complete: started (a start failing with "already exists" is re-created by apply)
    whole = observed_from(db, state="created", networks=nets)
    plan = make_plan("update", [desired(db)], {"__default__": state(whole)})
    assert kinds(plan) == [("start", "m.db")] and plan.steps[0].reason == "created, never started"


def test_applied_update_hash_avoids_the_inspect():
    db = spec("db", update={"mem_limit": "64m"})
    c = observed_from(db)
    c.labels[labels.UPDATE_HASH] = "stale-label"
    obs = {"__default__": state(c)}
    # the update step carries what it establishes, so apply can record it
    inspect = {"HostConfig": {"Memory": 32 * 1024 * 1024}}
    plan = make_plan("update", [desired(db)], obs, inspected={("__default__", "m.db"): inspect})
    assert plan.steps[0].params["container_id"] == c.id
    assert plan.steps[0].params["update_hash"] == db.update_hash
    assert plan.verified_updates == {}
    # an inspect that finds the settings applied is recorded as verified
    inspect = {"HostConfig": {"Memory": 64 * 1024 * 1024}}
    plan = make_plan("update", [desired(db)], obs, inspected={("__default__", "m.db"): inspect})
    assert plan.steps == [] and plan.verified_updates == {("__default__", c.id): db.update_hash}
    # recorded: no inspect needed any more; a different desired hash needs one again
    plan = make_plan("update", [desired(db)], obs, applied_updates={c.id: db.update_hash})
    assert plan.steps == [] and plan.needs_inspect == []
    plan = make_plan("update", [desired(db)], obs, applied_updates={c.id: "older"})
    assert plan.needs_inspect == [("__default__", "m.db")]


# --- fix-ups: secrets, create_options routing, change keys, wording, after, settings ---------


def test_secret_type_hides_value_but_compares_and_serialises_it():
    from containermap.config.secret import Secret, reveal, reveal_deep

    s = Secret("hunter2")
    assert s == "hunter2" and hash(s) == hash("hunter2") and {s: 1}["hunter2"] == 1
    assert str(s) == "***" and repr(s) == "'***'" and f"{s}" == "***" and "{}".format(s) == "***"  # noqa: UP032
    assert "hunter2" not in repr({"k": [s]}) and "hunter2" not in str(ValueError(s))
    assert json.dumps(s) == '"hunter2"'  # what the docker SDK sends
    assert type(reveal(s)) is str and reveal(s) == "hunter2"
    assert reveal_deep({"a": [s, (s,)]}) == {"a": ["hunter2", ("hunter2",)]}
    import copy
    import pickle

    assert isinstance(copy.deepcopy(s), Secret) and reveal(pickle.loads(pickle.dumps(s))) == "hunter2"


def test_secret_yaml_tag_and_secret_names_never_stored_or_explained():
    from containermap.config.map import ContainerMap
    from containermap.config.secret import Secret, is_secret_name
    from containermap.config.yaml import load_yaml
    from containermap.spec import SpecBuilder

    def build(password: str, token: str) -> ContainerSpec:
        doc = load_yaml(
            "app:\n  image: local/busybox:latest\n  create_options:\n    environment:\n"
            f"      DB_PASSWORD: {password}\n      PLAIN: !secret {token}\n      HOST: db\n"
            f"    host_config:\n      extra_hosts: {{vault: !secret 10.9.8.7}}\n"
        )
        assert isinstance(doc["app"]["create_options"]["environment"]["PLAIN"], Secret)
        return SpecBuilder(ContainerMap("m", doc).get_extended_map()).container("app")

    a, b, c = build("pw-one", "tok-one"), build("pw-two", "tok-one"), build("pw-one", "tok-two")
    for s, values in ((a, ("pw-one", "tok-one")), (b, ("pw-two",)), (c, ("tok-two",))):
        stored = s.labels()[labels.SPEC] + s.hash + repr(s.fields) + str(s.fields)
        for value in values + ("10.9.8.7",):
            assert value not in stored
        # the container gets the real values
        create, host, _ep = s.create_args()
        assert set(values) <= {e.partition("=")[2] for e in create["environment"]}
        assert host["extra_hosts"] == {"vault": "10.9.8.7"}
        assert all(type(e) is str for e in create["environment"])
    assert a.public_fields["environment"]["HOST"] == "db"
    # a changed secret changes the hash (re-create) and is explained without values
    assert len({a.hash, b.hash, c.hash}) == 3
    assert explain_fields(a.public_fields, b.public_fields) == [
        "environment DB_PASSWORD changed (value hidden)"
    ]
    assert explain_fields(a.public_fields, c.public_fields) == ["environment PLAIN changed (value hidden)"]
    # an old spec label with the plain value (created before) is not shown either
    old = dict(a.public_fields, environment={**a.public_fields["environment"], "DB_PASSWORD": "pw-old"})
    assert explain_fields(old, a.public_fields) == ["environment DB_PASSWORD changed (value hidden)"]
    plain_old = dict(a.public_fields, environment={**a.public_fields["environment"], "HOST": "x"})
    assert explain_fields(plain_old, a.public_fields) == ["environment HOST changed (x -> db)"]
    for name in ("DB_PASSWORD", "passwd", "client_secret", "GITHUB_TOKEN", "X_API_KEY", "ssh_private_key"):
        assert is_secret_name(name)
    assert not is_secret_name("DB_HOST") and not is_secret_name("PATH")


def test_secret_in_plan_reasons_and_as_list():
    new = spec("db", fields={"environment": {"API_TOKEN": "new-value", "A": "1"}})
    old_fields = dict(new.fields, environment={"API_TOKEN": "old-value", "A": "1"})
    plan = make_plan("update", [desired(new)], {"__default__": state(observed_from(new, fields=old_fields))})
    text = json.dumps(plan.as_list()) + str(plan) + plan.comment
    assert "environment API_TOKEN changed (value hidden)" in text
    assert "old-value" not in text and "new-value" not in text


def test_host_config_keys_under_create_options_are_routed():
    """docker-map 1.10: host-config keys under create_options go into the HostConfig."""
    from containermap.spec import _HOST_CONFIG_IN_CREATE

    create_options = {
        "command": "sleep 1",
        "privileged": True,
        "dns": ["1.1.1.1"],
        "cpuset_cpus": "0",
        "volumes_from": ["other"],
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "mem_limit": "64m",
        "cap_add": ["NET_ADMIN"],
        "working_dir": "/tmp",
    }
    data = {"other": {}, "app": {"create_options": create_options, "host_config": {"dns": ["8.8.8.8"]}}}
    s = _builder(data).container("app")
    create, host, _ep = s.create_args()
    routed = {"privileged", "dns", "cpuset_cpus", "volumes_from", "restart_policy", "mem_limit", "cap_add"}
    assert routed <= _HOST_CONFIG_IN_CREATE and not routed & set(create)
    assert create["working_dir"] == "/tmp" and "runtime" not in _HOST_CONFIG_IN_CREATE
    assert host["privileged"] is True and host["cap_add"] == ["NET_ADMIN"]
    assert host["dns"] == ["8.8.8.8"]  # an explicit host_config wins
    assert host["volumes_from"] == ["other"] and host["cpuset_cpus"] == "0" and host["mem_limit"] == "64m"
    assert host["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    # the docker SDK accepts both halves (no engine needed for building them)
    inspect.signature(docker.APIClient.create_container).bind(None, **create)
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    hc = api.create_host_config(**host)
    assert hc["Privileged"] is True and hc["CpusetCpus"] == "0" and hc["VolumesFrom"] == ["other"]


def test_change_keys_are_the_same_in_plan_and_apply():
    from containermap.apply import _Executor

    net, vol = _net(), _vol()
    db = spec("db", depends=[net.id, vol.id], networks={"m.net": {}})
    d = desired(db, volumes=[vol], networks=[net])
    plan = make_plan("startup", [d], {"__default__": state(images={})})
    keys = {s.kind: s.change_key for s in plan.steps}
    assert keys == {
        "pull": f"image:{IMG}",
        "create_network": "network:m.net",
        "create_volume": "volume:m.data",  # the Docker volume name, not the config id m.db.data
        "create": "container:m.db",
    }
    executor = _Executor(plan, {}, None, None)
    for step, item in zip(plan.steps, plan.as_list(), strict=True):
        assert item["change_key"] == step.change_key == executor.change_key(step)
    assert "volume:m.data" in plan.comment and "would be applied" in plan.comment


def test_operation_counts_are_singular_or_plural():
    from containermap.apply import ApplyResult, StepResult
    from containermap.plan import operations

    assert (operations(0), operations(1), operations(2)) == ("0 operations", "1 operation", "2 operations")
    db = spec("db")
    plan = make_plan("startup", [desired(db)], {"__default__": state()})
    assert plan.comment.startswith("1 operation would be applied: create container:m.db")
    one = ApplyResult("startup", [StepResult(plan.steps[0], True, change=("absent", "running"))])
    assert one.comment == "1 operation finished successfully."
    two = ApplyResult("startup", one.results * 2)
    assert two.comment == "2 operations finished successfully."
    failed = ApplyResult("startup", one.results + [StepResult(plan.steps[0], False, error="boom")])
    assert failed.comment.startswith("1 operation finished, 1 failed")


def test_after_lists_each_dependency_once():
    data = {
        "volumes": {"log": "/var/log/app"},
        "db": {"attaches": "log", "shares": "/shared"},
        "app": {"links": ["db", ("db", "database")], "uses": ["log", "db"], "requires": "db"},
    }
    b = _builder(data)
    db, app = b.container("db"), b.container("app")
    d = desired(db, app, volumes=[b.volume("db", "log")])
    d.requires = {app.id: [db.id, db.id]}
    plan = make_plan("startup", [d], {"__default__": state(images={db.image: IMG_ID})})
    for step in plan.steps:
        after = step.params.get("after", [])
        assert len(after) == len(set(after)), step
    create_app = next(s for s in plan.steps if s.kind == "create" and s.target == app.id)
    assert "__default__|container:m.db" in create_app.params["after"]
    # stop walks dependents first: db waits for app once (app links, uses and requires db)
    d.levels = [[app.id], [db.id]]
    running = state(observed_from(db), observed_from(app), images={db.image: IMG_ID})
    plan = make_plan("stop", [d], {"__default__": running})
    stop_db = next(s for s in plan.steps if s.target == db.id)
    assert stop_db.params["after"] == ["__default__|container:m.app"]


def test_start_delay_wait_timeout_and_core_image_reach_the_specs():
    data = {"volumes": {"d": "/d"}, "app": {"attaches": "d", "user": 1000, "start_delay": 1.5}}
    s = _builder(data).container("app")
    assert s.start_delay == 1.5 and s.wait_timeout is None
    assert _builder(data).volume("app", "d").helper_image == s.image  # no core_image: own image
    client = {"wait_timeout": 7, "core_image": "local/helper:1"}
    assert _builder(data, client).container("app").wait_timeout == 7
    assert _builder(data, client).volume("app", "d").helper_image == "local/helper:1"


def test_lazy_yaml_secret_survives_msgpack_and_resolves_to_a_secret():
    import importlib.util
    from pathlib import Path

    import msgpack
    from containermap.config.secret import Secret
    from containermap.pillar import resolve_placeholders, salt_resolvers

    path = Path(__file__).resolve().parents[2] / "_renderers" / "lazy_yaml.py"
    module_spec = importlib.util.spec_from_file_location("lazy_yaml_h17", path)
    renderer = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(renderer)
    data = renderer.render("env:\n  DB_PASSWORD: !secret hunter2\n  HOST: db\n")
    # what the master sends to the minion
    data = msgpack.unpackb(msgpack.packb(data))
    problems: list = []
    resolved = resolve_placeholders(data, salt_resolvers({}, {}), problems, "m", "", map_level=False)
    assert problems == [] and resolved["env"]["HOST"] == "db"
    assert isinstance(resolved["env"]["DB_PASSWORD"], Secret) and resolved["env"]["DB_PASSWORD"] == "hunter2"


def test_running_renames_only_off_user_defined_networks():
    """apply renames a RUNNING container only when it is on Docker's own networks: renaming a
    running container corrupts the engine's endpoint count of its networks (moby#42119)."""
    from containermap.apply import _renames_safely

    assert _renames_safely([]) and _renames_safely(["bridge"]) and _renames_safely(("host",))
    assert not _renames_safely(["bridge", "m.net"]) and not _renames_safely(["external_net"])
