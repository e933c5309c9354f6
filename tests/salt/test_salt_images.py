"""Image functions and states through real ``salt-call --local`` on the real engine and the
authenticated test-bed registry (issue 6 item 5).

Every image carries this run's test label (pillar setting ``labels``) and a unique
``local/dftest-...`` (or ``<registry>/dftest-...``) tag; each test removes what it built.
Cleanups are always scoped to a label of this test, never global.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tarfile
import uuid

import docker
import pytest
from containermap.labels import TEST as TEST_LABEL

pytestmark = [pytest.mark.salt, pytest.mark.docker]

BASE_IMAGE = "local/busybox:latest"


@pytest.fixture(scope="module")
def image_env(salt_env, test_labels, registry, api_client, base_image):
    """The module's minion with pillar: test label on everything, registry credentials."""
    salt_env.write_pillar(image_pillar(test_labels, registry))
    return salt_env


def image_pillar(test_labels, registry, **settings) -> dict:
    """Pillar: this run's test label on everything, the registry's credentials, ``settings``."""
    return {
        "dockerfabric": {
            "settings": {"labels": dict(test_labels), **settings},
            "registries": {registry.host: {"username": registry.username, "password": registry.password}},
        }
    }


@pytest.fixture
def tags(api_client):
    """Unique tag prefix; every image tag of the test (``tags.add``) is removed afterwards."""

    class Tags(list):
        prefix = "local/dftest-" + uuid.uuid4().hex[:8]

        def add(self, tag: str) -> str:
            self.append(tag)
            return tag

    made = Tags()
    yield made
    for tag in reversed(made):
        with contextlib.suppress(docker.errors.NotFound):
            api_client.remove_image(tag, force=True)


def state_ret(result: dict) -> dict:
    assert len(result) == 1, result
    return next(iter(result.values()))


def test_build_from_salt_file_with_extra_file_and_from_inline_template(
    image_env, api_client, tags, test_labels
):
    (image_env.file_root / "dftimg").mkdir(exist_ok=True)
    (image_env.file_root / "dftimg" / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nCOPY app.conf /etc/app.conf\nENV APP_MODE=salt\nCMD ["cat", "/etc/app.conf"]\n'
    )
    (image_env.file_root / "dftimg" / "app.conf").write_text("setting = 1\n")
    tag = tags.add(f"{tags.prefix}:file")
    ret = image_env.call(
        "dockerfabric.build",
        tag,
        "source=salt://dftimg/Dockerfile",
        "add_files=[salt://dftimg/app.conf]",
        f"add_tags=[{tags.add(tags.prefix + ':extra')}]",
        "show_log=True",
    )
    assert ret["result"] is True, ret
    info = api_client.inspect_image(tag)
    assert ret["id"] == info["Id"]
    assert ret["changes"] == {f"image:{tag}": {"old": "absent", "new": info["Id"]}}
    assert "APP_MODE=salt" in info["Config"]["Env"]
    assert info["Config"]["Labels"][TEST_LABEL] == test_labels[TEST_LABEL]
    assert api_client.inspect_image(tags.prefix + ":extra")["Id"] == info["Id"]
    assert any("COPY app.conf" in line for line in ret["log"])
    # the extra file is in the image: read it back with copy_resource (tar of one file)
    out = image_env.root / "conf.tar"
    got = image_env.call("dockerfabric.copy_resource", tag, "/etc/app.conf", str(out))
    assert got["size"] == out.stat().st_size
    with tarfile.open(out) as tar:
        assert tar.extractfile("app.conf").read() == b"setting = 1\n"

    # inline contents rendered with jinja
    tag2 = tags.add(f"{tags.prefix}:inline")
    contents = f"FROM {BASE_IMAGE}\nLABEL version={{{{ version }}}}\n"
    ret = image_env.call(
        "dockerfabric.build",
        tag2,
        f"contents={json.dumps(contents)}",
        "template=jinja",
        "context={version: 7}",
    )
    assert ret["result"] is True, ret
    assert api_client.inspect_image(tag2)["Config"]["Labels"]["version"] == "7"


