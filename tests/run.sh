#!/usr/bin/env bash
# The one test command of salt-dockerfabric (fresh Debian 12, as root; also what CI runs):
#   1. test bed: Debian packages, Docker engine, base image, registry, second engine (setup.sh)
#   2. .venv with the project and its test extras (only installed when needed)
#   3. ruff check + ruff format --check
#   4. pytest over tests/ (per-test timeout through pytest-timeout)
# Exits non-zero if any step fails; pytest finding no test counts as a failure.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow" tests/unit`.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
TEST_TIMEOUT=${DOCKERFABRIC_TEST_TIMEOUT:-900}
failed=()
timings=()

phase() {
    # phase NAME COMMAND...: run, time it, remember failures
    local name=$1 t0=$SECONDS rc=0
    shift
    echo "=== $name" >&2
    "$@" </dev/null || rc=$?
    timings+=("$(printf '%-28s %5d s  exit %d' "$name" $((SECONDS - t0)) "$rc")")
    [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
    return "$rc"
}

summary() {
    echo "=== timings" >&2
    printf '  %s\n' "${timings[@]}" >&2
    if [ ${#failed[@]} -gt 0 ]; then
        echo "=== FAILED: ${failed[*]}" >&2
        exit 1
    fi
    echo "=== all steps passed" >&2
}

# Without the test bed and the venv nothing else can run: stop there.
if ! phase "test bed (setup.sh)" bash tests/testbed/setup.sh --registry --second-engine ||
    ! phase "venv (pip install -e .[test])" bash scripts/venv.sh test; then
    summary
fi

phase "ruff check" .venv/bin/ruff check .
phase "ruff format --check" .venv/bin/ruff format --check .

args=(-q -p no:cacheprovider)
if .venv/bin/python -c 'import pytest_timeout' 2>/dev/null; then
    args+=(--timeout "$TEST_TIMEOUT")
fi
if [ $# -gt 0 ]; then
    args+=("$@")
else
    args+=(tests/)
fi
# exit code 5 (no tests collected) is a failure too: phase treats every non-zero code so
phase "pytest" .venv/bin/python -m pytest "${args[@]}"
summary
