"""Fleet logic without Docker: who runs what, cross-host levels and fleet validation."""

from __future__ import annotations

import pytest
from containermap import fleet
from containermap.config.elements import MapConfigId
from containermap.config.map import ContainerMap
from containermap.engine import MapClient
from containermap.pillar import load_pillar_config

CLIENTS = {
    "web1c": {"minion": "web1"},
    "app1c": {"minion": "app*"},
}


def spread_map(**extra) -> dict:
    body = {
        "db": {"image": "local/busybox:latest", "clients": ["app1c"]},
        "web": {"image": "local/busybox:latest", "clients": ["web1c"], "requires": ["db"]},
    }
    for name, values in extra.items():
        body.setdefault(name, {}).update(values)
    return body


def minion(pillar_maps: dict, mid: str, clients: dict | None = None):
    pillar = {"dockerfabric": {"maps": pillar_maps, "clients": clients if clients is not None else CLIENTS}}
    return load_pillar_config(pillar, {"id": mid}, {"id": mid})


def test_client_minion_patterns():
    assert fleet.client_minion({"minion": "web1"}) == ("web1",)
    assert fleet.client_minion({"minion": ["a", "b*"]}) == ("a", "b*")
    assert fleet.client_minion({}) is None
    assert fleet.drives({"minion": "app*"}, "app1")
    assert not fleet.drives({"minion": "app*"}, "web1")
    assert fleet.drives({}, "anything")
    assert fleet.minion_clients(CLIENTS, "web1") == {"web1c", "__default__"}
    assert fleet.minion_clients({**CLIENTS, "__default__": {"minion": "none"}}, "app1") == {"app1c"}


def test_config_clients_config_over_map_over_default():
    m = ContainerMap("m", {"clients": ["a"], "x": {"image": "i", "clients": ["b"]}, "y": {"image": "i"}})
    assert fleet.config_clients(m, "x") == ("b",)
    assert fleet.config_clients(m, "y") == ("a",)
    assert fleet.config_clients(ContainerMap("n", {"z": {"image": "i"}}), "z") == ("__default__",)


def test_share_of_each_minion_from_pillar():
    web1 = minion({"shop": spread_map()}, "web1")
    app1 = minion({"shop": spread_map()}, "app1")
    assert web1.minion == "web1"
    assert web1.share() == {"shop": {"web": ("web1c",)}}
    assert app1.share() == {"shop": {"db": ("app1c",)}}
    assert web1.share_clients == {"web1c", "__default__"}


def test_engine_only_clients_limits_desired_to_the_share():
    web1 = minion({"shop": spread_map()}, "web1")
    client = MapClient(web1.maps, clients=web1.clients, only_clients=web1.share_clients)
    desired = client.desired("update", "__all__")
    assert [d.client for d in desired] == ["web1c"]
    assert [n.config_name for n in desired[0].containers] == ["web"]
    # without the restriction both clients would be driven from here
    everything = MapClient(web1.maps, clients=web1.clients).desired("update", "__all__")
    assert sorted(d.client for d in everything) == ["app1c", "web1c"]


def test_hostname_gets_client_suffix():
    web1 = minion({"shop": spread_map()}, "web1")
    client = MapClient(web1.maps, clients=web1.clients, only_clients=web1.share_clients)
    spec = client.desired("update", "shop.web")[0].containers[MapConfigId("container", "shop", "web", None)]
    assert spec.fields["hostname"] == "shop-web-web1c"


def test_levels_follow_requires_across_hosts():
    maps = {"shop": spread_map(cache={"image": "local/busybox:latest", "clients": ["web1c"]})}
    f = fleet.Fleet({"web1": minion(maps, "web1"), "app1": minion(maps, "app1")})
    assert f.problems() == []
    assert f.levels() == [{"app1": ["shop.db"], "web1": ["shop.cache"]}, {"web1": ["shop.web"]}]
    assert f.levels(reverse=True) == [{"web1": ["shop.web"]}, {"app1": ["shop.db"], "web1": ["shop.cache"]}]
    assert f.assignments() == {
        "app1": {"shop.db": ["app1c"]},
        "web1": {"shop.cache": ["web1c"], "shop.web": ["web1c"]},
    }