def test_build_errors_are_clear(image_env, tags):
    ret = image_env.run("dockerfabric.build", f"{tags.prefix}:x", "source=salt://nope/Dockerfile")
    assert ret.returncode != 0
    assert "salt://nope/Dockerfile not found" in ret.stdout + ret.stderr
    tag = tags.add(f"{tags.prefix}:bad")
    ret = image_env.run(
        "dockerfabric.build",
        tag,
        "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nRUN false\n"),
        "network_mode=none",
    )
    assert ret.returncode != 0
    assert "RUN false failed" in ret.stdout + ret.stderr


def test_image_built_skips_existing_and_rebuilds_on_watch(image_env, api_client, tags, tmp_path):
    tag = tags.add(f"{tags.prefix}:watched")
    marker = tmp_path / "marker.txt"
    sls = """marker:
  file.managed:
    - name: {marker}
    - contents: {value}

{tag}:
  dockerfabric.image_built:
    - contents: |
        FROM {base}
        LABEL purpose=watch
    - nocache: true
    - watch:
      - file: marker
"""

    def write(value: str) -> None:
        image_env.write_sls("dftbuilt", sls.format(marker=marker, value=value, tag=tag, base=BASE_IMAGE))

    write("one")
    # test mode: nothing built
    ret = image_env.apply("dftbuilt", "test=True")
    assert ret[tag]["result"] is None, ret[tag]
    with pytest.raises(docker.errors.ImageNotFound):
        api_client.inspect_image(tag)
    ret = image_env.apply("dftbuilt")
    assert ret[tag]["result"] is True and ret[tag]["changes"], ret[tag]
    first = api_client.inspect_image(tag)["Id"]
    # nothing changed: skipped
    ret = image_env.apply("dftbuilt")
    assert ret[tag]["result"] is True and ret[tag]["changes"] == {}, ret[tag]
    assert "exists" in ret[tag]["comment"]
    assert api_client.inspect_image(tag)["Id"] == first
    # the watched file changes: mod_watch rebuilds (nocache -> new id)
    write("two")
    ret = image_env.apply("dftbuilt", "test=True")
    assert api_client.inspect_image(tag)["Id"] == first
    ret = image_env.apply("dftbuilt")
    assert ret[tag]["result"] is True, ret[tag]
    second = api_client.inspect_image(tag)["Id"]
    assert second != first
    assert ret[tag]["changes"] == {f"image:{tag}": {"old": first, "new": second}}
    # the old image is dangling now and carries this run's label: remove it
    with contextlib.suppress(docker.errors.NotFound):
        api_client.remove_image(first, force=True)


def test_push_absent_present_through_registry_with_pillar_credentials(image_env, api_client, registry, tags):
    repo = f"{registry.host}/dftest-{uuid.uuid4().hex[:8]}"
    tag = tags.add(f"{repo}:1")
    ret = image_env.call(
        "dockerfabric.build", tag, "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL pushed=yes\n")
    )
    assert ret["result"] is True, ret
    built = ret["id"]
    ret = image_env.call("dockerfabric.push", tag)
    assert ret["result"] is True, ret
    image_env.write_sls(
        "dftpresent",
        f"""absent-{tag}:
  dockerfabric.image_absent:
    - name: {tag}
present-{tag}:
  dockerfabric.image_present:
    - name: {tag}
    - require:
      - dockerfabric: absent-{tag}
""",
    )
    ret = image_env.apply("dftpresent")
    absent, present = ret[f"absent-{tag}"], ret[f"present-{tag}"]
    assert absent["result"] is True and absent["changes"] == {f"image:{tag}": {"old": built, "new": "absent"}}
    assert present["result"] is True, present
    assert present["changes"] == {f"image:{tag}": {"old": "absent", "new": built}}
    assert api_client.inspect_image(tag)["Id"] == built
    # present: no pull in test mode, and nothing to do
    image_env.write_sls("dftpresent2", f"{tag}:\n  dockerfabric.image_present: []\n")
    ret = state_ret(image_env.apply("dftpresent2", "test=True"))
    assert ret["result"] is True and ret["changes"] == {}, ret
    ret = state_ret(image_env.apply("dftpresent2"))
    assert ret["result"] is True and ret["changes"] == {}, ret
    # the password never shows up
    assert registry.password not in json.dumps(ret)


