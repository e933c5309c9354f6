"""Security: no shell anywhere, secrets never leak, unsafe archives are refused end to end,
temporary containers are labelled and cleaned up after an interrupted process."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from containermap import labels
from containermap.archive import UnsafeArchiveMember, safe_extract
from containermap.exceptions import ContainerMapError
from containermap.volumes import cleanup_temporary

from tests.reliability.conftest import BASE, SLEEP, common_cfg

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "_utils"
SKIP_DIRS = {".venv", ".git", "__pycache__", "node_modules", ".ci", "build", "dist"}
SUBPROCESS_FUNCS = {"run", "call", "check_call", "check_output", "Popen"}
ALWAYS_SHELL = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
    ("pty", "spawn"),
}


def project_python_files() -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        files.extend(Path(dirpath) / f for f in filenames if f.endswith(".py"))
    return sorted(files)


def _dotted(node: ast.AST) -> tuple[str, ...]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def _is_string_expr(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _is_string_expr(node.left) or _is_string_expr(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
    ):
        return isinstance(node.func.value, ast.Constant)
    return False


def shell_uses(source: str, filename: str) -> list[str]:
    """Every shell use in ``source``: ``shell=<truthy>``, os.system/os.popen and friends,
    subprocess calls whose command is a string (it would only work through a shell)."""
    found = []
    tree = ast.parse(source, filename)
    aliases: dict[str, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "subprocess", "asyncio", "pty"):
            for alias in node.names:
                aliases[alias.asname or alias.name] = (node.module, alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if len(name) == 1 and name[0] in aliases:
            name = aliases[name[0]]
        where = f"{filename}:{node.lineno}"
        spawns = bool(name) and name[-1] in SUBPROCESS_FUNCS | {"create_subprocess_exec", "spawn"}
        for kw in node.keywords:
            # ``shell=`` of other functions (e.g. Dockerfile shell form) is not a local shell
            if (
                spawns
                and kw.arg == "shell"
                and not (isinstance(kw.value, ast.Constant) and not kw.value.value)
            ):
                found.append(f"{where}: shell={ast.unparse(kw.value)}")
        if name[-2:] in ALWAYS_SHELL:
            found.append(f"{where}: {'.'.join(name)}()")
        if len(name) >= 2 and name[-2] == "subprocess" and name[-1] in SUBPROCESS_FUNCS:
            cmd = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
            )
            if cmd is not None and _is_string_expr(cmd):
                found.append(f"{where}: subprocess.{name[-1]} with a string command")
    return found


def test_scanner_finds_shell_uses():
    """The scanner itself must be able to fail."""
    bad = (
        "import os, subprocess\nfrom os import system as s\n"
        "subprocess.run('ls', shell=True)\nos.system('x')\nos.popen('x')\ns('y')\n"
        "subprocess.check_output(f'ls {1}')\nsubprocess.Popen(['ls'], shell=1)\nsubprocess.getoutput('ls')\n"
    )
    assert len(shell_uses(bad, "bad.py")) == 8
    good = (
        "import subprocess\nsubprocess.run(['ls', '-l'], shell=False, check=True)\n"
        "format_command(['a'], shell=True)\n"
    )
    assert shell_uses(good, "good.py") == []


def test_no_shell_in_project(rstats):
    files = project_python_files()
    assert len(files) > 50, "the scan must see the whole project"
    found = []
    for path in files:
        found.extend(shell_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))))
    rstats.case(len(files))
    assert found == []


# --- secrets -------------------------------------------------------------------------------------


def _assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, f"secret found in: {text[:500]}"


def test_registry_password_never_leaks(rel_env, registry, caplog, capsys, rstats):
    """A wrong registry password: the failed startup names registry and image, never the
    password (exception, partial results, logs, output); same for a direct login."""
    from containermap.images.registry import login

    rstats.case(2)
    wrong = f"wrong-{uuid.uuid4().hex}"
    image = f"{registry.host}/h10-missing-{uuid.uuid4().hex[:6]}:1"
    data = {"networks": {"net": {}}, "web": common_cfg(image=image, networks="net")}
    caplog.set_level(logging.DEBUG)
    client = rel_env.client(
        data,
        base_url="unix:///var/run/docker.sock",
        auth_configs={registry.host: {"username": registry.username, "password": wrong}},
    )
    plan = client.plan("startup")
    with pytest.raises(ContainerMapError) as info:
        client.apply(plan)
    exc = info.value
    result = getattr(exc, "apply_result", None)
    texts = [
        str(exc),
        repr(exc),
        str(getattr(exc, "cause", "")),
        json.dumps(result.as_dict(), default=str) if result is not None else "",
        json.dumps(plan.as_list(), default=str),
        str(plan),
        caplog.text,
    ]
    out = capsys.readouterr()
    texts += [out.out, out.err]
    _assert_no_secret(wrong, *texts)
    assert registry.host in str(exc)

    caplog.clear()
    api = rel_env.api
    with pytest.raises(ContainerMapError) as info:
        login(api, registry.host, registry.username, wrong, reauth=True)
    _assert_no_secret(wrong, str(info.value), repr(info.value), caplog.text)
    assert registry.host in str(info.value)


def test_correct_password_not_in_pull_error(rel_env, registry, caplog, rstats):
    """With the right credentials but a missing image, the error does not carry the password."""
    rstats.case()
    image = f"{registry.host}/h10-missing-{uuid.uuid4().hex[:6]}:1"
    data = {"networks": {"net": {}}, "web": common_cfg(image=image, networks="net")}
    caplog.set_level(logging.DEBUG)
    client = rel_env.client(data, base_url="unix:///var/run/docker.sock", auth_configs=registry.auth_configs)
    with pytest.raises(ContainerMapError) as info:
        client.run("startup")
    _assert_no_secret(registry.password, str(info.value), repr(info.value), caplog.text)


def test_environment_secret_not_in_plan(rel_env, rstats):
    """Changing a secret environment value: the plan says that it changed, not its values."""
    rstats.case()
    old, new = f"s3cret-{uuid.uuid4().hex}", f"s3cret-{uuid.uuid4().hex}"

    def data(pw: str) -> dict:
        cfg = common_cfg(networks="net")
        cfg["create_options"] = {"command": SLEEP, "environment": {"DB_PASSWORD": pw}}
        return {"networks": {"net": {}}, "web": cfg}

    rel_env.client(data(old)).run("startup")
    plan = rel_env.client(data(new)).plan("update")
    assert any(s.kind == "recreate" for s in plan.steps), str(plan)
    text = json.dumps(plan.as_list(), default=str) + str(plan)
    _assert_no_secret(old, text)
    _assert_no_secret(new, text)
    info = rel_env.api.inspect_container(f"{rel_env.name}.web")
    _assert_no_secret(old, json.dumps(info["Config"]["Labels"]))


# --- archives and temporary containers -----------------------------------------------------------


def test_unsafe_container_archive_refused_end_to_end(rel_env, tmp_path, rstats):
    """A container file system with escaping links and a device node: extracting its archive
    stops at the first unsafe member and writes nothing outside the target."""
    api = rel_env.api
    script = (
        "mkdir -p /evil/sub && echo ok > /evil/ok && ln -s /etc/passwd /evil/abs && "
        "ln -s ../../../../../../tmp /evil/sub/up && mknod /evil/null c 1 3"
    )
    container = api.create_container(
        BASE,
        command=["sh", "-c", script],
        labels=rel_env.labels,
        host_config=api.create_host_config(network_mode="none"),
    )["Id"]
    try:
        api.start(container)
        assert api.wait(container, timeout=30)["StatusCode"] == 0
        stream, _stat = api.get_archive(container, "/evil")
        data = b"".join(stream)
    finally:
        api.remove_container(container, force=True, v=True)
    members = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert {"evil/abs", "evil/sub/up", "evil/null"} <= set(members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveMember):
        safe_extract(io.BytesIO(data), str(dest))
    skipped = safe_extract(io.BytesIO(data), str(dest / "skip"), on_unsafe="skip")
    rstats.case(3)
    assert len(skipped.skipped) == 3
    assert (dest / "skip" / "evil" / "ok").read_text() == "ok\n"
    for path in (dest / "skip").rglob("*"):
        assert not path.is_symlink() and (path.is_file() or path.is_dir()), path


def test_temporary_container_of_killed_process_is_cleaned(rel_env, tmp_path, rstats):
    """A process holding a temporary container is SIGKILLed: the container is labelled
    ``org.dockerfabric.temporary`` and the next run's cleanup removes it (and only it)."""
    api = rel_env.api
    ready = tmp_path / "ready"
    code = (
        "import sys, time, docker\n"
        "from containermap.archive import temp_container\n"
        "api = docker.APIClient(version='auto')\n"
        f"with temp_container(api, {BASE!r}, labels={rel_env.labels!r}) as cid:\n"
        f"    open({str(ready)!r}, 'w').write(cid)\n"
        "    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(UTILS)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text():
            assert proc.poll() is None, "helper process ended early"
            assert time.monotonic() < deadline, "helper process did not create its container"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    cid = ready.read_text()
    info = api.inspect_container(cid)
    assert labels.TEMPORARY in info["Config"]["Labels"]
    # a concurrent run's fresh helper is kept by default (min_age) ...
    assert cid[:12] not in cleanup_temporary(api, labels=rel_env.labels)
    # ... and removed once it is old enough (min_age=0 stands for "next run, later")
    removed = cleanup_temporary(api, labels=rel_env.labels, min_age=0)
    rstats.fault(cid[:12] in removed)
    assert removed == [cid[:12]]
    assert api.containers(all=True, filters={"id": cid}) == []


def test_written_archives_are_private(rel_env, tmp_path, rstats):
    """Files written for the user get restrictive modes.

    Policy: an archive written by ``copy_resource``, ``isolate_and_get`` or ``save_image`` holds
    user data (volume contents, configuration, image layers with whatever was baked in) and is
    written by root under Salt, so it is 0600 (owner only; never group/world readable or
    writable), and each directory created for it is 0700. Directories that exist already are
    left as they are. The host's apply lock file is 0600 as well
    (test_concurrency::test_lock_file_is_private_and_name_cannot_escape)."""
    from containermap.archive import copy_resource, isolate_and_get
    from containermap.images import save_image

    api = rel_env.api
    name = f"{rel_env.name}.src"
    api.create_container(
        BASE, command=SLEEP, name=name, labels=rel_env.labels, host_config=api.create_host_config(init=True)
    )
    api.start(name)
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    outputs = [
        copy_resource(api, name, "/etc/passwd", str(tmp_path / "new1" / "deep" / "passwd.tar"))["path"],
        copy_resource(api, name, "/etc", str(existing / "etc.tar.gz"))["path"],
        isolate_and_get(api, name, ["/etc/group"], str(tmp_path / "new2" / "iso.tar.gz")),
        save_image(api, BASE, str(tmp_path / "new3" / "image.tar.gz"))["filename"],
    ]
    for path in outputs:
        rstats.case()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, f"{path}: {oct(mode)}"
    for created in ("new1", "new1/deep", "new2", "new3"):
        mode = stat.S_IMODE(os.stat(tmp_path / created).st_mode)
        assert mode & 0o077 == 0, f"{created}: {oct(mode)}"
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o755  # not ours: untouched
    # nothing half-written left next to the archives
    assert not [p for p in tmp_path.rglob(".partial-*")]
