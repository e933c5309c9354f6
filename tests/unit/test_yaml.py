"""YAML loading: tags, name rules, lazy errors, malformed YAML (no Docker)."""

from __future__ import annotations

import io
import os

import pytest
import yaml
from containermap.config import yaml as map_yaml
from containermap.config.lazy import (
    LazyOnce,
    Placeholder,
    register_resolver,
    resolve_value,
    unregister_resolver,
)
from containermap.exceptions import ConfigurationError, LazyResolutionError, MapValidationError


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("DF_TEST_HOME", "/home/tester")
    monkeypatch.setenv("HOME", "/root-of-test")
    monkeypatch.delenv("DF_TEST_MISSING", raising=False)
    return monkeypatch


# -- tags -----------------------------------------------------------------------------------


def test_path_expands_vars_and_user_now(env):
    data = map_yaml.load_yaml("a: !path $DF_TEST_HOME/x\nb: !path ~/y\nc: !path plain\n")
    assert data == {"a": "/home/tester/x", "b": "/root-of-test/y", "c": "plain"}


def test_path_on_mapping_and_sequence_applies_to_first_level(env):
    data = map_yaml.load_yaml("m: !path {p: ~/a, q: $DF_TEST_HOME}\ns: !path [~/b, $DF_TEST_HOME/c]\n")
    assert data == {
        "m": {"p": "/root-of-test/a", "q": "/home/tester"},
        "s": ["/root-of-test/b", "/home/tester/c"],
    }


def test_path_leaves_non_strings(env):
    assert map_yaml.load_yaml("s: !path [1, ~/x]\n") == {"s": [1, "/root-of-test/x"]}


def test_path_lazy_resolves_on_first_use_and_caches(env):
    data = map_yaml.load_yaml("a: !path_lazy $DF_TEST_LATER/x\nb: !path_lazy [~/y]\n")
    assert isinstance(data["a"], LazyOnce)
    env.setenv("DF_TEST_LATER", "/later")  # set after loading: lazy sees it
    assert resolve_value(data["a"]) == "/later/x"
    env.setenv("DF_TEST_LATER", "/changed")
    assert resolve_value(data["a"]) == "/later/x"  # cached
    assert resolve_value(data["b"][0]) == "/root-of-test/y"


def test_env_now(env):
    assert map_yaml.load_yaml("a: !env DF_TEST_HOME\n") == {"a": "/home/tester"}


def test_env_missing_names_variable_and_position(env):
    with pytest.raises(ConfigurationError) as info:
        map_yaml.load_yaml("a: 1\nb:\n  c: !env DF_TEST_MISSING\n")
    assert str(info.value) == (
        "<string>, line 3, column 6: !env DF_TEST_MISSING: environment variable 'DF_TEST_MISSING' is not set"
    )


def test_env_missing_in_file_names_file(env, tmp_path):
    f = tmp_path / "m.yml"
    f.write_text("web:\n  image: !env DF_TEST_MISSING\n")
    with pytest.raises(ConfigurationError) as info:
        map_yaml.load_file(f)
    assert str(info.value) == (
        f"{f}, line 2, column 10: !env DF_TEST_MISSING: environment variable 'DF_TEST_MISSING' is not set"
    )


def test_env_without_name_is_an_error(env):
    with pytest.raises(ConfigurationError, match="!env needs the name of an environment variable"):
        map_yaml.load_yaml("a: !env\n")


def test_env_lazy_resolves_on_first_use(env):
    data = map_yaml.load_yaml("a: !env_lazy DF_TEST_LATE\n")
    assert isinstance(data["a"], LazyOnce)
    env.setenv("DF_TEST_LATE", "value")
    assert resolve_value(data["a"]) == "value"


def test_env_lazy_missing_names_variable_and_position(env):
    data = map_yaml.load_yaml("x:\n  - !env_lazy DF_TEST_MISSING\n")  # loading is fine
    with pytest.raises(LazyResolutionError) as info:
        resolve_value(data["x"][0])
    assert str(info.value) == (
        "<string>, line 2, column 5: !env_lazy DF_TEST_MISSING: environment variable 'DF_TEST_MISSING' is not set"
    )
    assert isinstance(info.value, ConfigurationError)


