"""Cross-reference rules (reference 1.9): one test per invalid map, exact text and key path."""

from __future__ import annotations

import pytest
from containermap.config.integrity import integrity_problems
from containermap.config.map import ContainerMap
from containermap.exceptions import MapValidationError


def problems(data: dict, check_duplicates: bool = True) -> list[str]:
    m = ContainerMap("m", data, check_integrity=False)
    abstract = [name for name, cfg in m.containers.items() if cfg.abstract]
    found = integrity_problems(m.get_extended_map(), check_duplicates=check_duplicates, abstract=abstract)
    return [str(p) for p in found]


VALID = {
    "repository": "local",
    "host_root": "/srv/m",
    "volumes": {"app_config": "/etc/app", "app_log": "/var/log/app", "socket": "/run/app", "data": "/data"},
    "host": {"app_config": {"i1": "config/i1", "i2": "config/i2"}, "data": "data"},
    "networks": {"frontend": {}, "backend": {"internal": True}},
    "groups": {"front": ["web", "app.i1"]},
    "base": {"abstract": True, "image": "busybox", "binds": [{"app_config": "ro"}]},
    "app": {
        "extends": "base",
        "instances": ["i1", "i2"],
        "attaches": ["app_log", "socket"],
        "networks": ["backend", "bridge"],
    },
    "db": {"image": "busybox", "binds": ["data"], "networks": {"backend": {"aliases": ["database"]}}},
    "web": {
        "image": "busybox",
        "uses": ["socket", "db"],
        "links": ["app.i1", {"app.i2": "second"}, "db"],
        "exposes": [(80, 8080, "public"), 443],
        "networks": [{"frontend": {"links": ["app.i1"]}}, "host"],
        "requires": ["db", "app.i2", "othermap.web"],
    },
    "sidecar": {"image": "busybox", "network_mode": "web"},
    "sidecar2": {"image": "busybox", "network_mode": "app.i2"},
}


MAP_KEYS = {"groups", "volumes", "host", "networks", "repository", "host_root"}


def with_changes(**configs) -> dict:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in VALID.items()}
    for key, value in configs.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict) and key not in MAP_KEYS:
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def test_valid_map_has_no_problems():
    # presets, interface names in exposes, references to other maps in requires are fine
    assert problems(VALID) == []


# -- 1. groups ------------------------------------------------------------------------------


def test_group_name_collides_with_config():
    assert problems(with_changes(groups={"web": ["db"]})) == [
        "m.groups.web: group name 'web' is also a container name"
    ]


def test_group_member_unknown():
    assert problems(with_changes(groups={"g": ["web", "wbe"]})) == [
        "m.groups.g[1]: unknown container 'wbe' (did you mean 'web'?)"
    ]


def test_group_member_unknown_instance_and_abstract():
    assert problems(with_changes(groups={"g": ["app.i3", "base"]})) == [
        "m.groups.g[0]: container 'app' has no instance 'i3' (instances: i1, i2)",
        "m.groups.g[1]: container 'base' is abstract and is never created",
    ]


def test_group_in_a_group():
    assert problems(with_changes(groups={"front": ["web"], "all": ["front", "db"]})) == [
        "m.groups.all[0]: group 'front' cannot be a member of another group"
    ]


# -- 2. duplicates --------------------------------------------------------------------------


def test_duplicate_attached_volume():
    data = with_changes(db={"attaches": "socket"})
    assert problems(data) == [
        "m.db.attaches[0]: attached volume 'socket' is also attached by 'app' (attached names are unique per "
        "map; set use_attached_parent_name: true to prefix them with the config)"
    ]
    assert problems(data, check_duplicates=False) == []


def test_duplicate_attached_volume_allowed_with_parent_name():
    data = with_changes(
        db={"attaches": "app_log"}, use_attached_parent_name=True, web={"uses": ["app.socket", "db"]}
    )
    assert problems(data) == []


def test_attached_volume_named_like_a_container():
    data = with_changes(volumes={**VALID["volumes"], "db": "/x"}, web={"attaches": "db"})
    assert problems(data) == [
        "m.web.attaches[0]: attached volume 'db' has the name of a container; 'uses: db' would be ambiguous"
    ]


# -- 3. uses --------------------------------------------------------------------------------


def test_uses_unknown_name():
    assert problems(with_changes(web={"uses": "sokcet"})) == [
        "m.web.uses[0]: unknown attached volume or container 'sokcet' (did you mean 'socket'?)"
    ]


def test_uses_container_without_volumes_to_share():
    # logger only attaches volumes: it cannot be used as a whole
    data = with_changes(logger={"attaches": {"logs": "/logs"}}, web={"uses": ["socket", "logger"]})
    assert problems(data) == [
        "m.web.uses[1]: container 'logger' has no shares, binds or uses to share "
        "(attached volumes are used by their alias)"
    ]


def test_uses_container_with_a_path():
    assert problems(with_changes(web={"uses": {"db": "/mnt"}})) == [
        "m.web.uses[0]: 'db' is a container: a path can only be given for an attached volume"
    ]


def test_uses_unknown_instance():
    assert problems(with_changes(web={"uses": "db.x"})) == [
        "m.web.uses[0]: container 'db' has no instances, use 'db'"
    ]


def test_uses_plain_alias_with_parent_names():
    data = with_changes(use_attached_parent_name=True)
    assert problems(data) == [
        "m.web.uses[0]: unknown attached volume or container 'socket' (use_attached_parent_name is set: use 'app.socket')"
    ]


