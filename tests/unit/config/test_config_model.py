"""ContainerMap model: round trips, merge/update, inheritance, naming, image expansion and the
regressions of the old tools' [bug] items."""

from __future__ import annotations

import copy

import pytest
import yaml
from containermap.config import (
    ContainerConfiguration,
    ContainerLink,
    ContainerMap,
    ContainerRef,
    HealthCheck,
    HostVolume,
    HostVolumeConfiguration,
    Lazy,
    NetworkEndpoint,
    NotSet,
    PortBinding,
    SharedVolume,
    UsedVolume,
    container_name,
    default_link_alias,
    expand_image,
    hostname,
    network_name,
    split_image,
    volume_name,
)
from containermap.config.naming import image_problem
from containermap.exceptions import ConfigurationError, MapValidationError

SEED_001 = {
    "repository": "registry.example.com",
    "host_root": "/var/lib/site",
    "web_server": {
        "image": "nginx",
        "binds": {"/etc/nginx": ("config/nginx", "ro")},
        "uses": "app_server_socket",
        "attaches": "web_log",
        "exposes": {80: 80, 443: 443},
    },
    "app_server": {
        "image": "app",
        "instances": ("instance1", "instance2"),
        "binds": ({"app_config": "ro"}, "app_data"),
        "attaches": ("app_log", "app_server_socket"),
        "user": 2000,
        "permissions": "u=rwX,g=rX,o=",
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

RICH = {
    "repository": "registry.local:5000/team",
    "default_tag": "dev",
    "default_domain": "example.com",
    "set_hostname": False,
    "use_attached_parent_name": False,
    "clients": ["web1", "web2"],
    "host_root": "/srv",
    "volumes": {
        "data": {
            "default_path": "/data",
            "driver": "local",
            "driver_options": {"o": "x"},
            "user": "app",
            "permissions": "0750",
        },
        "conf": "/etc/app",
        "sock": "/run/app",
    },
    "host": {"conf": {"i1": "conf/1", "default": "/etc/app-default"}},
    "networks": {
        "back": None,
        "front": {"driver": "bridge", "internal": True, "create_options": {"labels": {"a": "b"}}},
    },
    "groups": {"frontend": ["web", "app.i1"]},
    "containers": {
        "base": {"abstract": True, "user": "app:app", "create_options": {"environment": {"A": "1"}}},
        "app": {
            "extends": "base",
            "instances": ["i1", "i2"],
            "binds": [{"conf": "ro"}, ("/var/x", {"i1": "x1", "i2": "/abs/x2"})],
            "attaches": ["data", ("sock", "/run/sock")],
            "shares": "/tmp/cache",
            "exposes": [(8080, 8080, "private"), "53/udp"],
            "networks": {
                "back": {"aliases": ["app"], "links": {"db": "database"}, "ipv4_address": "10.1.0.5"}
            },
            "exec_commands": [("migrate", "root", "initial"), (["sh", "-c", "x"], None)],
            "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "retries": 3},
            "stop_signal": "INT",
            "stop_timeout": 20,
            "start_delay": 1,
            "persistent": True,
            "host_config": {"restart_policy": {"Name": "always"}},
            "requires": ["othermap.db"],
        },
        "db": {"image": "postgres:16", "network_mode": "bridge", "binds": {"/d": "data/db"}},
        "web": {
            "image": "/nginx",
            "uses": [("sock", "ro"), ("data", "/mnt/data")],
            "links": [("app.i1", "backend"), "db"],
            "network_mode": "db",
            "exposes": {80: (80, "public", True)},
        },
    },
}


def problems_of(m: ContainerMap) -> list[str]:
    return [str(p) for p in m.problems(check_integrity=False)]


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SEED_001, RICH], ids=["seed001", "rich"])
def test_as_dict_round_trip(data):
    m = ContainerMap("m", copy.deepcopy(data), check_integrity=False)
    plain = m.as_dict()
    again = ContainerMap("m", plain, check_integrity=False)
    assert again == m
    assert again.as_dict() == plain
    # plain data only: dicts, lists, scalars
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain


def test_as_dict_only_set_keys_and_named_tuples_as_dicts():
    m = ContainerMap(
        "m",
        {
            "web": {"image": "x", "exposes": [(80, 8080, "pub")], "network_mode": "app.i1"},
            "app": {"instances": "i1"},
        },
        check_integrity=False,
    )
    assert m.as_dict()["containers"]["web"] == {
        "image": "x",
        "exposes": [{"exposed_port": 80, "host_port": 8080, "interface": "pub", "ipv6": False}],
        "network_mode": {"config": "app", "instance": "i1"},
    }