def test_placeholder_tags_and_resolver():
    map_yaml.add_placeholder_tag("dftestpillar")
    try:
        data = map_yaml.load_yaml("a: !dftestpillar app:image\n")
        assert isinstance(data["a"], Placeholder)
        assert (data["a"].tag, data["a"].key) == ("dftestpillar", "app:image")
        register_resolver("dftestpillar", {"app:image": "local/app:1"}.__getitem__)
        assert resolve_value(data["a"]) == "local/app:1"
        missing = map_yaml.load_yaml("a: !dftestpillar nope\n")["a"]
        with pytest.raises(LazyResolutionError, match="!dftestpillar nope: key not found"):
            resolve_value(missing)
    finally:
        unregister_resolver("dftestpillar")


def test_register_tag_custom_constructor():
    map_yaml.register_tag("!dftestupper", lambda loader, node: loader.construct_scalar(node).upper())
    assert map_yaml.load_yaml("a: !dftestupper abc\n") == {"a": "ABC"}


def test_tags_do_not_leak_into_global_loaders():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("a: !env HOME\n")
    assert "!env" not in yaml.SafeLoader.yaml_constructors


def test_unknown_tag_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match=r"<string>, line 1, column 4: invalid YAML: .*!nosuchtag"):
        map_yaml.load_yaml("a: !nosuchtag x\n")


# -- malformed YAML -------------------------------------------------------------------------


