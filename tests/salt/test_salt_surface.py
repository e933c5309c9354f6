"""The Salt surface without the Docker engine: functions, docs, renderer, formula rendering,
invalid pillar maps (real salt-call --local)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.salt

MODULE_FUNCTIONS = {
    "create",
    "start",
    "restart",
    "stop",
    "remove",
    "kill",
    "startup",
    "shutdown",
    "update",
    "script",
    "single_cmd",
    "pull_images",
    "plan",
    "show",
    "list_maps",
    "refresh",
    "setup",
    "merge",
    "cleanup_containers",
    "remove_all_containers",
    # images and registries (issue 6)
    "build",
    "pull",
    "push",
    "login",
    "remove_image",
    "image_tag_exists",
    "cleanup_images",
    "list_images",
    "list_containers",
    "list_networks",
    "list_volumes",
    "version",
    "save_image",
    "load_image",
    # file utilities (issue 7)
    "copy_resource",
    "copy_resources",
    "isolate_and_get",
    "isolate_to_image",
    "flatten_image",
    "get_ip",
    "get_ipv6",
    # multi-host (issue 8)
    "share",
    "fleet_level",
}
STATE_FUNCTIONS = {
    "updated",
    "started_up",
    "created",
    "started",
    "restarted",
    "stopped",
    "removed",
    "shut_down",
    "signaled",
    "script_run",
    "set_up",
    "merged",
    "containers_clean",
    "all_removed",
    "mod_watch",
    "image_built",
    "image_present",
    "image_absent",
    "logged_in",
    "images_clean",
}


def test_sys_doc_lists_every_function_with_cli_example(salt_env):
    docs = salt_env.call("sys.doc", "dockerfabric")
    names = {key.split(".", 1)[1] for key in docs}
    assert names == MODULE_FUNCTIONS
    no_example = sorted(k for k, v in docs.items() if "CLI Example:" not in (v or "") or "salt '*'" not in v)
    assert no_example == []


def test_state_functions_are_loaded(salt_env):
    funcs = salt_env.call("sys.list_state_functions", "dockerfabric")
    assert {f.split(".", 1)[1] for f in funcs} == STATE_FUNCTIONS


def test_lazy_yaml_pillar_keeps_markers_until_the_minion_resolves_them(salt_env, unique_map):
    salt_env.write_pillar(
        f"""#!lazy_yaml
db:
  host: db.example.com
dockerfabric:
  maps:
    {unique_map}:
      web:
        image: local/busybox:latest
        create_options:
          environment:
            DB_HOST: !pillar db:host
            MINION: !grain id
"""
    )
    # Salt 3008 masks pillar values in CLI output, so check the marker form by its keys
    raw = salt_env.call("pillar.get", f"dockerfabric:maps:{unique_map}:web:create_options:environment")
    assert {k: sorted(v) for k, v in raw.items()} == {
        "DB_HOST": ["__lazy__", "key"],
        "MINION": ["__lazy__", "key"],
    }
    shown = salt_env.call("dockerfabric.show", unique_map)
    assert shown["containers"]["web"]["create_options"]["environment"] == {
        "DB_HOST": "db.example.com",
        "MINION": salt_env.id,
    }


def test_container_maps_compat_pillar_with_merge_into(salt_env, unique_map):
    salt_env.write_pillar(
        f"""#!lazy_yaml
app_port: 8000
container_maps:
  {unique_map}:
    app:
      image: local/busybox:latest
      instances: [one]
  {unique_map}_extra:
    merge_into: {unique_map}
    app:
      instances: [two]
      create_options:
        environment: {{PORT: !pillar app_port}}
  {unique_map}_copy:
    extend_copy: {unique_map}
    app:
      instances: [three]
"""
    )
    listed = salt_env.call("dockerfabric.list_maps")
    assert listed == {unique_map: ["app"], f"{unique_map}_copy": ["app"]}
    shown = salt_env.call("dockerfabric.show")
    app = shown[unique_map]["containers"]["app"]
    assert app["instances"] == ["one", "two"]
    assert app["create_options"]["environment"] == {"PORT": 8000}
    assert shown[f"{unique_map}_copy"]["containers"]["app"]["instances"] == ["one", "two", "three"]


def test_missing_pillar_key_names_map_and_key_path(salt_env, unique_map):
    salt_env.write_pillar(
        f"""#!lazy_yaml
dockerfabric:
  maps:
    {unique_map}:
      web:
        image: local/busybox:latest
        create_options:
          environment:
            DB_HOST: !pillar db:nothere
