#!/usr/bin/env bash
# Test bed of salt-dockerfabric: a real Docker engine, the base image, an authenticated registry
# and a second engine ("a second host"), on a fresh Debian 12 as root. Idempotent: everything that
# already runs is left as it is, so it is cheap to call before every test run.
#
#   bash tests/testbed/setup.sh                  # packages, engine, base image
#   bash tests/testbed/setup.sh --registry       # + registry with htpasswd auth on 127.0.0.1:PORT
#   bash tests/testbed/setup.sh --second-engine  # + second dockerd on its own unix socket
#   bash tests/testbed/setup.sh --tls-engine     # + third dockerd, TLS-verified tcp://127.0.0.1:PORT
#   bash tests/testbed/setup.sh --ssh-engine     # + sshd on 127.0.0.1:PORT: ssh://root@... -> engine
#   bash tests/testbed/setup.sh --stop           # stop what the test bed started (by pidfile)
#
# Settings (environment): DOCKERFABRIC_TESTBED_STATE (data, default /var/lib/dockerfabric-testbed),
# DOCKERFABRIC_TESTBED_RUN (pidfiles, sockets, testbed.env; default /run/dockerfabric-testbed),
# DOCKERFABRIC_TESTBED_REGISTRY_PORT (default 5000), DOCKERFABRIC_TESTBED_TLS_PORT (default 23760),
# DOCKERFABRIC_TESTBED_SSH_PORT (default 2222), DOCKERFABRIC_TESTBED_TIMEOUT (seconds to wait
# for a service, default 60), DOCKERFABRIC_TESTBED_SKIP_APT=1 (never call apt-get).
#
# The fixtures (tests/testbed/fixtures.py) read $DOCKERFABRIC_TESTBED_RUN/testbed.env.
set -euo pipefail

STATE=${DOCKERFABRIC_TESTBED_STATE:-/var/lib/dockerfabric-testbed}
RUN=${DOCKERFABRIC_TESTBED_RUN:-/run/dockerfabric-testbed}
REGISTRY_PORT=${DOCKERFABRIC_TESTBED_REGISTRY_PORT:-5000}
TIMEOUT=${DOCKERFABRIC_TESTBED_TIMEOUT:-60}
ENGINE1_SOCK=/var/run/docker.sock
ENGINE1_URL=unix://$ENGINE1_SOCK
ENGINE2_SOCK=$RUN/engine2.sock
ENGINE2_URL=unix://$ENGINE2_SOCK
BASE_IMAGE=local/busybox:latest
REGISTRY_USER=dftest
ENV_FILE=$RUN/testbed.env
ENGINE2_BRIDGE=${DOCKERFABRIC_TESTBED_ENGINE2_BRIDGE:-dftb2}
ENGINE2_BRIDGE_CIDR=${DOCKERFABRIC_TESTBED_ENGINE2_CIDR:-10.213.250.1/24}
PACKAGES=(docker.io busybox-static docker-registry apache2-utils python3-venv openssl ca-certificates iproute2)
TLS_PORT=${DOCKERFABRIC_TESTBED_TLS_PORT:-23760}
ENGINE3_SOCK=$RUN/engine3.sock
ENGINE3_URL=unix://$ENGINE3_SOCK
ENGINE3_TCP=tcp://127.0.0.1:$TLS_PORT
ENGINE3_BRIDGE=${DOCKERFABRIC_TESTBED_ENGINE3_BRIDGE:-dftb3}
ENGINE3_BRIDGE_CIDR=${DOCKERFABRIC_TESTBED_ENGINE3_CIDR:-10.213.251.1/24}
TLS_DIR=$STATE/tls
SSH_PORT=${DOCKERFABRIC_TESTBED_SSH_PORT:-2222}
SSH_DIR=$STATE/ssh
export DEBIAN_FRONTEND=noninteractive

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf '[testbed] ERROR: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}

want_registry=0
want_engine2=0
want_stop=0
want_tls=0
want_ssh=0
for arg in "$@"; do
    case $arg in
    --registry) want_registry=1 ;;
    --second-engine) want_engine2=1 ;;
    --tls-engine) want_tls=1 ;;
    --ssh-engine) want_ssh=1 ;;
    --stop) want_stop=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown option '$arg' (see --help)" ;;
    esac
