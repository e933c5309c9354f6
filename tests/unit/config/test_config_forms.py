"""Every input form of every container/volume/network/client key (reference 1.3-1.7) and the
normalised value it becomes."""

from __future__ import annotations

import pytest
from containermap.config import (
    ClientConfiguration,
    ContainerConfiguration,
    ContainerLink,
    ContainerRef,
    ExecCommand,
    HealthCheck,
    HostVolume,
    Lazy,
    NetworkConfiguration,
    NetworkEndpoint,
    NotSet,
    PortBinding,
    SharedVolume,
    UsedVolume,
    VolumeConfiguration,
)
from containermap.config.normalize import duration_ns, normalize_environment
from containermap.exceptions import ConfigurationError


def norm(key: str, value):
    return getattr(ContainerConfiguration({key: value}), key)


def lazy_value(value="x"):
    return Lazy(str, value)


S, H, U, L, P = SharedVolume, HostVolume, UsedVolume, ContainerLink, PortBinding

BINDS = [
    ("alias", (S("alias", False),)),
    (["a", "b"], (S("a", False), S("b", False))),
    ([("alias", "ro")], (S("alias", True),)),
    ([("alias", True)], (S("alias", True),)),
    ([("alias", "rw")], (S("alias", False),)),
    ([("alias", False)], (S("alias", False),)),
    ([{"alias": "ro"}], (S("alias", True),)),
    ({"alias": "ro", "other": False}, (S("alias", True), S("other", False))),
    # YAML '- alias:' is {alias: None}: a read-write alias bind ([bug] in docker-map)
    ([{"app_data": None}], (S("app_data", False),)),
    ([{"app_config": "ro"}, {"app_data": None}], (S("app_config", True), S("app_data", False))),
    ([("/etc/app", "/srv/app")], (H("/etc/app", "/srv/app", False),)),
    ([("/etc/app", "/srv/app", "ro")], (H("/etc/app", "/srv/app", True),)),
    ([("/etc/app", "/srv/app", "rw")], (H("/etc/app", "/srv/app", False),)),
    ([("/etc/app", "/srv/app", "yes")], (H("/etc/app", "/srv/app", True),)),  # truthy = read-only
    ([("./rel", "data")], (H("./rel", "data", False),)),
    ({"/etc/app": "/srv/app"}, (H("/etc/app", "/srv/app", False),)),
    ({"/etc/nginx": ("config/nginx", "ro")}, (H("/etc/nginx", "config/nginx", True),)),
    ({"/etc/nginx": ["config/nginx", "ro"]}, (H("/etc/nginx", "config/nginx", True),)),
    ([["/etc/nginx", ["config/nginx", "ro"]]], (H("/etc/nginx", "config/nginx", True),)),
    (
        {"/data": {"i1": "/srv/1", "default": "/srv/d"}},
        (H("/data", {"i1": "/srv/1", "default": "/srv/d"}, False),),
    ),
    ([{"path": "/x", "host_path": "/h", "readonly": True}], (H("/x", "/h", True),)),
    ([{"name": "alias", "readonly": True}], (S("alias", True),)),
    ([S("alias", True), H("/x", "/h")], (S("alias", True), H("/x", "/h", False))),
    (None, ()),
]


@pytest.mark.parametrize(("value", "expected"), BINDS)
def test_binds(value, expected):
    assert norm("binds", value) == expected


def test_binds_lazy_host_path():
    lz = lazy_value("/srv")
    assert norm("binds", {"/data": lz}) == (H("/data", lz, False),)
    assert norm("binds", [(lz, "/srv/x")]) == (H(lz, "/srv/x", False),)


ATTACHES = [
    ("log", (S("log"),)),
    (["log", "sock"], (S("log"), S("sock"))),
    ([("log", "/var/log")], (U("log", "/var/log"),)),
    ({"log": "/var/log"}, (U("log", "/var/log"),)),
    ({"log": None}, (S("log"),)),
    ([{"log": "/var/log"}, "sock"], (U("log", "/var/log"), S("sock"))),
    ([("log", "rw")], (S("log"),)),
    ([{"name": "log", "path": "/l"}], (U("log", "/l"),)),
]


@pytest.mark.parametrize(("value", "expected"), ATTACHES)
def test_attaches(value, expected):
    assert norm("attaches", value) == expected


