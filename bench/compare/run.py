"""Side-by-side benchmark: one command, every tool, one workload, one machine.

    .venv/bin/python bench/compare/run.py [--sizes 10,30,100] [--reps 3] [--tools a,b,...] [--quick]
                                          [--install] [--file-benches | --reuse-file-benches]

For each size N (K = N // 2: 1 db + K app + K web) and each tool, ``reps`` timed repetitions of
cold start / no-op re-apply / update of one env value on db / teardown, each phase one whole
invocation of the tool (process start-up included, as a user pays it), plus one more
repetition through a counting proxy for the Engine API request counts (its times are not used).
After the cold start every tool's containers are checked (all N running, environment, port,
volume as the workload says); the update records which containers got a new ID; the teardown
checks that nothing is left. Then: Salt's own per-call cost (``salt-call --local test.ping``),
a cProfile of this project's phases, and (optionally) bench/images.py and bench/archive.py.

Prints the tables and writes docs/performance.md (``--out``) and the raw results as JSON
(bench/compare/last-run.json). Every object carries ``org.dockerfabric.test=bench-<run>`` or a
``dfb<run>`` name prefix and is removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (str(REPO), str(REPO / "_utils")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import docker  # noqa: E402

from bench.compare import report  # noqa: E402
from bench.compare.reqproxy import CountingProxy, breakdown  # noqa: E402
from bench.compare.tools import PHASES, TOOLS, PhaseFailed  # noqa: E402
from bench.compare.tools.base import command_version, kill_current, run_timed, source_root  # noqa: E402
from bench.compare.tools.salt import SALTEXT_VENV, SaltTool  # noqa: E402
from bench.compare.workload import LABEL_KEY, Workload, image_context, normalize_inspect  # noqa: E402

DEFAULT_TOOLS = "containermap,salt-dockerfabric,salt-formula,compose,saltext-dockermod,sdk-seq,sdk-par"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# -- set-up, clean-up --------------------------------------------------------------------------


def install_tools() -> None:
    """docker-compose v1 from Debian, saltext-dockermod into its own venv (not the project's)."""
    if not shutil.which("docker-compose"):
        log("apt-get install docker-compose")
        subprocess.run(["apt-get", "update", "-q"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "docker-compose"], check=False)
    if not (SALTEXT_VENV / "bin" / "salt-call").exists():
        log(f"creating {SALTEXT_VENV} with salt, docker, saltext-dockermod")
        subprocess.run([sys.executable, "-m", "venv", str(SALTEXT_VENV)], check=False)
        subprocess.run(
            [
                str(SALTEXT_VENV / "bin" / "pip"),
                "install",
                "-q",
                "salt==3008.3",
                "docker>=7",
                "saltext-dockermod",
            ],
            check=False,
        )


def build_image(api, run: str) -> str:
    tag = f"local/dftest-bench-{run}:sleep"
    for _ in api.build(
        fileobj=image_context(f"bench-{run}"), custom_context=True, tag=tag, rm=True, decode=True
    ):
        pass
    api.inspect_image(tag)
    return tag


def cleanup(api, run: str, image: str | None) -> list[str]:
    """Remove everything of this run: by label, then by the unique name prefix."""
    removed = []
    label = f"{LABEL_KEY}=bench-{run}"
    prefix = f"dfb{run}"
    seen = set()
    for filters in ({"label": label}, {"name": prefix}):
        for c in api.containers(all=True, filters=filters):
            names = [n.lstrip("/") for n in c["Names"]]
            if "label" in filters or any(n.startswith(prefix) for n in names):
                if c["Id"] not in seen:
                    seen.add(c["Id"])
                    if _try(api.remove_container, c["Id"], force=True, v=True):
                        removed.append(f"container {names[0]}")
    for filters in ({"label": label}, {"name": prefix}):
        for n in api.networks(filters=filters):
            if "label" in filters or n["Name"].startswith(prefix):
                if _try(api.remove_network, n["Id"], retries=5):
                    removed.append(f"network {n['Name']}")
        for v in api.volumes(filters=filters).get("Volumes") or []:
            if "label" in filters or v["Name"].startswith(prefix):
                if _try(api.remove_volume, v["Name"], force=True, retries=3):
                    removed.append(f"volume {v['Name']}")
    if image:
        _try(api.remove_image, image, force=True, retries=3)
    return removed


STALE_NAME = re.compile(r"^dfb[0-9a-f]{6}[a-z]\d+(r\d+|prof)[.-]net$")


def remove_stale_networks(api) -> list[str]:
    """Networks of earlier runs of this bench that the engine would not remove then ("has active
    endpoints" for endpoints of removed containers, a dockerd 20.10 race that lasts until the
    daemon restarts): only ours (bench label and name pattern), silently kept if still stuck."""
    removed = []
    for net in api.networks(filters={"label": LABEL_KEY}):
        if STALE_NAME.match(net["Name"]) and (net.get("Labels") or {}).get(LABEL_KEY, "").startswith(
            "bench-"
        ):
            try:
                api.remove_network(net["Id"])
                removed.append(net["Name"])
            except docker.errors.APIError:
                pass
    return removed


SNAPSHOT_DIRS = ("_utils", "_modules", "_states", "_renderers", "formulas")


def snapshot_source(dest: Path) -> str:
    """Copy the project's code to ``dest`` and use it for the whole run (DFBENCH_SRC): the
    work tree may change while a run takes half an hour. Returns a description for the report."""
    for name in SNAPSHOT_DIRS:
        if (REPO / name).exists():
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.environ["DFBENCH_SRC"] = str(dest)
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", *SNAPSHOT_DIRS],
        capture_output=True,
        text=True,
    )
    changed = len([line for line in dirty.stdout.splitlines() if line.strip()])
    when = time.strftime("%H:%M UTC", time.gmtime())
    state = f"plus {changed} uncommitted changed files" if changed else "clean"
    return f"commit {head.stdout.strip() or '?'} ({state}), snapshot taken {when}"