def test_copy_is_independent():
    m = ContainerMap("m", copy.deepcopy(RICH), check_integrity=False)
    c = m.copy()
    assert c == m
    c.containers["db"].merge({"create_options": {"command": "x"}})
    c.host["conf"]["i1"] = "/elsewhere"
    assert m.containers["db"].create_options == {}
    assert m.host["conf"]["i1"] == "conf/1"


def test_seed_001_model():
    m = ContainerMap("example_map", copy.deepcopy(SEED_001), check_integrity=False)
    app = m.containers.app_server
    assert app.instances == ("instance1", "instance2")
    assert app.binds == (SharedVolume("app_config", True), SharedVolume("app_data", False))
    assert app.attaches == (SharedVolume("app_log"), SharedVolume("app_server_socket"))
    assert app.user == "2000" and app.permissions == "u=rwX,g=rX,o="
    web = m.containers["web_server"]
    assert web["binds"] == (HostVolume("/etc/nginx", "config/nginx", True),)
    assert web.exposes == (PortBinding(80, 80), PortBinding(443, 443))
    assert m.host.get_path("app_config", "instance2") == "/var/lib/site/config/app2"
    assert m.host.get_path("app_data", "instance1") == "/var/lib/site/data/app1"
    assert m.host_root == "/var/lib/site"
    assert m.get_config_image("web_server") == "registry.example.com/nginx:latest"
    assert [name for name, _ in m] == ["web_server", "app_server"]


# -- the [bug] regressions --------------------------------------------------------------------


def test_yaml_alias_bind_with_empty_value():
    data = yaml.safe_load(
        """
app_server:
  instances: [instance1]
  binds:
    - app_config: ro
    - app_data:
volumes:
  app_config: /var/lib/app/config
  app_data: /var/lib/app/data
host:
  app_config: /srv/config
  app_data: /srv/data
"""
    )
    assert data["app_server"]["binds"][1] == {"app_data": None}
    m = ContainerMap("m", data, check_integrity=False)
    assert m.containers["app_server"].binds == (
        SharedVolume("app_config", True),
        SharedVolume("app_data", False),
    )


def test_healthcheck_list_shorthand_is_the_test():
    config = ContainerConfiguration(healthcheck=["curl", "-f", "http://localhost/"])
    assert config.healthcheck == HealthCheck(("CMD", "curl", "-f", "http://localhost/"))
    assert ContainerConfiguration(healthcheck=["curl", "x"]).healthcheck.test == ("CMD", "curl", "x")
    # positional form still works when the items after the test are durations
    assert ContainerConfiguration(healthcheck=["curl x", "10s", "2s", 3]).healthcheck == HealthCheck(
        ("CMD-SHELL", "curl x"), 10 * 10**9, 2 * 10**9, 3
    )


@pytest.mark.parametrize(
    ("image", "split"),
    [
        ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", None)),
        ("registry.local:5000/app", ("registry.local:5000/app", None)),
        ("registry.local:5000/app:1.0", ("registry.local:5000/app", "1.0")),
        ("localhost:5000/ns/app:v2", ("localhost:5000/ns/app", "v2")),
        ("app", ("app", None)),
        ("app:1.0", ("app", "1.0")),
        ("/ubuntu:22.04", ("/ubuntu", "22.04")),
        ("app@sha256:" + "a" * 64, ("app@sha256:" + "a" * 64, None)),
        ("app:1@sha256:" + "b" * 64, ("app@sha256:" + "b" * 64, "1")),
    ],
)
def test_split_image_registry_port(image, split):
    assert split_image(image) == split


def test_environment_as_list_in_create_options():
    m = ContainerMap(
        "m",
        {
            "base": {"abstract": True, "create_options": {"environment": ["A=1", "B=2"]}},
            "web": {"extends": "base", "image": "x"},
        },
    )
    assert m.get_extended("web").create_options == {"environment": ["A=1", "B=2"]}
    assert ContainerMap("m", m.as_dict()) == m


def test_client_stop_timeout_is_kept():
    from containermap.config import ClientConfiguration

    assert ClientConfiguration(stop_timeout=7).stop_timeout == 7


