"""Real-engine tests of containermap.archive: copy_resource family, isolate_to_image,
flatten_image, temporary containers.

One test image (built once per module from local/busybox:latest) has nested directories,
symlinks pointing inside and outside, a hard link, a setuid file, a 0700 directory, a
world-writable file, a file deleted in a later layer, and a full configuration.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import uuid

import docker
import docker.errors
import pytest
from containermap import labels
from containermap.archive import (
    ArchiveError,
    UnsafeArchiveMember,
    copy_resource,
    copy_resources,
    flatten_image,
    isolate_and_get,
    isolate_to_image,
    temp_container,
)

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
RUN_ID = f"h7-{uuid.uuid4().hex[:10]}"
TEST_LABELS = {labels.TEST: RUN_ID}

DOCKERFILE = f"""\
FROM {BASE}
RUN mkdir -p /app/data/sub/deeper /app/logs /app/private \\
 && echo one > /app/data/a.txt && echo two > /app/data/sub/b.txt \\
 && echo three > /app/data/sub/deeper/c.txt \\
 && ln -s a.txt /app/data/link-inside && ln -s ../../etc/passwd /app/data/link-escape \\
 && ln /app/data/a.txt /app/data/hard-a \\
 && echo secret > /app/private/key && chmod 600 /app/private/key && chmod 700 /app/private \\
 && printf '#!/bin/sh\\necho tool\\n' > /app/suid-tool && chmod 4755 /app/suid-tool \\
 && echo log > /app/logs/app.log && chmod 666 /app/logs/app.log \\
 && echo gone > /app/data/deleted.txt && echo conf > /app/app.conf
RUN rm /app/data/deleted.txt
ENV APP_MODE=test GREETING="hello \\$HOME \\"world\\""
LABEL org.dockerfabric.test={RUN_ID} com.example.role="archive test"
EXPOSE 8080/tcp 9090/udp
VOLUME /vol
WORKDIR /app
USER 1000:1000
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["ls /"]
"""

KEPT_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
)


@pytest.fixture(scope="module")
def api(api_client, base_image):
    """The test bed's client (it starts the engine and builds the base image when needed)."""
    return api_client


@pytest.fixture(scope="module")
def image(api, tmp_path_factory):
    """The labelled test image; removed afterwards."""
    context = tmp_path_factory.mktemp("ctx")
    (context / "Dockerfile").write_text(DOCKERFILE)
    tag = f"local/dftest-arch-{RUN_ID}:1"
    client = docker.DockerClient(timeout=120)
    try:
        built, _logs = client.images.build(
            path=str(context), tag=tag, labels=TEST_LABELS, rm=True, forcerm=True, network_mode="none"
        )
    finally:
        client.close()
    yield tag
    _remove_image(api, built.id)


