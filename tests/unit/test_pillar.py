"""Pillar processing (containermap.pillar) and the lazy_yaml renderer, without Salt daemons."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import msgpack
import pytest
from containermap import pillar as cm_pillar
from containermap.config.lazy import Placeholder
from containermap.exceptions import ConfigurationError, MapValidationError, Problem

REPO = Path(__file__).resolve().parents[2]


def _has_model() -> bool:
    return importlib.util.find_spec("containermap.config.map") is not None


needs_model = pytest.mark.skipif(not _has_model(), reason="containermap.config.map (H2) not there yet")


def load_renderer():
    spec = importlib.util.spec_from_file_location("lazy_yaml_renderer", REPO / "_renderers" / "lazy_yaml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------
# settings


def test_setting_lookup_order_pillar_grains_config_default():
    pillar = {"dockerfabric": {"settings": {"docker_timeout": 11}}}
    grains = {"dockerfabric": {"settings": {"docker_timeout": 22, "stop_timeout": 3}}}
    opts = {"dockerfabric.docker_timeout": 33, "dockerfabric.stop_timeout": 4, "dockerfabric.wait_timeout": 5}
    assert cm_pillar.lookup_setting("docker_timeout", pillar, grains, opts) == 11
    assert cm_pillar.lookup_setting("stop_timeout", pillar, grains, opts) == 3
    assert cm_pillar.lookup_setting("wait_timeout", pillar, grains, opts) == 5
    assert cm_pillar.lookup_setting("docker_version", pillar, grains, opts) == "auto"
    assert cm_pillar.lookup_setting("raise_map_errors", {}, {}, {}) is True


def test_setting_lookup_salt_container_map_keys():
    pillar = {
        "docker": {"url": "unix:///x.sock"},
        "container_map": {"interface_aliases": {"private": "eth1"}},
    }
    opts = {"docker.timeout": 7, "container_map": {}}
    settings = cm_pillar.lookup_settings(pillar, {}, opts)
    assert settings["docker_url"] == "unix:///x.sock"
    assert settings["interface_aliases"] == {"private": "eth1"}
    assert settings["docker_timeout"] == 7
    # our key wins over the compatible one in the same source
    pillar["dockerfabric"] = {"settings": {"docker_url": "unix:///y.sock"}}
    assert cm_pillar.lookup_setting("docker_url", pillar) == "unix:///y.sock"


def test_interfaces_from_grains_with_aliases():
    grains = {
        "ip4_interfaces": {"eth0": ["10.0.0.5", "10.0.0.6"], "lo": ["127.0.0.1"], "docker0": []},
        "ip6_interfaces": {"eth0": ["fe80::1"], "lo": ["::1"]},
    }
    v4, v6 = cm_pillar.interfaces_from_grains(grains, {"private": "eth0", "nowhere": "eth9"})
    assert v4 == {"eth0": "10.0.0.5", "lo": "127.0.0.1", "private": "10.0.0.5"}
    assert v6 == {"eth0": "fe80::1", "lo": "::1", "private": "fe80::1"}


def test_interfaces_from_old_ip_interfaces_grain():
    v4, v6 = cm_pillar.interfaces_from_grains({"ip_interfaces": {"eth0": ["10.1.1.1", "fe80::2"]}})
    assert v4 == {"eth0": "10.1.1.1"}
    assert v6 == {"eth0": "fe80::2"}


def test_registries_compat_and_new_key():
    pillar = {
        "docker-registries": {"reg.example.com": {"username": "old", "password": "p1"}},
        "team-docker-registries": {"team.example.com": {"username": "t", "password": "p2"}},
        "dockerfabric": {"registries": {"reg.example.com": {"username": "new", "password": "p3"}}},
    }
    auth = cm_pillar.registries_from_pillar(pillar)
    assert auth["reg.example.com"]["username"] == "new"
    assert auth["team.example.com"]["username"] == "t"


def test_client_configs_default_from_settings_and_grains(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    pillar = {
        "dockerfabric": {
            "settings": {
                "docker_url": "unix:///run/a.sock",
                "stop_timeout": 3,
                "interface_aliases": {"pub": "eth0"},
            },
            "registries": {"127.0.0.1:5000": {"username": "u", "password": "p"}},
            "clients": {"remote": {"base_url": "tcp://10.0.0.9:2376", "interfaces": {"private": "10.0.0.9"}}},
        }
    }
    grains = {"ip4_interfaces": {"eth0": ["192.0.2.1"]}}
    settings = cm_pillar.lookup_settings(pillar, grains, {})
    configs = cm_pillar.client_configs(pillar, grains, settings)
    default = configs["__default__"]
    assert default["base_url"] == "unix:///run/a.sock"
    assert default["stop_timeout"] == 3
    assert default["version"] == "auto"
    assert default["interfaces"] == {"eth0": "192.0.2.1", "pub": "192.0.2.1"}
    assert default["auth_configs"] == {"127.0.0.1:5000": {"username": "u", "password": "p"}}
    remote = configs["remote"]
    assert remote["base_url"] == "tcp://10.0.0.9:2376"
    assert remote["interfaces"] == {"private": "10.0.0.9"}
    assert "stop_timeout" not in remote  # host settings are not copied to other hosts


def test_client_configs_docker_host_fallback(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/env.sock")
    configs = cm_pillar.client_configs({}, {}, cm_pillar.lookup_settings({}, {}, {}))
    assert configs["__default__"]["base_url"] == "unix:///run/env.sock"


# ------------------------------------------------------------------------------------------------
# lazy values


def test_traverse_dicts_lists_and_int_keys():
    data = {"a": {"b": [{"c": 1}], 80: "http"}}
    assert cm_pillar.traverse(data, "a:b:0:c") == 1
    assert cm_pillar.traverse(data, "a:80") == "http"
    with pytest.raises(KeyError):
        cm_pillar.traverse(data, "a:x")
    with pytest.raises(KeyError):
        cm_pillar.traverse(data, "a:b:5")


def test_resolve_markers_and_placeholders_with_key_paths():
    pillar = {"db": {"host": "db.local", "port": 5432}}
    grains = {"fqdn_ip4": ["192.0.2.7"]}
    resolvers = cm_pillar.salt_resolvers(pillar, grains)
    body = {
        "repository": cm_pillar.lazy_marker("pillar", "registry:host"),
        "web": {
            "create_options": {"environment": {"DB": cm_pillar.lazy_marker("pillar", "db:host")}},
            "exposes": [[80, 80, Placeholder("grain", "fqdn_ip4:0")]],
            "binds": [{"/data": cm_pillar.lazy_marker("pillar", "missing:key")}],
        },
        "containers": {"app": {"user": cm_pillar.lazy_marker("pillar", "db:port")}},
    }
    problems: list[Problem] = []
    out = cm_pillar.resolve_placeholders(body, resolvers, problems, "webapp")
    assert out["web"]["create_options"]["environment"]["DB"] == "db.local"
    assert out["web"]["exposes"] == [[80, 80, "192.0.2.7"]]
    assert out["containers"]["app"]["user"] == 5432
    assert [str(p) for p in problems] == [
        "webapp.repository: !pillar registry:host: key not found in pillar",
        "webapp.web.binds[0]./data: !pillar missing:key: key not found in pillar",
    ]


def test_resolve_env_and_path_markers(monkeypatch):
    monkeypatch.setenv("DFTEST_H8_VAR", "value1")
    monkeypatch.setenv("HOME", "/home/dftest")
    resolvers = cm_pillar.salt_resolvers({}, {})
    problems: list[Problem] = []
    out = cm_pillar.resolve_placeholders(
        {
            "a": {"create_options": {"environment": {"X": cm_pillar.lazy_marker("env", "DFTEST_H8_VAR")}}},
            "b": {"binds": [[cm_pillar.lazy_marker("path", "~/data"), "/data"]]},
            "c": {"user": cm_pillar.lazy_marker("env", "DFTEST_H8_MISSING")},
        },
        resolvers,
        problems,
        "m",
    )
    assert out["a"]["create_options"]["environment"]["X"] == "value1"
    assert out["b"]["binds"][0][0] == "/home/dftest/data"
    assert [str(p) for p in problems] == [
        "m.c.user: !env DFTEST_H8_MISSING: key not found in the environment"
    ]


# ------------------------------------------------------------------------------------------------
# the renderer


def test_renderer_emits_msgpack_safe_markers():
    renderer = load_renderer()
    text = """