# -- image expansion and naming ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "repository", "tag", "expected"),
    [
        ("c", "reg", "dev", "reg/c:dev"),
        ("/ubuntu", "reg", "dev", "ubuntu:dev"),
        ("x:1.0", "reg", "dev", "reg/x:1.0"),
        ("lib/x", "reg", "dev", "lib/x:dev"),
        ("app", None, None, "app:latest"),
        ("app", "127.0.0.1:5000", None, "127.0.0.1:5000/app:latest"),
        ("127.0.0.1:5000/app", "reg", None, "127.0.0.1:5000/app:latest"),
        ("registry.local:5000/app:1.0", "reg", "dev", "registry.local:5000/app:1.0"),
        ("app@sha256:" + "c" * 64, "reg", "dev", "reg/app@sha256:" + "c" * 64),
    ],
)
def test_expand_image(image, repository, tag, expected):
    assert expand_image(image, repository, tag) == expected


def test_get_image_with_lazy_settings_and_config_name_default():
    m = ContainerMap(
        "m",
        {
            "repository": Lazy(str, "reg.local"),
            "default_tag": Lazy(str, "v1"),
            "web": {},
            "db": {"image": "/pg"},
        },
    )
    assert m.get_image("app") == "reg.local/app:v1"
    assert m.get_config_image("web") == "reg.local/web:v1"
    assert m.get_config_image("db") == "pg:v1"


def test_names():
    assert container_name("main", "web_server") == "main.web_server"
    assert container_name("main", "app", "i1") == "main.app.i1"
    assert volume_name("main", "log") == "main.log"
    assert volume_name("main", "log", "app") == "main.app.log"
    assert network_name("main", "back") == "main.back"
    assert [network_name("main", n) for n in ("bridge", "host", "none")] == ["bridge", "host", "none"]
    assert hostname("main.web_server") == "main-web-server"
    assert hostname("main.app_server", "legacy") == "main-app-server-legacy"
    assert hostname("main.app_server", "__default__") == "main-app-server"
    assert hostname("main.app", "web_1.example") == "main-app-web-1-example"
    assert default_link_alias("app_server.instance1") == "app-server-instance1"


def test_attached_volume_name_honours_parent_name_setting():
    m = ContainerMap("m", {"app": {"attaches": "log"}, "volumes": {"log": "/l"}}, check_integrity=False)
    assert m.attached_volume_name("app", "log") == "m.log"
    m.use_attached_parent_name = True
    assert m.attached_volume_name("app", "log") == "m.app.log"
    assert container_name(m, "app") == "m.app"


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "library/nginx:1.25",
        "registry.local:5000/a/b_c-d.e:tag_1",
        "[::1]:5000/app",
        "Registry.local/app",
        "/ubuntu",
    ],
)
def test_valid_image_references(image):
    assert image_problem(image) is None


@pytest.mark.parametrize("image", ["Nginx", "app:", "app:bad tag", "-app", "app//x", "", "reg:port/app"])
def test_invalid_image_references(image):
    assert image_problem(image) is not None


# -- host volumes -----------------------------------------------------------------------------


def test_host_volume_paths():
    host = HostVolumeConfiguration(
        {"a": "rel/a", "b": "/abs/b", "c": {"i1": "c1", "default": "/c"}, "root": "/srv"}
    )
    assert host.get_path("a") == "/srv/rel/a"
    assert host.get_path("b") == "/abs/b"
    assert host.get_path("c", "i1") == "/srv/c1"
    assert host.get_path("c", "i2") == "/c"
    assert host.get_path("c") == "/c"
    assert host.has_path("c", "i9") and not host.has_path("zzz")
    assert HostVolumeConfiguration({"a": "./x", "root": Lazy(str, "/lazy")}).get_path("a") == "/lazy/x"


def test_host_volume_missing_instance_path_is_a_clear_error():
    host = HostVolumeConfiguration({"c": {"i1": "/c1"}}, map_name="webapp")
    with pytest.raises(
        ConfigurationError,
        match=r"^webapp\.host\.c: no host path for instance 'i2' \(and no 'default' entry\)$",
    ):
        host.get_path("c", "i2")
    with pytest.raises(ConfigurationError, match=r"^webapp\.host\.zz: alias 'zz' has no entry in host$"):
        host.get_path("zz")
    with pytest.raises(ConfigurationError, match=r"needs a root"):
        HostVolumeConfiguration({"r": "rel"}).get_path("r")


