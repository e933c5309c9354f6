#!/usr/bin/env bash
# Create the project venv (.venv) if missing and install the project into it, editable, with the
# given extras ("test" for the test suite). Only when needed: the install is skipped while setup.cfg
# and pyproject.toml are unchanged since the last install and everything still imports, so reruns
# cost about a second.
#
#   bash scripts/venv.sh [EXTRAS]        e.g. bash scripts/venv.sh test
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
EXTRAS=${1:-}
VENV=${DOCKERFABRIC_VENV:-.venv}
PY=$VENV/bin/python
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$PY" ]; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "python3-venv is missing (apt-get install python3-venv)" >&2; exit 1; }
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends python3-venv >&2
    fi
    echo "[venv] creating $VENV" >&2
    python3 -m venv "$VENV"
fi

# the import check covers the extras, so one stamp serves `venv.sh` and `venv.sh test`
want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
stamp=$VENV/.dockerfabric-install
check='import containermap, docker, salt, yaml'
if [ "$EXTRAS" = test ]; then
    check="$check, pytest, saltfactories, pytest_timeout"
fi
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$PY" -c "$check" >/dev/null 2>&1 &&
    { [ "$EXTRAS" != test ] || [ -x "$VENV/bin/ruff" ]; }; then
    exit 0
fi
spec=.
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
echo "[venv] pip install -e '$spec' into $VENV" >&2
t0=$SECONDS
"$PY" -m pip install -q -e "$spec" </dev/null >&2
"$PY" -c "$check"
echo "$want" >"$stamp"
echo "[venv] installed in $((SECONDS - t0)) s" >&2