"""
    )
    proc = salt_env.run("dockerfabric.list_maps")
    assert proc.returncode != 0
    assert (
        f"{unique_map}.web.create_options.environment.DB_HOST: !pillar db:nothere: key not found in pillar"
        in (proc.stdout + proc.stderr)
    )


def test_formula_shows_readable_state_ids(salt_env, unique_map):
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "lookup": {
                    "install": {"engine": False, "sdk": False},
                    "service": {"manage": False},
                    "maps": {"config_args": {f"{unique_map}.web_server": {"reload_signal": "SIGHUP"}}},
                },
                "maps": {
                    unique_map: {
                        "base": {"abstract": True, "image": "local/busybox:latest"},
                        "web_server": {"extends": "base"},
                        "containers": {"app_server": {"extends": "base", "instances": ["i1", "i2"]}},
                        "volumes": {"data": "/data"},
                    }
                },
            }
        }
    )
    shown = salt_env.call("state.show_sls", "dockerfabric")
    ids = set(shown)
    assert {
        f"dockerfabric-map-{unique_map}",
        f"dockerfabric-{unique_map}.web_server",
        f"dockerfabric-{unique_map}.app_server",
    } <= ids
    assert f"dockerfabric-{unique_map}.base" not in ids
    assert f"dockerfabric-{unique_map}.volumes" not in ids
    assert "dockerfabric-engine-package" not in ids and "dockerfabric-sdk" not in ids
    web = shown[f"dockerfabric-{unique_map}.web_server"]
    assert web["__sls__"] == "dockerfabric.maps"
    assert {"name": f"{unique_map}.web_server"} in web["dockerfabric"]
    assert {"reload_signal": "SIGHUP"} in web["dockerfabric"]
    app = shown[f"dockerfabric-{unique_map}.app_server"]["dockerfabric"]
    assert not any("reload_signal" in arg for arg in app if isinstance(arg, dict))


def test_formula_install_states_follow_lookup_switches(salt_env):
    salt_env.write_pillar({})
    shown = salt_env.call("state.show_sls", "dockerfabric.install")
    assert shown["dockerfabric-engine-package"]["pkg"][0] == {"name": "docker.io"}
    pip = shown["dockerfabric-sdk"]["pip"]
    assert {"name": "docker>=7"} in pip
    assert not any("extra_args" in arg for arg in pip if isinstance(arg, dict))
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "lookup": {"install": {"engine": False, "pip_extra_args": ["--break-system-packages"]}}
            }
        }
    )
    shown = salt_env.call("state.show_sls", "dockerfabric.install")
    assert "dockerfabric-engine-package" not in shown
    assert {"extra_args": ["--break-system-packages"]} in shown["dockerfabric-sdk"]["pip"]
    salt_env.write_pillar({"dockerfabric": {"lookup": {"install": {"sdk_method": "pkg"}}}})
    shown = salt_env.call("state.show_sls", "dockerfabric.install")
    assert shown["dockerfabric-sdk"]["pkg"][0] == {"name": "python3-docker"}
    service = salt_env.call("state.show_sls", "dockerfabric.service")
    assert "service" in service["dockerfabric-service"]


def test_invalid_pillar_map_fails_the_state_with_the_key_path(salt_env, unique_map, request_log):
    """The map state fails with map, config and key path, and not a single request reaches the
    engine (the client goes through the test bed's request-logging proxy)."""
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "lookup": {
                    "install": {"engine": False, "sdk": False},
                    "service": {"manage": False, "check_cmd": "true"},
                },
                "settings": {"docker_url": request_log.base_url},
                "maps": {
                    unique_map: {"web": {"image": "local/busybox:latest", "instances": 3}},
                    f"{unique_map}_x": {"app": {"image": "local/busybox:latest", "binds": ["app_data"]}},
                },
            }
        }
    )
    request_log.clear()
    for test in ("test=True", "test=False"):
        states = salt_env.apply("dockerfabric", test)
        ret = states[f"dockerfabric-map-{unique_map}"]
        assert ret["result"] is False, ret
        assert f"{unique_map}.web.instances" in ret["comment"], ret["comment"]
        # the problems of every map at once, in each map's state
        assert f"{unique_map}_x.app.binds[0]" in ret["comment"], ret["comment"]
        assert f"{unique_map}.web.instances" in states[f"dockerfabric-map-{unique_map}_x"]["comment"]
        assert ret["changes"] == {}
        assert states[f"dockerfabric-{unique_map}.web"]["result"] is False
    assert request_log.requests == []


def test_unreachable_engine_fails_with_the_url(salt_env, unique_map):
    url = f"unix:///nonexistent/{unique_map}.sock"
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "lookup": {
                    "install": {"engine": False, "sdk": False},
                    "service": {"manage": False, "check_cmd": "true"},
                },
                "settings": {"docker_url": url, "docker_timeout": 3},
                "maps": {unique_map: {"web": {"image": "local/busybox:latest"}}},
            }
        }
    )
    states = salt_env.apply("dockerfabric.maps", "test=True")
    ret = states[f"dockerfabric-map-{unique_map}"]
    assert ret["result"] is False and ret["changes"] == {}
    assert f"cannot reach {url}" in ret["comment"]
    proc = salt_env.run("dockerfabric.update", unique_map)
    assert proc.returncode != 0
    assert f"cannot reach {url}" in proc.stdout + proc.stderr


def test_raise_map_errors_off_skips_the_invalid_map(salt_env, unique_map):
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "settings": {"raise_map_errors": False},
                "maps": {
                    f"{unique_map}_bad": {"web": {"image": "local/busybox:latest", "binds": ["nothere"]}},
                    unique_map: {"web": {"image": "local/busybox:latest"}},
                },
            }
        }
    )
    listed = salt_env.call("dockerfabric.list_maps")
    assert listed[unique_map] == ["web"]
    assert f"{unique_map}_bad" not in listed
    assert any(p.startswith(f"{unique_map}_bad.web.binds[0]") for p in listed["__problems__"]), listed