done

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts dockerd)"
mkdir -p "$STATE" "$RUN"
chmod 700 "$STATE"

# Several test sessions may call this at the same time (fixtures start the registry or the second
# engine on demand): one at a time.
exec 9>"$RUN/setup.lock"
flock -w 600 9 || die "could not lock $RUN/setup.lock within 600 s"

# --- helpers -------------------------------------------------------------------------------------

# pid_alive PIDFILE COMM: true if PIDFILE names a live process whose command name is COMM.
pid_alive() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

# drop_stale_pidfile PIDFILE COMM: remove PIDFILE of an ended session unless COMM still runs there.
drop_stale_pidfile() {
    if [ -f "$1" ] && ! pid_alive "$1" "$2"; then rm -f "$1"; fi
}

engine_answers() { timeout 10 docker -H "$1" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; }

# wait_for DESCRIPTION LOGFILE PID COMMAND...: poll COMMAND until it succeeds; fail when TIMEOUT
# passes or when process PID (if not empty) has died.
wait_for() {
    local what=$1 logfile=$2 pid=$3 deadline=$((SECONDS + TIMEOUT)) why=
    shift 3
    until "$@"; do
        if [ -n "$pid" ] && [ ! -d "/proc/$pid" ]; then
            why="exited (pid $pid)"
        elif [ $SECONDS -ge $deadline ]; then
            why="did not answer within $TIMEOUT s"
        fi
        if [ -n "$why" ]; then
            log "last lines of $logfile:"
            tail -n 30 "$logfile" >&2 || true
            die "$what $why (log: $logfile)"
        fi
        sleep 0.5
    done
}

# set_env KEY VALUE / unset_env KEY: keep testbed.env (KEY=VALUE lines) up to date.
set_env() {
    unset_env "$1"
    printf '%s=%s\n' "$1" "$2" >>"$ENV_FILE"
}
unset_env() {
    [ -f "$ENV_FILE" ] || {
        : >"$ENV_FILE"
        chmod 600 "$ENV_FILE"
    }
    local tmp
    tmp=$(mktemp "$RUN/env.XXXXXX")
    grep -v "^$1=" "$ENV_FILE" >"$tmp" || true
    chmod 600 "$tmp"
    mv "$tmp" "$ENV_FILE"
}

