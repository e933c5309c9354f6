"""Dependency graph: edges, order, levels, selection, cycles (no Docker)."""

from __future__ import annotations

import pytest
from containermap.config.elements import MapConfigId
from containermap.config.map import ContainerMap
from containermap.exceptions import ConfigurationError, MapValidationError
from containermap.graph import DependencyGraph


def C(config: str, instance: str | None = None, map_name: str = "m") -> MapConfigId:
    return MapConfigId("container", map_name, config, instance)


def V(owner: str, alias: str, map_name: str = "m") -> MapConfigId:
    return MapConfigId("volume", map_name, owner, alias)


def N(net: str, map_name: str = "m") -> MapConfigId:
    return MapConfigId("network", map_name, net)


def I(repo: str, tag: str = "latest", map_name: str = "m") -> MapConfigId:  # noqa: E743
    return MapConfigId("image", map_name, repo, tag)


def graph(data: dict, name: str = "m", check: bool = False) -> DependencyGraph:
    return DependencyGraph({name: ContainerMap(name, data, check_integrity=check)})


def deps(g: DependencyGraph, node: MapConfigId) -> dict[MapConfigId, str]:
    return dict(g.edges(node))


STACK = {
    "repository": "local",
    "volumes": {"socket": "/run/app", "data": "/data", "conf": "/etc/app"},
    "host": {"conf": "/srv/conf"},
    "networks": {"backend": {}},
    "groups": {"front": ["web", "proxy"]},
    "db": {"image": "busybox", "attaches": "data", "networks": ["backend"]},
    "app": {
        "image": "busybox",
        "instances": ["i1", "i2"],
        "attaches": "socket",
        "links": "db",
        "binds": ["conf"],
        "networks": {"backend": {"links": ["db"]}},
    },
    "web": {"image": "/busybox:1", "uses": "socket", "links": ["app.i1", "app.i2"]},
    "proxy": {"image": "busybox", "links": "web"},
}


# -- edges ----------------------------------------------------------------------------------


def test_image_and_attaches_edges():
    g = graph(STACK)
    assert deps(g, C("db")) == {
        I("local/busybox"): "image",
        V("db", "data"): "attaches[0]",
        N("backend"): "networks[0]",
    }


def test_image_without_repository_prefix_and_default_image_name():
    g = graph({"repository": "reg", "default_tag": "dev", "web": {"image": "/busybox:1"}, "nginx": {}})
    assert I("busybox", "1") in deps(g, C("web"))
    assert I("reg/nginx", "dev") in deps(g, C("nginx"))  # no image: the config name


def test_uses_attached_alias_depends_on_owner_instances_and_volume():
    g = graph(STACK)
    d = deps(g, C("web"))
    assert d[C("app", "i1")] == "uses[0]"
    assert d[C("app", "i2")] == "uses[0]"
    assert d[V("app", "socket")] == "uses[0]"


def test_uses_attached_alias_with_parent_name():
    data = {
        "use_attached_parent_name": True,
        "volumes": {"socket": "/run"},
        "app": {"attaches": "socket"},
        "web": {"uses": "app.socket"},
    }
    g = graph(data, check=True)
    d = deps(g, C("web"))
    assert C("app") in d and V("app", "socket") in d


def test_uses_container_all_instances_or_one():
    data = {"vol": {"instances": ["a", "b"], "shares": "/x"}, "u1": {"uses": "vol"}, "u2": {"uses": "vol.b"}}
    g = graph(data, check=True)
    assert [n for n in deps(g, C("u1")) if n.config_type == "container"] == [C("vol", "a"), C("vol", "b")]
    assert [n for n in deps(g, C("u2")) if n.config_type == "container"] == [C("vol", "b")]


def test_links_and_endpoint_links_and_networks():
    g = graph(STACK)
    d = deps(g, C("app", "i1"))
    assert d[C("db")] == "links[0]"  # first key path wins for a repeated target
    assert d[N("backend")] == "networks[0]"
    assert deps(g, C("app", "i2")) == d  # every instance has the same dependencies
    d = deps(g, C("proxy"))
    assert d[C("web")] == "links[0]"


def test_endpoint_link_only():
    data = {"networks": {"n": {}}, "db": {}, "web": {"networks": {"n": {"links": [{"db": "database"}]}}}}
    g = graph(data, check=True)
    assert deps(g, C("web"))[C("db")] == "networks[0].links[0]"


def test_network_mode_reference():
    data = {"app": {"instances": ["x", "y"]}, "side": {"network_mode": "app.y"}}
    g = graph(data, check=True)
    assert deps(g, C("side"))[C("app", "y")] == "network_mode"
    assert C("app", "x") not in deps(g, C("side"))


