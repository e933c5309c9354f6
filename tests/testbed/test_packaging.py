"""Packaging: setup.cfg lists every engine package, and ``pip install`` lays out the Salt extension."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SALT_DIRS = {"modules": "_modules", "states": "_states", "runners": "_runners", "renderers": "_renderers"}


def _options() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return cfg["options"]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def test_every_engine_package_is_listed():
    """A new package directory under _utils/containermap must be added to setup.cfg ``packages``."""
    on_disk = {
        ".".join(init.parent.relative_to(REPO / "_utils").parts)
        for init in (REPO / "_utils" / "containermap").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(_lines(_options()["packages"]))
    missing = sorted(on_disk - listed)
    assert not missing, f"add to setup.cfg [options] packages: {', '.join(missing)}"
    assert not sorted(p for p in listed if p.startswith("containermap") and p not in on_disk)


def test_salt_directories_are_mapped():
    """Each Salt directory is a package of the shim, mapped with package_dir (no copies)."""
    mapping = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in _lines(_options()["package_dir"]))
    )
    assert mapping["containermap"] == "_utils/containermap"
    for subdir, repo_dir in SALT_DIRS.items():
        assert mapping[f"saltext_dockerfabric.{subdir}"] == repo_dir
        assert (REPO / repo_dir / "__init__.py").is_file()
        assert f"saltext_dockerfabric.{subdir}" in _lines(_options()["packages"])


@pytest.mark.slow
def test_pip_install_layout(tmp_path):
    """``pip install`` (here: --target, no deps) installs containermap and the entry point."""
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the repository
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("_utils", "saltext_dockerfabric", *SALT_DIRS.values()):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    target = tmp_path / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-cache-dir",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "containermap" / "__init__.py").is_file()
    assert (target / "containermap" / "config" / "__init__.py").is_file()
    shim = target / "saltext_dockerfabric"
    for subdir, repo_dir in SALT_DIRS.items():
        expected = sorted(p.name for p in (REPO / repo_dir).glob("*.py"))
        assert sorted(p.name for p in (shim / subdir).glob("*.py")) == expected
    entry_points = next(target.glob("salt_dockerfabric-*.dist-info")) / "entry_points.txt"
    text = entry_points.read_text()
    assert "[salt.loader]" in text
    assert "dockerfabric = saltext_dockerfabric" in text
    # the installed engine imports on its own, without the repository on sys.path
    check = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import containermap.config; print(containermap.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(target))