# stop_pidfile PIDFILE COMM NAME: TERM the process (only if it is ours), wait, then KILL.
stop_pidfile() {
    local pidfile=$1 comm=$2 name=$3 pid deadline
    if ! pid_alive "$pidfile" "$comm"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(tr -dc '0-9' <"$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 45))
    while [ -d "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
    if [ -d "/proc/$pid" ]; then
        log "$name did not stop within 45 s: KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# --- --stop --------------------------------------------------------------------------------------

if [ $want_stop = 1 ]; then
    stop_pidfile "$RUN/registry.pid" docker-registry registry
    stop_pidfile "$RUN/engine2.pid" dockerd "second engine"
    if ip link show "$ENGINE2_BRIDGE" >/dev/null 2>&1; then ip link del "$ENGINE2_BRIDGE" || true; fi
    stop_pidfile "$RUN/engine3.pid" dockerd "TLS engine"
    if ip link show "$ENGINE3_BRIDGE" >/dev/null 2>&1; then ip link del "$ENGINE3_BRIDGE" || true; fi
    stop_pidfile "$RUN/sshd.pid" sshd "sshd"
    # the first engine only if the test bed started it (engine1.pid is our own record of that)
    stop_pidfile "$RUN/engine1.pid" dockerd "engine"
    for key in DOCKERFABRIC_TEST_REGISTRY DOCKERFABRIC_TEST_REGISTRY_USER \
        DOCKERFABRIC_TEST_REGISTRY_PASSWORD DOCKERFABRIC_TEST_ENGINE2 DOCKERFABRIC_TEST_ENGINE \
        DOCKERFABRIC_TEST_TLS_ENGINE DOCKERFABRIC_TEST_TLS_DIR DOCKERFABRIC_TEST_SSH_ENGINE \
        DOCKERFABRIC_TEST_SSH_HOME; do
        unset_env "$key"
    done
    log "stopped"
    exit 0
fi

# --- packages ------------------------------------------------------------------------------------

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "${DOCKERFABRIC_TESTBED_SKIP_APT:-0}" = 1 ] && die "missing packages: ${missing[*]}"
    t0=$SECONDS
    log "installing ${missing[*]}"
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    log "packages installed in $((SECONDS - t0)) s"
fi
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox not found after installing busybox-static"

# --- engine --------------------------------------------------------------------------------------

start_engine1() {
    local logfile=$STATE/dockerd.log
    # a dead engine of an ended session can leave its pidfile behind; dockerd refuses to start then
    drop_stale_pidfile /var/run/docker.pid dockerd
    # dockerd takes a live process under a stale containerd pidfile for its containerd
    drop_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
    local pid=
    if pid_alive /var/run/docker.pid dockerd; then
        log "dockerd is running but does not answer yet: waiting"
    else
        log "starting dockerd (log: $logfile)"
        # setsid: the engine must outlive this script and the shell or test run that called it
        setsid dockerd >>"$logfile" 2>&1 </dev/null 9>&- &
        pid=$!
        echo $pid >"$RUN/engine1.pid"
    fi
    wait_for "the Docker engine on $ENGINE1_URL" "$logfile" "$pid" engine_answers "$ENGINE1_URL"
}

if ! engine_answers "$ENGINE1_URL"; then
    t0=$SECONDS
    start_engine1
    log "engine answers after $((SECONDS - t0)) s"
fi
set_env DOCKERFABRIC_TEST_ENGINE "$ENGINE1_URL"

# build_base_image URL: import local/busybox:latest (busybox-static rootfs) unless present.
build_base_image() {
    local url=$1 rootfs applet t0=$SECONDS
    if docker -H "$url" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    log "building $BASE_IMAGE on $url"
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/root"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
    echo 'root:x:0:' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    tar -C "$rootfs" -c . | docker -H "$url" import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "$BASE_IMAGE built in $((SECONDS - t0)) s"
}

# restore_default_bridge: a dockerd started elsewhere with `--bridge none` deletes the host's
# docker0, after which the first engine can start no container on its default network ("could not
# find bridge docker0"). The engine only recreates it when restarted, so put it back as it was.
restore_default_bridge() {
    local name subnet gateway
    name=$(docker -H "$ENGINE1_URL" network inspect bridge \
        --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null) || return 0
    [ -n "$name" ] && [ ! -e "/sys/class/net/$name" ] || return 0
    subnet=$(docker -H "$ENGINE1_URL" network inspect bridge --format '{{(index .IPAM.Config 0).Subnet}}')
    gateway=$(docker -H "$ENGINE1_URL" network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}')
    # without an explicit gateway the engine uses the first address of the subnet
    [ -n "$gateway" ] || gateway=$(echo "${subnet%/*}" | awk -F. '{print $1"."$2"."$3"."$4+1}')
    log "the engine's default bridge $name is missing: recreating it ($gateway/${subnet#*/})"
    ip link add name "$name" type bridge
    ip addr add "$gateway/${subnet#*/}" dev "$name"
    ip link set "$name" up
}

restore_default_bridge
build_base_image "$ENGINE1_URL"

# --- registry ------------------------------------------------------------------------------------

registry_answers() (
    # GET /v2/ without credentials must be refused with 401: proves the auth realm is active.
    # (A subshell: a failed `exec` redirection must not end the script.)
    exec 3<>"/dev/tcp/127.0.0.1/$REGISTRY_PORT" || exit 1
    printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 line <&3 || line=
    case $line in *" 401 "*) exit 0 ;; *) exit 1 ;; esac
) 2>/dev/null

