"""Real-engine tests of save_image/load_image round trips (plain and gzip)."""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import uuid

import docker
import docker.errors
import pytest
from containermap.images import (
    DockerFile,
    ImageError,
    ImageNotFound,
    build,
    image_id,
    is_gzip,
    load_image,
    save_image,
)

pytestmark = pytest.mark.docker

BASE = "local/busybox:latest"
TEST_LABEL = "org.dockerfabric.test"


@pytest.fixture
def api(api_client, base_image):
    """The test bed's engine (tests/testbed/fixtures.py), base image present."""
    return api_client


@pytest.fixture
def small_image(api):
    """A labelled image with a 3 MB random layer; removed afterwards (tag and id)."""
    run_id = f"h6s-{uuid.uuid4().hex[:10]}"
    tag = f"local/dftest-{run_id}:1"
    df = DockerFile(BASE, labels={TEST_LABEL: run_id})
    df.run(f"dd if=/dev/urandom of=/random.bin bs=1024 count=3072 2>/dev/null && echo {run_id} > /id")
    new_id = build(api, df, tag, network_mode="none")
    yield tag, new_id
    for ref in (tag, new_id):
        try:
            api.remove_image(ref)
        except docker.errors.APIError:
            pass


@pytest.mark.parametrize("compress", [True, False])
def test_save_load_round_trip(api, small_image, tmp_path, compress):
    tag, original = small_image
    target = tmp_path / "image.tar.gz"
    saved: list[dict] = []
    result = save_image(api, tag, str(target), compress=compress, progress=saved.append)
    assert result["filename"] == str(target)
    assert result["size"] == os.path.getsize(target)
    assert result["bytes"] > 3 * 1024 * 1024
    assert is_gzip(str(target)) is compress
    assert saved and saved[-1]["current"] == result["bytes"]
    assert all(r["status"] == "saving" for r in saved)
    with (
        gzip.open(target) if compress else open(target, "rb") as raw,
        tarfile.open(fileobj=raw, mode="r|") as tar,
    ):
        assert "manifest.json" in [member.name for member in tar]
    assert os.listdir(tmp_path) == ["image.tar.gz"]

    api.remove_image(tag)
    assert image_id(api, tag) is None
    loaded: list[dict] = []
    result = load_image(api, str(target), progress=loaded.append)
    assert result["compressed"] is compress
    assert result["images"] == [tag]
    assert result["bytes"] == os.path.getsize(target)
    assert loaded[-1] == {"status": "loading", "current": result["bytes"], "total": result["bytes"]}
    assert image_id(api, tag) == original


def test_save_missing_image_leaves_no_file(api, tmp_path):
    target = tmp_path / "missing.tar.gz"
    with pytest.raises(ImageNotFound):
        save_image(api, f"local/dftest-h6s-absent-{uuid.uuid4().hex[:8]}:1", str(target))
    assert os.listdir(tmp_path) == []


def test_load_invalid_archive(api, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    with gzip.open(bogus, "wb") as fileobj:
        fileobj.write(b"this is not a tar archive" * 100)
    with pytest.raises(ImageError) as err:
        load_image(api, str(bogus))
    assert str(bogus) in str(err.value)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("checksum", [True, False])
def test_save_checksum_computed_while_writing(api, small_image, tmp_path, compress, checksum):
    """One writer for plain and gzip saves: the sha256 is that of the file as written, or None
    when ``checksum=False``."""
    tag, _ = small_image
    target = tmp_path / ("image.tar.gz" if compress else "image.tar")
    result = save_image(api, tag, str(target), compress=compress, checksum=checksum)
    if checksum:
        assert result["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    else:
        assert result["sha256"] is None
    assert result["size"] == os.path.getsize(target)
    assert os.listdir(tmp_path) == [target.name]
