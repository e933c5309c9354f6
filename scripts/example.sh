#!/usr/bin/env bash
# The main job (fresh Debian 12, as root): install what is needed (Debian packages, the Docker
# engine, a venv with Salt, the docker SDK and this project), then apply the example pillar
# (pillar.example/) masterless with `salt-call --local state.apply dockerfabric`, exactly as an
# operator would on a minion, and show what runs.
#
#   bash scripts/example.sh            apply the example maps
#   bash scripts/example.sh test=True  show the plan only (nothing is changed)
#   bash scripts/example.sh --down     shut the example maps down again (volumes are kept)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
export DEBIAN_FRONTEND=noninteractive
bash tests/testbed/setup.sh # Debian packages, Docker engine, base image local/busybox:latest
bash scripts/venv.sh        # .venv with salt, docker SDK, PyYAML and the project

# A private masterless minion: file_roots hold the formula and the extension modules the way a
# master's file_roots would (saltutil.sync_all ships _modules, _states, _renderers, _utils).
STATE=${DOCKERFABRIC_EXAMPLE_DIR:-/var/lib/dockerfabric-example}
mkdir -p "$STATE/conf" "$STATE/srv/salt"
for d in _modules _states _runners _renderers _utils; do
    ln -sfn "$REPO/$d" "$STATE/srv/salt/$d"
done
ln -sfn "$REPO/formulas/dockerfabric" "$STATE/srv/salt/dockerfabric"
cat >"$STATE/conf/minion" <<EOF
id: dockerfabric-example
file_client: local
root_dir: $STATE/root
file_roots: {base: [$STATE/srv/salt]}
pillar_roots: {base: [$REPO/pillar.example]}
EOF
salt_call() { .venv/bin/salt-call --local -c "$STATE/conf" --retcode-passthrough "$@"; }

salt_call saltutil.sync_all >/dev/null
# The engine was started above (the service manager is not available on these machines).
pillar='{"dockerfabric": {"lookup": {"service": {"manage": false}}}}'
if [ "${1:-}" = --down ]; then
    salt_call dockerfabric.shutdown webapp
    exit 0
fi
salt_call --state-output=changes state.apply dockerfabric pillar="$pillar" "$@"

echo
echo "Containers of the example maps (label org.dockerfabric.map):"
docker ps -a --filter label=org.dockerfabric.map \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}'