USES = [
    ("sock", (S("sock", False),)),
    (["sock", "app.i1"], (S("sock", False), S("app.i1", False))),
    ([("sock", "ro")], (S("sock", True),)),
    ([("sock", True)], (S("sock", True),)),
    ([("sock", "/mnt/s")], (U("sock", "/mnt/s", False),)),
    ([("sock", "/mnt/s", "ro")], (U("sock", "/mnt/s", True),)),
    ({"sock": "/mnt/s"}, (U("sock", "/mnt/s", False),)),
    ({"sock": "ro"}, (S("sock", True),)),
    ({"sock": None}, (S("sock", False),)),
    ({"sock": ("/mnt/s", "ro")}, (U("sock", "/mnt/s", True),)),
    ({"sock": ["/mnt/s", True]}, (U("sock", "/mnt/s", True),)),
    ([{"name": "sock", "path": "/p", "readonly": True}], (U("sock", "/p", True),)),
]


@pytest.mark.parametrize(("value", "expected"), USES)
def test_uses(value, expected):
    assert norm("uses", value) == expected


LINKS = [
    ("db", (L("db"),)),
    ("db.i1", (L("db.i1"),)),
    (["db", "cache.main"], (L("db"), L("cache.main"))),
    ([("db", "database")], (L("db", "database"),)),
    ({"db": "database", "cache": None}, (L("db", "database"), L("cache"))),
    ([{"db": "database"}, "cache"], (L("db", "database"), L("cache"))),
    ([{"container": "db", "alias": "x"}], (L("db", "x"),)),
    ([L("db", "x")], (L("db", "x"),)),
]


@pytest.mark.parametrize(("value", "expected"), LINKS)
def test_links(value, expected):
    assert norm("links", value) == expected


EXPOSES = [
    (8111, (P(8111),)),
    ("8111", (P(8111),)),
    ("53/udp", (P("53/udp"),)),
    ("80/tcp", (P(80),)),
    ("5000/SCTP", (P("5000/sctp"),)),
    ([(80, 80)], (P(80, 80),)),
    ([(80, 80, "public")], (P(80, 80, "public"),)),
    ([(80, (80, "public"))], (P(80, 80, "public"),)),
    ([(80, (80, "private", True))], (P(80, 80, "private", True),)),
    ([(80, 80, "private", True)], (P(80, 80, "private", True),)),
    ({80: 80, 443: (443, "public")}, (P(80, 80), P(443, 443, "public"))),
    ({"53/udp": 5353}, (P("53/udp", 5353),)),
    ({80: None}, (P(80),)),
    ([(80, "8000-8010")], (P(80, "8000-8010"),)),
    ([(80, "8080")], (P(80, 8080),)),
    (
        [{"exposed_port": 80, "host_port": 8080, "interface": "eth", "ipv6": True}],
        (P(80, 8080, "eth", True),),
    ),
    ([80, (443, 443)], (P(80), P(443, 443))),
    ([(80, 80, "a"), (80, 8080, "b")], (P(80, 80, "a"), P(80, 8080, "b"))),
    ([(80,)], (P(80),)),
]


@pytest.mark.parametrize(("value", "expected"), EXPOSES)
def test_exposes(value, expected):
    assert norm("exposes", value) == expected


def test_exposes_lazy_host_port_and_interface():
    port, iface = lazy_value(8080), lazy_value("eth0")
    assert norm("exposes", [(80, port, iface)]) == (P(80, port, iface),)


NE = NetworkEndpoint
NETWORKS = [
    ("back", (NE("back"),)),
    (["back", "front"], (NE("back"), NE("front"))),
    ([("back",)], (NE("back"),)),
    ([("back", "web")], (NE("back", ("web",)),)),
    ([("back", ["web", "www"], "db")], (NE("back", ("web", "www"), (L("db"),)),)),
    (
        [("back", None, None, "10.0.0.5", "fd00::5", ["169.254.1.1"])],
        (NE("back", (), (), "10.0.0.5", "fd00::5", ("169.254.1.1",)),),
    ),
    ([("back", {"aliases": "web", "ipv4_address": "10.0.0.2"})], (NE("back", ("web",), (), "10.0.0.2"),)),
    ({"back": None}, (NE("back"),)),
    ({"back": "web"}, (NE("back", ("web",)),)),
    ({"back": [["web"], {"db": "database"}]}, (NE("back", ("web",), (L("db", "database"),)),)),
    (
        {"back": {"aliases": ["a", "b"], "links": "db.i1", "link_local_ips": "169.254.0.9"}},
        (NE("back", ("a", "b"), (L("db.i1"),), None, None, ("169.254.0.9",)),),
    ),
    ({"back": None, "front": "web"}, (NE("back"), NE("front", ("web",)))),
    ([{"network_name": "back", "aliases": ["x"]}], (NE("back", ("x",)),)),
    ([{"back": None}, "bridge"], (NE("back"), NE("bridge"))),
]


