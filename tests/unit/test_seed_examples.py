"""The examples users relied on (seeds 001 and 004), loaded unchanged from tests/unit/data/.

Seed 001 (docker-fabric documentation) holds the container map example twice: as the Python dict
"from Docker-Map" and as the YAML file ``example_map.yaml``, plus ``example_clients.yaml``. Seed
004 (the docker-map README) describes the same configuration keys without a map of its own; its
statements about the keys are checked on the same example.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from containermap.config.elements import HostVolume, MapConfigId, PortBinding, SharedVolume
from containermap.config.naming import container_name, hostname, volume_name
from containermap.config.yaml import load_clients_file, load_map_file
from containermap.exceptions import ConfigurationError
from containermap.graph import DependencyGraph

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parents[2]
MAP_NAME = "example_map"

ENV = {
    "registry_prefix": "registry.example.com",
    "nginx_config_path": "config/nginx",
    "appl_config_path": "config/app1",
    "app2_config_path": "config/app2",
    "appl_data_path": "data/app1",
    "app2_data_path": "data/app2",
}


def run_cli(*files: str) -> subprocess.CompletedProcess:
    """``python -m containermap validate FILE...`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "containermap", "validate", *files],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "_utils")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def C(config: str, instance: str | None = None) -> MapConfigId:
    return MapConfigId("container", MAP_NAME, config, instance)


@pytest.fixture
def yaml_map(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    # as in the seed's fabfile: yaml.load_map_file('/path/to/example_map.yaml', 'example_map')
    return load_map_file(DATA / "seed001_example_map.yaml", MAP_NAME)


@pytest.fixture
def dict_map():
    spec = importlib.util.spec_from_file_location("seed001_example_map", DATA / "seed001_example_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.env.docker_maps


def test_yaml_example_loads_with_normalised_values(yaml_map):
    m = yaml_map
    assert m.name == MAP_NAME
    assert sorted(m.containers) == ["app_server", "web_server"]
    web, app = m.containers["web_server"], m.containers["app_server"]
    assert web.binds == (HostVolume("/etc/nginx", "config/nginx", True),)
    assert web.uses == (SharedVolume("app_server_socket", False),)
    assert web.attaches == (SharedVolume("web_log", False),)
    assert web.exposes == (PortBinding(80, 80), PortBinding(443, 443))
    assert app.instances == ("instance1", "instance2")
    # '- app_data:' (a dict with a null value) is the alias form, not a broken host bind
    assert app.binds == (SharedVolume("app_config", True), SharedVolume("app_data", False))
    assert app.attaches == (SharedVolume("app_log", False), SharedVolume("app_server_socket", False))
    assert str(app.user) == "2000"
    assert app.permissions == "u=rwX,g=rX,o="
    assert m.volumes["app_server_socket"].default_path == "/var/lib/app/socket"


def test_yaml_example_names(yaml_map):
    m = yaml_map
    assert [container_name(m, c, i) for c, cfg in m for i in cfg.instance_names()] == [
        "example_map.web_server",
        "example_map.app_server.instance1",
        "example_map.app_server.instance2",
    ]
    assert hostname("example_map.web_server") == "example-map-web-server"
    assert hostname("example_map.app_server.instance1") == "example-map-app-server-instance1"
    assert hostname("example_map.app_server.instance1", "apps1") == "example-map-app-server-instance1-apps1"
    assert [volume_name(m, a) for a in ("web_log", "app_log", "app_server_socket")] == [
        "example_map.web_log",
        "example_map.app_log",
        "example_map.app_server_socket",
    ]
    assert m.get_image("nginx") == "registry.example.com/nginx:latest"
    assert m.get_image("app") == "registry.example.com/app:latest"


def test_yaml_example_host_paths(yaml_map):
    host = yaml_map.host
    assert host.get_path("app_config", "instance1") == "/var/lib/site/config/app1"
    assert host.get_path("app_data", "instance2") == "/var/lib/site/data/app2"


def test_yaml_example_graph_order(yaml_map):
    g = DependencyGraph({MAP_NAME: yaml_map})
    web = g.select("web_server")
    assert web == [C("web_server")]
    containers = [n for n in g.dependencies(web) if n.config_type == "container"]
    # the web server uses the socket attached by app_server: both instances start first
    assert containers == [C("app_server", "instance1"), C("app_server", "instance2"), C("web_server")]
    assert [n for n in g.dependents(g.select("app_server.instance1")) if n.config_type == "container"] == [
        C("web_server"),
        C("app_server", "instance1"),
    ]
    levels = [[n for n in level if n.config_type == "container"] for level in g.levels(g.select("__all__"))]
    assert [lv for lv in levels if lv] == [
        [C("app_server", "instance1"), C("app_server", "instance2")],
        [C("web_server")],
    ]
    others = {n for n in g.nodes if n.config_type != "container"}
    assert others == {
        MapConfigId("image", MAP_NAME, "registry.example.com/nginx", "latest"),
        MapConfigId("image", MAP_NAME, "registry.example.com/app", "latest"),
        MapConfigId("volume", MAP_NAME, "web_server", "web_log"),
        MapConfigId("volume", MAP_NAME, "app_server", "app_log"),
        MapConfigId("volume", MAP_NAME, "app_server", "app_server_socket"),
    }
    assert g.cycle_problems() == []


def test_yaml_example_needs_its_environment(monkeypatch):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigurationError) as info:
        load_map_file(DATA / "seed001_example_map.yaml", MAP_NAME)
    assert str(info.value).endswith(
        "seed001_example_map.yaml, line 5, column 13: !env registry_prefix: environment variable "
        "'registry_prefix' is not set"
    )


def test_docker_map_readme_statements(yaml_map):
    """Seed 004 (docker-map README) on the example map."""
    m = yaml_map
    # "container_map.containers.container_name.uses or container_map.containers['container_name']['uses']"
    assert m.containers.web_server.uses == m.containers["web_server"]["uses"]
    # "Volume aliases are stored in container_map.volumes and host binds in container_map.host;
    # they support the same syntax variations as containers."
    assert m.volumes.web_log == m.volumes["web_log"]
    assert (
        m.host.app_config == m.host["app_config"] == {"instance1": "config/app1", "instance2": "config/app2"}
    )
    # "image: Docker image to base the container on (default is identical to container name)"
    m.update({"worker": {"links": "app_server.instance1"}})
    assert m.get_config_image("worker") == "registry.example.com/worker:latest"
    # "by default there is one main instance of each container"
    g = DependencyGraph({MAP_NAME: m})
    assert g.select("worker") == [C("worker")]
    # "links: Container names are translated to instance name on the map."
    assert C("app_server", "instance1") in dict(g.edges(C("worker")))


def test_dict_example_equals_yaml_example(yaml_map, dict_map):
    """The Python dict of Docker-Map and the YAML file describe the same map."""
    assert dict_map.name == MAP_NAME
    a, b = dict_map.as_dict(), yaml_map.as_dict()
    # the only difference: the dict quotes 'env.nginx_config_path' (a relative path as printed)
    assert dict_map.containers["web_server"].binds == (
        HostVolume("/etc/nginx", "env.nginx_config_path", True),
    )
    for d in (a, b):
        d["containers"]["web_server"].pop("binds") if "containers" in d else d["web_server"].pop("binds")
    assert a == b


def test_dict_example_graph(dict_map):
    g = DependencyGraph({MAP_NAME: dict_map})
    assert [n for n in g.dependencies(g.select("web_server")) if n.config_type == "container"] == [
        C("app_server", "instance1"),
        C("app_server", "instance2"),
        C("web_server"),
    ]


def test_multi_client_variant_has_no_dependency(yaml_map):
    """Seed 001 "Client configurations": without the socket the two configs are independent."""
    m = yaml_map
    m.update(
        {
            "web_server": {"clients": "web", "uses": []},
            "app_server": {
                "clients": ("apps1", "apps2", "apps3"),
                "attaches": "app_log",
                "exposes": [(8443, 8443, "private")],
            },
        }
    )
    assert m.containers["app_server"].exposes == (PortBinding(8443, 8443, "private"),)
    g = DependencyGraph({MAP_NAME: m})
    levels = [[n for n in level if n.config_type == "container"] for level in g.levels(g.select("__all__"))]
    assert [lv for lv in levels if lv] == [
        [C("web_server"), C("app_server", "instance1"), C("app_server", "instance2")]
    ]


def test_clients_example_rejects_placeholder_addresses():
    """example_clients.yaml as printed has '10.x.x.21': a clear error, not a failure at run time."""
    with pytest.raises(ConfigurationError) as info:
        load_clients_file(DATA / "seed001_example_clients.yaml")
    assert [str(p) for p in info.value.problems] == [
        f"clients.apps{i}.interfaces.private: invalid IPv4 address str '10.x.x.2{i}'" for i in (1, 2, 3)
    ]


def test_clients_example_with_addresses(tmp_path):
    text = (DATA / "seed001_example_clients.yaml").read_text().replace("10.x.x.", "10.0.0.")
    f = tmp_path / "example_clients.yaml"
    f.write_text(text)
    clients = load_clients_file(f)
    assert list(clients) == ["web", "apps1", "apps2", "apps3"]
    assert clients["apps2"].interfaces == {"private": "10.0.0.22"}
    assert clients["web"]["fabric_host"] == "web_host"  # other keys are kept as items


# -- pillar.example -------------------------------------------------------------------------


EXPECTED_WEBAPP = [
    "map webapp: 3 containers in 2 levels, 3 attached volumes, 0 networks, 1 images",
    "  level 0:",
    "    webapp.app_server.instance1                        hostname webapp-app-server-instance1",
    "    webapp.app_server.instance2                        hostname webapp-app-server-instance2",
    "  level 1:",
    "    webapp.web_server                                  hostname webapp-web-server",
    "1 map valid",
]


@pytest.mark.parametrize("path", ["pillar.example/dockerfabric.sls", "pillar.example/maps/webapp.yml"])
def test_pillar_example_is_valid(path):
    result = run_cli(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == EXPECTED_WEBAPP


def test_pillar_example_map_file_and_pillar_hold_the_same_map():
    from containermap.config.yaml import load_file, load_maps

    from_file = load_map_file(ROOT / "pillar.example/maps/webapp.yml")
    from_pillar = load_maps(load_file(ROOT / "pillar.example/dockerfabric.sls")["dockerfabric"]["maps"])
    assert from_pillar["webapp"] == from_file
    assert from_file.get_image("busybox") == "local/busybox:latest"
    result = run_cli("pillar.example/maps/webapp.yml", "pillar.example/dockerfabric.sls")
    assert result.returncode == 1
    assert "webapp: map 'webapp' is defined twice (pillar.example/dockerfabric.sls)" in result.stdout


def test_cli_reports_problems(tmp_path):
    f = tmp_path / "broken.yml"
    f.write_text("web:\n  links: db\n  networks: front\n")
    result = run_cli(str(f))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "2 problems:",
        "  broken.web.links[0]: unknown container 'db'",
        "  broken.web.networks[0]: unknown network 'front' (the map defines no networks)",
    ]


def test_cli_pillar_form_with_cross_map_requires(tmp_path):
    f = tmp_path / "pillar.sls"
    f.write_text(
        "container_maps:\n"
        "  one:\n    db: {image: busybox}\n"
        "  two:\n    web:\n      image: busybox\n      requires: [one.db, one.dbx, three.x]\n"
    )
    result = run_cli(str(f))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-3:] == [
        "2 problems:",
        "  two.web.requires[1]: unknown container 'dbx' in map 'one' (did you mean 'db'?)",
        "  two.web.requires[2]: unknown container or map in 'three.x'",
    ]
    assert "map two: 1 containers in 1 levels, 0 attached volumes, 0 networks, 1 images" in lines


def test_cli_cycle_and_malformed_file(tmp_path):
    cyc = tmp_path / "cyc.yml"
    cyc.write_text("a: {links: b}\nb: {links: a}\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [\n")
    result = run_cli(str(cyc), str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "2 problems:"
    assert lines[1] == "  cyc.a.links[0]: circular dependency a -> b -> a"
    assert lines[2].startswith(f"  {bad}, line 2, column 1: invalid YAML: ")