# -- checks ------------------------------------------------------------------------------------


def tool_containers(api, tool, wl: Workload) -> dict[str, dict]:
    """logical name -> container list entry, for this tool's workload."""
    out = {}
    for c in api.containers(all=True, filters={"name": wl.prefix}):
        logical = tool.logical_name(c["Names"][0].lstrip("/"), wl)
        if logical:
            out[logical] = c
    return out


def check_cold(api, tool, wl: Workload, deep: bool) -> list[str]:
    """Problems with what the tool created (empty: all N running and configured as asked)."""
    found = tool_containers(api, tool, wl)
    problems = []
    expected = {c["name"]: c for c in wl.neutral()}
    if set(found) != set(expected):
        problems.append(f"containers {sorted(found)} != {sorted(expected)}")
    not_running = sorted(n for n, c in found.items() if c["State"] != "running")
    if not_running:
        problems.append(f"not running: {not_running}")
    if deep:
        for logical, c in found.items():
            want = dict(expected.get(logical, {}))
            want.pop("deps", None)
            got = normalize_inspect(api.inspect_container(c["Id"]), logical, tool.volume_name(wl))
            if got != want:
                problems.append(f"{logical}: {got} != {want}")
    return problems


def check_gone(api, tool, wl: Workload) -> list[str]:
    left = [f"container {n}" for n in tool_containers(api, tool, wl)]
    if api.networks(names=[tool.network_name(wl)]):
        left.append(f"network {tool.network_name(wl)}")
    if any(v["Name"] == tool.volume_name(wl) for v in api.volumes().get("Volumes") or []):
        left.append(f"volume {tool.volume_name(wl)}")
    return left


# -- one repetition ----------------------------------------------------------------------------


