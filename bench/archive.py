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
import tempfile
import time

from _common import TEST_LABEL, build_fat_image, docker_cli, engine, parse_args, peak_rss_bytes, run_pipeline
from _common import remove_image as _remove_image
from _common import run_child as _run_child

IMAGE = "local/dftest-bench-fat:1"
RUN_LABEL = f"bench-archive-{os.getpid()}"
FLAT = f"local/dftest-bench-archive-flat-{os.getpid()}"
CLI = docker_cli()
MB = 1_000_000


# -- child side: one operation per process -------------------------------------------------------


def _cli_pipeline(commands: list[list[str]], stdout_path: str | None = None) -> float:
    """Run commands piped into each other; returns the sum of their peak RSS (MB)."""
    return run_pipeline(commands, stdout_path) / MB


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
        from containermap.archive import copy_resource, copy_resources, flatten_image

        api = engine()
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
        result["rss_mb"] = peak_rss_bytes() / MB
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
    return _run_child(__file__, mode, path)


def ensure_image(api, size_mb: int) -> bool:
    """Build the fat image unless present; True if this run built it."""
    import docker.errors

    try:
        api.inspect_image(IMAGE)
        return False
    except docker.errors.ImageNotFound:
        pass
    # plus a step that writes and deletes a scratch file (as the image always had)
    deleted = "dd if=/dev/urandom of=/deleted.bin bs=1M count=16 2>/dev/null && rm /deleted.bin"
    build_fat_image(api, IMAGE, size_mb, {TEST_LABEL: RUN_LABEL}, extra_runs=[deleted])
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
    _remove_image(api, ref, force=True)


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
    args = parse_args(parser, child)
    if args is None:
        return
    api = engine()
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
