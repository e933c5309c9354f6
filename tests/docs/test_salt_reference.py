"""The Salt reference documents every execution function, state and runner function.

The docstrings (with their ``CLI Example:`` blocks, checked through ``sys.doc`` in
tests/salt/test_salt_surface.py) are the source of truth for arguments; docs/salt.md must at
least name every public function of the three modules, so a new function cannot ship
undocumented.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "salt.md").read_text() + (REPO / "docs" / "multihost.md").read_text()
MODULES = {
    "execution function": REPO / "_modules" / "dockerfabric.py",
    "state": REPO / "_states" / "dockerfabric.py",
    "runner function": REPO / "_runners" / "dockerfabric.py",
}


def public_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_every_function_is_documented(kind: str) -> None:
    names = public_functions(MODULES[kind])
    assert names, f"no public functions found in {MODULES[kind]}"
    missing = [n for n in names if not re.search(rf"`[^`]*\b{re.escape(n)}\b[^`]*`", DOCS)]
    assert not missing, f"{kind}s not named in docs/salt.md or docs/multihost.md: {missing}"


def test_every_documented_dockerfabric_call_exists() -> None:
    """The other direction: no documented ``dockerfabric.<name>`` that the modules lack."""
    known = {n for path in MODULES.values() for n in public_functions(path)}
    documented = set(re.findall(r"\bdockerfabric\.([a-z_][a-z0-9_]*)", DOCS))
    # formula SLS names (state.apply dockerfabric.maps) and Salt config keys are not functions
    formula = {p.stem for p in (REPO / "formulas" / "dockerfabric").glob("*.sls")}
    config_keys = {"runner_dir", "runner_dirs"}
    file_names = {"py", "sls"}  # dockerfabric.py, dockerfabric.sls
    unknown = sorted(documented - known - formula - config_keys - file_names)
    assert not unknown, f"documented but not defined: {unknown}"