def one_pass(
    api, tool, wl: Workload, workdir: Path, proxy: CountingProxy | None, timeout, deep: bool
) -> dict:
    rec: dict = {"tool": tool.name, "n": wl.n, "k": wl.k, "counted": proxy is not None, "load": loadavg()}
    ids_before: dict[str, str] = {}
    for phase in PHASES:
        wl.dbver = "2" if phase in ("update", "down") else "1"
        tool.prepare(wl, workdir)
        if phase == "update":
            ids_before = {n: c["Id"] for n, c in tool_containers(api, tool, wl).items()}
        mark = proxy.mark() if proxy else 0
        try:
            res = tool.phase(phase, wl, workdir, proxy.base_url if proxy else None, timeout)
        except PhaseFailed as exc:
            rec[f"{phase}_error"] = str(exc)
            if exc.wall is not None:
                rec[f"{phase}_failed_after"] = round(exc.wall, 3)
            log(f"  {tool.name} N={wl.n} {phase} FAILED: ...{str(exc)[-1200:]}")
            break
        rec[phase] = round(res.wall, 3)
        if res.inproc is not None:
            rec[f"{phase}_inproc"] = res.inproc
        if isinstance(res.output, dict) and "split" in res.output:
            rec[f"{phase}_split"] = res.output["split"]
        if proxy:
            reqs = proxy.since(mark)
            rec[f"{phase}_req"] = len(reqs)
            rec[f"{phase}_breakdown"] = breakdown(reqs, (wl.prefix,))
            rec[f"{phase}_mutating"] = sum(1 for m, _ in reqs if m not in ("GET", "HEAD"))
        if phase == "cold":
            rec["cold_problems"] = check_cold(api, tool, wl, deep)
        elif phase == "update":
            after = {n: c["Id"] for n, c in tool_containers(api, tool, wl).items()}
            rec["update_recreated"] = sorted(n for n in after if ids_before.get(n) != after[n])
            running = [n for n, c in tool_containers(api, tool, wl).items() if c["State"] == "running"]
            rec["update_running"] = len(running)
        elif phase == "down":
            rec["down_left"] = check_gone(api, tool, wl)
    return rec


# -- Salt and start-up overhead ----------------------------------------------------------------


def overheads(tools, workdir: Path, runs: int) -> list[dict]:
    cmds: dict[str, list[str]] = {}
    for tool in tools:
        if isinstance(tool, SaltTool):
            for what, cmd in tool.overhead_cmds(workdir).items():
                venv = "project venv" if "saltext" not in tool.name else "saltext venv"
                cmds.setdefault(f"salt-call --local {what} ({venv})", cmd)
    py = sys.executable
    cmds["python -c \"import docker; APIClient(version='auto')\""] = [
        py,
        "-c",
        "import docker; docker.APIClient(version='auto')",
    ]
    cmds['python -c "import containermap.engine"'] = [
        py,
        "-c",
        f"import sys; sys.path.insert(0, {str(source_root() / '_utils')!r}); import containermap.engine",
    ]
    if shutil.which("docker-compose"):
        cmds["docker-compose version"] = ["docker-compose", "version", "--short"]
    out = []
    for what, cmd in cmds.items():
        walls = []
        for _ in range(runs):
            try:
                walls.append(run_timed(cmd, timeout=120).wall)
            except PhaseFailed as exc:
                log(f"overhead {what} failed: {exc}")
                break
        if walls:
            out.append(
                {"what": what, "min": min(walls), "median": statistics.median(walls), "runs": len(walls)}
            )
            log(f"overhead {what}: min {min(walls):.3f} s, median {statistics.median(walls):.3f} s")
    return out


# -- profile of this project's run ---------------------------------------------------------------


