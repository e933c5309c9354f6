#!/usr/bin/env bash
# The main job (fresh Debian 12, as root): set up what it needs, then run salt-dockerfabric on the
# example pillar. For now: validate the example maps with the engine's CLI (every problem is
# reported with map, configuration and key path). It will become
# `salt-call --local state.apply dockerfabric`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
bash tests/testbed/setup.sh   # Debian packages, Docker engine, base image
bash scripts/venv.sh          # .venv with salt, docker SDK, PyYAML and the project
shopt -s nullglob
maps=(pillar.example/maps/*.yml)
[ ${#maps[@]} -gt 0 ] || { echo "no maps in pillar.example/maps/" >&2; exit 1; }
exec .venv/bin/python -m containermap validate "${maps[@]}"
