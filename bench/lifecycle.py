"""Lifecycle benchmark: a 3-level map of 1 + 2K containers (K=15: 31 containers).

One user network, one named volume (attached by db), ``db`` <- ``appI`` <- ``webI`` (ordering
dependencies), ``webI`` publishes ``127.0.0.1:(PORT+I) -> 80``; image ``local/busybox:latest``,
command ``sleep 100000`` with ``init``. Phases: cold startup, no-op update, one-config update
(db environment ``DBVER=1 -> 2``), shutdown (containers, network and volume removed).

The same work is done by

* ``containermap``: ``MapClient.startup / update / update / shutdown(remove_attached,
  remove_networks)``, parallel per level (8 workers);
* ``sdk-seq`` / ``sdk-par``: plain docker SDK ``APIClient`` calls, config-hash label, one
  container list per apply, sequential or 8 threads per level (the floor of
  shared/reference/peers.md).

Usage: ``.venv/bin/python bench/lifecycle.py [--k 15] [--reps 3] [--port 27300]``. Prints a
table of min / median wall seconds and request counts, and the ratio cold start / sdk-par.
Every object carries the label ``org.dockerfabric.test=bench-<run>`` and is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_utils"))

from containermap import labels  # noqa: E402
from containermap.config.map import ContainerMap  # noqa: E402
from containermap.engine import MapClient  # noqa: E402

IMAGE = "local/busybox:latest"
CMD = "sleep 100000"


# -- containermap ---------------------------------------------------------------------------


def map_dict(k: int, port: int, dbver: str = "1") -> dict:
    common = {"image": IMAGE, "host_config": {"init": True}, "networks": "net", "stop_timeout": 10}
    data: dict = {
        "networks": {"net": {}},
        "volumes": {"vol": "/data"},
        "db": {
            **common,
            "attaches": "vol",
            "create_options": {"command": CMD, "environment": {"ROLE": "db", "DBVER": dbver}},
        },
    }
    for i in range(1, k + 1):
        data[f"app{i}"] = {
            **common,
            "requires": "db",
            "create_options": {"command": CMD, "environment": {"ROLE": "app", "DB": "db"}},
        }
        data[f"web{i}"] = {
            **common,
            "requires": f"app{i}",
            "exposes": [(80, port + i, "local")],
            "create_options": {"command": CMD, "environment": {"ROLE": "web", "APP": f"app{i}"}},
        }
    return data


class Ours:
    name = "containermap"

    def __init__(self, k: int, port: int, run: str):
        self.k, self.port = k, port
        self.map_name = f"bm{run}"
        self.label = {labels.TEST: f"bench-{run}"}
        self.requests = 0

    def client(self, dbver: str) -> MapClient:
        cmap = ContainerMap(self.map_name, map_dict(self.k, self.port, dbver))
        mc = MapClient(
            cmap, clients={"__default__": {"interfaces": {"local": "127.0.0.1"}}}, extra_labels=self.label
        )
        api = mc.api()
        self.requests = 0

        def count(r, *a, **kw):
            self.requests += 1

        api.hooks["response"].append(count)
        return mc

    def cold(self):
        self.client("1").startup()

    def noop(self):
        self.client("1").update()

    def update(self):
        self.client("2").update()

    def down(self):
        self.client("2").shutdown(remove_attached=True, remove_networks=True)


# -- plain SDK floor ------------------------------------------------------------------------


class Sdk:
    def __init__(self, k: int, port: int, run: str, parallel: bool):
        self.k, self.port, self.parallel = k, port, parallel
        self.name = "sdk-par" if parallel else "sdk-seq"
        self.prefix = f"bs{run}{'p' if parallel else 's'}"
        self.label = {labels.TEST: f"bench-{run}"}
        self.api = docker.APIClient(version="auto")
        self.requests = 0
        self.api.hooks["response"].append(self._count)

    def _count(self, r, *a, **kw):
        self.requests += 1

    def levels(self, dbver: str) -> list[list[dict]]:
        p = self.prefix
        db = [
            {
                "name": f"{p}-db",
                "env": {"ROLE": "db", "DBVER": dbver},
                "binds": [f"{p}-vol:/data"],
                "port": None,
            }
        ]
        apps = [
            {"name": f"{p}-app{i}", "env": {"ROLE": "app", "DB": "db"}, "binds": [], "port": None}
            for i in range(1, self.k + 1)
        ]
        webs = [
            {
                "name": f"{p}-web{i}",
                "env": {"ROLE": "web", "APP": f"app{i}"},
                "binds": [],
                "port": self.port + 100 + i,
            }
            for i in range(1, self.k + 1)
        ]
        return [db, apps, webs]

    def _make(self, c: dict, h: str) -> None:
        api = self.api
        hc = api.create_host_config(
            binds=c["binds"] or None,
            port_bindings={80: ("127.0.0.1", c["port"])} if c["port"] else None,
            network_mode=f"{self.prefix}-net",
            init=True,
        )
        api.create_container(
            IMAGE,
            CMD,
            name=c["name"],
            detach=True,
            environment=[f"{k}={v}" for k, v in c["env"].items()],
            ports=[80] if c["port"] else None,
            host_config=hc,
            labels={**self.label, "bench.map": self.prefix, "bench.hash": h},
        )
        api.start(c["name"])

    def _converge(self, c: dict, existing: dict) -> None:
        h = hashlib.sha256(json.dumps(c, sort_keys=True).encode()).hexdigest()[:16]
        cur = existing.get(c["name"])
        if cur is not None:
            if cur["Labels"].get("bench.hash") == h:
                if cur["State"] != "running":
                    self.api.start(c["name"])
                return
            self.api.stop(c["name"])
            self.api.remove_container(c["name"])
        self._make(c, h)

    def _apply(self, dbver: str) -> None:
        self.requests = 0
        api = self.api
        net = f"{self.prefix}-net"
        if not api.networks(names=[net]):
            api.create_network(net, driver="bridge", labels=self.label)
        vol = f"{self.prefix}-vol"
        if not [v for v in (api.volumes(filters={"name": vol}).get("Volumes") or []) if v["Name"] == vol]:
            api.create_volume(vol, labels=self.label)
        existing = {
            c["Names"][0].lstrip("/"): c
            for c in api.containers(all=True, filters={"label": f"bench.map={self.prefix}"})
        }
        with ThreadPoolExecutor(max_workers=8 if self.parallel else 1) as ex:
            for level in self.levels(dbver):
                list(ex.map(lambda c: self._converge(c, existing), level))

    def cold(self):
        self._apply("1")

    def noop(self):
        self._apply("1")

    def update(self):
        self._apply("2")

    def down(self):
        self.requests = 0
        api = self.api
        existing = {
            c["Names"][0].lstrip("/")
            for c in api.containers(all=True, filters={"label": f"bench.map={self.prefix}"})
        }

        def rm(c):
            if c["name"] in existing:
                api.stop(c["name"])
                api.remove_container(c["name"])

        with ThreadPoolExecutor(max_workers=8 if self.parallel else 1) as ex:
            for level in reversed(self.levels("1")):
                list(ex.map(rm, level))
        for n in api.networks(names=[f"{self.prefix}-net"]):
            api.remove_network(n["Id"])
        api.remove_volume(f"{self.prefix}-vol")


# -- driver ---------------------------------------------------------------------------------

PHASES = ("cold", "noop", "update", "down")


def cleanup(run: str) -> None:
    api = docker.APIClient(version="auto")
    lab = f"{labels.TEST}=bench-{run}"
    for c in api.containers(all=True, filters={"label": lab}):
        api.remove_container(c["Id"], force=True, v=True)
    for v in (api.volumes(filters={"label": lab}) or {}).get("Volumes") or ():
        api.remove_volume(v["Name"], force=True)
    for n in api.networks(filters={"label": lab}):
        try:
            api.remove_network(n["Id"])
        except docker.errors.APIError as exc:  # reported, not fatal for the numbers
            print(f"cleanup: network {n['Name']} left: {exc.explanation}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=15)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--port", type=int, default=27300)
    ap.add_argument("--tools", default="containermap,sdk-seq,sdk-par")
    args = ap.parse_args()
    run = uuid.uuid4().hex[:6]
    times: dict[str, dict[str, list[float]]] = {}
    reqs: dict[str, dict[str, int]] = {}
    try:
        for rep in range(args.reps):
            for tool in args.tools.split(","):
                if tool == "containermap":
                    t = Ours(args.k, args.port, run)
                else:
                    t = Sdk(args.k, args.port, run, tool == "sdk-par")
                for phase in PHASES:
                    start = time.perf_counter()
                    try:
                        getattr(t, phase)()
                    except Exception as exc:  # noqa: BLE001 - report and go on with the numbers
                        print(f"rep {rep + 1} {tool} {phase}: {exc}", file=sys.stderr)
                    elapsed = time.perf_counter() - start
                    times.setdefault(tool, {}).setdefault(phase, []).append(elapsed)
                    reqs.setdefault(tool, {})[phase] = t.requests
                print(
                    f"rep {rep + 1} {tool}: " + " ".join(f"{p} {times[tool][p][-1]:.2f}s" for p in PHASES),
                    flush=True,
                )
    finally:
        cleanup(run)
    n = 1 + 2 * args.k
    print(
        f"\nN = {n} containers (1 db + {args.k} app + {args.k} web), wall seconds min / median of {args.reps}"
    )
    print(f"{'tool':<14}" + "".join(f"{p:>16}" for p in PHASES) + "   requests " + "/".join(PHASES))
    for tool, per in times.items():
        cells = "".join(f"{min(v):>7.2f} / {statistics.median(v):<6.2f}" for v in (per[p] for p in PHASES))
        print(f"{tool:<14}{cells}   " + " / ".join(str(reqs[tool][p]) for p in PHASES))
    if "containermap" in times and "sdk-par" in times:
        ours = statistics.median(times["containermap"]["cold"])
        floor = statistics.median(times["sdk-par"]["cold"])
        print(f"\ncold start ratio containermap / sdk-par (medians): {ours / floor:.2f} (goal <= 1.15)")
        print(
            f"cold start ratio (mins): {min(times['containermap']['cold']) / min(times['sdk-par']['cold']):.2f}"
        )


if __name__ == "__main__":
    main()