@pytest.mark.parametrize(("value", "expected"), NETWORKS)
def test_networks(value, expected):
    assert norm("networks", value) == expected


NETWORK_MODES = [
    ("bridge", "bridge"),
    ("host", "host"),
    ("none", "none"),
    ("disabled", "none"),
    ("", "none"),
    (None, "none"),
    ("container:other", "container:other"),
    ("/other", "/other"),
    ("app", ContainerRef("app")),
    ("app.i1", ContainerRef("app", "i1")),
    (("app", "i1"), ContainerRef("app", "i1")),
    ({"config": "app", "instance": None}, ContainerRef("app")),
]


@pytest.mark.parametrize(("value", "expected"), NETWORK_MODES)
def test_network_mode(value, expected):
    assert norm("network_mode", value) == expected


EXEC = [
    ("cmd", (ExecCommand("cmd"),)),
    (["a", "b"], (ExecCommand("a"), ExecCommand("b"))),
    ([("a", "root")], (ExecCommand("a", "root"),)),
    ([("a", 1000)], (ExecCommand("a", "1000"),)),
    ([("a", "root", "initial")], (ExecCommand("a", "root", "initial"),)),
    ([(["ls", "-l"], None)], (ExecCommand(("ls", "-l")),)),
    ({"cmd": "a", "user": "u", "policy": "initial"}, (ExecCommand("a", "u", "initial"),)),
    ([{"cmd": ["sh", "-c", "x"]}], (ExecCommand(("sh", "-c", "x")),)),
    ([ExecCommand("a")], (ExecCommand("a"),)),
]


@pytest.mark.parametrize(("value", "expected"), EXEC)
def test_exec_commands(value, expected):
    assert norm("exec_commands", value) == expected


SEC = 10**9
HEALTH = [
    ("curl -f http://localhost/", HealthCheck(("CMD-SHELL", "curl -f http://localhost/"))),
    (None, HealthCheck(None)),
    ("NONE", HealthCheck(None)),
    (["NONE"], HealthCheck(None)),
    # a list of strings that is clearly a command is the test ([bug]: docker-map read 'x' as interval)
    (["curl", "x"], HealthCheck(("CMD", "curl", "x"))),
    (["CMD", "curl", "-f", "http://x/"], HealthCheck(("CMD", "curl", "-f", "http://x/"))),
    (["CMD-SHELL", "curl x"], HealthCheck(("CMD-SHELL", "curl x"))),
    (["curl -f x", "30s"], HealthCheck(("CMD-SHELL", "curl -f x"), 30 * SEC)),
    (
        [["curl", "x"], "10s", "5s", 3, "1m"],
        HealthCheck(("CMD", "curl", "x"), 10 * SEC, 5 * SEC, 3, 60 * SEC),
    ),
    (
        ("true", 1_000_000_000, None, 2),
        HealthCheck(("CMD-SHELL", "true"), SEC, None, 2),
    ),
    (
        {"test": ["CMD", "true"], "interval": "1m30s", "timeout": "500ms", "retries": 0, "start_period": "0"},
        HealthCheck(("CMD", "true"), 90 * SEC, 500_000_000, 0, 0),
    ),
    ({"test": "NONE"}, HealthCheck(None)),
    (HealthCheck(("CMD", "x"), 2 * SEC), HealthCheck(("CMD", "x"), 2 * SEC)),
]


@pytest.mark.parametrize(("value", "expected"), HEALTH)
def test_healthcheck(value, expected):
    assert norm("healthcheck", value) == expected


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("30s", 30 * SEC),
        ("1m", 60 * SEC),
        ("500ms", 500_000_000),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("5ns", 5),
        ("1h30m", 5400 * SEC),
        ("1.5s", 1_500_000_000),
        ("0", 0),
        (1234, 1234),
        ("abc", None),
        ("10", None),
        ("-1s", None),
        (-5, None),
        (True, None),
        ("", None),
    ],
)
def test_duration_ns(text, ns):
    assert duration_ns(text) == ns


USERS = [
    (2000, "2000"),
    (0, "0"),
    ("app", "app"),
    ("app:staff", "app:staff"),
    ("1000:1000", "1000:1000"),
    (("app", "staff"), "app:staff"),
    ([1000, 50], "1000:50"),
]