# -- merge and update ---------------------------------------------------------------------------


def test_config_merge_semantics():
    config = ContainerConfiguration(
        image="a",
        instances=["i1", "i2"],
        binds=[("/x", "/h1"), "alias", ("/y", "/h2")],
        exposes=[(80, 80), 443],
        links=["db"],
        create_options={"environment": {"A": "1"}, "command": "x"},
        stop_timeout=10,
    )
    config.merge(
        {
            "image": "b",
            "instances": ["i2", "i3"],
            "binds": [("/x", "/other", "ro"), ("alias", "ro"), "new"],
            "exposes": [(80, 8080, "pub"), (80, 8081, "priv")],
            "links": ["db", "cache"],
            "create_options": {"environment": {"B": "2"}},
        }
    )
    assert config.image == "b"
    assert config.instances == ("i1", "i2", "i3")
    assert config.binds == (
        HostVolume("/x", "/other", True),
        SharedVolume("alias", True),
        HostVolume("/y", "/h2"),
        SharedVolume("new"),
    )
    assert config.exposes == (PortBinding(80, 8080, "pub"), PortBinding(80, 8081, "priv"), PortBinding(443))
    assert config.links == (ContainerLink("db"), ContainerLink("cache"))
    assert config.create_options == {"environment": {"B": "2"}, "command": "x"}
    assert config.stop_timeout == 10


def test_config_merge_lists_only_keeps_scalars():
    config = ContainerConfiguration(image="a", uses=["x"])
    config.merge({"image": "b", "stop_timeout": 3, "uses": ["y"]}, lists_only=True)
    assert config.image == "a" and config.stop_timeout is NotSet
    assert config.uses == (SharedVolume("x"), SharedVolume("y"))


def test_config_update_replaces():
    config = ContainerConfiguration(image="a", uses=["x"], create_options={"command": "c", "user": "u"})
    config.update({"uses": "y", "create_options": {"command": "d"}})
    assert config.uses == (SharedVolume("y"),)
    assert config.create_options == {"command": "d"}
    assert config.image == "a"


def test_merge_callable_options():
    def base():
        return {"command": "a", "working_dir": "/w"}

    config = ContainerConfiguration(create_options=base)
    config.merge({"create_options": {"command": "b"}})
    assert config.create_options() == {"command": "b", "working_dir": "/w"}


def test_map_merge_and_update():
    m = ContainerMap("m", copy.deepcopy(SEED_001), check_integrity=False)
    m.merge(
        {
            "web_server": {"exposes": {443: 8443}, "links": "app_server.instance1"},
            "worker": {"image": "worker", "uses": "app_server_socket"},
            "volumes": {"cache": "/cache"},
            "host": {"app_config": {"instance3": "/c3"}},
            "groups": {"g": ["worker"]},
            "default_tag": "stable",
        }
    )
    web = m.containers["web_server"]
    assert web.exposes == (PortBinding(80, 80), PortBinding(443, 8443))
    assert web.links == (ContainerLink("app_server.instance1"),)
    assert "worker" in m.containers and m.volumes["cache"].default_path == "/cache"
    assert m.host["app_config"] == {
        "instance1": "config/app1",
        "instance2": "config/app2",
        "instance3": "/c3",
    }
    assert m.default_tag == "stable" and m.groups == {"g": ("worker",)}
    m.merge({"default_tag": "x", "groups": {"g": ["web_server"]}}, lists_only=True)
    assert m.default_tag == "stable" and m.groups["g"] == ("worker", "web_server")
    m.update({"web_server": {"exposes": 8080}, "repository": "other.registry"})
    assert m.containers["web_server"].exposes == (PortBinding(8080),)
    assert m.repository == "other.registry"
    assert m.get_config_image("web_server") == "other.registry/nginx:stable"


def test_map_merge_rejects_invalid_values_with_key_path():
    m = ContainerMap("m", copy.deepcopy(SEED_001), check_integrity=False)
    with pytest.raises(MapValidationError, match=r"^m\.web_server\.exposes\[0\]: port 0 is out of range"):
        m.merge({"web_server": {"exposes": [0]}})


