"""Exec commands (containermap.execs) on the real engine: detached and waited runs, exit codes
and output, timeouts, the restart/initial policies and the user precedence."""

from __future__ import annotations

import secrets
import time
import uuid

import pytest
from containermap.config.elements import ExecCommand
from containermap.errors import Conflict, ObjectMissing
from containermap.exceptions import ConfigurationError
from containermap.execs import exec_user, normalize_exec_command, run_exec, run_exec_commands, single_cmd

# -- pure logic -------------------------------------------------------------------------------


def test_exec_user_precedence():
    assert exec_user("3000", "2000:2000") == "3000"
    assert exec_user(None, "2000:2000") == "2000"
    assert exec_user(None, 2000) == "2000"
    assert exec_user(None, ("app", "staff")) == "app"
    assert exec_user(None, None) is None


def test_normalize_exec_command_forms():
    assert normalize_exec_command("echo x") == ExecCommand("echo x", None, "restart")
    assert normalize_exec_command(("echo x", "2000")) == ExecCommand("echo x", "2000", "restart")
    assert normalize_exec_command(("echo x", None, "initial")).policy == "initial"
    assert normalize_exec_command({"cmd": ["ls", "-l"], "user": "app"}) == ExecCommand(
        ("ls", "-l"), "app", "restart"
    )
    with pytest.raises(ConfigurationError, match="policy must be restart or initial"):
        normalize_exec_command(("echo", None, "always"))
    with pytest.raises(ConfigurationError, match="no command"):
        normalize_exec_command({"user": "x"})


# -- real engine ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(api_client):
    return api_client


@pytest.fixture(scope="module")
def container(api, base_image, test_labels):
    """One running busybox container (tini as init: stops at once), removed afterwards."""
    cid = api.create_container(
        base_image,
        ["sleep", "300"],
        name=f"dftest-exec-{secrets.token_hex(4)}",
        labels=test_labels,
        host_config=api.create_host_config(init=True, network_mode="none"),
    )["Id"]
    try:
        api.start(cid)
        yield cid
    finally:
        api.remove_container(cid, force=True)


def _wait_file(api, container, path, timeout=10.0) -> str:
    """Content of ``path`` once a detached command wrote it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = run_exec(api, container, ["cat", path], detach=False)
        if result["exit_code"] == 0:
            return result["output"]
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_waited_exec_returns_exit_code_and_output(api, container):
    result = run_exec(api, container, 'sh -c "echo out; echo err >&2; exit 3"', detach=False)
    assert result["exit_code"] == 3
    assert result["stdout"] == "out\n" and result["stderr"] == "err\n"
    assert sorted(result["output"].splitlines()) == ["err", "out"]
    assert result["timed_out"] is False and len(result["exec_id"]) == 64
    # invalid UTF-8 is replaced, not an error
    assert run_exec(api, container, ["printf", "\\377ok"], detach=False)["output"] == "\ufffdok"


def test_single_cmd(api, container):
    result = single_cmd(api, container, ["sh", "-c", "id -u; exit 0"], user="2000")
    assert (result["exit_code"], result["output"]) == (0, "2000\n")
    assert single_cmd(api, container, "nosuchcommand")["exit_code"] == 126


def test_detached_exec_returns_at_once(api, container):
    path = f"/tmp/detached-{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    result = run_exec(api, container, ["sh", "-c", f"sleep 0.3; echo done > {path}"])
    assert time.monotonic() - start < 0.3
    assert result["exit_code"] is None and result["output"] is None and result["exec_id"]
    assert _wait_file(api, container, path) == "done\n"


def test_waited_exec_timeout(api, container):
    start = time.monotonic()
    result = run_exec(
        api, container, ["sh", "-c", "echo begin; sleep 5; echo end"], detach=False, timeout=0.5
    )
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 2, elapsed
    assert result["timed_out"] is True and result["exit_code"] is None and result["output"] == "begin\n"


def test_exec_commands_policies_and_users(api, container):
    tag = uuid.uuid4().hex[:6]
    commands = [
        ExecCommand(("sh", "-c", f"id -u >> /tmp/{tag}-restart"), None, "restart"),
        ExecCommand(f"sh -c 'id -u >> /tmp/{tag}-initial'", "0", "initial"),
        (f"sh -c 'id -u >> /tmp/{tag}-own'", "3000"),
    ]
    api_run = run_exec(api, container, ["chmod", "1777", "/tmp"], detach=False)
    assert api_run["exit_code"] == 0
    first = run_exec_commands(
        api, container, commands, first_start=True, default_user="2000:2000", detach=False
    )
    assert [(r["policy"], r["user"], r["exit_code"]) for r in first] == [
        ("restart", "2000", 0),
        ("initial", "0", 0),
        ("restart", "3000", 0),
    ]
    again = run_exec_commands(
        api, container, commands, first_start=False, default_user="2000:2000", detach=False
    )
    assert [r["policy"] for r in again] == ["restart", "restart"]
    assert _wait_file(api, container, f"/tmp/{tag}-restart") == "2000\n2000\n"
    assert _wait_file(api, container, f"/tmp/{tag}-initial") == "0\n"
    assert _wait_file(api, container, f"/tmp/{tag}-own") == "3000\n3000\n"
    # detached (the default, as docker-map ran them): ids only, without a config user = Docker's default
    detached = run_exec_commands(
        api, container, [ExecCommand(f"sh -c 'id -u > /tmp/{tag}-default'")], first_start=True
    )
    assert detached[0]["exit_code"] is None and detached[0]["user"] is None
    assert _wait_file(api, container, f"/tmp/{tag}-default") == "0\n"


def test_exec_errors_are_engine_errors(api, base_image, test_labels, unique_name):
    name = f"dftest-{unique_name}"
    cid = api.create_container(base_image, ["sleep", "1"], name=name, labels=test_labels)["Id"]
    try:
        with pytest.raises(Conflict) as info:
            run_exec(api, cid, "true", target="m.app")
        assert str(info.value) == f"m.app: exec: container {cid[:12]} is not running"
    finally:
        api.remove_container(cid, force=True)
    with pytest.raises(ObjectMissing, match=f"container {name} does not exist"):
        run_exec(api, name, "true", target="m.app")