def profile_ours(api, tool, k: int, port: int, run: str, image: str, workdir: Path, timeout) -> dict:
    """cProfile of the engine-API phases (cold / no-op / update) at size K: top functions."""
    wl = Workload(
        k=k, prefix=f"dfb{run}{tool.code}{k}prof", port_base=port, image=image, label=f"bench-{run}"
    )
    out: dict = {"n": wl.n, "phases": {}}
    try:
        for phase in ("cold", "noop", "update", "down"):
            wl.dbver = "2" if phase in ("update", "down") else "1"
            path = str(workdir / f"profile-{tool.name}-{phase}.prof")
            res = tool.phase(phase, wl, workdir, None, timeout, profile=path)
            stats = pstats.Stats(path)
            total = stats.total_tt  # type: ignore[attr-defined]
            rows = []
            for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
                rows.append((ct, tt, nc, f"{_short(filename)}:{line}({func})"))
            rows.sort(reverse=True)
            out["phases"][phase] = {
                "wall": res.wall,
                "inproc": res.inproc,
                "profiled_total": total,
                "top_cumulative": [
                    {"cum": round(ct, 4), "own": round(tt, 4), "calls": nc, "func": f}
                    for ct, tt, nc, f in rows[:25]
                ],
                "sdk_calls": [
                    {"cum": round(ct, 4), "own": round(tt, 4), "calls": nc, "func": f}
                    for ct, tt, nc, f in rows
                    if f.startswith("docker/api/") and "(_" not in f and "decorators" not in f
                ][:10],
                "top_own": [
                    {"own": round(tt, 4), "cum": round(ct, 4), "calls": nc, "func": f}
                    for ct, tt, nc, f in sorted(rows, key=lambda r: -r[1])[:12]
                ],
            }
            log(f"profile {tool.name} {phase}: wall {res.wall:.2f} s, profiled {total:.2f} s")
    except PhaseFailed as exc:
        out["error"] = str(exc)
    return out


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/_utils/", "/lib/python3.11/", "/bench/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# -- file benches --------------------------------------------------------------------------------

FILE_BENCHES = (
    ("images", ["bench/images.py"]),
    ("archive", ["bench/archive.py"]),
    ("config", ["bench/config_scale.py"]),
)
FILE_BENCH_SAVE = HERE / "file-benches.json"
# images.py removes and re-loads its image: never start it while another run of it uses the image
FILE_BENCH_BUSY = {"images": "local/dftest-bench-images-fat:1"}


def file_benches(timeout: float) -> dict:
    out = {}
    for name, args in FILE_BENCHES:
        if not (REPO / args[0]).exists():
            out[name] = {"error": f"{args[0]} does not exist"}
            continue
        busy = FILE_BENCH_BUSY.get(name)
        if busy and _image_exists(busy):
            out[name] = {"error": f"skipped: {busy} exists, another run of {args[0]} is probably using it"}
            log(out[name]["error"])
            continue
        log(f"running {' '.join(args)} (long)")
        start = time.time()
        proc = subprocess.run(
            [sys.executable, *args],
            cwd=str(REPO),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        out[name] = {
            "cmd": " ".join(args),
            "exit": proc.returncode,
            "stdout": proc.stdout[-12000:],
            "stderr": proc.stderr[-3000:] if proc.returncode else "",
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start)),
            "seconds": round(time.time() - start, 1),
            "load": loadavg(),
        }
    FILE_BENCH_SAVE.write_text(json.dumps(out, indent=1))
    return out