def test_map_attribute_and_item_access():
    m = ContainerMap("m", copy.deepcopy(SEED_001), check_integrity=False)
    assert m.containers.web_server is m.containers["web_server"] is m["web_server"]
    assert m["volumes"] is m.volumes and m.volumes.web_log.default_path == "/var/log/nginx"
    assert m.set_hostname is NotSet and m.clients == () and m.default_domain is NotSet
    m.containers["extra"] = {"image": "e", "uses": "web_log"}
    assert m.containers.extra.uses == (SharedVolume("web_log"),)
    with pytest.raises(ConfigurationError):
        m.set_hostname = "yes"
    with pytest.raises(ConfigurationError):
        m.containers["bad"] = {"binds": 5}


# -- inheritance --------------------------------------------------------------------------------


def test_inheritance_rules():
    m = ContainerMap(
        "m",
        {
            "base": {
                "abstract": True,
                "image": "base",
                "user": "app",
                "instances": ["a"],
                "binds": [("/x", "/base-x"), "shared"],
                "exposes": [80],
                "links": ["db"],
                "create_options": {"environment": {"A": "1", "B": "2"}, "command": "run"},
                "persistent": True,
            },
            "mid": {"abstract": True, "extends": "base", "stop_timeout": 5, "links": "cache"},
            "web": {
                "extends": ["mid"],
                "image": "web",
                "instances": ["b"],
                "binds": [("/x", "/web-x", "ro")],
                "exposes": [(80, 8080)],
                "create_options": {"environment": {"C": "3"}},
            },
            "db": {},
            "cache": {},
        },
        check_integrity=False,
    )
    web = m.get_extended("web")
    assert web.image == "web" and web.user == "app" and web.stop_timeout == 5 and web.persistent is True
    assert web.instances == ("a", "b")
    assert web.binds == (HostVolume("/x", "/web-x", True), SharedVolume("shared"))
    assert web.exposes == (PortBinding(80, 8080),)
    assert web.links == (ContainerLink("db"), ContainerLink("cache"))
    # shallow dict update: the child's environment replaces the parent's whole environment
    assert web.create_options == {"environment": {"C": "3"}, "command": "run"}
    # extends and abstract are not inherited
    assert web.extends == () and web.abstract is NotSet
    assert m.get_extended("mid").abstract is NotSet
    extended = m.get_extended_map()
    assert list(extended.containers) == ["web", "db", "cache"]
    assert [name for name, _ in m] == ["web", "db", "cache"]
    assert extended.get_extended_map() is extended
    # the original map is unchanged
    assert m.containers["web"].binds == (HostVolume("/x", "/web-x", True),)


def test_multiple_extends_in_order():
    m = ContainerMap(
        "m",
        {
            "a": {"abstract": True, "image": "a", "shares": "/a"},
            "b": {"abstract": True, "image": "b", "shares": "/b"},
            "c": {"extends": ["a", "b"]},
        },
    )
    c = m.get_extended("c")
    assert c.image == "b" and c.shares == ("/a", "/b")


def test_extends_problems_do_not_break_the_rest():
    m, problems = ContainerMap.load(
        "m", {"a": {"extends": ["b", "zzz"]}, "b": {"extends": "a", "image": "b"}}, check_integrity=False
    )
    assert [str(p) for p in problems] == [
        "m.a.extends[1]: unknown configuration 'zzz'",
        "m.b.extends[0]: extends cycle: a -> b -> a",
    ]
    assert m.get_extended("a").image == "b"


# -- validation: all problems at once -----------------------------------------------------------


def test_three_errors_reported_at_once():
    with pytest.raises(MapValidationError) as exc:
        ContainerMap(
            "webapp",
            {
                "web": {"image": "nginx", "expose": 80, "healthcheck": {"test": "true", "interval": "soon"}},
                "repositry": "registry.local",
            },
        )
    assert [str(p) for p in exc.value.problems] == [
        "webapp.web.expose: unknown key 'expose' (did you mean 'exposes'?)",
        "webapp.web.healthcheck.interval: invalid interval str 'soon' (use a duration string such as '30s', "
        "'1m30s', '500ms', or an integer number of nanoseconds)",
        "webapp.repositry: looks like a misspelled map key 'repository' (a top-level key that is not a map key "
        "is a container configuration, which must be a mapping; got str 'registry.local')",
    ]
    assert str(exc.value).startswith("3 problems found:\n  - webapp.web.expose: ")
    problem = exc.value.problems[0]
    assert (problem.map_name, problem.config, problem.path) == ("webapp", "web", "expose")


def test_check_integrity_false_still_validates_keys():
    with pytest.raises(MapValidationError, match=r"^webapp\.web\.binds: "):
        ContainerMap("webapp", {"web": {"binds": 5}}, check_integrity=False)


