"""Real-engine tests of image builds: generated Dockerfile + context, .dockerignore, build errors,
fuselage-style builds. Every image is tagged local/dftest-h6b-<id>... and removed afterwards."""

from __future__ import annotations

import io
import tarfile
import uuid

import docker
import docker.errors
import pytest
from containermap.images import (
    BuildError,
    DockerContext,
    DockerFile,
    build,
    build_image,
    image_tag_exists,
)

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
TEST_LABEL = "org.dockerfabric.test"
# RUN steps need no network; "none" also keeps the tests independent of the engine's bridge
NO_NET = {"network_mode": "none"}


@pytest.fixture
def api(api_client, base_image):
    """The test bed's engine (tests/testbed/fixtures.py), base image present."""
    return api_client


@pytest.fixture
def run_id():
    return f"h6b-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup(api):
    """Image refs/ids and container ids to remove after the test, whatever happens."""
    images: list[str] = []
    containers: list[str] = []
    yield images, containers
    for cid in containers:
        try:
            api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass
    # by tag (several tags of one image need force; ids never get force: a base image could be hit)
    for ref in reversed(images):
        try:
            api.remove_image(ref, force=":" in ref)
        except docker.errors.APIError:
            pass


def _run(api, image, cmd, run_id, containers, user=None):
    """Run ``cmd`` in a labelled container of ``image``; return (exit code, output)."""
    container = api.create_container(
        image,
        cmd,
        user=user,
        labels={TEST_LABEL: run_id},
        host_config=api.create_host_config(init=True, network_mode="none"),
    )
    containers.append(container["Id"])
    api.start(container["Id"])
    code = api.wait(container["Id"], timeout=60)["StatusCode"]
    return code, api.logs(container["Id"]).decode()