def _image_exists(tag: str) -> bool:
    try:
        docker.APIClient(version="auto").inspect_image(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


# -- machine facts -------------------------------------------------------------------------------


def machine_facts(api, tools) -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    version = api.version()
    facts = {
        "cpus (nproc)": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "os": _os_release(),
        "Docker engine": f"{version.get('Version')} (API {version.get('ApiVersion')})",
        "docker CLI": command_version(["docker", "--version"]),
    }
    for tool in tools:
        try:
            facts.update(tool.versions())
        except Exception as exc:  # a broken tool must not stop the report
            facts[tool.name] = f"? ({exc})"
    return facts


def _os_release() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


# -- main ----------------------------------------------------------------------------------------


def parse_slow(values: list[str]) -> dict[tuple[str, int], int]:
    """``TOOL@N=R``: at size N the tool gets R passes in all (R=1: the counted pass only)."""
    out = {}
    for v in values:
        left, _, reps = v.partition("=")
        tool, _, n = left.partition("@")
        out[(tool, int(n))] = int(reps)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,30,100", help="requested N values (K = N // 2)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per tool and size")
    ap.add_argument("--tools", default=DEFAULT_TOOLS, help=f"comma list (default {DEFAULT_TOOLS})")
    ap.add_argument("--quick", action="store_true", help="N=10, 1 repetition, no file benches")
    ap.add_argument("--no-count", action="store_true", help="skip the request-counting pass")
    ap.add_argument(
        "--slow",
        action="append",
        default=[],
        metavar="TOOL@N=R",
        help="fewer passes for a slow tool at one size; R=1: the counted pass only, its times are "
        "reported and flagged (e.g. saltext-dockermod@100=1)",
    )
    ap.add_argument("--timeout", type=float, default=900, help="per-phase time limit, seconds")
    ap.add_argument("--port", type=int, default=23000, help="first host port (tools get 100-port blocks)")
    ap.add_argument("--install", action="store_true", help="install docker-compose and saltext-dockermod")
    ap.add_argument(
        "--file-benches", action="store_true", help="also run bench/images.py and bench/archive.py"
    )
    ap.add_argument(
        "--reuse-file-benches",
        action="store_true",
        help=f"include the last saved file-bench output ({FILE_BENCH_SAVE.name})",
    )
    ap.add_argument(
        "--file-benches-only", action="store_true", help="only run the file benches and save their output"
    )
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--overhead-runs", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "docs" / "performance.md"))
    ap.add_argument("--json", default=str(HERE / "last-run.json"))
    ap.add_argument(
        "--size-reps",
        action="append",
        default=[],
        metavar="N=R",
        help="timed repetitions at one size (e.g. 100=1 when time is short)",
    )
    ap.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="JSON",
        help="add the passes of an earlier run's raw results (e.g. N=100 run separately) to the report",
    )
    ap.add_argument("--render-only", action="store_true", help="no runs: write the report from --merge files")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.reps = "10", 1
    sizes = [int(s) for s in args.sizes.split(",") if s]
    slow = parse_slow(args.slow)
    size_reps = {int(k): int(v) for k, _, v in (x.partition("=") for x in args.size_reps)}
    if args.render_only:
        if not args.merge:
            ap.error("--render-only needs --merge FILE")
        results = merge_results([json.loads(Path(f).read_text()) for f in args.merge])
        Path(args.out).write_text(report.render(results))
        print(report.console(results))
        log(f"wrote {args.out}")
        return 0

    if args.install:
        install_tools()
    if args.file_benches_only:
        file_benches(timeout=3600)
        log(f"saved {FILE_BENCH_SAVE}")
        return 0

    # SIGTERM ends the run like Ctrl-C: the finally block below still removes everything
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix=f"dfbench-{run}-"))
    src_info = snapshot_source(workdir / "src")
    # the engine's per-host apply lock (containermap.lock) would make this run wait for other
    # sessions' applies on the shared machine: a private lock directory for the run
    os.environ["DOCKERFABRIC_LOCK_DIR"] = str(workdir / "lock")
    log(f"project code: {src_info}")
    api = docker.APIClient(version="auto", timeout=600)
    started = time.time()
    log(f"run {run}, work dir {workdir}, load {loadavg():.2f}")

    tools, unavailable = [], {}
    for name in args.tools.split(","):
        cls = TOOLS.get(name)
        if cls is None:
            ap.error(f"unknown tool {name}; known: {', '.join(TOOLS)}")
        tool = cls()
        reason = tool.unavailable()
        if reason:
            unavailable[name] = reason
            log(f"{name}: {reason}")
        else:
            tools.append(tool)

    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if v2.returncode:
        unavailable["docker compose v2"] = (
            "not measured: `docker compose version` fails here ("
            + (v2.stderr or v2.stdout).strip().splitlines()[0][:120]
            + "); Debian 12 packages only compose v1 and there is no other source on this machine"
        )
    results: dict = {
        "run": run,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "args": vars(args),
        "passes": [],
        "unavailable": unavailable,
        "loads": [],
        "source": src_info,
    }
    image = None
    stale = remove_stale_networks(api)
    if stale:
        log(f"removed networks left by earlier runs: {stale}")
    try:
        image = build_image(api, run)
        results["image"] = image
        ready = []
        for tool in tools:
            try:
                tool.setup(workdir)
                ready.append(tool)
            except (PhaseFailed, OSError, subprocess.SubprocessError) as exc:
                unavailable[tool.name] = f"set-up failed: {str(exc)[:400]}"
                log(f"{tool.name}: set-up failed: {exc}")
        tools = ready
        results["machine"] = machine_facts(api, tools)
        results["overhead"] = overheads(tools, workdir, args.overhead_runs)
        for size in sizes:
            k = size // 2
            reps = size_reps.get(size, args.reps)
            totals = {t.name: slow.get((t.name, size), reps + (0 if args.no_count else 1)) for t in tools}
            counted_pass = not args.no_count
            # rep-major: every tool's pass p before any tool's pass p+1, so load changes on the
            # shared machine spread over all tools instead of hitting one
            for p in range(max(totals.values(), default=0)):
                for index, tool in enumerate(tools):
                    total = totals[tool.name]
                    if p >= total:
                        continue
                    port = args.port + 100 * index
                    counted = counted_pass and p == total - 1  # the counted pass last (warm caches)
                    wl = Workload(
                        k=k,
                        prefix=f"dfb{run}{tool.code}{k}r{p}",
                        port_base=port,
                        image=image,
                        label=f"bench-{run}",
                    )
                    proxy = CountingProxy(workdir / f"proxy-{tool.code}{k}{p}") if counted else None
                    try:
                        if proxy:
                            proxy.start()
                        rec = one_pass(api, tool, wl, workdir, proxy, args.timeout, deep=p == 0)
                    except Exception as exc:  # record and go on with the next tool
                        rec = {
                            "tool": tool.name,
                            "n": wl.n,
                            "error": f"{exc}\n{traceback.format_exc()[-1500:]}",
                        }
                        log(f"{tool.name} N={wl.n}: {exc}")
                    finally:
                        if proxy:
                            proxy.stop()
                    rec["pass"] = p
                    rec["timed"] = not counted or total == 1
                    rec["counted"] = counted
                    results["passes"].append(rec)
                    phases = " ".join(f"{ph} {rec[ph]:.2f}" for ph in PHASES if ph in rec)
                    extra = f" req noop {rec.get('noop_req')}" if counted else ""
                    log(
                        f"{tool.name} N={wl.n} pass {p + 1}/{total}{' (counted)' if counted else ''}: {phases}{extra}"
                    )
                    for problem_key in ("cold_problems", "down_left"):
                        if rec.get(problem_key):
                            log(f"  {problem_key}: {rec[problem_key]}")
                    try:
                        left = cleanup_prefix(api, wl.prefix)
                    except docker.errors.APIError as exc:
                        left = [f"clean-up failed: {exc}"]
                    if left:
                        log(f"  removed leftovers of {wl.prefix}: {left}")
                    results["loads"].append((tool.name, size, loadavg()))
                json_dump(results, args.json)
        if not args.no_profile:
            ours = next((t for t in tools if t.name == "containermap"), None)
            if ours is not None:
                prof_k = max(sizes) // 2
                results["profile"] = profile_ours(
                    api, ours, prof_k, args.port + 900, run, image, workdir, args.timeout
                )
        if args.file_benches and not args.quick:
            results["file_benches"] = file_benches(timeout=3600)
        elif args.reuse_file_benches and FILE_BENCH_SAVE.exists():
            results["file_benches"] = json.loads(FILE_BENCH_SAVE.read_text())
            results["file_benches_reused"] = True
    finally:
        kill_current()
        left = cleanup(api, run, image)
        results["cleanup_removed"] = left
        if left:
            log(f"clean-up removed {len(left)} leftover objects: {left[:10]}")
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        results["load_end"] = loadavg()
        json_dump(results, args.json)
        shutil.rmtree(workdir, ignore_errors=True)
    results["parts"] = [part_info(results)]
    json_dump(results, args.json)
    if args.merge:
        results = merge_results([json.loads(Path(f).read_text()) for f in args.merge] + [results])
    text = report.render(results)
    Path(args.out).write_text(text)
    print(report.console(results))
    log(f"wrote {args.out} and {args.json}")
    return 0


