"""Benchmark of containermap.archive against the docker CLI on an image of at least 1 GB.

Reuses ``local/dftest-bench-fat:1`` (shared with bench/images.py) or builds it when missing
(layers of random data and of base64 text written by ``dd``/``head`` in RUN steps, plus one
layer that deletes a file). Each operation runs in a child process of its own; the table shows
wall time (median of ``--reps``), throughput and peak client RSS (VmHWM of the Python child; for
the CLI the sum of the peaks of the pipeline's processes: docker export + docker import,
docker cp + gzip):

* flatten:  ``flatten_image`` vs ``docker create`` + ``docker export | docker import -`` + ``rm``
* copy tar: ``copy_resource(.., '/', x.tar, checksum=False)`` vs ``docker cp C:/ - > x.tar``
* copy tar + sha256: ``copy_resource(.., '/', x.tar)`` (sha256 computed while writing) vs
  ``docker cp C:/ - | tee x.tar | sha256sum``
* copy gz:  ``copy_resource(.., '/', x.tar.gz)`` vs ``docker cp C:/ - | gzip -6 > x.tar.gz``
* copy dir: ``copy_resources(.., ['/'], dir)`` vs ``docker cp C:/ dir`` (extraction to disk)

Throughput = bytes of the engine's tar stream (export for flatten, get_archive of ``/`` for the
copies) / wall time, so both sides are divided by the same number. Copies include creating and
removing the helper container on both sides.

    .venv/bin/python bench/archive.py [--reps 3] [--size-mb 1100] [--keep] [--workdir DIR]

Goals: peak RSS < 100 MB at any size, throughput >= 0.9x the CLI. The image is removed at the
end only if this run built it (and ``--keep`` is not given).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "_utils"))

IMAGE = "local/dftest-bench-fat:1"
BASE = "local/busybox:latest"
TEST_LABEL = "org.dockerfabric.test"
RUN_LABEL = f"bench-archive-{os.getpid()}"
FLAT = f"local/dftest-bench-archive-flat-{os.getpid()}"
CLI = (
    "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else shutil.which("docker") or "docker"
)
MB = 1_000_000


def vmhwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    return 0.0


# -- child side: one operation per process -------------------------------------------------------


def _cli_pipeline(commands: list[list[str]], stdout_path: str | None = None) -> float:
    """Run commands piped into each other; returns the sum of their peak RSS (MB)."""
    procs = []
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        previous = None
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            proc = subprocess.Popen(
                command, stdin=previous, stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE
            )
            if previous is not None:
                previous.close()
            previous = proc.stdout
            procs.append(proc)
        peak = 0.0
        for proc in procs:
            _pid, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status):
                raise SystemExit(f"{proc.args} failed: {proc.stderr.read().decode()}")
            peak += usage.ru_maxrss * 1024 / MB
        return peak
    finally:
        if stdout_path:
            out.close()


def _cli_create() -> str:
    return subprocess.run(
        [CLI, "create", "--label", f"{TEST_LABEL}={RUN_LABEL}", IMAGE, "sh"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def child(mode: str, path: str) -> None:
    result: dict = {"mode": mode}
    labels = {TEST_LABEL: RUN_LABEL}
    start = time.perf_counter()
    if mode.startswith("py-"):
        import docker
        from containermap.archive import copy_resource, copy_resources, flatten_image

        api = docker.APIClient(timeout=600)
        # imports are not the operation (a Salt minion has them loaded); reported apart
        result["import_s"] = time.perf_counter() - start
        start = time.perf_counter()
        if mode == "py-flatten":
            result["image"] = flatten_image(api, IMAGE, path, temp_labels=labels)
        elif mode in ("py-copy-tar", "py-copy-gz"):
            # docker cp computes no checksum: compared without; the sha256 variant is extra
            copy_resource(api, IMAGE, "/", path, temp_labels=labels, checksum=False)
        elif mode == "py-copy-tar-sha256":
            result["sha256"] = copy_resource(api, IMAGE, "/", path, temp_labels=labels)["sha256"]
        elif mode == "py-copy-dir":
            copy_resources(api, IMAGE, ["/"], path, {"/": "rootfs"}, on_unsafe="skip", temp_labels=labels)
        result["seconds"] = time.perf_counter() - start
        result["rss_mb"] = vmhwm_mb()
    else:
        container = _cli_create()
        try:
            if mode == "cli-flatten":
                peak = _cli_pipeline([[CLI, "export", container], [CLI, "import", "-", path]])
            elif mode == "cli-copy-tar":
                peak = _cli_pipeline([[CLI, "cp", f"{container}:/", "-"]], path)
            elif mode == "cli-copy-tar-sha256":
                peak = _cli_pipeline([[CLI, "cp", f"{container}:/", "-"], ["tee", path], ["sha256sum"]])
            elif mode == "cli-copy-gz":
                peak = _cli_pipeline([[CLI, "cp", f"{container}:/", "-"], ["gzip", "-6"]], path)
            elif mode == "cli-copy-dir":
                os.makedirs(path)
                peak = _cli_pipeline([[CLI, "cp", f"{container}:/", os.path.join(path, "rootfs")]])
            else:
                raise SystemExit(f"unknown mode {mode}")
        finally:
            subprocess.run([CLI, "rm", "-f", container], check=True, capture_output=True)
        result["seconds"] = time.perf_counter() - start
        result["rss_mb"] = peak
    print(json.dumps(result))


# -- parent side ---------------------------------------------------------------------------------


def run_child(mode: str, path: str) -> dict:
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", mode, path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def ensure_image(api, size_mb: int) -> bool:
    """Build the fat image unless present; True if this run built it."""
    import docker.errors

    try:
        api.inspect_image(IMAGE)
        return False
    except docker.errors.ImageNotFound:
        pass
    layers = 4
    per_layer = -(-size_mb // layers)
    lines = [f"FROM {BASE}", f"LABEL {TEST_LABEL}={RUN_LABEL}"]
    for index in range(layers):
        if index % 2:
            lines.append(f"RUN head -c {per_layer * 3 // 4}m /dev/urandom | base64 > /layer{index}.txt")
        else:
            lines.append(f"RUN dd if=/dev/urandom of=/layer{index}.bin bs=1M count={per_layer} 2>/dev/null")
    lines.append("RUN dd if=/dev/urandom of=/deleted.bin bs=1M count=16 2>/dev/null && rm /deleted.bin")
    context = tempfile.mkdtemp(prefix="dftest-bench-archive-ctx-")
    try:
        with open(os.path.join(context, "Dockerfile"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"building {IMAGE} ({layers} layers, ~{per_layer} MB each) ...", flush=True)
        start = time.perf_counter()
        for _ in api.build(path=context, tag=IMAGE, rm=True, forcerm=True, network_mode="none", decode=True):
            pass
        print(f"built in {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return True


def stream_sizes(api) -> tuple[int, int]:
    """Bytes of the export stream and of the get_archive('/') stream of the image."""
    import docker.errors  # noqa: F401
    from containermap.archive import temp_container

    with temp_container(api, IMAGE, {TEST_LABEL: RUN_LABEL}) as container:
        export = sum(len(chunk) for chunk in api.export(container, chunk_size=1 << 20))
        chunks, _stat = api.get_archive(container, "/", chunk_size=1 << 20)
        archive = sum(len(chunk) for chunk in chunks)
    return export, archive


def remove_image(api, ref: str) -> None:
    import docker.errors

    try:
        api.remove_image(ref, force=True)
    except docker.errors.NotFound:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions per operation (median shown)")
    parser.add_argument("--size-mb", type=int, default=1100, help="image size if it must be built")
    parser.add_argument("--keep", action="store_true", help="keep the image even if this run built it")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated workloads: flatten,copy-tar,copy-tar-sha256,copy-gz,copy-dir",
    )
    parser.add_argument("--workdir", default=None, help="directory for outputs (default: a temp dir)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    import docker

    api = docker.APIClient(timeout=600)
    built = ensure_image(api, args.size_mb)
    all_workloads = ("flatten", "copy-tar", "copy-tar-sha256", "copy-gz", "copy-dir")
    only = set(args.only.split(",")) if args.only else set(all_workloads)
    workloads = [w for w in all_workloads if w in only]
    workdir = tempfile.mkdtemp(prefix="dftest-bench-archive-", dir=args.workdir)
    results: dict[str, list[dict]] = {}
    try:
        info = api.inspect_image(IMAGE)
        export_bytes, archive_bytes = stream_sizes(api)
        print(
            f"image {IMAGE}: {info['Size'] / MB:.0f} MB in {len(info['RootFS']['Layers'])} layers; "
            f"export stream {export_bytes / MB:.0f} MB, get_archive('/') stream {archive_bytes / MB:.0f} MB",
            flush=True,
        )
        for rep in range(args.reps):
            for workload in workloads:
                for side in ("cli", "py"):  # interleaved, so drift hits both sides alike
                    mode = f"{side}-{workload}"
                    if workload == "flatten":
                        path = f"{FLAT}-{side}:{rep}"
                    else:
                        path = os.path.join(
                            workdir,
                            f"{mode}-{rep}"
                            + {"copy-tar": ".tar", "copy-tar-sha256": ".tar", "copy-gz": ".tar.gz"}.get(
                                workload, ""
                            ),
                        )
                    result = run_child(mode, path)
                    if workload == "flatten":
                        flat = api.inspect_image(path)
                        result["layers"] = len(flat["RootFS"]["Layers"])
                        result["out_mb"] = flat["Size"] / MB
                        result["env_kept"] = bool(flat["Config"].get("Env"))
                        remove_image(api, path)
                    elif os.path.isdir(path):
                        result["out_mb"] = (
                            int(
                                subprocess.run(
                                    ["du", "-sb", path], capture_output=True, text=True
                                ).stdout.split()[0]
                            )
                            / MB
                        )
                        shutil.rmtree(path)
                    else:
                        result["out_mb"] = os.path.getsize(path) / MB
                        os.unlink(path)
                    results.setdefault(mode, []).append(result)
                    print(
                        f"  rep {rep + 1} {mode:<14} {result['seconds']:7.2f} s  {result['rss_mb']:6.1f} MB RSS",
                        flush=True,
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        leftover = api.containers(all=True, filters={"label": f"{TEST_LABEL}={RUN_LABEL}"})
        for container in leftover:
            api.remove_container(container["Id"], force=True, v=True)
        if built and not args.keep:
            remove_image(api, IMAGE)

    print(
        f"\n{'operation':<20}{'s min':>8}{'s median':>10}{'MB/s':>8}{'peak RSS MB':>13}{'out MB':>9}{'py/cli':>8}  notes"
    )
    for workload in workloads:
        size = export_bytes if workload == "flatten" else archive_bytes
        medians = {}
        for side in ("cli", "py"):
            rows = results[f"{side}-{workload}"]
            seconds = [r["seconds"] for r in rows]
            medians[side] = statistics.median(seconds)
            rate = size / MB / medians[side]
            ratio = medians["cli"] / medians[side] if side == "py" else 1.0
            note = ""
            if workload == "flatten":
                note = f"{rows[-1]['layers']} layer(s), config {'kept' if rows[-1]['env_kept'] else 'lost'}"
            if side == "py":
                imports = statistics.median(r["import_s"] for r in rows)
                with_imports = medians["cli"] / (medians[side] + imports)
                note = f"{note}; {with_imports:.2f} incl. {imports:.2f} s of imports".lstrip("; ")
            print(
                f"{side + '-' + workload:<20}{min(seconds):>8.2f}{medians[side]:>10.2f}{rate:>8.0f}"
                f"{max(r['rss_mb'] for r in rows):>13.1f}{rows[-1]['out_mb']:>9.0f}{ratio:>8.2f}  {note}"
            )
    print(
        "\npy/cli = CLI median time / our median time (>= 0.9 is the goal); our time excludes the"
        " interpreter's imports (shown apart), the CLI's includes its process starts; RSS = max over reps."
    )


if __name__ == "__main__":
    main()