# -- 4. binds and attaches ------------------------------------------------------------------


def test_bind_alias_without_host_entry():
    data = with_changes(app={"binds": [{"app_config": "ro"}, "app_log"], "attaches": "socket"})
    assert problems(data) == [
        "m.app.binds[1]: alias 'app_log' has no entry in host (did you mean 'app_config'?)"
    ]


def test_bind_alias_without_container_path():
    data = with_changes(host={**VALID["host"], "cache": "/var/cache"}, db={"binds": ["data", "cache"]})
    assert problems(data) == ["m.db.binds[1]: alias 'cache' has no container path in volumes"]


def test_bind_alias_host_path_missing_for_an_instance():
    data = with_changes(app={"instances": ["i1", "i2", "i3"]}, groups={})
    assert problems(data) == [
        "m.app.binds[0]: host path of alias 'app_config' has no entry for instance 'i3' and no 'default'"
    ]


def test_bind_alias_per_instance_host_for_config_without_instances():
    data = with_changes(db={"binds": ["app_config"]})
    assert problems(data) == [
        "m.db.binds[0]: host path of alias 'app_config' has no entry for the config (it has no instances) "
        "and no 'default'"
    ]


def test_attached_alias_without_path():
    assert problems(with_changes(db={"attaches": "dbdata"})) == [
        "m.db.attaches[0]: attached volume 'dbdata' has no path: add it to volumes or give one (dbdata: /path)"
    ]


def test_attached_alias_with_path_needs_no_volumes_entry():
    assert problems(with_changes(db={"attaches": {"dbdata": "/var/lib/db"}})) == []


# -- 5. links -------------------------------------------------------------------------------


def test_link_unknown_container_did_you_mean():
    data = with_changes(app_db={"image": "busybox"}, web={"links": ["app.i1", "db", "appdb"]})
    assert problems(data) == ["m.web.links[2]: unknown container 'appdb' (did you mean 'app_db'?)"]


def test_link_to_config_with_instances_needs_instance():
    assert problems(with_changes(web={"links": "app"})) == [
        "m.web.links[0]: container 'app' has instances (i1, i2): name one, e.g. 'app.i1'"
    ]


def test_link_to_unknown_instance():
    assert problems(with_changes(web={"links": "app.i9"})) == [
        "m.web.links[0]: container 'app' has no instance 'i9' (instances: i1, i2)"
    ]


def test_link_to_abstract_config():
    assert problems(with_changes(web={"links": "base"})) == [
        "m.web.links[0]: container 'base' is abstract and is never created"
    ]


# -- 6. networks, network_mode --------------------------------------------------------------


def test_unknown_network():
    assert problems(with_changes(web={"networks": ["frontnet"]})) == [
        "m.web.networks[0]: unknown network 'frontnet' (did you mean 'frontend'?)"
    ]


def test_unknown_network_without_networks_defined():
    data = with_changes(networks={}, app={"networks": []}, db={"networks": []}, web={"networks": ["backend"]})
    assert problems(data) == ["m.web.networks[0]: unknown network 'backend' (the map defines no networks)"]


def test_endpoint_link_unknown():
    assert problems(with_changes(web={"networks": {"frontend": {"links": ["db", "cache"]}}})) == [
        "m.web.networks[0].links[1]: unknown container 'cache'"
    ]


def test_network_mode_unknown_container():
    assert problems(with_changes(sidecar={"network_mode": "wbe"})) == [
        "m.sidecar.network_mode: unknown container 'wbe' (did you mean 'web'?)"
    ]


def test_network_mode_needs_instance():
    assert problems(with_changes(sidecar={"network_mode": "app"})) == [
        "m.sidecar.network_mode: container 'app' has instances (i1, i2): name one, e.g. 'app.i1'"
    ]


def test_network_mode_unmanaged_container_is_not_checked():
    assert problems(with_changes(sidecar={"network_mode": "container:other"})) == []


# -- 7. requires ----------------------------------------------------------------------------


def test_requires_unknown_local_config():
    assert problems(with_changes(web={"requires": ["dbb"]})) == [
        "m.web.requires[0]: unknown container 'dbb' (did you mean 'db'?)"
    ]


def test_requires_unknown_instance():
    assert problems(with_changes(web={"requires": ["app.i5"]})) == [
        "m.web.requires[0]: container 'app' has no instance 'i5' (instances: i1, i2)"
    ]


# -- all at once, through the model ---------------------------------------------------------


def test_container_map_collects_every_problem():
    data = with_changes(
        web={"links": ["dbx", "app"], "uses": "nothing", "networks": ["nonet"]},
        groups={"g": ["zzz"]},
    )
    with pytest.raises(MapValidationError) as info:
        ContainerMap("m", data)
    assert sorted(str(p) for p in info.value.problems) == sorted(
        [
            "m.groups.g[0]: unknown container 'zzz'",
            "m.web.links[0]: unknown container 'dbx' (did you mean 'db'?)",
            "m.web.links[1]: container 'app' has instances (i1, i2): name one, e.g. 'app.i1'",
            "m.web.uses[0]: unknown attached volume or container 'nothing'",
            "m.web.networks[0]: unknown network 'nonet' (did you mean 'none'?)",
        ]
    )


def test_check_integrity_false_accepts_broken_references():
    m = ContainerMap("m", with_changes(web={"links": "nothing"}), check_integrity=False)
    assert "web" in m.containers