def test_build_generated_dockerfile(api, tmp_path, run_id, cleanup):
    images, containers = cleanup
    conf = tmp_path / "app.conf"
    conf.write_text("setting=1\n")
    spaced = tmp_path / "with space.txt"
    spaced.write_text("spaced\n")
    temp_file = tmp_path / "installer.sh"
    temp_file.write_text("echo installing\n")
    archive = tmp_path / "payload.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("opt/payload/data.txt", b"payload\n"), ("top.txt", b"top\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    labels = {TEST_LABEL: run_id, "description": 'multi "word" value', "version": "1.0"}
    df = DockerFile(
        BASE,
        maintainer="Ops Team <ops@example.com>",
        volumes=["/data"],
        entrypoint=["/bin/sh", "-c"],
        command="echo\\ hello",
        cmd_user="1000",
        cmd_workdir="/srv/app",
        expose=[8080, "53/udp"],
        labels=labels,
        stopsignal="SIGINT",
        healthcheck={"test": ["CMD", "true"], "interval": 30, "retries": 2},
    )
    df.env({"APP_MODE": "production", "GREETING": "hello world"})
    df.add_file(str(conf), "/etc/app/app.conf")
    df.add_file(str(spaced), "/srv/app/with space.txt")
    df.add_file(str(temp_file), "/tmp/installer.sh", remove_final=True)
    df.add_archive(str(archive))
    df.run_join("mkdir -p /srv/app /data", f"echo {run_id} > /srv/app/built", "sh /tmp/installer.sh")
    df.add_volume("/logs")
    tag = f"local/dftest-{run_id}:1"
    images.extend([tag, f"local/dftest-{run_id}:extra", f"local/dftest-{run_id}-alias:x"])
    lines: list[str] = []
    image_id = build(
        api,
        df,
        tag,
        add_tags=["extra", f"local/dftest-{run_id}-alias:x"],
        progress=lines.append,
        nocache=True,
        **NO_NET,
    )
    assert image_id.startswith("sha256:")
    assert any(line.startswith("Step 1/") for line in lines)
    info = api.inspect_image(tag)
    assert info["Id"] == image_id
    assert image_tag_exists(api, f"local/dftest-{run_id}:extra")
    assert image_tag_exists(api, f"local/dftest-{run_id}-alias:x")
    config = info["Config"]
    assert "APP_MODE=production" in config["Env"]
    assert "GREETING=hello world" in config["Env"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["echo hello"]
    assert config["Labels"] == labels
    assert set(config["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert set(config["Volumes"]) == {"/data", "/logs"}
    assert config["User"] == "1000"
    assert config["WorkingDir"] == "/srv/app"
    assert config["StopSignal"] == "SIGINT"
    assert config["Healthcheck"]["Test"] == ["CMD", "true"]
    assert config["Healthcheck"]["Interval"] == 30 * 10**9
    assert config["Healthcheck"]["Retries"] == 2
    assert info["Author"] == "Ops Team <ops@example.com>"
    # files, archive contents and removal, checked inside a container
    code, output = _run(
        api,
        tag,
        [
            "cat /etc/app/app.conf '/srv/app/with space.txt' /opt/payload/data.txt /top.txt /srv/app/built;"
            " test ! -e /tmp/installer.sh && echo removed; id -u; pwd"
        ],
        run_id,
        containers,
    )
    assert code == 0, output
    assert output.split("\n")[:8] == [
        "setting=1",
        "spaced",
        "payload",
        "top",
        run_id,
        "removed",
        "1000",
        "/srv/app",
    ]


def test_build_context_honours_dockerignore(api, tmp_path, run_id, cleanup):
    images, containers = cleanup
    src = tmp_path / "src"
    for rel, content in {
        "main.py": "print(1)",
        "debug.log": "x",
        "sub/deep.log": "x",
        "README.md": "r",
        "NOTES.md": "n",
        "data/keep.txt": "k",
        "data/drop.txt": "d",
        "secret/key": "s",
        ".dockerignore": "**/*.log\n*.md\n!README.md\ndata\n!data/keep.txt\nsecret\n",
    }.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    df = DockerFile(BASE, labels={TEST_LABEL: run_id}, command=["find", "/ctx", "-type", "f"])
    df.writeline("COPY . /ctx")
    tag = f"local/dftest-{run_id}:ctx"
    images.append(tag)
    with DockerContext(compression="bz2") as ctx:
        ctx.add(str(src), arcname=".")
        ctx.add_dockerfile(df)
        build(api, ctx, tag)
    code, output = _run(api, tag, None, run_id, containers)
    assert code == 0
    assert sorted(output.split()) == [
        "/ctx/.dockerignore",
        "/ctx/Dockerfile",
        "/ctx/README.md",
        "/ctx/data/keep.txt",
        "/ctx/main.py",
    ]


def test_build_directory_path(api, tmp_path, run_id, cleanup):
    images, _ = cleanup
    (tmp_path / "Dockerfile").write_text(f'FROM {BASE}\nLABEL "{TEST_LABEL}"="{run_id}"\nCOPY a.txt /a.txt\n')
    (tmp_path / "a.txt").write_text("a")
    tag = f"local/dftest-{run_id}:dir"
    images.append(tag)
    image_id = build(api, str(tmp_path), tag, compression=None)
    assert api.inspect_image(tag)["Id"] == image_id


def _step_images(lines):
    """Ids of the images committed by build steps after the first (``---> <id>`` lines)."""
    step, ids = 0, []
    for line in lines:
        if line.startswith("Step "):
            step = int(line.split()[1].split("/")[0])
        elif line.strip().startswith("---> ") and step > 1 and "Running in" not in line:
            ids.append(line.strip()[5:].strip())
    return ids


def test_build_error_names_failing_step(api, run_id, cleanup):
    images, _ = cleanup
    intermediate = []
    df = DockerFile(BASE)
    # unique content: the cache of this test is never shared with anyone else's build
    df.run(f"echo {run_id} > /marker")
    df.run("false")
    df.run("true")
    tag = f"local/dftest-{run_id}:broken"
    lines: list[str] = []
    try:
        with pytest.raises(BuildError) as err:
            build(api, df, tag, progress=lines.append, labels={TEST_LABEL: run_id}, **NO_NET)
    finally:
        # the successful steps' images stay behind as dangling cache: remove those (never the
        # FROM image of step 1)
        intermediate.extend(_step_images(lines))
        images.extend(intermediate)
    message = str(err.value)
    assert "step 3/5 RUN false failed" in message
    assert "returned a non-zero code: 1" in message
    assert err.value.step == "3/5 RUN false"
    assert any("RUN false" in line for line in err.value.log)
    assert not image_tag_exists(api, tag)
    assert len(intermediate) == 1
    # forcerm: no intermediate container of the failed step is left
    assert api.containers(all=True, filters={"ancestor": intermediate[0]}) == []


def test_build_image_fuselage_style(api, tmp_path, run_id, cleanup):
    images, containers = cleanup
    index = tmp_path / "index.html"
    index.write_text("HELLO WORLD!")
    tag = f"local/dftest-{run_id}:appserver"
    images.append(tag)
    lines: list[str] = []
    image_id = build_image(
        api,
        BASE,
        tag,
        env={"PORT": 8000},
        volumes=["/var/data"],
        ports=[8000],
        cmd=["cat", "/index.html"],
        maintainer="builder@example.com",
        files={"/index.html": str(index)},
        run=["echo built > /built"],
        labels={TEST_LABEL: run_id},
        progress=lines.append,
        **NO_NET,
    )
    info = api.inspect_image(image_id)
    config = info["Config"]
    assert "PORT=8000" in config["Env"]
    assert set(config["Volumes"]) == {"/var/data"}
    assert set(config["ExposedPorts"]) == {"8000/tcp"}
    assert config["Cmd"] == ["cat", "/index.html"]
    assert info["Author"] == "builder@example.com"
    assert config["Labels"] == {TEST_LABEL: run_id}
    code, output = _run(api, tag, None, run_id, containers)
    assert (code, output) == (0, "HELLO WORLD!")


def test_build_needs_a_tag(api):
    with pytest.raises(ValueError):
        build(api, DockerFile(BASE), "")


def test_build_parse_error_is_a_build_error(api, run_id):
    df = DockerFile(BASE)
    df.writeline("NOSUCH instruction")
    with pytest.raises(BuildError) as err:
        build(api, df, f"local/dftest-{run_id}:parse")
    assert "unknown instruction: NOSUCH" in str(err.value)
    assert err.value.step is None
