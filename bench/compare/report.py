"""docs/performance.md and the console table from the runner's results (pure functions)."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

PHASES = ("cold", "noop", "update", "down")
PHASE_TITLES = {
    "cold": "cold start",
    "noop": "no-op re-apply",
    "update": "update (db env)",
    "down": "teardown",
}
OURS = ("containermap", "salt-dockerfabric", "salt-formula")
TITLES = {
    "containermap": "**salt-dockerfabric, engine API** (MapClient, own process per phase)",
    "salt-dockerfabric": "**salt-dockerfabric, `salt-call --local state.apply`** (one `dockerfabric.updated`)",
    "salt-formula": "**salt-dockerfabric formula** (`state.apply dockerfabric.maps`, formula defaults)",
    "compose": "docker-compose v1 (`up -d` / `down -v`)",
    "saltext-dockermod": "saltext-dockermod states (`salt-call --local state.apply`)",
    "sdk-seq": "docker SDK, sequential (floor)",
    "sdk-par": "docker SDK, 8 threads per level (floor)",
}
NOOP_GOAL = 4
COLD_GOAL = 1.15


def _by_tool_size(results: dict) -> dict[tuple[str, int], dict]:
    """(tool, n) -> {'timed': [passes], 'counted': pass or None}."""
    out: dict = defaultdict(lambda: {"timed": [], "counted": None, "errors": []})
    for rec in results.get("passes", []):
        key = (rec["tool"], rec["n"])
        if rec.get("error") or any(k.endswith("_error") for k in rec):
            out[key]["errors"].append(rec)
        if rec.get("counted"):
            out[key]["counted"] = rec
        if rec.get("timed", True):
            out[key]["timed"].append(rec)
    return out


def _stats(passes: list[dict], phase: str, suffix: str = "") -> tuple[float, float, int] | None:
    values = [p[phase + suffix] for p in passes if isinstance(p.get(phase + suffix), (int, float))]
    if not values:
        return None
    return min(values), statistics.median(values), len(values)


def _fmt(st: tuple[float, float, int] | None) -> str:
    if st is None:
        return "n/a"
    return f"{st[0]:.2f} / {st[1]:.2f}"


def _tools_order(results: dict) -> list[str]:
    seen = []
    for rec in results.get("passes", []):
        if rec["tool"] not in seen:
            seen.append(rec["tool"])
    return seen


def _sizes(results: dict) -> list[int]:
    return sorted({rec["n"] for rec in results.get("passes", [])})


def median_of(data, tool: str, n: int, phase: str) -> float | None:
    st = _stats(data[(tool, n)]["timed"], phase) if (tool, n) in data else None
    return st[1] if st else None


def goals(results: dict) -> list[dict]:
    """Each goal with the measured figure and whether it is met."""
    data = _by_tool_size(results)
    out = []
    for n in _sizes(results):
        for tool in ("containermap", "salt-dockerfabric", "salt-formula"):
            counted = data.get((tool, n), {}).get("counted") if (tool, n) in data else None
            if counted and "noop_req" in counted:
                req = counted["noop_req"]
                detail = ""
                if 0 < len(counted.get("noop_breakdown") or []) <= 6:
                    detail = ": " + ", ".join(f"{ep} x{c}" for ep, c in counted["noop_breakdown"])
                out.append(
                    {
                        "goal": f"no-op re-apply <= 3-{NOOP_GOAL} Engine API requests (N={n}, {tool})",
                        "measured": f"{req} requests{detail}",
                        "met": req <= NOOP_GOAL,
                    }
                )
        ours = median_of(data, "containermap", n, "cold")
        floor = median_of(data, "sdk-par", n, "cold")
        if ours is not None and floor:
            out.append(
                {
                    "goal": f"cold start <= {COLD_GOAL}x parallel SDK floor (N={n}, engine API, medians)",
                    "measured": f"{ours:.2f} s vs {floor:.2f} s = {ours / floor:.2f}x",
                    "met": ours / floor <= COLD_GOAL,
                }
            )
        for ours_tool in ("containermap", "salt-dockerfabric"):
            mine = median_of(data, ours_tool, n, "cold")
            for peer in ("compose", "saltext-dockermod"):
                theirs = median_of(data, peer, n, "cold")
                if mine is not None and theirs is not None:
                    out.append(
                        {
                            "goal": f"cold start faster than {peer} (N={n}, {ours_tool}, medians)",
                            "measured": f"{mine:.2f} s vs {theirs:.2f} s",
                            "met": mine < theirs,
                        }
                    )
        for tool in OURS:
            passes = data.get((tool, n), {}).get("timed", []) if (tool, n) in data else []
            recs = [p.get("update_recreated") for p in passes if p.get("update_recreated") is not None]
            if recs:
                ok = all(r == ["db"] for r in recs)
                out.append(
                    {
                        "goal": f"update touches only the changed item and its dependents (N={n}, {tool})",
                        "measured": "re-created: "
                        + ", ".join(sorted({", ".join(r) or "nothing" for r in recs})),
                        "met": ok,
                    }
                )
    return out


def losses(results: dict) -> list[str]:
    """Every phase/size where one of our rows is slower than a peer's (medians)."""
    data = _by_tool_size(results)
    out = []
    for n in _sizes(results):
        for ours in OURS:
            for peer in ("compose", "saltext-dockermod", "sdk-par", "sdk-seq"):
                for phase in PHASES:
                    mine, theirs = median_of(data, ours, n, phase), median_of(data, peer, n, phase)
                    if mine is not None and theirs is not None and mine > theirs:
                        out.append(
                            f"N={n} {PHASE_TITLES[phase]}: {ours} {mine:.2f} s > {peer} {theirs:.2f} s "
                            f"({mine / theirs:.2f}x)"
                        )
    return out