def test_logged_in_with_pillar_credentials_and_wrong_password(image_env, registry):
    wrong = "wrong-" + uuid.uuid4().hex
    image_env.write_sls(
        "dftlogin",
        f"""good-login:
  dockerfabric.logged_in:
    - name: {registry.host}
bad-login:
  dockerfabric.logged_in:
    - name: {registry.host}
    - username: {registry.username}
    - password: {wrong}
""",
    )
    ret = image_env.apply("dftlogin", "test=True")
    assert ret["good-login"]["result"] is None and ret["bad-login"]["result"] is None
    proc = image_env.run("state.apply", "dftlogin")
    ret = {v["__id__"]: v for v in json.loads(proc.stdout)["local"].values()}
    assert ret["good-login"]["result"] is True, ret["good-login"]
    assert ret["bad-login"]["result"] is False, ret["bad-login"]
    assert registry.host in ret["bad-login"]["comment"]
    assert wrong not in proc.stdout + proc.stderr
    assert registry.password not in proc.stdout + proc.stderr


def test_images_clean_list_only_then_removes_dangling_in_label_scope(image_env, api_client, tags):
    scope = f"org.dockerfabric.test.clean={uuid.uuid4().hex[:8]}"
    key, value = scope.split("=")
    tag = tags.add(f"{tags.prefix}:clean")
    dockerfile = "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL step=one\n")
    first = image_env.call(
        "dockerfabric.build", tag, dockerfile, f"labels={{{key}: {value}}}", "nocache=True"
    )
    second = image_env.call(
        "dockerfabric.build", tag, dockerfile, f"labels={{{key}: {value}}}", "nocache=True"
    )
    assert first["id"] != second["id"]
    old = first["id"].removeprefix("sha256:")[:12]
    image_env.write_sls("dftclean", f"clean:\n  dockerfabric.images_clean:\n    - label: {scope}\n")
    ret = state_ret(image_env.apply("dftclean", "test=True"))
    assert ret["result"] is None and ret["changes"] == {
        f"image:{old}": {"old": "present", "new": "absent"}
    }, ret
    api_client.inspect_image(first["id"])  # still there
    listed = image_env.call("dockerfabric.cleanup_images", f"label={scope}", "list_only=True")
    assert listed["images"] == [old]
    ret = state_ret(image_env.apply("dftclean"))
    assert ret["result"] is True and list(ret["changes"]) == [f"image:{old}"], ret
    with pytest.raises(docker.errors.ImageNotFound):
        api_client.inspect_image(first["id"])
    assert api_client.inspect_image(tag)["Id"] == second["id"]  # tagged: kept
    ret = state_ret(image_env.apply("dftclean"))
    assert ret["result"] is True and ret["changes"] == {}


