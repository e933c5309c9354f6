"""The floor: a minimal declarative reconciler on the plain docker SDK (low-level APIClient).

Drift is detected through a config-hash label, so a no-op is exactly 3 requests (network list,
volume list, one label-filtered container list). ``parallel`` runs each dependency level on 8
threads (a level barrier), otherwise everything runs one by one. Teardown stops and removes in
reverse level order, then removes the network and the volume. It does what the workload needs
and nothing more (no image checks, no inspect): the lowest cost any tool can reach.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import docker

from ..workload import COMMAND, LABEL_KEY, Container, Workload

MAP_LABEL = "org.dockerfabric.bench.map"
HASH_LABEL = "org.dockerfabric.bench.hash"


def _hash(wl: Workload, c: Container) -> str:
    data = {**c.as_neutral(), "image": wl.image, "network": wl.network, "vol": wl.volume}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class SdkReconciler:
    """``apply`` converges the workload, ``down`` removes it (see module docstring)."""

    def __init__(self, api, wl: Workload, parallel: bool):
        self.api, self.wl, self.parallel = api, wl, parallel
        self.labels = {LABEL_KEY: wl.label, MAP_LABEL: wl.prefix}

    def _existing(self) -> dict[str, dict]:
        found = self.api.containers(all=True, filters={"label": f"{MAP_LABEL}={self.wl.prefix}"})
        return {c["Names"][0].lstrip("/"): c for c in found}

    def _levels(self, fn, levels) -> None:
        with ThreadPoolExecutor(max_workers=8 if self.parallel else 1) as pool:
            for level in levels:
                list(pool.map(fn, level))  # list(): re-raises the first error of the level

    def _create(self, c: Container, digest: str) -> None:
        api, wl = self.api, self.wl
        name = wl.container_name(c.name)
        host_config = api.create_host_config(
            binds=[f"{wl.volume}:/data:rw"] if c.mounts_volume else None,
            port_bindings={80: ("127.0.0.1", c.host_port)} if c.host_port else None,
            network_mode=wl.network,
        )
        api.create_container(
            wl.image,
            list(COMMAND),
            name=name,
            detach=True,
            environment=[f"{k}={v}" for k, v in c.env],
            ports=[80] if c.host_port else None,
            host_config=host_config,
            labels={**self.labels, HASH_LABEL: digest},
        )
        api.start(name)

    def apply(self) -> dict[str, int]:
        api, wl = self.api, self.wl
        if not api.networks(names=[wl.network]):
            api.create_network(wl.network, driver="bridge", labels=self.labels)
        volumes = api.volumes(filters={"name": wl.volume}).get("Volumes") or []
        if not any(v["Name"] == wl.volume for v in volumes):
            api.create_volume(wl.volume, labels=self.labels)
        existing = self._existing()
        counts = {"created": 0, "started": 0, "recreated": 0, "ok": 0}

        def converge(c: Container) -> None:
            digest = _hash(wl, c)
            current = existing.get(wl.container_name(c.name))
            if current is None:
                self._create(c, digest)
                counts["created"] += 1
            elif current["Labels"].get(HASH_LABEL) != digest:
                api.stop(current["Id"], timeout=10)
                api.remove_container(current["Id"])
                self._create(c, digest)
                counts["recreated"] += 1
            elif current["State"] != "running":
                api.start(current["Id"])
                counts["started"] += 1
            else:
                counts["ok"] += 1

        self._levels(converge, self.wl.levels())
        return counts

    def down(self) -> None:
        api, wl = self.api, self.wl
        existing = self._existing()

        def remove(c: Container) -> None:
            current = existing.get(wl.container_name(c.name))
            if current is not None:
                api.stop(current["Id"], timeout=10)
                api.remove_container(current["Id"])

        self._levels(remove, reversed(self.wl.levels()))
        for net in api.networks(names=[wl.network]):
            api.remove_network(net["Id"])
        try:
            api.remove_volume(wl.volume)
        except docker.errors.NotFound:
            pass