def test_malformed_yaml_reports_file_line_column(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("web:\n  image: busybox\n   links: [a\n")
    with pytest.raises(ConfigurationError) as info:
        map_yaml.load_file(f)
    text = str(info.value)
    assert text.startswith(f"{f}, line 3, column ")
    assert "invalid YAML: " in text


def test_malformed_yaml_string_position():
    with pytest.raises(ConfigurationError) as info:
        map_yaml.load_yaml("a: {b\n")
    assert str(info.value).startswith("<string>, line 2, column 1: invalid YAML: ")


def test_missing_file():
    with pytest.raises(ConfigurationError, match=r"/nonexistent/x.yml: cannot read file"):
        map_yaml.load_file("/nonexistent/x.yml")


# -- maps and name rules --------------------------------------------------------------------

MAP = "name: {name}\nweb:\n  image: busybox\n"


def test_load_map_name_from_document():
    m = map_yaml.load_map(MAP.format(name="docname"))
    assert m.name == "docname"
    assert "web" in m.containers
    assert "name" not in m.containers


def test_load_map_explicit_name_wins_and_root_name_is_dropped():
    m = map_yaml.load_map(MAP.format(name="docname"), name="given")
    assert m.name == "given"
    assert "name" not in m.containers


def test_load_map_without_name_is_an_error():
    with pytest.raises(ConfigurationError, match="no map name given"):
        map_yaml.load_map("web:\n  image: busybox\n")


def test_load_map_not_a_mapping():
    with pytest.raises(ConfigurationError, match="a container map must be a mapping, not list"):
        map_yaml.load_map("- a\n", name="x")


def test_load_map_file_name_rules(tmp_path):
    f = tmp_path / "filemap.yaml"
    f.write_text(MAP.format(name="docname"))
    assert map_yaml.load_map_file(f).name == "docname"  # root key
    assert map_yaml.load_map_file(f, name="").name == "filemap"  # file base name
    assert map_yaml.load_map_file(f, name="arg").name == "arg"  # explicit
    g = tmp_path / "noname.yml"
    g.write_text("web:\n  image: busybox\n")
    with pytest.raises(ConfigurationError, match="no map name given"):
        map_yaml.load_map_file(g)
    assert map_yaml.load_map_file(g, name="").name == "noname"


def test_load_map_file_with_env_tags(env, tmp_path):
    f = tmp_path / "m.yml"
    f.write_text("repository: !env DF_TEST_REPO\nweb:\n  image: busybox\n")
    env.setenv("DF_TEST_REPO", "registry.local:5000")
    m = map_yaml.load_map_file(f, name="")
    assert m.get_image("busybox") == "registry.local:5000/busybox:latest"


def test_load_map_validation_problems_are_collected():
    text = "name: m\nweb:\n  links: db\n  uses: nothing\n"
    with pytest.raises(MapValidationError) as info:
        map_yaml.load_map(text)
    messages = [str(p) for p in info.value.problems]
    assert "m.web.links[0]: unknown container 'db'" in messages
    assert "m.web.uses[0]: unknown attached volume or container 'nothing'" in messages


def test_load_map_check_integrity_false_skips_reference_rules():
    m = map_yaml.load_map("name: m\nweb:\n  links: db\n", check_integrity=False)
    assert m.name == "m"


def test_load_map_from_stream():
    m = map_yaml.load_map(io.StringIO(MAP.format(name="s")))
    assert m.name == "s"


def test_load_maps_multi_map_document():
    text = "one:\n  web:\n    image: busybox\ntwo:\n  name: renamed\n  db: {}\n"
    maps = map_yaml.load_maps(text)
    assert list(maps) == ["one", "renamed"]
    assert maps["renamed"].name == "renamed"
    assert "db" in maps["renamed"].containers


def test_load_maps_from_dict_collects_problems_of_all_maps():
    with pytest.raises(MapValidationError) as info:
        map_yaml.load_maps({"a": {"web": {"links": "x"}}, "b": {"web": {"links": "y"}}, "c": {"ok": {}}})
    assert [str(p) for p in info.value.problems] == [
        "a.web.links[0]: unknown container 'x'",
        "b.web.links[0]: unknown container 'y'",
    ]


def test_load_maps_file(tmp_path):
    f = tmp_path / "maps.yml"
    f.write_text("one:\n  web: {}\n")
    assert list(map_yaml.load_maps_file(f)) == ["one"]


# -- clients --------------------------------------------------------------------------------


def test_load_clients(tmp_path):
    f = tmp_path / "clients.yml"
    f.write_text(
        "main:\n  base_url: unix:///var/run/docker.sock\n  timeout: 30\n"
        "second:\n  base_url: tcp://127.0.0.1:2376\n  interfaces:\n    private: 10.0.0.2\n"
    )
    clients = map_yaml.load_clients_file(f)
    assert list(clients) == ["main", "second"]
    assert clients["main"].base_url == "unix:///var/run/docker.sock"
    assert clients["main"].timeout == 30
    assert clients["second"].interfaces == {"private": "10.0.0.2"}


def test_load_clients_with_lazy_interface(env):
    clients = map_yaml.load_clients("c:\n  interfaces:\n    private: !env_lazy DF_TEST_IP\n")
    env.setenv("DF_TEST_IP", "10.1.2.3")
    assert resolve_value(clients["c"].interfaces["private"]) == "10.1.2.3"


def test_load_clients_not_a_mapping():
    with pytest.raises(ConfigurationError, match="clients must be a mapping"):
        map_yaml.load_clients("- a\n")


def test_load_file_plain_document(tmp_path):
    f = tmp_path / "plain.yml"
    f.write_text("a: [1, 2]\n")
    assert map_yaml.load_file(os.fspath(f)) == {"a": [1, 2]}


def test_duplicate_key_is_an_error():
    with pytest.raises(ConfigurationError) as info:
        map_yaml.load_yaml("web:\n  image: a\ndb: {}\nweb:\n  image: b\n")
    assert str(info.value) == "<string>, line 4, column 1: duplicate key 'web' (first given on line 1)"


def test_merge_keys_may_be_overridden():
    data = map_yaml.load_yaml("base: &b {image: a, user: 1}\nweb:\n  <<: *b\n  image: c\n")
    assert data["web"] == {"image": "c", "user": 1}


def test_load_map_check_duplicates_false():
    text = "name: m\nvolumes: {v: /v}\na:\n  attaches: v\nb:\n  attaches: v\n"
    with pytest.raises(MapValidationError, match="attached volume 'v' is also attached by 'a'"):
        map_yaml.load_map(text)
    assert sorted(map_yaml.load_map(text, check_duplicates=False).containers) == ["a", "b"]


def test_garbage_collector_state_is_restored():
    import gc

    assert gc.isenabled()
    map_yaml.load_yaml("a: 1\n")
    assert gc.isenabled()
    with pytest.raises(ConfigurationError):
        map_yaml.load_yaml("a: [\n")
    assert gc.isenabled()
    gc.disable()
    try:
        map_yaml.load_yaml("a: 1\n")
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