start_registry() {
    local dir=$STATE/registry password logfile=$STATE/registry.log
    mkdir -p "$dir/storage"
    if [ ! -s "$dir/password" ]; then
        openssl rand -hex 16 >"$dir/password"
        chmod 600 "$dir/password"
    fi
    password=$(cat "$dir/password")
    htpasswd -Bbn "$REGISTRY_USER" "$password" >"$dir/htpasswd"
    [ -s "$dir/http-secret" ] || openssl rand -hex 32 >"$dir/http-secret"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: $(cat "$dir/http-secret")
auth:
  htpasswd:
    realm: dockerfabric-testbed
    path: $dir/htpasswd
EOF
    local pid=
    if ! pid_alive "$RUN/registry.pid" docker-registry; then
        if (exec 3<>"/dev/tcp/127.0.0.1/$REGISTRY_PORT") 2>/dev/null; then
            die "127.0.0.1:$REGISTRY_PORT is taken by another process (set DOCKERFABRIC_TESTBED_REGISTRY_PORT)"
        fi
        log "starting docker-registry on 127.0.0.1:$REGISTRY_PORT (log: $logfile)"
        setsid docker-registry serve "$dir/config.yml" >>"$logfile" 2>&1 </dev/null 9>&- &
        pid=$!
        echo $pid >"$RUN/registry.pid"
    fi
    wait_for "the registry on 127.0.0.1:$REGISTRY_PORT" "$logfile" "$pid" registry_answers
    set_env DOCKERFABRIC_TEST_REGISTRY "127.0.0.1:$REGISTRY_PORT"
    set_env DOCKERFABRIC_TEST_REGISTRY_USER "$REGISTRY_USER"
    set_env DOCKERFABRIC_TEST_REGISTRY_PASSWORD "$password"
}

if [ $want_registry = 1 ]; then
    t0=$SECONDS
    if pid_alive "$RUN/registry.pid" docker-registry && registry_answers; then
        # already running: only make sure the env file has the settings
        set_env DOCKERFABRIC_TEST_REGISTRY "127.0.0.1:$REGISTRY_PORT"
        set_env DOCKERFABRIC_TEST_REGISTRY_USER "$REGISTRY_USER"
        set_env DOCKERFABRIC_TEST_REGISTRY_PASSWORD "$(cat "$STATE/registry/password")"
    else
        start_registry
        log "registry answers after $((SECONDS - t0)) s"
    fi
fi

# --- second engine -------------------------------------------------------------------------------

start_engine2() {
    local logfile=$STATE/engine2.log pid=
    if ! pid_alive "$RUN/engine2.pid" dockerd; then
        rm -f "$RUN/engine2.pid" "$ENGINE2_SOCK"
        drop_stale_pidfile "$RUN/e2/containerd/containerd.pid" containerd
        mkdir -p "$STATE/engine2" "$RUN/e2"
        # Its own default bridge. Not `--bridge none`: a dockerd started with that deletes the
        # host's docker0 interface, i.e. the first engine's default bridge (verified).
        if ! ip link show "$ENGINE2_BRIDGE" >/dev/null 2>&1; then
            ip link add name "$ENGINE2_BRIDGE" type bridge
            ip addr add "$ENGINE2_BRIDGE_CIDR" dev "$ENGINE2_BRIDGE"
        fi
        ip link set "$ENGINE2_BRIDGE" up
        # its own daemon.json (not /etc/docker's) and its own identity key: engine IDs differ
        printf '{"deprecated-key-path": "%s"}\n' "$STATE/engine2-key.json" >"$STATE/engine2-daemon.json"
        log "starting the second engine on $ENGINE2_URL (log: $logfile)"
        # own socket, data, exec root, pidfile, containerd namespace and bridge; no iptables rules,
        # so it cannot clash with the first engine's networking
        setsid dockerd --config-file "$STATE/engine2-daemon.json" -H "$ENGINE2_URL" \
            --data-root "$STATE/engine2" --exec-root "$RUN/e2" \
            --pidfile "$RUN/engine2.pid" --bridge "$ENGINE2_BRIDGE" --iptables=false \
            --containerd-namespace dftestbed2 --containerd-plugins-namespace dftestbed2-plugins \
            >>"$logfile" 2>&1 </dev/null 9>&- &
        pid=$!
    fi
    wait_for "the second engine on $ENGINE2_URL" "$logfile" "$pid" engine_answers "$ENGINE2_URL"
}

