"""Script runs (containermap.script) on the real engine: exit code and logs, cleanup also after
nonzero exits, timeouts and errors, uploads without any bind mount, name conflicts."""

from __future__ import annotations

import pytest
from containermap import labels
from containermap.errors import ImageMissing, NameConflict
from containermap.exceptions import ConfigurationError, EngineError
from containermap.script import run_script, script_command


def test_script_command_defaults():
    path = "/tmp/script_run/script"
    assert script_command(path) == ([path], [])
    assert script_command(path, "/bin/sh") == ("/bin/sh", [path])
    assert script_command(path, ["/bin/sh"], ["-c", "{script_path} --flag"]) == (
        ["/bin/sh"],
        ["-c", "/tmp/script_run/script --flag"],
    )
    assert script_command(path, None, "run {script_path}") == (None, "run /tmp/script_run/script")
    assert script_command(None, None, ["echo", "x"]) == (None, ["echo", "x"])
    with pytest.raises(ConfigurationError):
        script_command(path, None, 5)


@pytest.fixture(scope="module")
def api(api_client):
    return api_client


@pytest.fixture
def run(api, test_labels, unique_name):
    """(labels, name prefix, create kwargs) of one test; its containers are removed afterwards."""
    prefix = f"dftest-script-{unique_name}"
    create = {"host_config": api.create_host_config(init=True, network_mode="none")}
    yield test_labels, prefix, create
    for c in _mine(api, prefix):
        api.remove_container(c["Id"], force=True, v=True)


def _mine(api, prefix):
    """Containers of one test (all are named ``<prefix>-N``)."""
    return api.containers(all=True, filters={"name": prefix})


def test_script_exit_code_logs_and_cleanup(api, base_image, run):
    lab, prefix, create = run
    result = run_script(
        api,
        image=base_image,
        script="#!/bin/sh\necho hello; id -u; echo oops >&2; exit 4\n",
        name=f"{prefix}-1",
        create_kwargs={**create, "user": "2000", "labels": {"from": "config"}},
        labels=lab,
        wait_timeout=30,
    )
    assert result["exit_code"] == 4 and result["timed_out"] is False and result["removed"] is True
    # stdout and stderr are separate streams: their relative order is not kept
    assert sorted(result["logs"].splitlines()) == ["2000", "hello", "oops"]
    assert result["script_path"] == "/tmp/script_run/script"
    assert _mine(api, prefix) == []


def test_interpreter_entrypoint_and_no_bind_mount(api, base_image, run):
    lab, prefix, create = run
    result = run_script(
        api,
        image=base_image,
        script=b"echo from sh; ls -ld /tmp/script_run; cat /proc/self/mountinfo | grep -c script_run || true",
        name=f"{prefix}-2",
        create_kwargs={**create, "labels": {labels.MAP: "m", labels.HASH: "abc", "app.role": "x"}},
        labels=lab,
        entrypoint="/bin/sh",
        remove_after=False,
    )
    assert result["exit_code"] == 0 and result["removed"] is False
    lines = result["logs"].splitlines()
    assert lines[0] == "from sh" and lines[1].startswith("drwxrwxrwx") and lines[2] == "0"
    info = api.inspect_container(result["container"])
    assert info["Mounts"] == [] and not info["HostConfig"]["Binds"]
    kept = info["Config"]["Labels"]
    assert labels.TEMPORARY not in kept  # kept on request: not temporary
    assert kept["app.role"] == "x" and labels.MAP not in kept and labels.HASH not in kept


def test_directory_upload_and_single_command(api, base_image, run, tmp_path):
    lab, prefix, create = run
    (tmp_path / "main.sh").write_text("#!/bin/sh\ncat $(dirname $0)/data.txt\n")
    (tmp_path / "main.sh").chmod(0o755)
    (tmp_path / "data.txt").write_text("DATA\n")
    result = run_script(
        api,
        image=base_image,
        script=tmp_path,
        name=f"{prefix}-3",
        create_kwargs=create,
        labels=lab,
        command_format=["{script_path}/main.sh"],
    )
    assert (result["exit_code"], result["logs"], result["script_path"]) == (0, "DATA\n", "/tmp/script_run")
    single = run_script(
        api,
        image=base_image,
        script=None,
        command_format=["echo", "only"],
        name=f"{prefix}-4",
        create_kwargs=create,
        labels=lab,
    )
    assert (single["exit_code"], single["logs"]) == (0, "only\n")
    assert _mine(api, prefix) == []


def test_timeout_kills_and_removes(api, base_image, run):
    lab, prefix, create = run
    result = run_script(
        api,
        image=base_image,
        script="echo started; sleep 30",
        entrypoint="/bin/sh",
        name=f"{prefix}-5",
        create_kwargs=create,
        labels=lab,
        wait_timeout=1,
    )
    assert result["timed_out"] is True and result["exit_code"] is None
    assert result["logs"] == "started\n" and result["error"] == "script did not finish within 1 s"
    assert result["removed"] is True and _mine(api, prefix) == []


def test_errors_clean_up(api, base_image, run):
    lab, prefix, create = run
    name = f"{prefix}-6"
    existing = api.create_container(base_image, ["true"], name=name, labels=lab)["Id"]
    with pytest.raises(NameConflict, match=f"already in use by container {existing[:12]}"):
        run_script(
            api,
            image=base_image,
            script="true",
            entrypoint="/bin/sh",
            name=name,
            labels=lab,
            create_kwargs=create,
        )
    assert [c["Id"] for c in _mine(api, prefix)] == [existing]
    replaced = run_script(
        api,
        image=base_image,
        script="exit 0",
        entrypoint="/bin/sh",
        name=name,
        labels=lab,
        remove_existing=True,
        create_kwargs=create,
    )
    assert replaced["exit_code"] == 0 and replaced["container"] != existing
    with pytest.raises(ImageMissing, match="image local/dftest-nosuch:1 not found locally"):
        run_script(api, image="local/dftest-nosuch:1", script="x", name=f"{prefix}-7", labels=lab)
    # the start fails (entrypoint missing, no init process): the created container is removed anyway
    no_init = {"host_config": api.create_host_config(network_mode="none")}
    with pytest.raises(EngineError, match="no such file or directory|not found"):
        run_script(
            api,
            image=base_image,
            script="x",
            entrypoint="/nonexistent",
            name=f"{prefix}-8",
            create_kwargs=no_init,
            labels=lab,
        )
    assert _mine(api, prefix) == []