def cleanup_prefix(api, prefix: str) -> list[str]:
    """Force-remove whatever a failed pass left under its unique prefix (errors are logged)."""
    left = []
    for c in api.containers(all=True, filters={"name": prefix}):
        if any(n.lstrip("/").startswith(prefix) for n in c["Names"]):
            if _try(api.remove_container, c["Id"], force=True, v=True):
                left.append(c["Names"][0].lstrip("/"))
    for n in api.networks(filters={"name": prefix}):
        if n["Name"].startswith(prefix) and _try(api.remove_network, n["Id"], retries=5):
            left.append(n["Name"])
    for v in api.volumes(filters={"name": prefix}).get("Volumes") or []:
        if v["Name"].startswith(prefix) and _try(api.remove_volume, v["Name"], force=True, retries=3):
            left.append(v["Name"])
    return left


def _try(func, *args, retries: int = 1, **kwargs) -> bool:
    """Call a removal; retry (the engine may still be releasing endpoints); log the last error."""
    for attempt in range(retries):
        try:
            func(*args, **kwargs)
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            if attempt == retries - 1:
                log(f"  could not remove {args[0]}: {exc}")
                return False
            time.sleep(1)
    return False


def part_info(results: dict) -> dict:
    loads = [entry[2] for entry in results.get("loads") or []]
    return {
        "run": results.get("run"),
        "started": results.get("started"),
        "finished": results.get("finished"),
        "sizes": sorted({p["n"] for p in results.get("passes", [])}),
        "load_min": min(loads) if loads else None,
        "load_max": max(loads) if loads else None,
        "load_end": results.get("load_end"),
        "args": results.get("args"),
        "source": results.get("source"),
    }


