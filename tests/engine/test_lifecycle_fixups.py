"""Lifecycle engine fix-ups against the real Docker engine: secret values (real in the
container, hidden in plans, labels and logs), host-config keys under ``create_options``, one
change key in test mode and apply, ``start_delay``, the client's ``wait_timeout`` (stop signal
wait, script runs) and ``core_image`` as the volume helper image."""

from __future__ import annotations

import json
import logging
import os
import time

import docker
import pytest
from containermap import labels
from containermap.config.map import ContainerMap
from containermap.config.secret import Secret
from containermap.engine import MapClient

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
SLEEP = "sleep 100000"


def _client(env, data, **client):
    cmap = ContainerMap(env["name"], data)
    clients = {"__default__": {"client": env["api"], **client}} if client else None
    return MapClient(cmap, clients=clients, extra_labels=env["labels"])


@pytest.fixture
def fx(api, env):
    """``env`` plus its own APIClient (request hooks of one test stay out of the others)."""
    own = docker.APIClient(
        base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), version=api.api_version
    )
    yield {**env, "api": own}
    own.close()


def _requests(api) -> list[tuple[str, str, bytes]]:
    log: list[tuple[str, str, bytes]] = []
    api.hooks["response"].append(
        lambda r, *a, **k: log.append((r.request.method, r.request.path_url, _bytes(r.request.body)))
    )
    return log


def _bytes(body) -> bytes:
    return body.encode() if isinstance(body, str) else body or b""


def _exec(api, container, cmd) -> str:
    exec_id = api.exec_create(container, cmd)["Id"]
    return api.exec_start(exec_id).decode().strip()


def _started(api, name) -> float:
    """StartedAt of a container as seconds (sub-second precision kept)."""
    text = api.inspect_container(name)["State"]["StartedAt"]  # 2026-11-24T10:00:00.123456789Z
    stamp, _, frac = text.rstrip("Z").partition(".")
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def test_secret_values_reach_the_container_but_no_plan_label_or_log(fx, caplog):
    caplog.set_level(logging.DEBUG)
    api, n = fx["api"], fx["name"]
    pw1, pw2, tok1, tok2 = "pw-a1b2c3", "pw-d4e5f6", "tok-1a2b3c", "tok-4d5e6f"

    def data(pw: str, tok: str) -> dict:
        env = {"DB_PASSWORD": pw, "SERVICE_KEY": Secret(tok), "HOST": "db"}
        return {
            "app": {
                "image": BASE,
                "stop_timeout": 1,
                "host_config": {"init": True},
                "create_options": {"command": SLEEP, "environment": env},
            }
        }

    mc = _client(fx, data(pw1, tok1))
    result = mc.startup("app")
    assert result.ok, result.comment
    name = f"{n}.app"
    assert _exec(api, name, ["sh", "-c", "echo $DB_PASSWORD"]) == pw1
    assert _exec(api, name, ["sh", "-c", "echo $SERVICE_KEY"]) == tok1
    stored = json.dumps(api.inspect_container(name)["Config"]["Labels"])
    assert pw1 not in stored and tok1 not in stored and '"HOST":"db"' in stored.replace("\\", "")
    # unchanged secrets: nothing to do
    assert not _client(fx, data(pw1, tok1)).plan("update")
    # changed: re-created, reasons without the values, in test mode and after the apply
    mc2 = _client(fx, data(pw2, tok2))
    plan = mc2.plan("update")
    reasons = [s.reason for s in plan.steps if s.kind == "recreate"]
    assert reasons and "environment DB_PASSWORD changed (value hidden)" in reasons[0], reasons
    assert "environment SERVICE_KEY changed (value hidden)" in reasons[0]
    result = mc2.apply(plan)
    assert result.ok, result.comment
    assert _exec(api, name, ["sh", "-c", "echo $DB_PASSWORD"]) == pw2
    assert _exec(api, name, ["sh", "-c", "echo $SERVICE_KEY"]) == tok2
    texts = [
        json.dumps(plan.as_list(), default=str),
        str(plan),
        plan.comment,
        json.dumps(result.as_dict(), default=str),
        json.dumps(api.inspect_container(name)["Config"]["Labels"]),
        caplog.text,
    ]
    for secret in (pw1, pw2, tok1, tok2):
        for text in texts:
            assert secret not in text, text[:400]


def test_host_config_keys_under_create_options_reach_the_host_config(fx):
    api, n = fx["api"], fx["name"]
    create_options = {
        "command": SLEEP,
        "dns": ["10.53.53.53"],
        "cap_drop": ["MKNOD"],  # (privileged is refused by this nested engine)
        "read_only": True,
        "cpuset_cpus": "0",
        "mem_limit": "64m",
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 2},
        "volumes_from": [f"{n}.data"],
        "working_dir": "/tmp",
    }
    data = {
        "data": {"image": BASE, "shares": "/shared", "create_options": {"command": "true"}},
        "app": {
            "image": BASE,
            "stop_timeout": 1,
            "host_config": {"init": True},
            "create_options": create_options,
        },
    }
    mc = _client(fx, data)
    mc.create("data")
    result = mc.startup("app")
    assert result.ok, result.comment
    info = api.inspect_container(f"{n}.app")
    host = info["HostConfig"]
    assert host["Dns"] == ["10.53.53.53"] and host["CapDrop"] == ["MKNOD"] and host["ReadonlyRootfs"]
    assert host["CpusetCpus"] == "0" and host["Memory"] == 64 * 1024 * 1024
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert host["VolumesFrom"] == [f"{n}.data"] and info["Config"]["WorkingDir"] == "/tmp"
    # the next run sees nothing to change on app (data, created only, would be started)
    plan = _client(fx, data).plan("update")
    assert [s for s in plan.steps if s.target.config_name == "app"] == [], str(plan)