@pytest.mark.parametrize(("value", "expected"), USERS)
def test_user(value, expected):
    assert norm("user", value) == expected


def test_user_lazy_kept_and_tuple_with_lazy_part_resolves():
    lz = lazy_value("app")
    assert norm("user", lz) is lz
    joined = norm("user", (lz, "staff"))
    assert isinstance(joined, Lazy) and joined.get() == "app:staff"


@pytest.mark.parametrize("mode", ["u=rwX,g=rX,o=", "0750", "750", "a+r", "go-w", "u+s,g=u", "=r"])
def test_permissions_valid(mode):
    assert norm("permissions", mode) == mode


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SIGINT", "SIGINT"),
        ("INT", "SIGINT"),
        ("sigterm", "SIGTERM"),
        (9, 9),
        ("9", 9),
        ("SIGRTMIN+3", "SIGRTMIN+3"),
    ],
)
def test_stop_signal(value, expected):
    assert norm("stop_signal", value) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("instances", "i1", ("i1",)),
        ("instances", ["i1", "i2"], ("i1", "i2")),
        ("instances", ("i1",), ("i1",)),
        ("shares", "/var/cache", ("/var/cache",)),
        ("shares", ["/a", "/b"], ("/a", "/b")),
        ("extends", "base", ("base",)),
        ("extends", ["a", "b"], ("a", "b")),
        ("clients", "web1", ("web1",)),
        ("clients", ["web1", "web2"], ("web1", "web2")),
        ("requires", ["db", "other_map.db.i1"], ("db", "other_map.db.i1")),
        ("abstract", True, True),
        ("persistent", False, False),
        ("stop_timeout", 30, 30),
        ("stop_timeout", 2.5, 2.5),
        ("start_delay", 0, 0),
        ("image", "nginx", "nginx"),
        ("image", "/ubuntu", "/ubuntu"),
        ("image", "registry.local:5000/ns/app:1.0", "registry.local:5000/ns/app:1.0"),
        ("image", "127.0.0.1:5000/app", "127.0.0.1:5000/app"),
        (
            "create_options",
            {"command": ["run"], "environment": ["A=1", "B=2"]},
            {"command": ["run"], "environment": ["A=1", "B=2"]},
        ),
        (
            "create_options",
            {"mem_limit": "1g", "restart_policy": {"Name": "always"}},
            {"mem_limit": "1g", "restart_policy": {"Name": "always"}},
        ),
        (
            "host_config",
            {"restart_policy": {"Name": "always"}, "init": True},
            {"restart_policy": {"Name": "always"}, "init": True},
        ),
    ],
)
def test_simple_keys(key, value, expected):
    assert norm(key, value) == expected


def test_options_callable_and_lazy_values_kept():
    def make():
        return {"command": "x"}

    lz = lazy_value("v")
    config = ContainerConfiguration(create_options=make, host_config={"extra_hosts": {"h": lz}})
    assert config.create_options is make
    assert config.host_config == {"extra_hosts": {"h": lz}}


def test_lazy_values_accepted_where_honoured():
    lz = lazy_value("/p")
    config = ContainerConfiguration(
        image=lz, shares=[lz], permissions=lz, user=lz, exec_commands=[(lz, lz)], exposes=[(lz, lz, lz, lz)]
    )
    assert config.image is lz and config.shares == (lz,) and config.permissions is lz
    assert config.exec_commands == (ExecCommand(lz, lz),)
    assert config.exposes == (P(lz, lz, lz, lz),)


def test_unset_defaults():
    config = ContainerConfiguration()
    assert config.image is NotSet and config.user is NotSet and config.stop_timeout is NotSet
    assert config.abstract is NotSet and config.persistent is NotSet and config.healthcheck is NotSet
    assert config.binds == () and config.instances == () and config.links == ()
    assert config.create_options == {} and config.host_config == {}
    assert config.instance_names() == (None,)
    assert ContainerConfiguration(instances=["a"]).instance_names() == ("a",)


def test_attribute_and_item_access_are_equivalent():
    config = ContainerConfiguration({"uses": "sock"})
    assert config["uses"] == config.uses == (S("sock"),)
    config["links"] = "db"
    config.exposes = 80
    assert config.links == (L("db"),) and config["exposes"] == (P(80),)
    assert "links" in config and "binds" not in config
    with pytest.raises(ConfigurationError, match=r"^exposes: port 0 is out of range \(1-65535\)$"):
        config.exposes = 0
    with pytest.raises(KeyError):
        config["nonsense"]