def test_problems_and_check_integrity_on_a_valid_map():
    m = ContainerMap("example_map", copy.deepcopy(SEED_001))
    assert m.problems() == []
    m.check_integrity()


def test_invalid_map_name():
    with pytest.raises(MapValidationError, match=r"invalid map name 'my map'"):
        ContainerMap("my map", {})


def test_normalised_types_of_rich_map():
    m = ContainerMap("m", copy.deepcopy(RICH), check_integrity=False)
    app = m.get_extended("app")
    assert app.binds[1] == HostVolume("/var/x", {"i1": "x1", "i2": "/abs/x2"})
    assert app.attaches == (SharedVolume("data"), UsedVolume("sock", "/run/sock"))
    assert app.networks == (
        NetworkEndpoint("back", ("app",), (ContainerLink("db", "database"),), "10.1.0.5"),
    )
    assert app.stop_signal == "SIGINT" and app.user == "app:app"
    assert m.containers["web"].network_mode == ContainerRef("db")
    assert m.containers["web"].exposes == (PortBinding(80, 80, "public", True),)
    assert m.networks["back"].driver == "bridge" and m.networks["front"].internal is True
    assert m.volumes["data"].permissions == "0750" and m.volumes["conf"].driver == "local"
    assert m.clients == ("web1", "web2") and m.groups == {"frontend": ("web", "app.i1")}
    assert problems_of(m) == []


def test_deepcopy_and_pickle():
    import pickle

    m = ContainerMap("m", copy.deepcopy(RICH), check_integrity=False)
    assert copy.deepcopy(m) == m
    assert pickle.loads(pickle.dumps(m)) == m
    from containermap.config import ClientConfiguration

    client = ClientConfiguration(base_url="unix:///var/run/docker.sock", name="local", extra_key=1)
    again = pickle.loads(pickle.dumps(client))
    assert again == client and again.name == "local"


def test_configuration_objects_as_input():
    web = ContainerConfiguration(image="nginx", uses="log")
    m = ContainerMap("m", {"web": web, "app": {"attaches": "log"}, "volumes": {"log": "/var/log"}})
    assert m.containers["web"] == web and m.containers["web"] is not web
    again = ContainerMap("other", m)
    assert again.name == "other" and again.containers == m.containers


def test_check_integrity_runs_cross_reference_rules_and_cycle_detection():
    with pytest.raises(MapValidationError) as exc:
        ContainerMap("m", {"web": {"links": "nothing", "expose": 1}})
    locations = [p.location for p in exc.value.problems]
    assert locations[0] == "m.web.expose" and "m.web.links[0]" in locations
    with pytest.raises(MapValidationError) as exc:
        ContainerMap("m", {"a": {"links": "b"}, "b": {"links": "a"}})
    assert exc.value.problems
    # skipped with check_integrity=False (per-key validation still runs)
    m = ContainerMap("m", {"a": {"links": "b"}, "b": {"links": "a"}}, check_integrity=False)
    assert m.problems(check_integrity=False) == []
    assert m.problems() != []


def test_groups_forms():
    from containermap.config import MapConfigId

    m = ContainerMap(
        "m",
        {
            "app": {"instances": ["i1"]},
            "web": {},
            "groups": {"g": "web", "h": [MapConfigId("container", "m", "app", "i1"), "web"]},
        },
    )
    assert m.groups == {"g": ("web",), "h": ("app.i1", "web")}


def test_numeric_default_tag():
    assert ContainerMap("m", {"default_tag": 2}).default_tag == "2"
    with pytest.raises(
        MapValidationError, match=r"^m\.default_tag: tag 1.1 was read as a number: quote it \('1.1'\)$"
    ):
        ContainerMap("m", {"default_tag": 1.10})


def test_replacing_sections_with_plain_data():
    m = ContainerMap("m", copy.deepcopy(SEED_001), check_integrity=False)
    m.host = {"app_config": "/c", "app_data": "/d"}
    assert m.host.get_path("app_config", "instance1") == "/c"
    m.volumes = {"web_log": "/logs"}
    assert list(m.volumes) == ["web_log"] and m.volumes.web_log.default_path == "/logs"
    with pytest.raises(MapValidationError, match=r"^m\.volumes\.x: volume path 'rel' must be absolute"):
        m.volumes = {"x": "rel"}
