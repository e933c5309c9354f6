"""Volume owner and permissions (containermap.volumes): chmod arithmetic checked against the
real GNU chmod, owner resolution, and prepare_volume on the real engine (also with an image that
has no tools at all), temporary containers always removed."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import subprocess
import tarfile
import time

import pytest
from containermap import labels
from containermap.errors import ObjectMissing
from containermap.exceptions import ConfigurationError
from containermap.volumes import (
    VolumePreparationError,
    apply_mode,
    cleanup_temporary,
    prepare_volume,
    resolve_owner,
    split_owner,
)

# -- chmod arithmetic (no Docker) -------------------------------------------------------------

SPECS = [
    "u=rwX,g=rX,o=",
    "a+r",
    "o-w",
    "g=u",
    "+x",
    "u+s",
    "g+s,o+t",
    "u=rwx,g=rx,o=",
    "g-s",
    "a=",
    "ug=rwX,o=rX",
    "u-x,g+w-r",
    "750",
    "0750",
    "00750",
    "2775",
    "o=g",
]
START_MODES = [0o755, 0o644, 0o2755, 0o700, 0o1777]


@pytest.mark.skipif(not shutil.which("chmod"), reason="no chmod")
@pytest.mark.parametrize("spec", SPECS)
def test_apply_mode_matches_gnu_chmod(spec, tmp_path):
    for start in START_MODES:
        for is_dir in (True, False):
            path = tmp_path / f"{'d' if is_dir else 'f'}{start:o}"
            if is_dir:
                path.mkdir()
            else:
                path.touch()
            os.chmod(path, start)
            subprocess.run(["chmod", spec, str(path)], check=True)
            expected = os.stat(path).st_mode & 0o7777
            got = apply_mode(spec, start, is_dir=is_dir)
            assert got == expected, (
                f"{spec} on {'dir' if is_dir else 'file'} {start:o}: {got:o} != {expected:o}"
            )


@pytest.mark.parametrize("spec", ["u=rwz", "x=r", "", "99999", "8", "u=rw,", "+q", "777777"])
def test_apply_mode_rejects_invalid(spec):
    with pytest.raises(ConfigurationError, match="permissions"):
        apply_mode(spec, 0o755)


def test_apply_mode_int_is_mode_bits():
    assert apply_mode(0o750, 0o755) == 0o750
    with pytest.raises(ConfigurationError):
        apply_mode(0o17777, 0o755)


PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:2100:2200::/:/bin/false\nsolo:x:2400:2200::/:/bin/false\n"
GROUP = "root:x:0:\napp:x:2300:\nstaff:x:50:app\n"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (2000, (2000, 2000)),
        ("2000", (2000, 2000)),
        ("2000:50", (2000, 50)),
        (("2000", "51"), (2000, 51)),
        ("app", (2100, 2300)),  # group of the same name
        ("solo", (2400, 2200)),  # no group "solo": primary group
        ("app:staff", (2100, 50)),
        ("2000:staff", (2000, 50)),
    ],
)
def test_resolve_owner(user, expected):
    assert resolve_owner(user, PASSWD, GROUP) == expected


def test_owner_errors():
    with pytest.raises(VolumePreparationError, match="user 'nobody' is not defined"):
        resolve_owner("nobody", PASSWD, GROUP)
    with pytest.raises(VolumePreparationError, match="group 'wheel' is not defined"):
        resolve_owner("app:wheel", PASSWD, GROUP)
    for bad in ("", ":x", "app:", ("a",), True):
        with pytest.raises(ConfigurationError):
            split_owner(bad)


# -- real engine ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(api_client, test_labels):
    """Two images without any tools (docker import of a tar): ``notools`` holds one text file,
    ``users`` only /etc/passwd and /etc/group. Removed after the module."""
    token = secrets.token_hex(4)
    label = ",".join(f"{k}={v}" for k, v in test_labels.items())
    made = {}
    for kind, files in (
        ("notools", {"hello.txt": b"no shell, no chown, no chmod\n"}),
        ("users", {"etc/passwd": PASSWD.encode(), "etc/group": GROUP.encode()}),
    ):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                tf.addfile(info, io.BytesIO(data))
        repo = f"local/dftest-{kind}"
        api_client.import_image_from_data(
            buf.getvalue(), repository=repo, tag=token, changes=[f"LABEL {label}"]
        )
        made[kind] = f"{repo}:{token}"
    yield made
    for tag in made.values():
        api_client.remove_image(tag, force=True)


@pytest.fixture
def volume(api_client, test_labels, unique_name):
    name = f"dftest-{unique_name}"
    api_client.create_volume(name, labels=test_labels)
    yield name
    api_client.remove_volume(name, force=True)


def _stat(api, base_image, labels_, volume: str, path: str = "/data") -> str:
    """``uid:gid mode`` of ``path`` in the volume, seen from a busybox container (independent
    of the code under test)."""
    cid = api.create_container(
        base_image,
        ["stat", "-c", "%u:%g %a", path],
        labels=labels_,
        host_config=api.create_host_config(
            binds={volume: {"bind": "/data", "mode": "rw"}}, network_mode="none"
        ),
    )["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=30)["StatusCode"] == 0, api.logs(cid)
        return api.logs(cid).decode().strip()
    finally:
        api.remove_container(cid, force=True)


def _leftovers(api, volume: str) -> list:
    """Temporary helper containers of ``volume`` still present."""
    return api.containers(all=True, filters={"label": f"{labels.TEMPORARY}=volume:{volume}"})


def test_fresh_volume_gets_owner_and_mode_with_busybox(api_client, base_image, test_labels, volume):
    api = api_client
    assert _stat(api, base_image, test_labels, volume) == "0:0 755"
    start = time.monotonic()
    result = prepare_volume(api, volume, 2000, "u=rwX,g=rX,o=", helper_image=base_image, labels=test_labels)
    elapsed = time.monotonic() - start
    assert result == {
        "volume": volume,
        "uid": 2000,
        "gid": 2000,
        "mode": "0750",
        "changed": True,
        "before": {"uid": 0, "gid": 0, "mode": "0755"},
    }
    assert _stat(api, base_image, test_labels, volume) == "2000:2000 750"
    assert _leftovers(api, volume) == []
    assert elapsed < 5, elapsed
    # applying again changes nothing
    again = prepare_volume(api, volume, "2000", "u=rwX,g=rX,o=", helper_image=base_image, labels=test_labels)
    assert again["changed"] is False


def test_image_without_any_tools(api_client, base_image, test_labels, volume, images):
    result = prepare_volume(
        api_client, volume, "2000:2000", "u=rwX,g=rX,o=", helper_image=images["notools"], labels=test_labels
    )
    assert (result["uid"], result["gid"], result["mode"]) == (2000, 2000, "0750")
    assert _stat(api_client, base_image, test_labels, volume) == "2000:2000 750"
    assert _leftovers(api_client, volume) == []


def test_only_mode_or_only_owner_keeps_the_other(api_client, base_image, test_labels, volume):
    api = api_client
    prepare_volume(api, volume, "3000:3001", None, helper_image=base_image, labels=test_labels)
    assert _stat(api, base_image, test_labels, volume) == "3000:3001 755"
    prepare_volume(api, volume, None, "0700", helper_image=base_image, labels=test_labels)
    assert _stat(api, base_image, test_labels, volume) == "3000:3001 700"
    prepare_volume(api, volume, None, "g+rx", helper_image=base_image, labels=test_labels)
    assert _stat(api, base_image, test_labels, volume) == "3000:3001 750"
    assert prepare_volume(api, volume, helper_image=base_image) == {}


def test_root_only_existing_content_untouched(api_client, base_image, test_labels, volume):
    api = api_client
    # a file written by root before the preparation keeps its owner and mode
    cid = api.create_container(
        base_image,
        ["sh", "-c", "echo x > /data/keep && chmod 600 /data/keep"],
        labels=test_labels,
        host_config=api.create_host_config(
            binds={volume: {"bind": "/data", "mode": "rw"}}, network_mode="none"
        ),
    )["Id"]
    api.start(cid)
    api.wait(cid, timeout=30)
    api.remove_container(cid)
    prepare_volume(api, volume, 2000, "u=rwX,g=rX,o=", helper_image=base_image, labels=test_labels)
    assert _stat(api, base_image, test_labels, volume) == "2000:2000 750"
    assert _stat(api, base_image, test_labels, volume, "/data/keep") == "0:0 600"


def test_user_names_resolved_from_the_helper_image(api_client, base_image, test_labels, volume, images):
    api, users = api_client, images["users"]
    result = prepare_volume(api, volume, "app", None, helper_image=users, labels=test_labels)
    assert (result["uid"], result["gid"]) == (2100, 2300)
    prepare_volume(api, volume, "app:staff", None, helper_image=users, labels=test_labels)
    assert _stat(api, base_image, test_labels, volume) == "2100:50 755"
    with pytest.raises(VolumePreparationError) as info:
        prepare_volume(api, volume, "nobody", None, helper_image=users, labels=test_labels)
    assert str(info.value) == (
        f"volume:{volume}: user 'nobody' is not defined in /etc/passwd of image {users}; use a numeric uid[:gid]"
    )
    with pytest.raises(VolumePreparationError, match="has no /etc/passwd: use a numeric uid"):
        prepare_volume(api, volume, "app", None, helper_image=images["notools"], labels=test_labels)
    assert _leftovers(api, volume) == []  # removed although the preparation failed


def test_errors_before_and_without_leftovers(api_client, base_image, test_labels, unique_name):
    missing = f"dftest-{unique_name}-missing"
    with pytest.raises(ObjectMissing) as info:
        prepare_volume(api_client, missing, 2000, None, helper_image=base_image, labels=test_labels)
    assert str(info.value) == f"volume:{missing}: prepare volume: volume {missing} does not exist"
    assert not [
        v for v in (api_client.volumes()["Volumes"] or ()) if v["Name"] == missing
    ]  # not auto-created
    with pytest.raises(VolumePreparationError, match="permissions: invalid mode"):
        prepare_volume(api_client, missing, None, "u=bogus", helper_image=base_image)
    assert _leftovers(api_client, missing) == []


def test_cleanup_temporary_removes_only_old_labelled(api_client, base_image, test_labels, unique_name):
    mine = {labels.TEMPORARY: f"volume:dftest-{unique_name}"}
    old = api_client.create_container(base_image, ["true"], labels={**test_labels, **mine})["Id"]
    assert cleanup_temporary(api_client, labels=mine) == []  # younger than min_age
    assert cleanup_temporary(api_client, labels=mine, min_age=0) == [old[:12]]
    assert (
        api_client.containers(all=True, filters={"label": f"{labels.TEMPORARY}={mine[labels.TEMPORARY]}"})
        == []
    )