def test_requires_local_and_other_map():
    one = ContainerMap("one", {"db": {}, "app": {"requires": "db"}})
    two = ContainerMap("two", {"web": {"requires": ["one.app"]}})
    g = DependencyGraph({"one": one, "two": two})
    assert deps(g, C("app", map_name="one"))[C("db", map_name="one")] == "requires[0]"
    assert deps(g, C("web", map_name="two"))[C("app", map_name="one")] == "requires[0]"
    assert g.reference_problems() == []
    order = g.dependencies([C("web", map_name="two")])
    assert (
        order.index(C("db", map_name="one"))
        < order.index(C("app", map_name="one"))
        < order.index(C("web", map_name="two"))
    )


def test_requires_unknown_other_map_is_a_reference_problem():
    one = ContainerMap("one", {"app": {"requires": ["nomap.db", "two.dbb"]}})
    two = ContainerMap("two", {"db": {}})
    g = DependencyGraph({"one": one, "two": two})
    assert [str(p) for p in g.reference_problems()] == [
        "one.app.requires[0]: unknown container or map in 'nomap.db'",
        "one.app.requires[1]: unknown container 'dbb' in map 'two' (did you mean 'db'?)",
    ]


def test_not_edges():
    data = {
        "other": {},
        "web": {
            "image": "busybox",
            "network_mode": "container:other",
            "binds": {"/etc/x": "/srv/x"},
            "host_config": {"volumes_from": ["m.other"], "links": [("m.other", "o")]},
        },
        "side": {"network_mode": "/other"},
    }
    g = graph(data, check=True)
    assert list(deps(g, C("web"))) == [I("busybox")]
    assert list(deps(g, C("side"))) == [I("side")]


def test_preset_networks_are_not_nodes():
    g = graph({"web": {"networks": ["bridge", "host"]}}, check=True)
    assert not [n for n in g.nodes if n.config_type == "network"]


def test_abstract_configs_are_not_nodes_and_extends_are_resolved():
    data = {"base": {"abstract": True, "links": "db"}, "db": {}, "web": {"extends": "base"}}
    g = graph(data, check=True)
    assert C("base") not in g
    assert C("db") in deps(g, C("web"))


# -- order ----------------------------------------------------------------------------------


def _containers(nodes):
    return [n for n in nodes if n.config_type == "container"]


def test_dependencies_forward_order_each_once():
    g = graph(STACK)
    order = g.dependencies([C("proxy")])
    assert _containers(order) == [C("db"), C("app", "i1"), C("app", "i2"), C("web"), C("proxy")]
    assert len(order) == len(set(order))
    # every item after everything it depends on
    for i, node in enumerate(order):
        for target, _ in g.edges(node):
            assert order.index(target) < i
    assert order[-1] == C("proxy")


def test_dependencies_of_several_items_merge_shared_dependencies():
    g = graph(STACK)
    order = g.dependencies([C("app", "i2"), C("web"), C("app", "i1")])
    assert order.count(C("db")) == 1
    assert order.count(I("local/busybox")) == 1
    assert _containers(order) == [C("db"), C("app", "i2"), C("app", "i1"), C("web")]


def test_dependents_reverse_order():
    g = graph(STACK)
    order = g.dependents([C("db")])
    assert order == [C("proxy"), C("web"), C("app", "i1"), C("app", "i2"), C("db")]


def test_dependents_of_a_volume_and_a_network():
    g = graph(STACK)
    assert g.dependents([V("app", "socket")])[-1] == V("app", "socket")
    assert set(g.dependents([N("backend")])) == {
        N("backend"),
        C("db"),
        C("app", "i1"),
        C("app", "i2"),
        C("web"),
        C("proxy"),
    }


def test_levels_forward_and_reverse():
    g = graph(STACK)
    levels = g.levels(g.select("__all__"))
    assert [_containers(level) for level in levels] == [
        [],
        [C("db")],
        [C("app", "i1"), C("app", "i2")],
        [C("web")],
        [C("proxy")],
    ]
    assert set(levels[0]) == {
        I("local/busybox"),
        I("busybox", "1"),
        V("db", "data"),
        N("backend"),
        V("app", "socket"),
    }
    rev = g.levels([C("db")], reverse=True)
    assert rev == [[C("proxy")], [C("web")], [C("app", "i1"), C("app", "i2")], [C("db")]]


def test_levels_items_of_one_level_are_independent():
    g = graph(STACK)
    levels = g.levels(g.select("__all__"))
    for index, level in enumerate(levels):
        earlier = {n for lv in levels[:index] for n in lv}
        for node in level:
            assert {t for t, _ in g.edges(node)} <= earlier


def test_long_chain_is_iterative():
    n = 3000
    data = {f"c{i}": {"links": f"c{i - 1}"} if i else {} for i in range(n)}
    g = graph(data)
    order = g.dependencies([C(f"c{n - 1}")])
    assert _containers(order)[0] == C("c0") and len(_containers(order)) == n
    assert len(g.levels([C(f"c{n - 1}")])) == n + 1  # image level first
    assert g.cycle_problems() == []