if [ $want_engine2 = 1 ]; then
    t0=$SECONDS
    engine_answers "$ENGINE2_URL" || start_engine2
    build_base_image "$ENGINE2_URL"
    set_env DOCKERFABRIC_TEST_ENGINE2 "$ENGINE2_URL"
    if [ $((SECONDS - t0)) -gt 0 ]; then log "second engine ready after $((SECONDS - t0)) s"; fi
fi

# --- TLS engine ----------------------------------------------------------------------------------

# make_tls_certs: a CA, a server certificate for 127.0.0.1/localhost and a client certificate
# (docker CLI layout in $TLS_DIR: ca.pem, cert.pem, key.pem; server-cert.pem, server-key.pem).
make_tls_certs() {
    [ -s "$TLS_DIR/ca.pem" ] && [ -s "$TLS_DIR/cert.pem" ] && [ -s "$TLS_DIR/server-cert.pem" ] && return 0
    log "generating TLS certificates in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    chmod 700 "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl genrsa -out ca-key.pem 2048 2>/dev/null
        openssl req -new -x509 -days 3650 -sha256 -key ca-key.pem -subj "/CN=dockerfabric-testbed-ca" -out ca.pem
        openssl genrsa -out server-key.pem 2048 2>/dev/null
        openssl req -new -sha256 -key server-key.pem -subj "/CN=127.0.0.1" -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server-ext.cnf
        openssl x509 -req -days 3650 -sha256 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -out server-cert.pem -extfile server-ext.cnf 2>/dev/null
        openssl genrsa -out key.pem 2048 2>/dev/null
        openssl req -new -sha256 -key key.pem -subj "/CN=dockerfabric-testbed-client" -out client.csr
        printf 'extendedKeyUsage=clientAuth\n' >client-ext.cnf
        openssl x509 -req -days 3650 -sha256 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -out cert.pem -extfile client-ext.cnf 2>/dev/null
        rm -f server.csr client.csr
        chmod 600 ./*key.pem
    )
}

tls_engine_answers() {
    timeout 10 docker --tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/cert.pem" \
        --tlskey "$TLS_DIR/key.pem" -H "$ENGINE3_TCP" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

start_engine3() {
    local logfile=$STATE/engine3.log pid=
    if ! pid_alive "$RUN/engine3.pid" dockerd; then
        rm -f "$RUN/engine3.pid" "$ENGINE3_SOCK"
        drop_stale_pidfile "$RUN/e3/containerd/containerd.pid" containerd
        mkdir -p "$STATE/engine3" "$RUN/e3"
        # its own bridge (never `--bridge none`: that deletes the first engine's docker0)
        if ! ip link show "$ENGINE3_BRIDGE" >/dev/null 2>&1; then
            ip link add name "$ENGINE3_BRIDGE" type bridge
            ip addr add "$ENGINE3_BRIDGE_CIDR" dev "$ENGINE3_BRIDGE"
        fi
        ip link set "$ENGINE3_BRIDGE" up
        printf '{"deprecated-key-path": "%s"}\n' "$STATE/engine3-key.json" >"$STATE/engine3-daemon.json"
        if (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
            die "127.0.0.1:$TLS_PORT is taken by another process (set DOCKERFABRIC_TESTBED_TLS_PORT)"
        fi
        log "starting the TLS engine on $ENGINE3_TCP and $ENGINE3_URL (log: $logfile)"
        setsid dockerd --config-file "$STATE/engine3-daemon.json" -H "$ENGINE3_URL" -H "$ENGINE3_TCP" \
            --tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/server-cert.pem" \
            --tlskey "$TLS_DIR/server-key.pem" \
            --data-root "$STATE/engine3" --exec-root "$RUN/e3" \
            --pidfile "$RUN/engine3.pid" --bridge "$ENGINE3_BRIDGE" --iptables=false \
            --containerd-namespace dftestbed3 --containerd-plugins-namespace dftestbed3-plugins \
            >>"$logfile" 2>&1 </dev/null 9>&- &
        pid=$!
    fi
    wait_for "the TLS engine on $ENGINE3_TCP" "$logfile" "$pid" tls_engine_answers
}

if [ $want_tls = 1 ]; then
    t0=$SECONDS
    make_tls_certs
    tls_engine_answers || start_engine3
    build_base_image "$ENGINE3_URL"
    set_env DOCKERFABRIC_TEST_TLS_ENGINE "$ENGINE3_TCP"
    set_env DOCKERFABRIC_TEST_TLS_DIR "$TLS_DIR"
    if [ $((SECONDS - t0)) -gt 0 ]; then log "TLS engine ready after $((SECONDS - t0)) s"; fi
fi

# --- ssh engine ----------------------------------------------------------------------------------

# An sshd of its own on 127.0.0.1:$SSH_PORT (own config, host key, authorized key); the client
# side is a private HOME ($SSH_DIR/home) whose ~/.ssh holds the key, config and known_hosts, which
# is what the docker SDK's paramiko transport reads. `docker system dial-stdio` on the "remote"
# end reaches the first engine.
ssh_answers() {
    HOME=$SSH_DIR/home timeout 10 ssh -F "$SSH_DIR/home/.ssh/config" -p "$SSH_PORT" root@127.0.0.1 \
        docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

make_ssh_files() {
    mkdir -p "$SSH_DIR/home/.ssh" /run/sshd
    chmod 700 "$SSH_DIR" "$SSH_DIR/home" "$SSH_DIR/home/.ssh"
    [ -s "$SSH_DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/ssh_host_ed25519_key"
    [ -s "$SSH_DIR/home/.ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C dockerfabric-testbed \
        -f "$SSH_DIR/home/.ssh/id_ed25519"
    cp "$SSH_DIR/home/.ssh/id_ed25519.pub" "$SSH_DIR/authorized_keys"
    chmod 600 "$SSH_DIR/authorized_keys"
    printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$SSH_DIR/ssh_host_ed25519_key.pub")" \
        >"$SSH_DIR/home/.ssh/known_hosts"
    cat >"$SSH_DIR/home/.ssh/config" <<EOF
Host 127.0.0.1
    Port $SSH_PORT
    User root
    IdentityFile $SSH_DIR/home/.ssh/id_ed25519
    UserKnownHostsFile $SSH_DIR/home/.ssh/known_hosts
    StrictHostKeyChecking yes
EOF
    cat >"$SSH_DIR/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/ssh_host_ed25519_key
PidFile $RUN/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
MaxStartups 50:30:100
MaxSessions 50
SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
}

start_sshd() {
    local logfile=$STATE/sshd.log pid=
    if ! pid_alive "$RUN/sshd.pid" sshd; then
        rm -f "$RUN/sshd.pid"
        if (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null; then
            die "127.0.0.1:$SSH_PORT is taken by another process (set DOCKERFABRIC_TESTBED_SSH_PORT)"
        fi
        /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || die "sshd rejects $SSH_DIR/sshd_config"
        log "starting sshd on 127.0.0.1:$SSH_PORT (log: $logfile)"
        setsid /usr/sbin/sshd -D -e -f "$SSH_DIR/sshd_config" >>"$logfile" 2>&1 </dev/null 9>&- &
        pid=$!
        echo $pid >"$RUN/sshd.pid"
    fi
    wait_for "sshd on 127.0.0.1:$SSH_PORT" "$logfile" "$pid" ssh_answers
}

if [ $want_ssh = 1 ]; then
    t0=$SECONDS
    if [ ! -x /usr/sbin/sshd ]; then
        [ "${DOCKERFABRIC_TESTBED_SKIP_APT:-0}" = 1 ] && die "missing package: openssh-server"
        log "installing openssh-server"
        apt-get install -y -q --no-install-recommends openssh-server >&2 ||
            { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends openssh-server >&2; }
    fi
    make_ssh_files
    ssh_answers || start_sshd
    set_env DOCKERFABRIC_TEST_SSH_ENGINE "ssh://root@127.0.0.1:$SSH_PORT"
    set_env DOCKERFABRIC_TEST_SSH_HOME "$SSH_DIR/home"
    if [ $((SECONDS - t0)) -gt 0 ]; then log "ssh engine ready after $((SECONDS - t0)) s"; fi
fi

log "ready ($ENV_FILE)"
