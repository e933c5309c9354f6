"""Child process for the Python tools: one phase of one tool per process.

    python -m bench.compare.drive TOOL PHASE WORKLOAD_JSON [--docker-host URL] [--profile FILE]

TOOL: ``containermap`` (this project's engine API: ``MapClient``), ``sdk-seq`` or ``sdk-par``
(the floor, tools/sdk.py). PHASE: ``cold``, ``noop``, ``update``, ``down``. A fresh process per
phase, like every CLI tool of the comparison, so the parent's wall time includes interpreter
start-up and imports; the JSON line printed at the end has the in-process time (imports and
configuration parsing included, interpreter start-up not) for the report's second column.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402


def _containermap(phase: str, wl, docker_host: str | None) -> dict:
    t0 = time.perf_counter()
    from containermap.config.map import ContainerMap
    from containermap.engine import MapClient

    from .workload import LABEL_KEY, LOOPBACK

    t1 = time.perf_counter()
    client: dict = {"interfaces": {LOOPBACK: "127.0.0.1"}}
    if docker_host:
        client["base_url"] = docker_host
    mc = MapClient(
        ContainerMap(wl.prefix, wl.to_map_dict()),
        clients={"__default__": client},
        extra_labels={LABEL_KEY: wl.label},
    )
    t2 = time.perf_counter()
    # cold, no-op and update are the same converge call (like `up -d` / `state.apply` for the
    # peers); plan + apply is what MapClient.update / .shutdown do, split to time each part
    if phase == "down":
        plan = mc.plan("shutdown", remove_attached=True, remove_networks=True)
    else:
        plan = mc.plan("update")
    t3 = time.perf_counter()
    result = mc.apply(plan)
    t4 = time.perf_counter()
    return {
        "changes": len(result.changes),
        "comment": result.comment,
        "split": {
            "imports": round(t1 - t0, 4),
            "config": round(t2 - t1, 4),
            "plan": round(t3 - t2, 4),
            "apply": round(t4 - t3, 4),
        },
    }


def _sdk(phase: str, wl, docker_host: str | None, parallel: bool) -> dict:
    import docker

    from .tools.sdk import SdkReconciler

    # a fixed API version: no /version negotiation request (the floor, as in peers.md)
    api = docker.APIClient(base_url=docker_host or "unix:///var/run/docker.sock", version="1.41")
    rec = SdkReconciler(api, wl, parallel)
    if phase == "down":
        rec.down()
        return {}
    return rec.apply()


def run(tool: str, phase: str, wl, docker_host: str | None) -> dict:
    if tool == "containermap":
        return _containermap(phase, wl, docker_host)
    if tool in ("sdk-seq", "sdk-par"):
        return _sdk(phase, wl, docker_host, tool == "sdk-par")
    raise SystemExit(f"unknown tool {tool}")


def _profiled(args, wl) -> dict:
    """Run under cProfile, worker threads included: every callable submitted to a
    ThreadPoolExecutor gets a profiler of its own, merged into one stats file at the end.
    Imports happen before profiling (the split in the normal output times them)."""
    import cProfile
    import functools
    import pstats
    from concurrent.futures import ThreadPoolExecutor

    import containermap.engine  # noqa: F401
    import docker  # noqa: F401

    from .tools import sdk  # noqa: F401

    profiles: list = []
    submit = ThreadPoolExecutor.submit

    def profiled_submit(self, fn, /, *a, **kw):
        @functools.wraps(fn)
        def wrapper(*wa, **wkw):
            prof = cProfile.Profile()
            prof.enable()
            try:
                return fn(*wa, **wkw)
            finally:
                prof.disable()
                profiles.append(prof)

        return submit(self, wrapper, *a, **kw)

    ThreadPoolExecutor.submit = profiled_submit
    main_profile = cProfile.Profile()
    try:
        out = main_profile.runcall(run, args.tool, args.phase, wl, args.docker_host)
    finally:
        ThreadPoolExecutor.submit = submit
    stats = pstats.Stats(main_profile)
    for prof in profiles:
        stats.add(prof)
    stats.dump_stats(args.profile)
    out["worker_calls"] = len(profiles)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("phase", choices=("cold", "noop", "update", "down"))
    parser.add_argument("workload", help="Workload fields as JSON")
    parser.add_argument("--docker-host", default=None)
    parser.add_argument("--profile", default=None, help="write a cProfile of the phase to this file")
    args = parser.parse_args(argv)

    from .workload import Workload

    wl = Workload(**json.loads(args.workload))
    if args.profile:
        out = _profiled(args, wl)
    else:
        out = run(args.tool, args.phase, wl, args.docker_host)
    out["inproc"] = round(time.perf_counter() - _T0, 4)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