def test_lists_version_and_tag_check(image_env, tags, test_labels):
    tag = tags.add(f"{tags.prefix}:list")
    image_env.call(
        "dockerfabric.build", tag, "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL listed=yes\n")
    )
    label = f"{TEST_LABEL}={test_labels[TEST_LABEL]}"
    rows = image_env.call("dockerfabric.list_images", f"label={label}")
    row = next(r for r in rows if tag in r["RepoTags"])
    assert set(row) == {"Id", "RepoTags", "ParentId", "Created", "VirtualSize", "Size"}
    assert len(row["Id"]) == 12
    assert image_env.call("dockerfabric.image_tag_exists", tag) is True
    assert image_env.call("dockerfabric.image_tag_exists", f"{tags.prefix}:nope") is False
    assert image_env.call("dockerfabric.version")["ApiVersion"]
    assert isinstance(image_env.call("dockerfabric.list_networks", f"label={label}"), list)
    assert isinstance(image_env.call("dockerfabric.list_volumes", f"label={label}"), list)
    assert isinstance(image_env.call("dockerfabric.list_containers", f"label={label}"), list)
    # the table outputter shows docker-fabric's columns
    proc = image_env.run("dockerfabric.list_images", f"label={label}", "--out=table")
    text = proc.stdout.lower()
    assert "repotags" in text and "virtualsize" in text and tag in text, text


def test_save_and_load_image(image_env, api_client, tags, tmp_path):
    tag = tags.add(f"{tags.prefix}:save")
    built = image_env.call(
        "dockerfabric.build", tag, "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL saved=yes\n")
    )
    target = tmp_path / "saved.tar.gz"
    saved = image_env.call("dockerfabric.save_image", tag, str(target))
    assert saved["path"] == str(target) and saved["size"] == target.stat().st_size
    assert saved["id"] == built["id"]
    api_client.remove_image(tag)
    loaded = image_env.call("dockerfabric.load_image", str(target), f"sha256={saved['sha256']}")
    assert loaded["result"] is True and loaded["ids"] == [built["id"]], loaded
    assert loaded["images"] == [tag]
    proc = image_env.run("dockerfabric.load_image", str(target), "sha256=" + "ab" * 32)
    assert proc.returncode != 0 and "does not match" in proc.stdout + proc.stderr


def test_save_plain_image_reports_sha256_of_the_file(image_env, api_client, tags, tmp_path):
    """compress=False: the sha256 comes from the engine's writer (computed while writing)."""
    tag = tags.add(f"{tags.prefix}:plain")
    image_env.call(
        "dockerfabric.build", tag, "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL plain=yes\n")
    )
    target = tmp_path / "plain.tar"
    saved = image_env.call("dockerfabric.save_image", tag, str(target), "compress=False")
    assert saved["size"] == target.stat().st_size
    assert saved["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    with tarfile.open(target) as tar:
        assert "manifest.json" in tar.getnames()


def test_image_states_in_test_mode_send_no_state_changing_request(
    image_env, api_client, tags, registry, request_log, test_labels
):
    present = tags.add(f"{tags.prefix}:present")
    built = image_env.call(
        "dockerfabric.build", present, "contents=" + json.dumps(f"FROM {BASE_IMAGE}\nLABEL t=1\n")
    )
    assert built["result"] is True, built
    missing = f"{tags.prefix}:missing"
    image_env.write_pillar(image_pillar(test_labels, registry, docker_url=request_log.base_url))
    try:
        image_env.write_sls(
            "dfttest",
            f"""build-it:
  dockerfabric.image_built:
    - name: {missing}
    - contents: "FROM {BASE_IMAGE}"
pull-it:
  dockerfabric.image_present:
    - name: {registry.host}/dftest-nothere:1
remove-it:
  dockerfabric.image_absent:
    - name: {present}
clean-it:
  dockerfabric.images_clean:
    - label: org.dockerfabric.test.none=1
login-it:
  dockerfabric.logged_in:
    - name: {registry.host}
""",
        )
        request_log.clear()
        ret = image_env.apply("dfttest", "test=True")
        assert {k: v["result"] for k, v in ret.items()} == {
            "build-it": None,
            "pull-it": None,
            "remove-it": None,
            "clean-it": True,
            "login-it": None,
        }, ret
        assert request_log.requests, "the states went through the proxy"
        assert request_log.state_changing() == []
        assert api_client.inspect_image(present)["Id"] == built["id"]
        with pytest.raises(docker.errors.ImageNotFound):
            api_client.inspect_image(missing)
    finally:
        image_env.write_pillar(image_pillar(test_labels, registry))