def test_environment_normalisation_helper():
    assert normalize_environment(["A=1", "B=x=y", "C"]) == {"A": "1", "B": "x=y", "C": None}
    assert normalize_environment({"A": "1"}) == {"A": "1"}
    assert normalize_environment(None) == {}


# -- volumes, networks, clients ------------------------------------------------------------


def test_volume_configuration_forms():
    assert VolumeConfiguration("/var/log").default_path == "/var/log"
    assert VolumeConfiguration("/var/log").driver == "local"
    vol = VolumeConfiguration(
        default_path="/d",
        driver="nfs",
        driver_options={"o": "addr=1"},
        create_options={"labels": {"a": "b"}},
        user="app:app",
        permissions="0750",
    )
    assert (vol.driver, vol.driver_options, vol.create_options) == (
        "nfs",
        {"o": "addr=1"},
        {"labels": {"a": "b"}},
    )
    assert (vol.user, vol.permissions) == ("app:app", "0750")
    assert VolumeConfiguration("/x").as_dict() == "/x"
    assert VolumeConfiguration(vol.as_dict()) == vol


def test_network_configuration_forms():
    net = NetworkConfiguration()
    assert (net.driver, net.internal, net.driver_options, net.create_options) == ("bridge", False, {}, {})
    net = NetworkConfiguration(
        driver="overlay", internal=True, driver_options={"x": "1"}, create_options={"labels": {}}
    )
    assert net.as_dict() == {
        "driver": "overlay",
        "internal": True,
        "driver_options": {"x": "1"},
        "create_options": {"labels": {}},
    }


def test_client_configuration():
    client = ClientConfiguration(
        "tcp://10.0.0.1:2376",
        "auto",
        30,
        name="web1",
        tls={"client_cert": ["/c.pem", "/k.pem"], "ca_cert": "/ca.pem", "verify": True},
        interfaces={"private": "10.0.0.1", "public": "203.0.113.5"},
        interfaces_ipv6={"public": "2001:db8::1"},
        auth_configs={"registry.local:5000": {"username": "u", "password": "p"}},
        domainname="example.com",
        stop_timeout=20,
        wait_timeout=60,
        fabric_host="web1.example.com",
    )
    assert client.name == "web1"
    assert client.base_url == "tcp://10.0.0.1:2376" and client.version == "auto" and client.timeout == 30
    assert client.tls["client_cert"] == ("/c.pem", "/k.pem")
    assert client.interfaces["public"] == "203.0.113.5"
    assert client.stop_timeout == 20  # a real client-wide default ([bug]: docker-map swallowed it)
    assert client["fabric_host"] == "web1.example.com" and client.fabric_host == "web1.example.com"
    assert client.get_init_kwargs()["base_url"] == "tcp://10.0.0.1:2376"
    assert ClientConfiguration(version=1.41).version == "1.41"
    assert ClientConfiguration(tls=True).tls is True
    assert ClientConfiguration().stop_timeout is NotSet
    assert ClientConfiguration(**client.as_dict()) == client


def test_client_configuration_errors_all_at_once():
    with pytest.raises(ConfigurationError) as exc:
        ClientConfiguration(
            base_url="10.0.0.1:2376",
            version="latest",
            timeout=-1,
            interface={"a": "1.2.3.4"},
            interfaces={"pub": "300.1.1.1"},
            interfaces_ipv6={"pub": "10.0.0.1"},
            tls={"cert": "/x"},
            auth_configs={"reg": {"user": "u"}},
            stop_timeout="10",
            name="web1",
        )
    assert [str(p) for p in exc.value.problems] == [
        "clients.web1.base_url: invalid base_url str '10.0.0.1:2376' (expected unix://, tcp://, https://, ssh:// or a socket path)",
        "clients.web1.version: invalid API version str 'latest' (expected 'auto' or a version such as '1.41')",
        "clients.web1.timeout: expected a positive number of seconds, got int -1",
        "clients.web1.interface: unknown key 'interface' (did you mean 'interfaces'?)",
        "clients.web1.interfaces.pub: invalid IPv4 address str '300.1.1.1'",
        "clients.web1.interfaces_ipv6.pub: invalid IPv6 address str '10.0.0.1'",
        "clients.web1.tls.cert: unknown TLS setting 'cert' (did you mean 'ca_cert'?)",
        "clients.web1.auth_configs.reg.user: unknown login setting 'user' (did you mean 'username'?)",
        "clients.web1.stop_timeout: expected a non-negative number of seconds, got str '10'",
    ]