# -- selection ------------------------------------------------------------------------------


def test_select_forms():
    g = graph(STACK)
    assert g.select("web") == [C("web")]
    assert g.select("m.web") == [C("web")]
    assert g.select("app") == [C("app", "i1"), C("app", "i2")]
    assert g.select("app.i2") == [C("app", "i2")]
    assert g.select("m.app.i2") == [C("app", "i2")]
    assert g.select("app", instances="i2") == [C("app", "i2")]
    assert g.select("app", instances=["i2", "i1"]) == [C("app", "i2"), C("app", "i1")]
    assert g.select(("m", "app", ["i1"])) == [C("app", "i1")]
    assert g.select(("m", "app", None)) == [C("app", "i1"), C("app", "i2")]
    assert g.select("front") == [C("web"), C("proxy")]
    assert g.select(["proxy", "front", "db"]) == [C("proxy"), C("web"), C("db")]
    assert g.select(C("db")) == [C("db")]
    assert g.select("__all__") == [C("db"), C("app", "i1"), C("app", "i2"), C("web"), C("proxy")]
    assert g.select("web", map_name="m") == [C("web")]
    assert g.select(("m", "front", None)) == [C("web"), C("proxy")]
    assert g.select({"map_name": "m", "config_name": "app", "instance_names": ["i2"]}) == [C("app", "i2")]
    assert g.select([{"config_name": "db"}, ("m", "app", "i1")]) == [C("db"), C("app", "i1")]
    assert g.select(V("app", "socket")) == [V("app", "socket")]


def test_select_unknown_names():
    g = graph(STACK)
    with pytest.raises(
        ConfigurationError, match=r"^m: unknown container or group 'wbe' \(did you mean 'web'\?\)$"
    ):
        g.select("wbe")
    with pytest.raises(ConfigurationError, match=r"^m\.app: unknown instance 'i3'"):
        g.select("app.i3")
    with pytest.raises(ConfigurationError, match=r"^selection: unknown map 'n'$"):
        g.select("web", map_name="n")
    with pytest.raises(ConfigurationError, match=r"unknown item container:m\.nothing"):
        g.select(C("nothing"))


def test_select_with_several_maps():
    one = ContainerMap("one", {"web": {}})
    two = ContainerMap("two", {"web": {}, "db": {}})
    g = DependencyGraph({"one": one, "two": two})
    assert g.select("two.web") == [C("web", map_name="two")]
    assert g.select("web", map_name="one") == [C("web", map_name="one")]
    assert g.select("__all__") == [
        C("web", map_name="one"),
        C("web", map_name="two"),
        C("db", map_name="two"),
    ]
    assert g.select("__all__", map_name="two") == [C("web", map_name="two"), C("db", map_name="two")]
    with pytest.raises(ConfigurationError) as info:
        g.select("web")
    assert str(info.value) == "selection: 'web': several maps are loaded, name the map (map.config)"
    with pytest.raises(ConfigurationError, match=r"^selection: unknown map 'tow' \(did you mean 'two'\?\)$"):
        g.select(("tow", "web", None))


# -- cycles ---------------------------------------------------------------------------------


def test_direct_cycle():
    g = graph({"a": {"links": "a"}})
    assert [str(p) for p in g.cycle_problems()] == [
        "m.a.links[0]: circular dependency a -> a (refers to itself)"
    ]


def test_indirect_cycle():
    g = graph({"a": {"links": "b"}, "b": {"links": "a"}})
    assert [str(p) for p in g.cycle_problems()] == ["m.a.links[0]: circular dependency a -> b -> a"]


def test_longer_cycle_through_uses_and_network_mode():
    data = {
        "volumes": {"sock": "/run"},
        "a": {"attaches": "sock", "network_mode": "c"},
        "b": {"uses": "sock"},
        "c": {"links": "b"},
    }
    g = graph(data)
    assert [str(p) for p in g.cycle_problems()] == ["m.a.network_mode: circular dependency a -> c -> b -> a"]


def test_two_cycles_in_one_component_and_a_separate_one():
    data = {
        "a": {"links": ["b", "c"]},
        "b": {"links": "a"},
        "c": {"links": "a"},
        "x": {"requires": "y"},
        "y": {"requires": "x"},
    }
    assert [str(p) for p in graph(data).cycle_problems()] == [
        "m.a.links[0]: circular dependency a -> b -> a",
        "m.a.links[1]: circular dependency a -> c -> a",
        "m.x.requires[0]: circular dependency x -> y -> x",
    ]


def test_cycle_with_instances():
    data = {"a": {"instances": ["i1"], "links": "b"}, "b": {"links": "a.i1"}}
    assert [str(p) for p in graph(data).cycle_problems()] == [
        "m.a.links[0]: circular dependency a.i1 -> b -> a.i1"
    ]


