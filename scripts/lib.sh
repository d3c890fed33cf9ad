# shellcheck shell=bash
# Shared helpers for the scripts in this directory. Source it, don't run it:
#
#   SCRIPT_NAME=demo.sh
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: REPO_ROOT, log, die, need_cmd, need_apt, free_port, port_in_use,
# wait_for_pid_exit. Messages go to stderr, prefixed with "$SCRIPT_NAME:".

# The repository root is the parent of the directory holding this file, so the
# scripts work from any working directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

: "${SCRIPT_NAME:=$(basename "$0")}"

log() {
    printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2
}

die() {
    printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

# need_cmd CMD [HINT] — fail with HINT unless CMD is on PATH.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found${2:+; $2}"
}

# need_apt PKG... — install the Debian packages that are not installed yet.
# `apt-get update` runs once, and only when something is missing.
need_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 \
        || die "missing packages: ${missing[*]} (no apt-get here; install them by hand)"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing packages: ${missing[*]} (run as root or install sudo)"
        sudo=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${_LIB_APT_UPDATED:-}" ]; then
        "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
        _LIB_APT_UPDATED=1
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
}

# port_in_use PORT — true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port — print a TCP port that is free right now (racy by nature: bind soon).
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port tries=0
    while [ "$tries" -lt 100 ]; do
        port=$((20000 + RANDOM % 30000))
        if ! port_in_use "$port"; then
            echo "$port"
            return
        fi
        tries=$((tries + 1))
    done
    die "could not find a free port"
}

# wait_for_pid_exit PID SECONDS — poll every 100 ms; true if PID is gone in time.
wait_for_pid_exit() {
    local pid=$1 deadline=$(($(date +%s) + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    return 0
}