def _table(results: dict, n: int) -> list[str]:
    data = _by_tool_size(results)
    lines = [
        "| tool | cold start | no-op re-apply | update (db env) | teardown | API requests cold / no-op / update / teardown | re-created by update | load | checks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tool in _tools_order(results):
        if (tool, n) not in data:
            continue
        entry = data[(tool, n)]
        timed = entry["timed"]
        cells = [_fmt(_stats(timed, p)) for p in PHASES]
        flag = ""
        if timed and all(p.get("counted") for p in timed):
            flag = " †"
        counted = entry["counted"]
        reqs = " / ".join(str(counted.get(f"{p}_req", "-")) for p in PHASES) if counted else "not counted"
        recreated = sorted(
            {
                ", ".join(p.get("update_recreated") or []) or "nothing"
                for p in timed
                if "update_recreated" in p
            }
        )
        checks = []
        for p in timed + ([counted] if counted else []):
            if p.get("cold_problems"):
                checks.append("cold: " + "; ".join(p["cold_problems"])[:200])
            if p.get("down_left"):
                checks.append("left after teardown: " + ", ".join(p["down_left"]))
            for key in p:
                if key.endswith("_error") or key == "error":
                    last = [line for line in str(p[key]).splitlines() if line.strip()][-1:] or [""]
                    after = p.get(key.replace("_error", "_failed_after"))
                    when = f" (after {after:.2f} s)" if isinstance(after, (int, float)) else ""
                    checks.append(f"{key}{when}: {last[0].strip()[:240]}")
        runs = _stats(timed, "cold")
        reps = f" ({runs[2]} rep{'s' if runs[2] != 1 else ''})" if runs and runs[2] != 3 else ""
        lines.append(
            f"| {TITLES.get(tool, tool)}{flag}{reps} | "
            + " | ".join(cells)
            + f" | {reqs} | {'; '.join(recreated) or 'n/a'} | {_load_range(timed)} | {'; '.join(dict.fromkeys(checks)) or 'ok'} |"
        )
    return lines


def _load_range(passes: list[dict]) -> str:
    loads = [p["load"] for p in passes if isinstance(p.get("load"), (int, float))]
    if not loads:
        return "n/a"
    return f"{min(loads):.1f}" if min(loads) == max(loads) else f"{min(loads):.1f}-{max(loads):.1f}"


def _inproc_table(results: dict, n: int) -> list[str]:
    data = _by_tool_size(results)
    lines = []
    for tool in _tools_order(results):
        timed = data.get((tool, n), {}).get("timed") if (tool, n) in data else None
        if not timed or _stats(timed, "cold", "_inproc") is None:
            continue
        lines.append(f"| {tool} | " + " | ".join(_fmt(_stats(timed, p, "_inproc")) for p in PHASES) + " |")
    if not lines:
        return []
    return [
        "| tool | cold start | no-op | update | teardown |",
        "|---|---|---|---|---|",
        *lines,
    ]


def _split_table(results: dict) -> list[str]:
    """Where the engine-API process spends its time: imports, map, plan, apply (medians)."""
    data = _by_tool_size(results)
    rows = []
    for n in _sizes(results):
        timed = data.get(("containermap", n), {}).get("timed") if ("containermap", n) in data else None
        for phase in PHASES:
            splits = [p[f"{phase}_split"] for p in timed or [] if f"{phase}_split" in p]
            if not splits:
                continue
            med = {k: statistics.median(s[k] for s in splits) for k in ("imports", "config", "plan", "apply")}
            wall = _stats(timed, phase)
            inproc = _stats(timed, phase, "_inproc")
            startup = wall[1] - inproc[1] if wall and inproc else None
            rows.append(
                f"| {n} | {PHASE_TITLES[phase]} | {wall[1]:.2f} | "
                + (f"{startup:.2f}" if startup is not None else "n/a")
                + f" | {med['imports']:.2f} | {med['config']:.3f} | {med['plan']:.3f} | {med['apply']:.2f} |"
            )
    if not rows:
        return []
    return [
        "| N | phase | wall | interpreter start-up | imports | map + client | plan (observe, specs, diff) | apply |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def _breakdowns(results: dict, phase: str) -> list[str]:
    data = _by_tool_size(results)
    lines = []
    for n in _sizes(results):
        for tool in _tools_order(results):
            counted = data.get((tool, n), {}).get("counted") if (tool, n) in data else None
            if not counted or f"{phase}_breakdown" not in counted:
                continue
            parts = ", ".join(f"`{ep}` x{c}" for ep, c in counted[f"{phase}_breakdown"])
            mut = counted.get(f"{phase}_mutating", 0)
            lines.append(f"- N={n} {tool} ({counted[f'{phase}_req']}, {mut} mutating): {parts}")
    return lines


def _profile(results: dict) -> list[str]:
    prof = results.get("profile")
    if not prof:
        return ["(not run)"]
    if prof.get("error"):
        return [f"profile failed: {prof['error'][:500]}"]
    lines = [
        f"cProfile of the engine-API child process at N={prof['n']} (`drive.py --profile`; profiling "
        "slows Python code, so compare shares, not absolute times). Top functions by cumulative time:",
        "",
    ]
    for phase, body in prof["phases"].items():
        lines.append(
            f"**{PHASE_TITLES[phase]}**: wall {body['wall']:.2f} s (profiled process), "
            f"in-process {body['inproc']:.2f} s, profiled time of all threads, summed: {body['profiled_total']:.2f} s"
        )
        lines.append("")
        lines.append("```")
        lines.append(f"{'cum s':>8} {'own s':>8} {'calls':>8}  function")
        for row in body["top_cumulative"][:18]:
            lines.append(f"{row['cum']:>8.3f} {row['own']:>8.3f} {row['calls']:>8}  {row['func']}")
        if body.get("sdk_calls"):
            lines.append("--- docker SDK calls (time until the engine answered, summed over threads)")
            for row in body["sdk_calls"]:
                lines.append(f"{row['cum']:>8.3f} {row['own']:>8.3f} {row['calls']:>8}  {row['func']}")
        lines.append("--- by own time")
        for row in body["top_own"][:8]:
            lines.append(f"{row['cum']:>8.3f} {row['own']:>8.3f} {row['calls']:>8}  {row['func']}")
        lines.append("```")
        lines.append("")
    return lines


def _overhead(results: dict) -> list[str]:
    rows = results.get("overhead") or []
    if not rows:
        return ["(not measured)"]
    lines = ["| command | wall s min / median | runs |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row['what']}` | {row['min']:.3f} / {row['median']:.3f} | {row['runs']} |")
    ping = next((r for r in rows if r["what"].startswith("salt-call --local test.ping (project")), None)
    data = _by_tool_size(results)
    if ping:
        lines += [
            "",
            "This project's own cost inside `salt-call` (median phase time minus the median `test.ping` start-up):",
            "",
        ]
        lines += ["| N | " + " | ".join(PHASE_TITLES[p] for p in PHASES) + " |", "|---|---|---|---|---|"]
        for n in _sizes(results):
            cells = []
            for phase in PHASES:
                m = median_of(data, "salt-dockerfabric", n, phase)
                cells.append(f"{m - ping['median']:.2f} s" if m is not None else "n/a")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def _command(args: dict) -> str:
    cmd = "python bench/compare/run.py"
    if args:
        cmd += f" --sizes {args.get('sizes')} --reps {args.get('reps')}"
        for key, flag in (("size_reps", "--size-reps"), ("slow", "--slow")):
            for value in args.get(key) or []:
                cmd += f" {flag} {value}"
        if args.get("file_benches"):
            cmd += " --file-benches"
        if args.get("reuse_file_benches"):
            cmd += " --reuse-file-benches"
    return cmd


def _runs(results: dict) -> list[str]:
    parts = results.get("parts") or []
    if not parts:
        loads = [entry[2] for entry in results.get("loads") or []]
        parts = [
            {
                "run": results.get("run"),
                "started": results.get("started"),
                "finished": results.get("finished"),
                "sizes": _sizes(results),
                "load_min": min(loads) if loads else None,
                "load_max": max(loads) if loads else None,
                "load_end": results.get("load_end"),
                "args": results.get("args"),
            }
        ]
    lines = []
    for part in parts:
        load = ""
        if part.get("load_min") is not None:
            load = f"; load average (1 min) after each tool: {part['load_min']:.2f} to {part['load_max']:.2f}"
        source = f"; code: {part['source']}" if part.get("source") else ""
        lines.append(
            f"- run `{part.get('run')}`, N = {', '.join(str(n) for n in part.get('sizes') or [])}: "
            f"{part.get('started')} to {part.get('finished')}{load}{source}: "
            f"`.venv/bin/{_command(part.get('args') or {})}`"
        )
    return lines


def render(results: dict) -> str:
    """The whole docs/performance.md."""
    lines = [
        "# Performance: salt-dockerfabric side by side with the alternatives",
        "",
        "Generated by `bench/compare/run.py` (see bench/README.md); do not edit by hand, re-run it. Runs:",
        "",
        *_runs(results),
        "",
        "The machine is shared (other sessions' tests use the same engine and the 2 cores), so the load column",
        "matters: treat differences under ~20 % as noise.",
        "",
        "## Workload and method",
        "",
        "The same workload for every tool (bench/compare/workload.py): one user-defined bridge network, one named",
        "volume, `db` (mounts the volume at /data, env `ROLE=db, DBVER=1`) <- `app1..K` <- `web1..K`",
        "(`webI` publishes `127.0.0.1:port -> 80`), K = N // 2, so N = 11, 31, 101 containers for the requested",
        "10, 30, 100. Image: `local/busybox` plus a 5-line entrypoint that exits on TERM (the same for every tool, so",
        "a stop takes ~0.1 s instead of busybox `sleep`'s 10 s), command `sleep 100000`. Dependencies are ordering",
        "only (containermap `requires`, compose `depends_on`, Salt `require`).",
        "",
        "Phases: **cold start** (nothing exists -> all N running, then checked: env, port, volume of every container),",
        "**no-op re-apply** (the same again), **update** (`DBVER=1 -> 2` on db, re-apply; the container IDs before and",
        "after show what was re-created), **teardown** (containers, network and volume removed; checked). Each phase is",
        "one whole invocation of the tool (a fresh process: interpreter and tool start-up included, as users pay it);",
        "the Python tools also report the time inside the process. Times are wall seconds, **min / median** of the",
        "timed repetitions. Request counts come from one extra repetition through a counting proxy on a unix socket",
        "(bench/compare/reqproxy.py; `DOCKER_HOST` for the peers and Salt, `base_url` for the engine API); its times",
        "are not used. † = only the counted repetition was run (times taken through the proxy). The tools run",
        "interleaved (repetition 1 of every tool, then repetition 2, ...), so load changes hit all of them; the",
        "`load` column is the 1-minute load average at the start of each timed repetition.",
        "saltext-dockermod's counts depend on the host: with `docker.update_mine` on (its default) every change",
        "re-lists and inspects **every** container on the host, other sessions' included.",
        "",
        "## Machine and versions",
        "",
        "| component | version |",
        "|---|---|",
    ]
    for key, value in (results.get("machine") or {}).items():
        lines.append(f"| {key} | {value} |")
    if results.get("unavailable"):
        lines += ["", "Tools that could not run here:", ""]
        for tool, reason in results["unavailable"].items():
            lines.append(f"- **{tool}**: {reason}")
    lines += ["", "## Goals", "", "| goal | measured | met? |", "|---|---|---|"]
    for g in goals(results):
        lines.append(f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else '**no**'} |")
    file_goals = file_bench_goals(results)
    for g in file_goals:
        lines.append(f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else '**no**'} |")
    if not file_goals:
        lines.append(
            "| archive / image work within 0.9x of CLI throughput, peak RSS < 100 MB | see "
            "[Archive and image benches](#archive-and-image-benches) | see there |"
        )
    for n in _sizes(results):
        lines += ["", f"## N = {n} containers (1 db + {(n - 1) // 2} app + {(n - 1) // 2} web)", ""]
        lines += ["Wall seconds, min / median:", ""]
        lines += _table(results, n)
        inproc = _inproc_table(results, n)
        if inproc:
            lines += [
                "",
                "Time inside the Python process (after interpreter start-up; imports included):",
                "",
            ]
            lines += inproc
    lines += ["", "## Engine API requests of a no-op re-apply", ""]
    lines += _breakdowns(results, "noop") or ["(not counted)"]
    lines += ["", "## Engine API requests of the update", ""]
    lines += _breakdowns(results, "update") or ["(not counted)"]
    lines += ["", "## Salt and start-up overhead", ""]
    lines += _overhead(results)
    lines += ["", "## Where we lose", ""]
    lost = losses(results)
    lines += [f"- {entry}" for entry in lost] or [
        "Nowhere in this run: every phase of our rows is at least as fast as each peer's."
    ]
    split = _split_table(results)
    if split:
        lines += [
            "",
            "### Where the engine-API process spends its time",
            "",
            "Medians in seconds, measured inside `drive.py` (interpreter start-up = wall minus in-process time):",
            "",
            *split,
        ]
    lines += ["", "### Profile of this project's run", ""]
    lines += _profile(results)
    lines += ["", "## Archive and image benches", ""]
    lines += _file_benches(results)
    lines.append("")
    return "\n".join(lines)


_IMAGES_LINE = re.compile(r"^(\S+)\s+python/CLI throughput: ([\d.]+)x\s+python peak RSS (\d+) MB", re.M)
_ARCHIVE_ROW = re.compile(r"^(py-\S+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)", re.M)
THROUGHPUT_GOAL, RSS_GOAL = 0.9, 100


def file_bench_goals(results: dict) -> list[dict]:
    """Goal rows parsed from the printed summaries of bench/images.py and bench/archive.py."""
    fb = results.get("file_benches") or {}
    out = []
    text = (fb.get("images") or {}).get("stdout") or ""
    for op, ratio, rss in _IMAGES_LINE.findall(text):
        out.append(_file_goal(f"image {op}", float(ratio), float(rss)))
    text = (fb.get("archive") or {}).get("stdout") or ""
    for op, _smin, _smed, _mbs, rss, _out, ratio in _ARCHIVE_ROW.findall(text):
        out.append(_file_goal(f"archive {op.removeprefix('py-')}", float(ratio), float(rss)))
    return out


def _file_goal(what: str, ratio: float, rss: float) -> dict:
    return {
        "goal": f"{what}: >= {THROUGHPUT_GOAL}x CLI throughput, peak RSS < {RSS_GOAL} MB",
        "measured": f"{ratio:.2f}x, {rss:.0f} MB",
        "met": ratio >= THROUGHPUT_GOAL and rss < RSS_GOAL,
    }


def _file_benches(results: dict) -> list[str]:
    fb = results.get("file_benches")
    if not fb:
        return [
            "Not run in this run (`--file-benches` runs bench/images.py and bench/archive.py, about 10+ minutes)."
        ]
    lines = []
    if results.get("file_benches_reused"):
        lines += [
            "Output of an earlier run (`--reuse-file-benches`), saved in bench/compare/file-benches.json.",
            "",
        ]
    for name, body in fb.items():
        if body.get("error"):
            lines += [f"**{name}**: {body['error']}", ""]
            continue
        lines += [
            f"**{name}** (`{body['cmd']}`, started {body['started']}, {body['seconds']} s, exit {body['exit']}, "
            f"load at the end {body['load']:.2f}):",
            "",
            "```",
            body["stdout"].rstrip(),
            "```",
            "",
        ]
        if body.get("stderr"):
            lines += ["stderr:", "", "```", body["stderr"].rstrip(), "```", ""]
    return lines


def console(results: dict) -> str:
    """Short text table for the terminal."""
    data = _by_tool_size(results)
    out = []
    for n in _sizes(results):
        out.append(f"\nN = {n}: wall s min / median; requests cold/noop/update/down")
        out.append(f"{'tool':<20}" + "".join(f"{PHASE_TITLES[p]:>18}" for p in PHASES) + "   requests")
        for tool in _tools_order(results):
            if (tool, n) not in data:
                continue
            entry = data[(tool, n)]
            counted = entry["counted"]
            reqs = "/".join(str(counted.get(f"{p}_req", "-")) for p in PHASES) if counted else "-"
            out.append(
                f"{tool:<20}"
                + "".join(f"{_fmt(_stats(entry['timed'], p)):>18}" for p in PHASES)
                + f"   {reqs}"
            )
    for g in goals(results):
        out.append(f"{'OK ' if g['met'] else 'NO '} {g['goal']}: {g['measured']}")
    return "\n".join(out)