def test_cycle_across_maps():
    one = ContainerMap("one", {"a": {"requires": "two.b"}})
    two = ContainerMap("two", {"b": {"requires": "one.a"}})
    g = DependencyGraph({"one": one, "two": two})
    assert [str(p) for p in g.cycle_problems()] == ["one.a.requires[0]: circular dependency a -> two.b -> a"]


def test_cycles_are_found_at_validation_time():
    with pytest.raises(MapValidationError) as info:
        ContainerMap("m", {"a": {"links": "b"}, "b": {"links": "c"}, "c": {"links": "a"}})
    assert "m.a.links[0]: circular dependency a -> b -> c -> a" in [str(p) for p in info.value.problems]
    with pytest.raises(MapValidationError) as info:
        ContainerMap("m", {"a": {"links": "a"}})
    assert [str(p) for p in info.value.problems] == [
        "m.a.links[0]: circular dependency a -> a (refers to itself)"
    ]


def test_lazy_image_is_not_resolved_while_building(monkeypatch):
    from containermap.config.yaml import load_map

    monkeypatch.setenv("DF_TEST_IMAGE", "busybox:2")
    m = load_map("name: m\nweb:\n  image: !env_lazy DF_TEST_IMAGE\ndb: {}\n")
    g = DependencyGraph({"m": m})
    assert [n for n in g.edges(C("web"))] == []
    assert deps(g, C("db")) == {I("db"): "image"}
    monkeypatch.setenv("DF_TEST_IMAGE", "busybox:3")  # not cached by the validation
    assert m.get_image(m.containers["web"].image) == "busybox:3"


def test_big_ring_is_reported_once_and_fast():
    n = 4000
    data = {f"c{i}": {"links": f"c{(i + 1) % n}"} for i in range(n)}
    problems = graph(data).cycle_problems()
    assert len(problems) == 1
    text = str(problems[0])
    assert text.startswith("m.c0.links[0]: circular dependency c0 -> c1 -> c2 -> ")
    assert text.endswith(f" -> c{n - 1} -> c0")


def _has_cycle(g: DependencyGraph) -> bool:
    """Kahn's algorithm as an independent reference."""
    indegree = {n: 0 for n in g.nodes}
    for n in g.nodes:
        for t, _ in g.edges(n):
            indegree[t] += 1
    queue = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while queue:
        n = queue.pop()
        seen += 1
        for t, _ in g.edges(n):
            indegree[t] -= 1
            if indegree[t] == 0:
                queue.append(t)
    return seen != len(indegree)


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_order_levels_and_cycles(seed):
    import random

    rnd = random.Random(seed)
    size = rnd.randint(2, 25)
    names = [f"c{i}" for i in range(size)]
    data = {}
    for name in names:
        cfg = {}
        if rnd.random() < 0.3:
            cfg["instances"] = ["x", "y"]
        data[name] = cfg
    dag = seed % 2 == 0  # half of the graphs acyclic (edges to earlier names only)
    for index, name in enumerate(names):
        pool = names[:index] if dag else names
        targets = rnd.sample(pool, min(len(pool), rnd.randint(0, 3)))
        refs = [f"{t}.x" if "instances" in data[t] else t for t in targets]
        data[name]["requires"] = refs
    g = graph(data)
    problems = g.cycle_problems()
    assert bool(problems) == _has_cycle(g)
    assert not (dag and problems)
    if problems:
        return
    everything = g.select("__all__")
    order = g.dependencies(everything)
    assert len(order) == len(set(order)) == len(g.nodes)
    for i, node in enumerate(order):
        assert all(order.index(t) < i for t, _ in g.edges(node))
    levels = g.levels(everything)
    level_of = {n: k for k, level in enumerate(levels) for n in level}
    for node in order:
        assert all(level_of[t] < level_of[node] for t, _ in g.edges(node))
    reverse = g.dependents(everything)
    assert set(reverse) == set(everything)  # images are nobody's dependents
    for i, node in enumerate(reverse):
        assert all(reverse.index(t) > i for t, _ in g.edges(node) if t.config_type == "container")


def test_bench_map_is_valid_and_ordered():
    from bench.config_scale import CONTAINERS_PER_STACK, generate_map

    m = ContainerMap("bench", generate_map(3))  # validates: no problems
    g = DependencyGraph({"bench": m})
    assert len(g.containers()) == 3 * CONTAINERS_PER_STACK
    levels = [[n for n in level if n.config_type == "container"] for level in g.levels(g.select("__all__"))]
    assert [sorted({n.config_name[3:] for n in level}) for level in levels] == [
        [],
        ["cache", "db"],
        ["app"],
        ["web", "worker"],
        ["sidecar"],
    ]
