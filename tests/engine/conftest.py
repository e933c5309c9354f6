"""Fixtures shared by the lifecycle engine tests (test_lifecycle*.py); a test module that
defines its own ``api`` or ``env`` fixture overrides these."""

from __future__ import annotations

import os
import uuid

import docker
import pytest
from containermap import labels, update_cache

BASE = "local/busybox:latest"


@pytest.fixture(scope="module")
def api():
    """Low-level client of the shared test engine (the base image must exist)."""
    client = docker.APIClient(
        base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), version="auto"
    )
    try:
        client.inspect_image(BASE)
    except docker.errors.NotFound:
        pytest.skip(f"{BASE} missing (run tests/testbed/setup.sh)")
    yield client
    client.close()


@pytest.fixture
def env(api, request, tmp_path, monkeypatch):
    """A unique map name and test label, a private update cache; everything carrying the
    label or the map name (containers, volumes, networks) and the images listed in
    ``env['images']`` are removed afterwards."""
    monkeypatch.setenv(update_cache.CACHE_DIR_ENV, str(tmp_path / "update-cache"))
    run = uuid.uuid4().hex[:8]
    name = f"lc{run}"
    test_label = {labels.TEST: f"lc-{run}"}
    images: list[str] = []
    selectors = (f"{labels.TEST}=lc-{run}", f"{labels.MAP}={name}")

    def cleanup():
        for lab in selectors:
            for c in api.containers(all=True, filters={"label": lab}):
                api.remove_container(c["Id"], force=True, v=True)
        for lab in selectors:
            for v in (api.volumes(filters={"label": lab}) or {}).get("Volumes") or ():
                api.remove_volume(v["Name"], force=True)
            for n in api.networks(filters={"label": lab}):
                api.remove_network(n["Id"])
        for image in images:
            try:
                api.remove_image(image, force=True)
            except docker.errors.NotFound:
                pass

    request.addfinalizer(cleanup)
    return {"name": name, "labels": test_label, "images": images, "run": run}
