"""Benchmark: save_image / load_image against ``docker save | gzip`` and ``docker load``.

Builds (or reuses) a labelled test image of at least 1 GB (``local/dftest-bench-images-fat:1``, layers of
random and of base64 text data written by ``dd`` in RUN steps), then times each operation in a
child process of its own and prints throughput (MB/s of image archive data) and peak client RSS
(VmHWM of the Python child; for the CLI the sum of the peaks of ``docker`` and ``gzip``). The
engine does the same work in both cases; only the client side differs.

    .venv/bin/python bench/images.py [--size-mb 1100] [--repeat N] [--keep] [--rebuild] [--workdir DIR]

The image is removed at the end unless ``--keep``. Goals: peak RSS < 100 MB, throughput >= 0.9x
of the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from _common import build_fat_image, docker_cli, engine, parse_args, peak_rss_bytes, run_pipeline
from _common import remove_image as _remove_image
from _common import run_child as _run_child

# not bench/archive.py's local/dftest-bench-fat:1: both benches remove their image at the end
IMAGE = "local/dftest-bench-images-fat:1"
LABEL = ("org.dockerfabric.test", "bench-images-h6")
MB = 1024 * 1024


# -- child side: one operation per process ---------------------------------------------------------


def child(mode: str, path: str) -> None:
    result: dict = {"mode": mode}
    start = time.perf_counter()
    if mode.startswith("py-"):
        from containermap.images import load_image, save_image

        api = engine()
        if mode == "py-save-gz":
            result["bytes"] = save_image(api, IMAGE, path, compress=True)["bytes"]
        elif mode == "py-save":
            # like ``docker save -o``: no checksum (the gzip save keeps its sha256, as before)
            result["bytes"] = save_image(api, IMAGE, path, compress=False, checksum=False)["bytes"]
        elif mode == "py-load":
            result["images"] = load_image(api, path)["images"]
        result["seconds"] = time.perf_counter() - start
        result["rss_mb"] = peak_rss_bytes() / MB
    else:
        cli = docker_cli()
        if mode == "cli-save-gz":
            peak = run_pipeline([[cli, "save", IMAGE], ["gzip", "-6"]], path)
        elif mode == "cli-save":
            peak = run_pipeline([[cli, "save", "-o", path, IMAGE]])
        elif mode == "cli-load":
            peak = run_pipeline([[cli, "load", "-q", "-i", path]])
        else:
            raise SystemExit(f"unknown mode {mode}")
        result["seconds"] = time.perf_counter() - start
        result["rss_mb"] = peak / MB
    print(json.dumps(result))


# -- parent side ---------------------------------------------------------------------------------


def run_child(mode: str, path: str) -> dict:
    return _run_child(__file__, mode, path)


def ensure_image(api, size_mb: int, rebuild: bool) -> int:
    """Build the fat image unless present; return the size of its ``docker save`` archive-ish."""
    import docker.errors

    if rebuild:
        remove_image(api)
    try:
        return api.inspect_image(IMAGE)["Size"]
    except docker.errors.ImageNotFound:
        pass
    build_fat_image(api, IMAGE, size_mb, dict([LABEL]))
    return api.inspect_image(IMAGE)["Size"]


def remove_image(api) -> None:
    _remove_image(api, IMAGE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1100, help="image size to build (default 1100)")
    parser.add_argument("--keep", action="store_true", help="keep the image afterwards")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the image even if present")
    parser.add_argument("--workdir", default=None, help="directory for the archives (default: a temp dir)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per operation, the best is shown (default 1)"
    )
    args = parse_args(parser, child)
    if args is None:
        return
    api = engine()
    size = ensure_image(api, args.size_mb, args.rebuild)
    original = api.inspect_image(IMAGE)["Id"]
    workdir = tempfile.mkdtemp(prefix="dftest-bench-images-", dir=args.workdir)
    rows = []
    try:
        files = {}
        for mode in ("cli-save", "py-save", "cli-save-gz", "py-save-gz"):
            path = os.path.join(workdir, mode + (".tar.gz" if mode.endswith("gz") else ".tar"))
            # best of --repeat runs: the machine is shared, the fastest run is the least disturbed
            result = min((run_child(mode, path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            result["file_mb"] = os.path.getsize(path) / MB
            files[mode] = path
            rows.append(result)
        archive_bytes = os.path.getsize(files["cli-save"])
        for mode, path in (("cli-load", files["cli-save-gz"]), ("py-load", files["py-save-gz"])):
            runs = []
            for _ in range(args.repeat):
                remove_image(api)
                result = run_child(mode, path)
                result["same_id"] = api.inspect_image(IMAGE)["Id"] == original
                runs.append(result)
            result = min(runs, key=lambda r: r["seconds"])
            result["same_id"] = all(r["same_id"] for r in runs)
            result["file_mb"] = os.path.getsize(path) / MB
            rows.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            remove_image(api)

    print(
        f"\nimage {IMAGE}: {size / MB:.0f} MB, save archive {archive_bytes / MB:.0f} MB, best of {args.repeat}"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'operation':<14}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}{'file MB':>10}  notes")
    by_mode = {row["mode"]: row for row in rows}
    for row in rows:
        rate = archive_bytes / MB / row["seconds"]
        row["mb_s"] = rate
        note = ""
        if "same_id" in row:
            note = "same id" if row["same_id"] else "DIFFERENT ID"
        print(
            f"{row['mode']:<14}{row['seconds']:>9.2f}{rate:>9.1f}{row['rss_mb']:>13.1f}{row['file_mb']:>10.0f}  {note}"
        )
    print()
    for op in ("save", "save-gz", "load"):
        py, cli = by_mode[f"py-{op}"], by_mode[f"cli-{op}"]
        print(
            f"{op:<8} python/CLI throughput: {py['mb_s'] / cli['mb_s']:.2f}x   python peak RSS {py['rss_mb']:.0f} MB"
        )
    if not args.keep:
        print(f"\nremoved {IMAGE} (use --keep to keep it)")


if __name__ == "__main__":
    main()