db: {host: db.local}
dockerfabric:
  maps:
    webapp:
      web:
        image: local/busybox:latest
        create_options:
          environment:
            DB: !pillar db:host
            IP: !grain fqdn_ip4:0
"""
    data = renderer.render(text)
    env = data["dockerfabric"]["maps"]["webapp"]["web"]["create_options"]["environment"]
    assert env == {
        "DB": {"__lazy__": "pillar", "key": "db:host"},
        "IP": {"__lazy__": "grain", "key": "fqdn_ip4:0"},
    }
    # master -> minion transport: must survive msgpack unchanged
    assert msgpack.unpackb(msgpack.packb(data)) == data
    problems: list[Problem] = []
    resolved = cm_pillar.resolve_placeholders(
        data["dockerfabric"]["maps"]["webapp"],
        cm_pillar.salt_resolvers(data, {"fqdn_ip4": ["192.0.2.9"]}),
        problems,
        "webapp",
    )
    assert problems == []
    assert resolved["web"]["create_options"]["environment"] == {"DB": "db.local", "IP": "192.0.2.9"}


def test_renderer_errors_are_render_errors():
    from salt.exceptions import SaltRenderError

    renderer = load_renderer()
    with pytest.raises(SaltRenderError, match="line 2"):
        renderer.render("a: 1\n  b: [\n")
    with pytest.raises(SaltRenderError, match="needs a scalar"):
        renderer.render("a: !pillar [x]\n")


def test_renderer_reads_file_objects_and_empty_input():
    import io

    renderer = load_renderer()
    assert renderer.render(io.StringIO("x: !path_lazy ~/a\n")) == {"x": {"__lazy__": "path", "key": "~/a"}}
    assert renderer.render("") == {}


# ------------------------------------------------------------------------------------------------
# raw maps and map files


def test_raw_maps_from_both_keys_and_duplicates():
    pillar = {"dockerfabric": {"maps": {"a": {"web": {}}}}, "container_maps": {"b": {"app": {}}, "c": None}}
    sources = cm_pillar.raw_maps_from_pillar(pillar)
    assert sorted(sources) == ["a", "b", "c"]
    assert sources["b"].source == "container_maps"
    pillar["container_maps"]["a"] = {}
    with pytest.raises(
        ConfigurationError, match="map 'a' is defined in both dockerfabric:maps and container_maps"
    ):
        cm_pillar.raw_maps_from_pillar(pillar)
    with pytest.raises(ConfigurationError, match="a container map must be a mapping, not list"):
        cm_pillar.raw_maps_from_pillar({"container_maps": {"x": [1]}})


def test_map_file_entries_forms():
    pillar = {
        "dockerfabric": {"map_files": ["salt://maps/a.yml", {"source": "salt://b.yaml", "name": "bee"}]}
    }
    assert cm_pillar.map_file_entries(pillar) == [("salt://maps/a.yml", None), ("salt://b.yaml", "bee")]
    with pytest.raises(ConfigurationError, match=r"dockerfabric.map_files\[0\]"):
        cm_pillar.map_file_entries({"dockerfabric": {"map_files": [7]}})


def test_load_map_files_names_and_placeholders(tmp_path):
    (tmp_path / "webapp.yml").write_text(
        "web:\n  image: x\n  create_options: {environment: {A: !pillar a:b}}\n"
    )
    (tmp_path / "named.yml").write_text("name: rooted\napp: {image: y}\n")
    (tmp_path / "other.yml").write_text("app: {image: z}\n")
    fetched = []

    def fetch(source):
        fetched.append(source)
        path = tmp_path / source.rsplit("/", 1)[-1]
        return str(path) if path.exists() else None

    result = cm_pillar.load_map_files(
        [("salt://m/webapp.yml", None), ("salt://m/named.yml", None), ("salt://m/other.yml", "explicit")],
        fetch,
    )
    assert sorted(result) == ["explicit", "rooted", "webapp"]
    env = result["webapp"].body["web"]["create_options"]["environment"]["A"]
    assert isinstance(env, Placeholder) and (env.tag, env.key) == ("pillar", "a:b")
    with pytest.raises(ConfigurationError, match="salt://m/none.yml: map file not found"):
        cm_pillar.load_map_files([("salt://m/none.yml", None)], fetch)


# ------------------------------------------------------------------------------------------------
# building maps (needs the configuration model)


def _sources(maps: dict) -> dict:
    return {name: cm_pillar.MapSource(name, body, "test") for name, body in maps.items()}


BASE = {
    "web": {
        "image": "local/busybox:latest",
        "binds": [["/a", "/srv/a"]],
        "create_options": {"environment": {"A": "1"}},
    },
    "app": {"image": "local/busybox:latest", "instances": ["i1"]},
}


@needs_model
def test_build_plain_maps_and_placeholders():
    maps, problems, skipped = cm_pillar.build_maps(
        _sources({"webapp": {**BASE, "web": {**BASE["web"], "user": cm_pillar.lazy_marker("pillar", "u")}}}),
        cm_pillar.salt_resolvers({"u": "2000"}, {}),
    )
    assert problems == [] and skipped == []
    assert str(maps["webapp"].containers["web"].user) == "2000"


@needs_model
def test_merge_into_merges_lists_and_values():
    maps, problems, _ = cm_pillar.build_maps(
        _sources(
            {
                "webapp": BASE,
                "extra": {
                    "merge_into": "webapp",
                    "web": {"binds": [["/b", "/srv/b"]], "create_options": {"environment": {"B": "2"}}},
                },
            }
        )
    )
    assert problems == []
    assert sorted(maps) == ["webapp"]
    web = maps["webapp"].containers["web"]
    assert [b.path for b in web.binds] == ["/a", "/b"]
    # dicts are updated shallowly (salt-container-map / docker-map merge semantics)
    assert web.create_options["environment"] == {"B": "2"}


@needs_model
def test_merge_lists_only_keeps_scalars():
    maps, _, _ = cm_pillar.build_maps(
        _sources(
            {
                "webapp": BASE,
                "extra": {
                    "merge_into": "webapp",
                    "merge_lists_only": True,
                    "web": {"image": "other:1", "binds": [["/c", "/srv/c"]]},
                },
            }
        )
    )
    web = maps["webapp"].containers["web"]
    assert web.image == "local/busybox:latest"
    assert len(web.binds) == 2


@needs_model
def test_extend_copy_after_merges_and_chained():
    maps, problems, _ = cm_pillar.build_maps(
        _sources(
            {
                "copy2": {"extend_copy": "copy1", "app": {"instances": ["i3"]}},
                "copy1": {"extend_copy": "webapp", "web": {"binds": [["/x", "/srv/x"]]}},
                "webapp": BASE,
                "extra": {"merge_into": "webapp", "app": {"instances": ["i2"]}},
            }
        )
    )
    assert problems == []
    assert sorted(maps) == ["copy1", "copy2", "webapp"]
    assert maps["webapp"].containers["app"].instances == ("i1", "i2")
    assert maps["copy1"].containers["app"].instances == ("i1", "i2")
    assert len(maps["copy1"].containers["web"].binds) == 2
    assert len(maps["webapp"].containers["web"].binds) == 1  # the original is not changed
    assert maps["copy2"].containers["app"].instances == ("i1", "i2", "i3")
    assert maps["copy2"].name == "copy2"


@needs_model
def test_unknown_targets_and_cycles_are_problems():
    with pytest.raises(MapValidationError) as info:
        cm_pillar.build_maps(
            _sources(
                {
                    "webapp": BASE,
                    "m1": {"merge_into": "webap", "web": {}},
                    "c1": {"extend_copy": "c2"},
                    "c2": {"extend_copy": "c1"},
                    "both": {"merge_into": "webapp", "extend_copy": "webapp"},
                }
            )
        )
    text = str(info.value)
    assert "m1.merge_into: unknown map 'webap' (did you mean 'webapp'?)" in text
    assert "c1.extend_copy: circular extend_copy via map 'c2'" in text
    assert "both.merge_into: merge_into and extend_copy exclude each other" in text


@needs_model
def test_invalid_map_raises_with_key_path_or_is_skipped():
    bad = {"web": {"image": "local/busybox:latest", "binds": ["app_data"]}}  # alias without volumes/host
    good = {"web": {"image": "local/busybox:latest"}}
    with pytest.raises(MapValidationError) as info:
        cm_pillar.build_maps(_sources({"bad": bad, "good": good}))
    assert any(
        p.map_name == "bad" and p.config == "web" and "binds" in p.path for p in info.value.problems
    ), str(info.value)
    maps, problems, skipped = cm_pillar.build_maps(_sources({"bad": bad, "good": good}), raise_errors=False)
    assert sorted(maps) == ["good"] and skipped == ["bad"] and problems
    # skip_check: the cross-reference problem is not checked
    maps, problems, skipped = cm_pillar.build_maps(_sources({"bad": {**bad, "skip_check": True}}))
    assert sorted(maps) == ["bad"] and problems == []


@needs_model
def test_per_key_problem_names_the_map_and_key_path():
    with pytest.raises(MapValidationError) as info:
        cm_pillar.build_maps(_sources({"webapp": {"web": {"image": "local/busybox:latest", "instances": 3}}}))
    assert any(str(p).startswith("webapp.web.instances") for p in info.value.problems), str(info.value)


@needs_model
def test_load_pillar_config_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    (tmp_path / "files.yml").write_text(
        "svc:\n  image: local/busybox:latest\n  create_options: {environment: {H: !grain host}}\n"
    )
    renderer = load_renderer()
    pillar = renderer.render(
        f"""
settings_src: {{timeout: 9}}
dockerfabric:
  settings:
    docker_timeout: 9
  map_files:
    - {tmp_path / "files.yml"}
container_maps:
  legacy:
    web:
      image: local/busybox:latest
      create_options:
        environment:
          T: !pillar settings_src:timeout
"""
    )
    config = cm_pillar.load_pillar_config(pillar, {"host": "minion1"}, {})
    assert sorted(config.maps) == ["files", "legacy"]
    assert config.settings["docker_timeout"] == 9
    assert "__default__" in config.clients
    assert config.maps["legacy"].containers["web"].create_options["environment"] == {"T": 9}
    assert config.maps["files"].containers["svc"].create_options["environment"] == {"H": "minion1"}


def test_docs_mention_every_setting():
    text = (REPO / "docs" / "salt.md").read_text() if (REPO / "docs" / "salt.md").exists() else ""
    missing = [name for name in cm_pillar.SETTINGS if f"`{name}`" not in text]
    assert not missing, f"docs/salt.md does not document {missing}"