def test_one_change_key_in_test_mode_and_after_apply(fx):
    n = fx["name"]
    data = {
        "volumes": {"site": "/site"},
        "networks": {"net": {}},
        "web": {
            "image": BASE,
            "stop_timeout": 1,
            "networks": "net",
            "attaches": "site",
            "host_config": {"init": True},
            "create_options": {"command": SLEEP},
        },
    }
    mc = _client(fx, data)
    plan = mc.plan("startup", "web")
    planned = {s["change_key"] for s in plan.as_list() if s["kind"] != "warning"}
    assert f"volume:{n}.site" in planned and f"network:{n}.net" in planned, planned
    assert f"container:{n}.web" in planned
    result = mc.apply(plan)
    assert result.ok, result.comment
    assert set(result.changes) == planned
    assert result.comment == f"{len(planned)} operations finished successfully."


def test_start_delay_holds_back_dependents(fx):
    api, n = fx["api"], fx["name"]
    common = {"image": BASE, "stop_timeout": 1, "host_config": {"init": True}}
    data = {
        "db": {**common, "create_options": {"command": SLEEP}, "start_delay": 1.5},
        "app": {**common, "create_options": {"command": SLEEP}, "links": "db"},
    }
    result = _client(fx, data).startup("app")
    assert result.ok, result.comment
    gap = _started(api, f"{n}.app") - _started(api, f"{n}.db")
    assert gap >= 1.4, gap


def test_stop_signal_waits_wait_timeout_then_stops(fx):
    api, n = fx["api"], fx["name"]
    # exits on USR1 (the trap runs between the short sleeps)
    polite = "trap 'exit 0' USR1; while :; do sleep 0.1; done"
    data = {
        "app": {
            "image": BASE,
            "stop_signal": "SIGUSR1",
            "stop_timeout": 30,
            "create_options": {"command": ["sh", "-c", polite]},
        },
        "deaf": {
            "image": BASE,
            "stop_signal": "SIGUSR1",
            "stop_timeout": 1,
            "create_options": {"command": ["sh", "-c", "trap '' USR1; while :; do sleep 0.1; done"]},
        },
    }
    mc = _client(fx, data, wait_timeout=2)
    assert mc.startup().ok
    log = _requests(api)
    start = time.monotonic()
    result = mc.stop("app")
    assert result.ok and time.monotonic() - start < 10, result.comment
    paths = [p for _m, p, _b in log]
    assert any(p.endswith(f"/containers/{n}.app/kill?signal=SIGUSR1") for p in paths), paths
    assert any(f"/containers/{n}.app/wait" in p for p in paths), paths
    assert api.inspect_container(f"{n}.app")["State"]["ExitCode"] == 0  # it exited on the signal
    # a container that ignores the signal: after wait_timeout, docker stop (and its kill)
    start = time.monotonic()
    result = mc.stop("deaf")
    took = time.monotonic() - start
    assert result.ok, result.comment
    assert api.inspect_container(f"{n}.deaf")["State"]["Running"] is False
    assert 2 <= took < 15, took


def test_script_uses_the_client_wait_timeout(fx):
    data = {"tool": {"image": BASE, "create_options": {"command": "true"}}}
    mc = _client(fx, data, wait_timeout=1)
    start = time.monotonic()
    result = mc.script("tool", "sleep 30\n", entrypoint="/bin/sh")
    assert time.monotonic() - start < 15
    assert "did not finish within 1 s" in (result.get("error") or ""), result


def test_core_image_is_the_volume_helper(fx):
    api, n = fx["api"], fx["name"]
    helper = f"local/dftest-h17-{fx['run']}:helper"
    repo, tag = helper.rsplit(":", 1)
    api.tag(BASE, repo, tag)
    fx["images"].append(helper)
    data = {
        "volumes": {"d": "/d"},
        "app": {
            "image": BASE,
            "attaches": "d",
            "user": "1000:1000",
            "permissions": "u=rwX,g=rX,o=",
            "create_options": {"command": "true"},
        },
    }
    log = _requests(api)
    result = _client(fx, data, core_image=helper).create("app")
    assert result.ok, result.comment
    temporary = [
        json.loads(body)
        for method, path, body in log
        if method == "POST"
        and path.startswith("/v1.41/containers/create")
        and labels.TEMPORARY.encode() in body
    ]
    assert temporary and all(c["Image"] == helper for c in temporary), temporary
    mounted = api.inspect_volume(f"{n}.d")["Mountpoint"]
    assert mounted  # the volume exists; its owner is checked by the volume tests
