"""Bad-input corpus: every invalid map gives an engine error naming the key path, before
anything is sent to an engine.

``CASES`` (pure, no Docker) load each input with the YAML loader or ``ContainerMap`` and
assert a :class:`ContainerMapError` whose text contains the exact key path. ``ENGINE_CASES``
run a representative part through ``MapClient.run`` against the real engine behind the
request-logging proxy and assert that not one state-changing request (POST/PUT/DELETE) was
sent. ``PASSTHROUGH`` values (shell metacharacters, newlines) are valid data: they must reach
the container verbatim and never be interpreted by a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from containermap.config.map import ContainerMap
from containermap.config.yaml import load_clients, load_map
from containermap.exceptions import ConfigurationError, ContainerMapError

from tests.reliability.conftest import BASE, SLEEP, exec_out

X = "local/busybox:latest"
UTILS = Path(__file__).resolve().parents[2] / "_utils"


def _bomb() -> str:
    # "billion laughs": 10^9 leaves if aliases were expanded into copies
    lines = ["name: m", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join(f"*{prev}" for _ in range(10)) + "]")
    lines.append("web: {image: x, shares: *i}")
    return "\n".join(lines) + "\n"


def _huge(n: int = 3000) -> dict:
    data: dict = {f"c{i}": {"image": X, "requires": [f"c{i - 1}"] if i else []} for i in range(n)}
    data[f"c{n - 1}"]["links"] = "nothere"
    return data


def _web(**cfg: object) -> dict:
    return {"web": {"image": X, **cfg}}


# (id, input, expected substring of the error: the key path, plus a word of the message)
# input: a str is YAML for load_map, a dict is ContainerMap('m', dict), a tuple ('clients', str)
# is load_clients
CASES: list[tuple[str, object, str]] = [
    # --- malformed YAML / document shape
    ("yaml-unclosed-flow", "name: m\nweb: {image: x\n", "line 3, column 1: invalid YAML"),
    ("yaml-tab-indent", "name: m\nweb:\n\timage: x\n", "line 3, column 1: invalid YAML"),
    (
        "yaml-duplicate-config",
        "name: m\nweb: {image: x}\nweb: {image: y}\n",
        "line 3, column 1: duplicate key 'web'",
    ),
    (
        "yaml-duplicate-key",
        "name: m\nweb:\n  image: x\n  image: y\n",
        "line 4, column 3: duplicate key 'image'",
    ),
    ("yaml-list-document", "- a\n- b\n", "must be a mapping"),
    ("yaml-unknown-tag", "name: m\nweb: {image: !nosuchtag x}\n", "line 2, column 14"),
    (
        "yaml-python-object-tag",
        "name: m\nweb: {image: !!python/object/apply:os.system ['touch /tmp/h10-pwned']}\n",
        "line 2, column 14",
    ),
    ("yaml-env-lazy-empty", "name: m\nweb: !env_lazy\n", "line 2, column 6: !env_lazy needs"),
    ("yaml-no-name", "web: {image: x}\n", "no map name"),
    ("config-not-mapping", "name: m\nweb: 5\n", "m.web: expected a mapping"),
    ("config-list", "name: m\nweb: [image, x]\n", "m.web: expected a mapping"),
    # --- unknown keys
    ("unknown-key-typo", _web(imagee="y"), "m.web.imagee: unknown key 'imagee' (did you mean 'image'?)"),
    ("unknown-key", _web(foo=1), "m.web.foo: unknown key"),
    ("misspelled-map-key", {"volume": {"a": "/x"}, **_web()}, "m.volume: looks like a misspelled map key"),
    ("unknown-create-option", _web(create_options={"commandd": "x"}), "m.web.create_options.commandd"),
    ("unknown-host-config", _web(host_config={"foo": 1}), "m.web.host_config.foo: unknown option"),
    (
        "unknown-healthcheck-key",
        _web(healthcheck={"test": ["CMD", "x"], "intervall": "1s"}),
        "m.web.healthcheck.intervall",
    ),
    ("unknown-network-key", {"networks": {"n": {"drivr": "bridge"}}, **_web()}, "m.networks.n.drivr"),
    (
        "unknown-volume-key",
        {"volumes": {"a": {"default_path": "/d", "drivr": "x"}}, **_web()},
        "m.volumes.a.drivr",
    ),
    ("unknown-client-key", ("clients", "web1: {interface: {a: b}}"), "clients.web1.interface: unknown key"),
    # --- wrong types
    ("binds-int", _web(binds=5), "m.web.binds: expected"),
    ("instances-int", _web(instances=3), "m.web.instances: expected a name"),
    ("shares-int", _web(shares=5), "m.web.shares: expected a path"),
    ("abstract-str", _web(abstract="maybe"), "m.web.abstract: expected true or false"),
    ("persistent-list", _web(persistent=[1]), "m.web.persistent: expected true or false"),
    ("clients-int", {"clients": 5, **_web()}, "m.clients: expected a name"),
    ("volumes-int", {"volumes": 5, **_web()}, "m.volumes: expected a mapping"),
    ("host-root-int", {"host_root": 5, **_web()}, "m.host_root: expected a host path"),
    ("set-hostname-str", {"set_hostname": "maybe", **_web()}, "m.set_hostname: expected true or false"),
    ("network-internal-str", {"networks": {"n": {"internal": "maybe"}}, **_web()}, "m.networks.n.internal"),
    (
        "driver-options-int",
        {"volumes": {"a": {"default_path": "/d", "driver_options": 5}}, **_web()},
        "m.volumes.a.driver_options",
    ),
    ("healthcheck-test-int", _web(healthcheck={"test": 5}), "m.web.healthcheck.test"),
    ("exec-empty", _web(exec_commands=[[]]), "m.web.exec_commands[0]: expected a command"),
    (
        "exec-no-cmd",
        _web(exec_commands=[{"user": "root"}]),
        "m.web.exec_commands[0]: exec command has no 'cmd'",
    ),
    ("client-base-url-int", ("clients", "web1: {base_url: 5}"), "clients.web1.base_url: invalid base_url"),
    ("client-tls-str", ("clients", "web1: {tls: maybe}"), "clients.web1.tls: expected"),
    ("client-timeout-str", ("clients", "web1: {timeout: soon}"), "clients.web1.timeout"),
    # --- dangling references
    ("dangling-uses", _web(uses="nothere"), "m.web.uses[0]: unknown attached volume or container 'nothere'"),
    ("dangling-link", _web(links="db"), "m.web.links[0]: unknown container 'db'"),
    ("dangling-requires", _web(requires="db"), "m.web.requires[0]: unknown container 'db'"),
    ("dangling-extends", _web(extends="base"), "m.web.extends[0]: unknown configuration 'base'"),
    ("dangling-network", _web(networks="nothere"), "m.web.networks[0]: unknown network 'nothere'"),
    (
        "dangling-network-mode",
        _web(network_mode="nothere"),
        "m.web.network_mode: unknown container 'nothere'",
    ),
    ("dangling-attach", _web(attaches="zzz"), "m.web.attaches[0]: attached volume 'zzz' has no path"),
    (
        "dangling-group",
        {"groups": {"g": ["nothere"]}, **_web()},
        "m.groups.g[0]: unknown container 'nothere'",
    ),
    (
        "dangling-instance",
        {"web": {"image": X, "instances": ["a"]}, "db": {"image": X, "links": ["web.b"]}},
        "m.db.links[0]: container 'web' has no instance 'b'",
    ),
    (
        "relative-host-path-no-root",
        {"host": {"d": "rel/path"}, **_web(binds=[["/c", "d"]])},
        "m.host.d: relative host path",
    ),
    (
        "attached-twice",
        {"volumes": {"v": "/d"}, "web": {"image": X, "attaches": "v"}, "w2": {"image": X, "attaches": "v"}},
        "m.w2.attaches[0]",
    ),
    # --- cycles
    (
        "cycle-requires",
        {"a": {"image": X, "requires": "b"}, "b": {"image": X, "requires": "a"}},
        "m.a.requires[0]: circular dependency a -> b -> a",
    ),
    (
        "cycle-extends",
        {"a": {"image": X, "extends": "b"}, "b": {"image": X, "extends": "a"}},
        "extends cycle: a -> b -> a",
    ),
    ("cycle-extends-self", _web(extends="web"), "m.web.extends[0]: configuration extends itself"),
    ("cycle-requires-self", _web(requires="web"), "m.web.requires[0]: circular dependency web -> web"),
    (
        "cycle-links-3",
        {"a": {"image": X, "links": "b"}, "b": {"image": X, "links": "c"}, "c": {"image": X, "links": "a"}},
        "m.a.links[0]: circular dependency a -> b -> c -> a",
    ),
    (
        "cycle-uses",
        {"a": {"image": X, "uses": "b"}, "b": {"image": X, "uses": "a"}},
        "m.a.uses[0]: circular dependency",
    ),
    (
        "cycle-network-mode",
        {"a": {"image": X, "network_mode": "b"}, "b": {"image": X, "network_mode": "a"}},
        "m.a.network_mode: circular dependency",
    ),
    # --- invalid ports, durations, permissions, signals, users
    ("port-too-big", _web(exposes=[[70000, 80]]), "m.web.exposes[0]: port 70000 is out of range"),
    ("port-zero", _web(exposes=[0]), "m.web.exposes[0]: port 0 is out of range"),
    ("host-port-negative", _web(exposes=[[80, -1]]), "m.web.exposes[0]: host port -1 is out of range"),
    ("host-port-zero", _web(exposes=[[80, 0]]), "m.web.exposes[0]: host port 0"),
    ("port-name", _web(exposes=[["http", 80]]), "m.web.exposes[0]: invalid port str 'http'"),
    ("port-float", _web(exposes=[80.5]), "m.web.exposes[0]: expected a port"),
    ("port-protocol", _web(exposes=["80/xyz"]), "m.web.exposes[0]: unknown protocol 'xyz'"),
    ("port-range-reversed", _web(exposes=[[80, "9000-8000"]]), "m.web.exposes[0]: host port '9000-8000'"),
    (
        "duration-words",
        _web(healthcheck={"test": ["CMD", "x"], "interval": "5 parsecs"}),
        "m.web.healthcheck.interval: invalid interval",
    ),
    (
        "duration-nanoseconds",
        _web(healthcheck={"test": ["CMD", "x"], "interval": 5}),
        "m.web.healthcheck.interval: interval 5 is 5 ns",
    ),
    (
        "duration-negative",
        _web(healthcheck={"test": ["CMD", "x"], "timeout": "-5s"}),
        "m.web.healthcheck.timeout",
    ),
    ("retries-str", _web(healthcheck={"test": ["CMD", "x"], "retries": "many"}), "m.web.healthcheck.retries"),
    ("stop-timeout-str", _web(stop_timeout="soon"), "m.web.stop_timeout: expected a non-negative number"),
    ("start-delay-negative", _web(start_delay=-1), "m.web.start_delay: must not be negative"),
    ("permissions-octal", _web(permissions="0999"), "m.web.permissions: invalid permissions '0999'"),
    ("permissions-symbolic", _web(permissions="u=rwz"), "m.web.permissions: invalid permissions 'u=rwz'"),
    (
        "permissions-volume",
        {"volumes": {"a": {"default_path": "/d", "permissions": "777x"}}, **_web()},
        "m.volumes.a.permissions",
    ),
    ("signal-unknown", _web(stop_signal="SIGFOO"), "m.web.stop_signal: unknown signal 'SIGFOO'"),
    ("signal-number", _web(stop_signal=99), "m.web.stop_signal: signal number 99 is out of range"),
    ("user-space", _web(user="a b"), "m.web.user: invalid user"),
    (
        "volume-user-three-parts",
        {"volumes": {"a": {"default_path": "/d", "user": "a:b:c"}}, **_web()},
        "m.volumes.a.user",
    ),
    (
        "exec-policy",
        _web(exec_commands=[{"cmd": "x", "policy": "sometimes"}]),
        "m.web.exec_commands[0]: unknown exec policy",
    ),
    # --- names Docker rejects
    ("image-upper", _web(image="UPPER/Case"), "m.web.image: invalid image reference 'UPPER/Case'"),
    ("image-space", _web(image="busy box"), "m.web.image: invalid image reference"),
    ("image-digest", _web(image="x@sha256:zz"), "m.web.image: invalid image reference"),
    ("repository-space", {"repository": "a b", **_web()}, "m.repository: invalid repository prefix"),
    ("tag-colon", {"default_tag": "a:b", **_web()}, "m.default_tag: invalid image tag 'a:b'"),
    ("tag-too-long", {"default_tag": "a" * 200, **_web()}, "m.default_tag: invalid image tag"),
    ("config-name-space", {"we b": {"image": X}}, "m.we b: invalid configuration name"),
    ("config-name-dot", {"we.b": {"image": X}}, "m.we.b: invalid configuration name"),
    ("instance-empty", _web(instances=[""]), "m.web.instances[0]: invalid instance name ''"),
    ("instance-dot", _web(instances=["a.b"]), "m.web.instances[0]: invalid instance name 'a.b'"),
    ("instance-duplicate", _web(instances=["a", "a"]), "m.web.instances[1]: duplicate entry 'a'"),
    (
        "network-name-space",
        {"networks": {"bad name": {}}, **_web()},
        "m.networks['bad name']: invalid network name",
    ),
    (
        "network-preset",
        {"networks": {"bridge": {}}, **_web()},
        "m.networks.bridge: 'bridge' is a Docker preset",
    ),
    (
        "link-alias-space",
        {"db": {"image": X}, **_web(links=[["db", "a b"]])},
        "m.web.links[0]: invalid link alias 'a b'",
    ),
    (
        "network-mode-empty-container",
        _web(network_mode="container:"),
        "m.web.network_mode: invalid container name",
    ),
    (
        "volume-path-relative",
        {"volumes": {"a": "relative"}, **_web()},
        "m.volumes.a: volume path 'relative' must be absolute",
    ),
    # --- shell metacharacters and newlines where they are not data: rejected, with the path
    (
        "meta-image",
        _web(image="busybox; rm -rf /"),
        "m.web.image: invalid image reference 'busybox; rm -rf /'",
    ),
    ("meta-image-newline", "name: m\nweb: {image: 'x\n\n  y'}\n", "m.web.image: invalid image reference"),
    ("meta-instance", _web(instances=["a;b"]), "m.web.instances[0]: invalid instance name 'a;b'"),
    ("meta-instance-newline", _web(instances=["a\nb"]), "m.web.instances[0]: invalid instance name"),
    (
        "meta-volume-alias",
        {"volumes": {"a": "/data"}, **_web(attaches="a;b")},
        "m.web.attaches: invalid volume alias 'a;b'",
    ),
    ("meta-signal", _web(stop_signal="SIGKILL; rm"), "m.web.stop_signal: unknown signal"),
    ("meta-permissions", _web(permissions="0750; chmod 777 /"), "m.web.permissions: invalid permissions"),
    ("meta-user-newline", _web(user="0:0\nroot"), "m.web.user: invalid group"),
    ("meta-link-newline", _web(links=["db\nx"]), "m.web.links[0]: invalid container reference"),
    ("meta-map-name", ("mapname", "bad;name"), "bad;name: invalid map name"),
    # --- huge maps: the one bad reference is still found, with its path
    ("huge-map-3000", _huge(), "m.c2999.links[0]: unknown container 'nothere'"),
]


def _load(value: object) -> object:
    if isinstance(value, str):
        return load_map(value)
    if isinstance(value, tuple) and value[0] == "clients":
        return load_clients(value[1])
    if isinstance(value, tuple) and value[0] == "mapname":
        return ContainerMap(value[1], _web())
    return ContainerMap("m", value)


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=i) for i, v, e in CASES])
def test_bad_input_names_key_path(value: object, expected: str, rstats) -> None:
    rstats.case()
    start = time.monotonic()
    with pytest.raises(ContainerMapError) as info:
        _load(value)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, ConfigurationError), repr(info.value)
    assert expected in str(info.value), f"expected {expected!r} in:\n{info.value}"
    # validation is linear: the huge map and the YAML bomb are answered in well under a second
    assert elapsed < 5, f"validation took {elapsed:.1f} s"


def test_corpus_size() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert len(CASES) + len(ENGINE_CASES) >= 50


def test_yaml_alias_bomb_is_answered_fast(rstats) -> None:
    """A "billion laughs" document must be rejected (with the key path) within seconds."""
    rstats.case()
    code = (
        "import sys; from containermap.config.yaml import load_map\n"
        "try:\n    load_map(sys.stdin.read())\nexcept Exception as e:\n    print(str(e)[:2000])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(UTILS), os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], input=_bomb(), capture_output=True, text=True, timeout=20, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the alias bomb was not rejected within 20 s")
    assert "m.a: expected a mapping" in proc.stdout, proc.stdout + proc.stderr


def test_yaml_python_tag_never_executes(tmp_path) -> None:
    marker = tmp_path / "pwned"
    doc = f"name: m\nweb: {{image: !!python/object/apply:os.system ['touch {marker}']}}\n"
    with pytest.raises(ConfigurationError):
        load_map(doc)
    assert not marker.exists()


# --- through the real engine: no state-changing request before the error ---------------------


def _engine_map(web_extra: dict, top: dict | None = None) -> dict:
    """A 2-container map (db with an attached volume, web requiring it) + a bad setting in web."""
    common = {"image": BASE, "host_config": {"init": True}, "stop_timeout": 1, "networks": "net"}
    web = {**common, "requires": "db", "create_options": {"command": SLEEP}}
    for key, value in web_extra.items():
        if isinstance(value, dict) and isinstance(web.get(key), dict):
            web[key] = {**web[key], **value}
        else:
            web[key] = value
    data = {
        "networks": {"net": {}},
        "volumes": {"v": "/v"},
        "db": {**common, "attaches": "v", "create_options": {"command": SLEEP}},
        "web": web,
    }
    data.update(top or {})
    return data


_GAP = "engine gap: {} is not validated before requests (fails mid-apply after creating objects)"


def _gap(what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=_GAP.format(what))


# (id, web settings, top-level settings, expected substring)
ENGINE_CASES = [
    pytest.param({"links": "nothere"}, None, ".web.links[0]: unknown container", id="dangling-link"),
    pytest.param({"requires": ["db", "web"]}, None, ".web.requires[1]: circular dependency", id="cycle"),
    pytest.param({"exposes": [[80, 70000]]}, None, ".web.exposes[0]: host port 70000", id="bad-port"),
    pytest.param(
        {"exposes": [[80, 8080, "eth9"]]}, None, ".web.exposes[0]: interface 'eth9'", id="unknown-interface"
    ),
    pytest.param(
        {"binds": [["/c", "relpath"]]}, None, ".web.binds[0]: relative host path", id="relative-bind"
    ),
    pytest.param({"image": "local/busybox;id"}, None, ".web.image: invalid image reference", id="meta-image"),
    pytest.param({"stop_signal": "SIGNOPE"}, None, ".web.stop_signal: unknown signal", id="bad-signal"),
    pytest.param({"user": "a b"}, None, ".web.user: invalid user", id="bad-user"),
    pytest.param(
        {},
        {"volumes": {"v": {"default_path": "/v", "permissions": "0999"}}},
        ".volumes.v.permissions",
        id="volume-perm",
    ),
    pytest.param(
        {"host_config": {"mem_limit": "lots"}},
        None,
        ".web.host_config.mem_limit",
        id="mem-limit-words",
    ),
    pytest.param(
        {"host_config": {"restart_policy": "sometimes"}},
        None,
        ".web.host_config.restart_policy",
        id="restart-policy-str",
    ),
    pytest.param(
        {"host_config": {"cpu_shares": "many"}},
        None,
        ".web.host_config.cpu_shares",
        id="cpu-shares-str",
    ),
    pytest.param(
        {"create_options": {"environment": {"A=B": "x"}}},
        None,
        ".web.create_options.environment",
        id="env-name-with-equals",
    ),
    pytest.param(
        {"create_options": {"labels": 5}},
        None,
        ".web.create_options.labels",
        id="labels-int",
    ),
    pytest.param(
        {"create_options": {"command": 5}},
        None,
        ".web.create_options.command",
        id="command-int",
    ),
]


@pytest.mark.parametrize(("web", "top", "expected"), ENGINE_CASES)
@pytest.mark.parametrize("action", ["startup", "update"])
def test_invalid_map_sends_no_state_changing_request(
    rel_env, request_log, web, top, expected, action, rstats
):
    rstats.case()
    data = _engine_map(web, top)
    request_log.clear()
    with pytest.raises(ContainerMapError) as info:
        # building the map, planning and applying: whichever raises, nothing may be changed
        client = rel_env.client(data, base_url=request_log.base_url)
        client.run(action)
    assert request_log.state_changing() == [], f"state-changing requests before the error: {info.value}"
    assert f"{rel_env.name}{expected}" in str(info.value)
    assert rel_env.objects() == {"containers": [], "volumes": [], "networks": []}


# --- valid data with shell metacharacters: passed through verbatim, never to a shell -------------

NASTY = "a;b && c | d `e` $(touch /tmp/h10-pwned) 'f' \"g\"\nsecond line\t$HOME"


def test_metacharacters_are_data_not_shell(rel_env, tmp_path, rstats):
    """Environment values, commands, exec commands and host paths with metacharacters reach
    the container unchanged, and nothing is executed by a shell."""
    host_dir = tmp_path / "dir;$(touch pwned) `x`"
    host_dir.mkdir()
    (host_dir / "file").write_bytes(b"payload\n")
    marker_dir = tmp_path / "marker"
    marker_dir.mkdir()
    data = {
        "networks": {"net": {}},
        "web": {
            "image": BASE,
            "host_config": {"init": True},
            "stop_timeout": 1,
            "networks": "net",
            "binds": [["/hostdir", str(host_dir), "ro"], ["/marker", str(marker_dir)]],
            "create_options": {
                # argv form: each item is one argument; busybox sleep gets them all
                "command": ["sleep", "100000"],
                "environment": {"NASTY": NASTY, "PLAIN": "x"},
            },
            "exec_commands": [
                {"cmd": ["touch", "/marker/exec; touch pwned"]},
                {"cmd": "echo hi; touch /marker/pwned2"},
            ],
        },
    }
    rstats.case(4)
    client = rel_env.client(data)
    client.run("startup")
    api = rel_env.api
    name = f"{rel_env.name}.web"
    env_lines = exec_out(api, name, ["env", "-0"]).split("\0")
    assert f"NASTY={NASTY}" in env_lines
    assert exec_out(api, name, ["cat", "/hostdir/file"]) == "payload\n"
    created = sorted(os.listdir(marker_dir))
    # the argv exec created one file whose name holds the metacharacters; the string exec was
    # split into words (no shell): echo printed them, nothing was touched
    assert created == ["exec; touch pwned"], created
    assert not (tmp_path / "pwned").exists()
    assert not os.path.exists("/tmp/h10-pwned")