def _remove_image(api, ref):
    try:
        api.remove_image(ref, force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture
def new_tag(api):
    """Tags for images a test creates; every tag (and the image behind it) removed afterwards."""
    made = []

    def make(suffix: str) -> str:
        tag = f"local/dftest-arch-{RUN_ID}-{suffix}:1"
        made.append(tag)
        return tag

    yield make
    for tag in made:
        try:
            image_id = api.inspect_image(tag)["Id"]
        except docker.errors.NotFound:
            continue
        _remove_image(api, image_id)


@pytest.fixture
def no_leftovers(api, image):
    """After the test: no temporary container of the test image is left."""
    yield
    left = api.containers(all=True, filters={"ancestor": image, "label": labels.TEMPORARY})
    assert left == [], f"temporary containers left: {[c['Id'][:12] for c in left]}"


@pytest.fixture
def container(api, image):
    """A created (not started) labelled container of the test image."""
    created = api.create_container(
        image, labels=TEST_LABELS, host_config=api.create_host_config(network_mode="none")
    )
    yield created["Id"]
    api.remove_container(created["Id"], v=True, force=True)


def _run(api, image_ref, command):
    """Run ``command`` in a labelled container of ``image_ref``; returns its output."""
    created = api.create_container(
        image_ref,
        command=command,
        user="0",
        labels=TEST_LABELS,
        host_config=api.create_host_config(network_mode="none", init=True),
    )
    try:
        api.start(created["Id"])
        assert api.wait(created["Id"], timeout=60)["StatusCode"] == 0, api.logs(created["Id"])
        return api.logs(created["Id"]).decode()
    finally:
        api.remove_container(created["Id"], v=True, force=True)


def _members(path):
    with tarfile.open(path) as tar:
        return {m.name: m for m in tar.getmembers()}


def _modes(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
            )
    return out


APP_DATA = {
    "a.txt",
    "hard-a",
    "link-inside",
    "link-escape",
    "sub",
    "sub/b.txt",
    "sub/deeper",
    "sub/deeper/c.txt",
}


# -- copy_resource -----------------------------------------------------------------------------


def test_copy_resource_directory_contents(api, image, tmp_path, no_leftovers):
    progress = []
    result = copy_resource(
        api,
        image,
        "/app/data",
        str(tmp_path / "data.tar.gz"),
        progress=lambda done, total: progress.append(done),
        temp_labels=TEST_LABELS,
    )
    members = _members(result["path"])
    assert set(members) == APP_DATA  # the deleted file is not there
    assert members["link-inside"].issym() and members["link-inside"].linkname == "a.txt"
    assert members["link-escape"].linkname == "../../etc/passwd"  # archives keep links as they are
    assert members["hard-a"].islnk() or members["a.txt"].islnk()
    with tarfile.open(result["path"]) as tar:
        assert tar.extractfile("sub/deeper/c.txt").read() == b"three\n"
    assert result["size"] == os.path.getsize(result["path"])
    assert progress and progress == sorted(progress) and 0 < progress[-1] <= result["data_size"]
    assert os.listdir(tmp_path) == ["data.tar.gz"]


def test_copy_resource_directory_itself_and_file(api, container, tmp_path, no_leftovers):
    result = copy_resource(api, container, "/app", str(tmp_path / "app.tar"), contents_only=False)
    members = _members(result["path"])
    assert {"app", "app/data/a.txt", "app/private/key", "app/suid-tool"} <= set(members)
    assert all(name == "app" or name.startswith("app/") for name in members)
    # modes as in the container: the archive is data, not an extraction
    assert stat.S_IMODE(members["app/private"].mode) == 0o700
    assert stat.S_IMODE(members["app/suid-tool"].mode) == 0o4755
    assert stat.S_IMODE(members["app/logs/app.log"].mode) == 0o666
    # a file is at the root under its own name, whatever contents_only says
    for contents_only in (True, False):
        single = copy_resource(
            api, container, "/app/app.conf", str(tmp_path / f"c{contents_only}.tgz"), contents_only
        )
        assert list(_members(single["path"])) == ["app.conf"]


def test_copy_resource_missing_path(api, image, tmp_path, no_leftovers):
    with pytest.raises(ArchiveError, match="/app/nothing: no such file"):
        copy_resource(api, image, "/app/nothing", str(tmp_path / "x.tar.gz"), temp_labels=TEST_LABELS)
    assert os.listdir(tmp_path) == []


def test_unknown_source(api, tmp_path):
    with pytest.raises(ArchiveError, match="no container or image"):
        copy_resource(api, f"dftest-none-{RUN_ID}", "/etc", str(tmp_path / "x.tar.gz"))


# -- copy_resources ----------------------------------------------------------------------------


def test_copy_resources_structure_recreated(api, image, tmp_path, no_leftovers):
    written = copy_resources(
        api, image, ["/app/data/sub", "/app/private", "/app/suid-tool", "/app/logs"], str(tmp_path / "store"),
        temp_labels=TEST_LABELS,
    )  # fmt: skip
    store = tmp_path / "store"
    assert written == [str(store / p) for p in ("app/data/sub", "app/private", "app/suid-tool", "app/logs")]
    modes = _modes(store)
    assert set(modes) == {
        "app", "app/data", "app/data/sub", "app/data/sub/b.txt", "app/data/sub/deeper", "app/data/sub/deeper/c.txt",
        "app/private", "app/private/key", "app/suid-tool", "app/logs", "app/logs/app.log",
    }  # fmt: skip
    assert modes["app/private"][1] == 0o700
    assert modes["app/private/key"][1] == 0o600
    assert modes["app/suid-tool"][1] == 0o755  # setuid dropped on extraction
    assert modes["app/logs/app.log"][1] == 0o644  # world-writable dropped
    assert (store / "app/data/sub/deeper/c.txt").read_text() == "three\n"
    assert [n for n in os.listdir(store) if n.startswith(".")] == []  # staging removed


def test_copy_resources_rename_mapping_chown_chmod(api, image, tmp_path, no_leftovers):
    store = tmp_path / "store"
    written = copy_resources(
        api,
        image,
        ["/app/data/sub", "/app/app.conf", "/app/private"],
        str(store),
        dst_directories={
            "/app/data/sub": "d1",
            "/app/app.conf": "conf/renamed.conf",
            "/app/private": "keys/",
        },
        apply_chown="2000:2000",
        apply_chmod="u=rwX,g=rX,o=",
        temp_labels=TEST_LABELS,
    )
    assert written == [str(store / "d1"), str(store / "conf/renamed.conf"), str(store / "keys/private")]
    modes = _modes(store)
    assert set(modes) == {
        "d1", "d1/b.txt", "d1/deeper", "d1/deeper/c.txt", "conf", "conf/renamed.conf",
        "keys", "keys/private", "keys/private/key",
    }  # fmt: skip
    assert (store / "conf/renamed.conf").read_text() == "conf\n"
    for name, (kind, mode, uid, gid) in modes.items():
        assert (uid, gid) == (2000, 2000), name
        assert mode == (0o750 if kind == stat.S_IFDIR else 0o640), name
    st = os.stat(store)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (2000, 2000, 0o750)


def test_copy_resources_star_fallback_merges(api, container, tmp_path, no_leftovers):
    store = tmp_path / "store"
    store.mkdir()
    (store / "merged").mkdir()
    (store / "merged" / "keep.txt").write_text("mine")
    os.chmod(store / "merged" / "keep.txt", 0o600)
    written = copy_resources(
        api,
        container,
        ["/app/data/sub", "/app/logs", "/app/app.conf", "/app/private/key"],
        str(store),
        dst_directories={"/app/private/key": "secret", "*": "merged"},
        apply_chmod="640",
    )
    assert written == [
        str(store / "merged"),
        str(store / "merged"),
        str(store / "merged/app.conf"),
        str(store / "secret"),
    ]
    assert sorted(_modes(store)) == [
        "merged", "merged/app.conf", "merged/app.log", "merged/b.txt", "merged/deeper", "merged/deeper/c.txt",
        "merged/keep.txt", "secret",
    ]  # fmt: skip
    assert (store / "merged" / "keep.txt").read_text() == "mine"
    assert stat.S_IMODE(os.stat(store / "merged/app.log").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(store / "merged/keep.txt").st_mode) == 0o600  # not written by us: untouched


def test_copy_resources_refuses_escaping_symlink(api, image, tmp_path, no_leftovers):
    store = tmp_path / "store"
    store.mkdir()
    (store / "existing").write_text("x")
    with pytest.raises(UnsafeArchiveMember) as err:
        copy_resources(
            api,
            image,
            ["/app/app.conf", "/app/data"],
            str(store),
            {"/app/data": "d"},
            temp_labels=TEST_LABELS,
        )
    assert err.value.member == "d/link-escape"
    assert "points outside" in str(err.value)
    # all or nothing: the earlier resource was not moved in either, staging removed
    assert os.listdir(store) == ["existing"]
    # skip mode: everything but the escaping link
    copy_resources(
        api, image, ["/app/data"], str(store), {"/app/data": "d"}, on_unsafe="skip", temp_labels=TEST_LABELS
    )
    assert os.readlink(store / "d/link-inside") == "a.txt"
    assert not os.path.lexists(store / "d/link-escape")
    assert os.stat(store / "d/hard-a").st_ino == os.stat(store / "d/a.txt").st_ino
    # without a mapping the same link stays inside the recreated structure: allowed
    copy_resources(api, image, ["/app/data"], str(store), temp_labels=TEST_LABELS)
    assert os.readlink(store / "app/data/link-escape") == "../../etc/passwd"


# -- isolate_and_get / isolate_to_image --------------------------------------------------------


def test_isolate_and_get(api, container, tmp_path, no_leftovers):
    name = api.inspect_container(container)["Name"].lstrip("/")
    path = isolate_and_get(
        api,
        container,
        ["/app/data/sub", "/app/app.conf", "/app/private"],
        str(tmp_path),
        dst_directories={"/app/data/sub": "d1", "/app/app.conf": "etc/app.conf"},
        apply_chown="2000:2000",
        apply_chmod="go-rwx",
    )
    assert path == str(tmp_path / f"container_{name}.tar.gz")
    members = _members(path)
    assert list(members) == [
        "d1", "d1/b.txt", "d1/deeper", "d1/deeper/c.txt", "etc", "etc/app.conf",
        "app", "app/private", "app/private/key",
    ]  # fmt: skip
    for member in members.values():
        assert (member.uid, member.gid) == (2000, 2000), member.name
        assert member.mode & 0o077 == 0, member.name
    assert os.listdir(tmp_path) == [f"container_{name}.tar.gz"]


def test_isolate_to_image(api, image, new_tag, no_leftovers):
    tag = new_tag("iso")
    image_id = isolate_to_image(
        api,
        image,
        ["/bin", "/app/data/sub", "/app/app.conf"],
        tag,
        cmd=["/bin/find", "/", "-xdev"],
        env={"ISO": "yes $HOME"},
        labels={**TEST_LABELS, "kind": "isolated"},
        dst_directories={"/app/data/sub": "/srv/sub"},
        temp_labels=TEST_LABELS,
    )
    info = api.inspect_image(tag)
    assert info["Id"] == image_id
    assert info["Config"]["Env"] == ["ISO=yes $HOME"]
    assert info["Config"]["Labels"] == {**TEST_LABELS, "kind": "isolated"}
    assert len(info["RootFS"]["Layers"]) == 1
    found = set(_run(api, tag, None).split())
    runtime = {
        "/",
        "/dev",
        "/etc",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/mtab",
        "/.dockerenv",
    }
    runtime |= {"/sbin", "/sbin/docker-init"}  # init=True
    assert {"/srv/sub/b.txt", "/srv/sub/deeper/c.txt", "/app/app.conf", "/bin/busybox"} <= found
    assert {f for f in found if not f.startswith(("/bin/", "/proc", "/sys", "/dev/"))} - runtime == {
        "/bin", "/srv", "/srv/sub", "/srv/sub/b.txt", "/srv/sub/deeper", "/srv/sub/deeper/c.txt", "/app",
        "/app/app.conf",
    }  # fmt: skip


# -- flatten_image -----------------------------------------------------------------------------


def test_flatten_image_keeps_config(api, image, new_tag, no_leftovers):
    original = api.inspect_image(image)
    assert len(original["RootFS"]["Layers"]) > 2
    tag = new_tag("flat")
    progress = []
    flat_id = flatten_image(
        api, image, tag, progress=lambda done, total: progress.append((done, total)), temp_labels=TEST_LABELS
    )
    flat = api.inspect_image(tag)
    assert flat["Id"] == flat_id
    assert len(flat["RootFS"]["Layers"]) == 1
    assert progress[-1][0] > 1_000_000 and progress[-1][1] == original["Size"]
    for field in KEPT_FIELDS:
        assert flat["Config"][field] == original["Config"][field], field
    assert 'GREETING=hello $HOME "world"' in flat["Config"]["Env"]
    files = _run(api, tag, ["find /app /vol -xdev"]).split()
    assert "/app/data/deleted.txt" not in files
    assert {"/app/data/a.txt", "/app/private/key", "/app/suid-tool", "/vol"} <= set(files)
    # special modes survive flattening (they are not an extraction)
    out = _run(api, tag, ["stat -c '%a %n' /app/suid-tool /app/private"])
    assert "4755 /app/suid-tool" in out and "700 /app/private" in out


def test_flatten_image_replaces_tag_and_drops_config(api, image, new_tag, no_leftovers):
    tag = new_tag("replace")
    api.tag(image, *tag.split(":"))
    before = api.inspect_image(tag)["Id"]
    flat_id = flatten_image(api, tag, keep_config=False, temp_labels=TEST_LABELS)
    assert api.inspect_image(tag)["Id"] == flat_id != before
    assert api.inspect_image(image)["Id"] == before  # the source image itself is kept
    assert not api.inspect_image(flat_id)["Config"].get("Env")
    with pytest.raises(ArchiveError, match="give dest_image"):
        flatten_image(api, before)


# -- temporary containers ----------------------------------------------------------------------


def test_temp_container_removed_on_error(api, image):
    with pytest.raises(RuntimeError), temp_container(api, image, TEST_LABELS) as container_id:
        info = api.inspect_container(container_id)
        assert info["Config"]["Labels"][labels.TEMPORARY]
        assert info["State"]["Status"] == "created"
        raise RuntimeError("boom")
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(container_id)


def test_temp_container_removed_when_stream_consumer_fails(api, image, tmp_path, no_leftovers):
    """An error in the middle of a streamed copy (here: the output cannot be written) still
    removes the temporary container and leaves no partial file."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        copy_resource(api, image, "/app", str(blocker / "out.tar.gz"), temp_labels=TEST_LABELS)
    with pytest.raises(ArchiveError):
        isolate_to_image(
            api, image, ["/app/nothing"], f"local/dftest-arch-{RUN_ID}-never:1", temp_labels=TEST_LABELS
        )


def test_crafted_import_stream_errors(api, new_tag):
    """A broken tar stream is reported as an import error, not an id."""
    from containermap.archive import import_stream

    with pytest.raises(ArchiveError):
        import_stream(api, iter([b"this is not a tar" * 100]), new_tag("broken"))


def test_archive_bytes_roundtrip_into_image(api, image, tmp_path, new_tag, no_leftovers):
    """copy_resource output re-imported gives the same files (the tar stream is valid)."""
    result = copy_resource(api, image, "/app/data", str(tmp_path / "d.tar"), temp_labels=TEST_LABELS)
    with open(result["path"], "rb") as handle:
        data = handle.read()
    from containermap.archive import import_stream

    tag = new_tag("roundtrip")
    import_stream(
        api,
        iter([data[i : i + 4096] for i in range(0, len(data), 4096)]),
        tag,
        ["LABEL " + f"{labels.TEST}={RUN_ID}"],
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == sorted(APP_DATA)


def test_copy_whole_file_system(api, image, tmp_path, no_leftovers):
    """'/' comes from the engine with absolute member names: they are made relative."""
    result = copy_resource(api, image, "/", str(tmp_path / "root.tar"), temp_labels=TEST_LABELS)
    members = _members(result["path"])
    assert {"app/app.conf", "bin/busybox", "app/data/sub/deeper/c.txt"} <= set(members)
    assert not [name for name in members if name.startswith("/") or name in ("", ".")]
    assert "app/data/deleted.txt" not in members


def test_flatten_image_without_command(api, new_tag):
    """An image with neither CMD nor ENTRYPOINT (the imported base) still gets its temporary
    container (a placeholder command: it is never started)."""
    assert not api.inspect_image(BASE)["Config"].get("Cmd")
    tag = new_tag("base-flat")
    flat_id = flatten_image(api, BASE, tag, temp_labels=TEST_LABELS)
    assert len(api.inspect_image(flat_id)["RootFS"]["Layers"]) == 1
    assert not api.containers(all=True, filters={"ancestor": BASE, "label": f"{labels.TEST}={RUN_ID}"})