def merge_results(parts: list[dict]) -> dict:
    """One results dict from several runs: passes of all (a later run's passes replace an
    earlier run's for the same tool and size); machine, overhead, profile and file benches of the
    last run that has them; ``parts`` lists each run with its load."""
    merged: dict = {"passes": [], "loads": [], "unavailable": {}, "parts": []}
    for part in parts:
        # a later run supersedes an earlier one for the same tool and size (a re-run of one row)
        redone = {(p["tool"], p["n"]) for p in part.get("passes", [])}
        merged["passes"] = [p for p in merged["passes"] if (p["tool"], p["n"]) not in redone]
        merged["passes"] += part.get("passes", [])
        merged["loads"] += part.get("loads", [])
        merged["unavailable"].update(part.get("unavailable") or {})
        merged["parts"] += part.get("parts") or [part_info(part)]
        for key in ("machine", "overhead", "profile", "file_benches", "file_benches_reused", "image"):
            if part.get(key):
                merged[key] = part[key]
    merged["run"] = "+".join(str(p.get("run")) for p in merged["parts"])
    merged["started"] = min(str(p.get("started")) for p in merged["parts"])
    merged["finished"] = max(str(p.get("finished")) for p in merged["parts"])
    merged["load_end"] = parts[-1].get("load_end", 0)
    merged["args"] = parts[-1].get("args", {})
    return merged


def json_dump(results: dict, path: str) -> None:
    Path(path).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
