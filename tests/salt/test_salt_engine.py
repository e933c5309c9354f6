"""Acceptance of the Salt surface on the real engine: ``salt-call --local state.apply dockerfabric``
with the seed 001 example map in pillar (issue 5).

The map is docker-fabric's example (web_server using the socket volume of two app_server
instances, host binds per instance, attached volumes with owner/permissions, links), adapted
to this host: the local busybox image, ``init`` so stops are fast, and a user network because
the engine has no default bridge. Every object carries a per-test label and a unique map name,
and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import socket

import docker
import pytest
from containermap.labels import TEST as TEST_LABEL

pytestmark = [pytest.mark.salt, pytest.mark.docker]

BASE_IMAGE = "local/busybox:latest"


@pytest.fixture
def api(api_client, base_image):
    """The test bed's engine (tests/testbed/fixtures.py) with the base image present."""
    return api_client


@pytest.fixture
def run_label(test_labels, api, unique_map):
    """Value of the test label (the session sweep removes leftovers); everything of this test's
    map (unique name) is removed after the test."""
    yield test_labels[TEST_LABEL]
    label = f"org.dockerfabric.map={unique_map}"
    for c in api.containers(all=True, filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(c["Id"], force=True, v=False)
    for v in api.volumes(filters={"label": label}).get("Volumes") or []:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(v["Name"], force=True)
    for n in api.networks(filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(n["Id"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed_pillar(
    map_name: str, host_root: str, label: str, app_env: str, docker_url: str | None = None, port: int = 0
) -> str:
    """Seed 001's example map as lazy_yaml pillar; APP comes from another pillar key (!pillar);
    with ``port``, web_server publishes port 80 on the interface alias ``loopback`` (grain
    ip4_interfaces lo + setting interface_aliases)."""
    url = f"\n    docker_url: {docker_url}" if docker_url else ""
    exposes = f"\n        exposes:\n          80: [{port}, loopback]" if port else ""
    return f"""#!lazy_yaml
dftest:
  app_env: {app_env}
dockerfabric:
  lookup:
    install: {{engine: false, sdk: false}}
    service: {{manage: false, check_cmd: "test -S /var/run/docker.sock"}}
  settings:
    labels: {{{TEST_LABEL}: {label}}}{url}
    interface_aliases: {{loopback: lo}}
  maps:
    {map_name}:
      host_root: {host_root}
      networks:
        appnet: {{}}
      web_server:
        image: {BASE_IMAGE}
        binds:
          /etc/httpd: [config/httpd, ro]
        uses: app_server_socket
        attaches: web_log
        links:
          - app_server.instance1: app1
          - app_server.instance2: app2
        networks: [appnet]{exposes}
        create_options:
          command: sleep 2147483647
        host_config: {{init: true}}
      app_server:
        image: {BASE_IMAGE}
        instances: [instance1, instance2]
        binds:
          - app_config: ro
          - app_data
        attaches: [app_log, app_server_socket]
        user: 2000
        permissions: u=rwX,g=rX,o=
        networks: [appnet]
        create_options:
          command: sleep 2147483647
          environment:
            APP: !pillar dftest:app_env
        host_config: {{init: true}}
      volumes:
        web_log: /var/log/httpd
        app_server_socket: /var/lib/app/socket
        app_config: /var/lib/app/config
        app_log: /var/lib/app/log
        app_data: /var/lib/app/data
      host:
        app_config:
          instance1: config/app1
          instance2: config/app2
        app_data:
          instance1: data/app1
          instance2: data/app2
"""


def containers(api, map_name: str) -> dict[str, dict]:
    result = {}
    for c in api.containers(all=True, filters={"label": f"org.dockerfabric.map={map_name}"}):
        name = c["Names"][0].lstrip("/")
        result[name] = api.inspect_container(c["Id"])
    return result


def dockerfabric_states(states: dict[str, dict]) -> dict[str, dict]:
    return {k: v for k, v in states.items() if k.startswith("dockerfabric-map-") or "." in k}


def test_seed_map_apply_noop_test_mode_and_update(
    salt_env, unique_map, run_label, api, tmp_path, request_log
):
    web, app1, app2 = (
        f"{unique_map}.web_server",
        f"{unique_map}.app_server.instance1",
        f"{unique_map}.app_server.instance2",
    )

    # 1. state.apply brings the map up
    port = free_port()
    salt_env.write_pillar(seed_pillar(unique_map, str(tmp_path), run_label, "one", port=port))
    states = salt_env.apply("dockerfabric")
    map_ret = states[f"dockerfabric-map-{unique_map}"]
    assert map_ret["result"] is True, map_ret["comment"]
    for name in (web, app1, app2):
        assert f"container:{name}" in map_ret["changes"], map_ret["changes"]
    live = containers(api, unique_map)
    assert sorted(live) == sorted([web, app1, app2])
    assert all(c["State"]["Running"] for c in live.values())
    assert live[app1]["Config"]["User"] == "2000"
    assert "APP=one" in live[app1]["Config"]["Env"]
    assert live[web]["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    }
    started = {name: c["State"]["StartedAt"] for name, c in live.items()}

    # 2. a second run has nothing to do
    states = dockerfabric_states(salt_env.apply("dockerfabric"))
    assert states and all(s["result"] is True and s["changes"] == {} for s in states.values()), states
    assert states[f"dockerfabric-map-{unique_map}"]["comment"] == "There are no changes to apply."

    # the utility functions on the running map
    ran = salt_env.call("dockerfabric.single_cmd", f"{unique_map}.app_server", "id -u")
    assert ran["result"] is True, ran
    assert {k: v["output"].strip() for k, v in ran["output"].items()} == {
        f"container:{app1}": "2000",
        f"container:{app2}": "2000",
    }
    script = salt_env.call(
        "dockerfabric.script",
        f"{unique_map}.app_server",
        "instances=instance1",
        f"name={unique_map}.script1",
        "contents=echo hello $APP; id -u; ls /var/lib/app",
        "wait_timeout=60",
    )
    assert script["result"] is True, script
    assert script["output"]["exit_code"] == 0
    assert script["output"]["logs"].split() == ["hello", "one", "2000", "config", "data", "log", "socket"]
    assert f"{unique_map}.script1" not in containers(api, unique_map)  # removed afterwards
    failed = salt_env.call(
        "dockerfabric.script", app2, f"name={unique_map}.script2", "contents=exit 3", "wait_timeout=60"
    )
    assert failed["result"] is False and failed["output"]["exit_code"] == 3, failed
    failed = salt_env.call("dockerfabric.single_cmd", web, "/bin/false")
    assert failed["result"] is False and failed["output"][f"container:{web}"]["exit_code"] == 1
    pulled = salt_env.call("dockerfabric.pull_images", unique_map)
    assert pulled["result"] is True and pulled["changes"] == {}, pulled
    planned = salt_env.call("dockerfabric.plan", "shutdown", unique_map)
    assert planned["result"] is None
    assert {s["target"] for s in planned["plan"] if s["kind"] != "warning"} >= {
        f"container:{web}",
        f"container:{app1}",
    }
    assert all(c["State"]["Running"] for c in containers(api, unique_map).values())

    # 3. one pillar value changed, test=True: exactly the app servers (and web_server, which links
    #    them) with the reason; no state-changing request (through the test bed's request-logging
    #    proxy) and nothing changed on the engine
    salt_env.write_pillar(
        seed_pillar(unique_map, str(tmp_path), run_label, "two", docker_url=request_log.base_url, port=port)
    )
    request_log.clear()
    states = salt_env.apply("dockerfabric", "test=True")
    map_ret = states[f"dockerfabric-map-{unique_map}"]
    assert map_ret["result"] is None, map_ret
    assert set(map_ret["changes"]) == {f"container:{app1}", f"container:{app2}", f"container:{web}"}
    for name in (app1, app2):
        reasons = [step["reason"] for step in map_ret["changes"][f"container:{name}"]]
        assert any("APP" in r and "one" in r and "two" in r for r in reasons), reasons
    web_reasons = [step["reason"] for step in map_ret["changes"][f"container:{web}"]]
    assert any(app1 in r or app2 in r for r in web_reasons), web_reasons
    assert request_log.requests, "the plan went through the proxy"
    assert request_log.state_changing() == []
    live = containers(api, unique_map)
    assert {name: c["State"]["StartedAt"] for name, c in live.items()} == started
    assert "APP=one" in live[app1]["Config"]["Env"]

    # 4. the real run applies exactly that
    states = salt_env.apply("dockerfabric")
    map_ret = states[f"dockerfabric-map-{unique_map}"]
    assert map_ret["result"] is True, map_ret["comment"]
    assert {k for k in map_ret["changes"] if k.startswith("container:")} == {
        f"container:{app1}",
        f"container:{app2}",
        f"container:{web}",
    }
    live = containers(api, unique_map)
    assert "APP=two" in live[app1]["Config"]["Env"] and "APP=two" in live[app2]["Config"]["Env"]
    assert all(c["State"]["Running"] for c in live.values())
    states = dockerfabric_states(salt_env.apply("dockerfabric"))
    assert all(s["result"] is True and s["changes"] == {} for s in states.values()), states


def test_mod_watch_restarts_exactly_the_watching_config(salt_env, unique_map, run_label, api, tmp_path):
    web, app1 = f"{unique_map}.web_server", f"{unique_map}.app_server.instance1"
    conf = tmp_path / "httpd.conf"
    salt_env.write_pillar(seed_pillar(unique_map, str(tmp_path), run_label, "one"))
    sls = f"watch_{unique_map}"

    def write_sls(content: str) -> None:
        salt_env.write_sls(
            sls,
            f"""include:
  - dockerfabric.maps

{sls}-config:
  file.managed:
    - name: {conf}
    - contents: {content}
    - watch_in:
      - dockerfabric: dockerfabric-{web}

{sls}-signal:
  dockerfabric.updated:
    - name: {app1}
    - reload_signal: SIGWINCH
    - require:
      - dockerfabric: dockerfabric-map-{unique_map}
    - watch:
      - file: {sls}-config
""",
        )

    write_sls("first")
    states = salt_env.apply(sls)
    assert states[f"dockerfabric-map-{unique_map}"]["result"] is True
    before = {name: c["State"]["StartedAt"] for name, c in containers(api, unique_map).items()}
    assert len(before) == 3

    # unchanged file: nothing restarts
    states = salt_env.apply(sls)
    assert states[f"dockerfabric-{web}"]["changes"] == {}
    assert {name: c["State"]["StartedAt"] for name, c in containers(api, unique_map).items()} == before

    # changed file: the watching state restarts web_server and nothing else
    write_sls("second")
    states = salt_env.apply(sls, "test=True")
    assert states[f"dockerfabric-{web}"]["result"] is None
    assert {name: c["State"]["StartedAt"] for name, c in containers(api, unique_map).items()} == before
    states = salt_env.apply(sls)
    ret = states[f"dockerfabric-{web}"]
    assert ret["result"] is True, ret
    assert set(ret["changes"]) == {f"container:{web}"}, ret["changes"]
    after = {name: c["State"]["StartedAt"] for name, c in containers(api, unique_map).items()}
    assert after[web] != before[web]
    assert {k: v for k, v in after.items() if k != web} == {k: v for k, v in before.items() if k != web}
    # with reload_signal the watching state signals instead of restarting (still running)
    signaled = states[f"{sls}-signal"]
    assert signaled["result"] is True, signaled
    assert list(signaled["changes"]) == [f"container:{app1}"], signaled["changes"]
    assert containers(api, unique_map)[app1]["State"]["Running"]


def test_set_up_map_at_run_time_in_test_mode(salt_env, unique_map, run_label, api):
    """A map added by dockerfabric.set_up is used by the states after it; test mode plans it
    without creating anything."""
    salt_env.write_pillar({"dockerfabric": {"settings": {"labels": {TEST_LABEL: run_label}}}})
    sls = f"setup_{unique_map}"
    salt_env.write_sls(
        sls,
        f"""{unique_map}-map:
  dockerfabric.set_up:
    - name: {unique_map}
    - map_data:
        tool:
          image: {BASE_IMAGE}
          create_options: {{command: sleep 2147483647}}
          host_config: {{init: true}}

{unique_map}-tool:
  dockerfabric.updated:
    - name: {unique_map}.tool
    - require:
      - dockerfabric: {unique_map}-map

{unique_map}-merge:
  dockerfabric.merged:
    - name: {unique_map}_more
    - target_map: {unique_map}
    - map_data:
        extra:
          image: {BASE_IMAGE}
          create_options: {{command: sleep 2147483647}}
    - require:
      - dockerfabric: {unique_map}-map

{unique_map}-all:
  dockerfabric.updated:
    - name: {unique_map}
    - require:
      - dockerfabric: {unique_map}-merge

{unique_map}-script:
  dockerfabric.script_run:
    - name: {unique_map}.tool
    - contents: echo hi
    - require:
      - dockerfabric: {unique_map}-map
""",
    )
    states = salt_env.apply(sls, "test=True")
    assert states[f"{unique_map}-map"]["result"] is True
    ret = states[f"{unique_map}-tool"]
    assert ret["result"] is None, ret
    assert list(ret["changes"]) == [f"container:{unique_map}.tool"]
    assert states[f"{unique_map}-merge"]["result"] is True
    merged = states[f"{unique_map}-all"]
    assert merged["result"] is None
    assert sorted(merged["changes"]) == [f"container:{unique_map}.extra", f"container:{unique_map}.tool"]
    script = states[f"{unique_map}-script"]
    assert script["result"] is None and "would run" in script["comment"], script
    assert containers(api, unique_map) == {}


def test_containers_clean_keeps_persistent_and_all_removed(salt_env, unique_map, run_label, api):
    """Cleanups scoped to this test's label: never-started containers go, persistent ones stay;
    all_removed shuts the map down and removes what is left."""
    # the run label is shared by every test of the session (their exited containers would be
    # candidates too): scope the cleanups to a label of this test alone
    case_label = f"{TEST_LABEL}.case"
    label = f"{case_label}={unique_map}"
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "settings": {"labels": {TEST_LABEL: run_label, case_label: unique_map}},
                "maps": {
                    unique_map: {
                        "base": {
                            "abstract": True,
                            "image": BASE_IMAGE,
                            "network_mode": "none",
                            "create_options": {"command": "sleep 2147483647"},
                            "host_config": {"init": True},
                        },
                        "tool": {"extends": "base"},
                        "keeper": {"extends": "base", "persistent": True},
                    }
                },
            }
        }
    )
    created = salt_env.call("dockerfabric.create", unique_map)
    assert created["result"] is True, created
    assert sorted(containers(api, unique_map)) == [f"{unique_map}.keeper", f"{unique_map}.tool"]
    sls = f"clean_{unique_map}"
    salt_env.write_sls(
        sls,
        f"""{sls}:
  dockerfabric.containers_clean:
    - include_initial: true
    - label: {label}
""",
    )
    ret = salt_env.apply(sls, "test=True")[sls]
    assert ret["result"] is None and list(ret["changes"]) == [f"container:{unique_map}.tool"], ret
    assert len(containers(api, unique_map)) == 2
    ret = salt_env.apply(sls)[sls]
    assert ret["result"] is True and list(ret["changes"]) == [f"container:{unique_map}.tool"], ret
    assert sorted(containers(api, unique_map)) == [f"{unique_map}.keeper"]

    salt_env.write_sls(sls, f"{sls}:\n  dockerfabric.all_removed:\n    - label: {label}\n")
    ret = salt_env.apply(sls)[sls]
    assert ret["result"] is True, ret
    assert f"container:{unique_map}.keeper" in ret["changes"]
    assert containers(api, unique_map) == {}


def test_partial_failure_keeps_the_changes_made(salt_env, unique_map, run_label, api):
    """One config fails at create (the engine rejects the memory limit), the other is created:
    result False, the error in the comment, the change that was made in changes."""
    base = {"image": BASE_IMAGE, "network_mode": "none", "create_options": {"command": "sleep 2147483647"}}
    salt_env.write_pillar(
        {
            "dockerfabric": {
                "settings": {"labels": {TEST_LABEL: run_label}},
                "maps": {
                    unique_map: {
                        "good": {**base, "host_config": {"init": True}},
                        "bad": {**base, "host_config": {"init": True, "mem_limit": 1000}},
                    }
                },
            }
        }
    )
    sls = f"partial_{unique_map}"
    salt_env.write_sls(sls, f"{sls}:\n  dockerfabric.updated:\n    - name: {unique_map}\n")
    ret = salt_env.apply(sls)[sls]
    assert ret["result"] is False, ret
    assert f"container:{unique_map}.bad" in ret["comment"]
    assert "memory" in ret["comment"].lower()
    assert set(ret["changes"]) == {f"container:{unique_map}.good"}, ret["changes"]
    live = containers(api, unique_map)
    assert live[f"{unique_map}.good"]["State"]["Running"]
    assert f"{unique_map}.bad" not in live