def test_in_host_dependencies_share_a_level_and_chains_add_levels():
    maps = {
        "shop": spread_map(
            proxy={"image": "local/busybox:latest", "clients": ["web1c"], "links": ["web"]},
            worker={"image": "local/busybox:latest", "clients": ["app1c"], "requires": ["proxy"]},
        )
    }
    f = fleet.Fleet({"web1": minion(maps, "web1"), "app1": minion(maps, "app1")})
    assert f.problems() == []
    assert f.levels() == [
        {"app1": ["shop.db"]},
        {"web1": ["shop.proxy", "shop.web"]},
        {"app1": ["shop.worker"]},
    ]


def test_links_across_hosts_rejected_naming_both_hosts():
    maps = {"shop": spread_map(web={"links": ["db"]})}
    f = fleet.Fleet({"web1": minion(maps, "web1"), "app1": minion(maps, "app1")})
    problems = f.problems()
    assert len(problems) == 1
    text = str(problems[0])
    assert text.startswith("shop.web.links[0]:")
    assert "minion app1 (client app1c)" in text and "minion web1 (client web1c)" in text
    assert "only requires may cross hosts" in text


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"web": {"uses": ["db"]}, "db": {"shares": ["/data"]}}, "uses[0]"),
        ({"web": {"network_mode": "db"}}, "network_mode"),
    ],
)
def test_uses_and_network_mode_across_hosts_rejected(extra, path):
    maps = {"shop": spread_map(**extra)}
    f = fleet.Fleet({"web1": minion(maps, "web1"), "app1": minion(maps, "app1")})
    assert [p.path for p in f.problems()] == [path]
    assert f.problems()[0].config == "web"


def test_links_on_same_host_are_fine_with_glob_clients():
    # one client for every web minion: each runs both configs, links stay in-host
    clients = {"webs": {"minion": "web*"}}
    body = {
        "clients": ["webs"],
        "db": {"image": "local/busybox:latest"},
        "web": {"image": "local/busybox:latest", "links": ["db"]},
    }
    f = fleet.Fleet({m: minion({"s": body}, m, clients) for m in ("web1", "web2", "app1")})
    assert f.problems() == []
    assert f.levels() == [{"web1": ["s.db", "s.web"], "web2": ["s.db", "s.web"]}]
    assert f.minions_with_work() == ["web1", "web2"]


def test_requires_nobody_runs_is_a_problem():
    maps = {"shop": spread_map()}
    f = fleet.Fleet({"web1": minion(maps, "web1")})  # app1 not targeted
    [problem] = f.problems()
    assert problem.path == "requires[0]"
    assert "no targeted minion runs" in problem.message


def test_cycle_across_hosts():
    # the map checks catch this cycle in each pillar; the fleet catches it without them too
    shop = ContainerMap("shop", spread_map(db={"requires": ["web"]}), check_integrity=False)
    f = fleet.Fleet({m: {"maps": {"shop": shop}, "clients": CLIENTS} for m in ("web1", "app1")})
    messages = [p.message for p in f.problems()]
    assert any("circular dependency" in m for m in messages), messages


def test_map_selection_and_unknown_map():
    maps = {"shop": spread_map(), "other": {"x": {"image": "local/busybox:latest"}}}
    f = fleet.Fleet({"web1": minion(maps, "web1"), "app1": minion(maps, "app1")}, maps=["other", "nope"])
    assert [str(p) for p in f.problems()] == ["nope: map 'nope' is in no targeted minion's pillar"]
    # maps without clients run on the default client of every minion
    assert f.levels() == [{"app1": ["other.x"], "web1": ["other.x"]}]


def test_grain_interfaces_for_local_clients():
    pillar = {
        "dockerfabric": {
            "maps": {},
            "clients": {"web1c": {"minion": "web1"}, "far": {"base_url": "tcp://h:2376"}},
        }
    }
    grains = {"id": "web1", "ip4_interfaces": {"eth0": ["10.1.2.3"]}}
    cfg = load_pillar_config(pillar, grains, {"id": "web1"})
    assert cfg.clients["web1c"].get("interfaces") == {"eth0": "10.1.2.3"}
    assert not cfg.clients["far"].get("interfaces")
