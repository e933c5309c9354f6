"""Pure planning on synthetic observed state (no Docker)."""

from __future__ import annotations

import json

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
