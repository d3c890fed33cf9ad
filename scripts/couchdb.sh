#!/usr/bin/env bash
# Manages a CouchDB-protocol server (pouchdb-server 4.2.0, pinned in
# scripts/couchdb/package-lock.json) for development, the demo and the tests.
# Production runs Apache CouchDB 3.x (docker-compose.yml); this is a stand-in.
#
#   couchdb.sh install
#       npm ci in scripts/couchdb when node_modules is missing or older than the
#       lockfile. Quiet and fast when already installed.
#   couchdb.sh start --port PORT --dir DIR [--user USER --password PW] [--host HOST]
#       Start a server in the background: data in DIR/data (request log in
#       DIR/data/log.txt), process output in DIR/server.log, pid in DIR/pid.
#       Waits until it answers, sets the admin user, checks the credentials and
#       prints one line on stdout: the base URL without credentials.
#       PORT must be a real, free port (no 0).
#   couchdb.sh stop --dir DIR
#       SIGTERM, then SIGKILL after 5 s. Succeeds if nothing is running.
#   couchdb.sh status --dir DIR
#       Prints "running PID URL" (exit 0) or "stopped" (exit 1).
set -euo pipefail

SCRIPT_NAME=couchdb.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKG_DIR="$REPO_ROOT/scripts/couchdb"
BIN="$PKG_DIR/node_modules/.bin/pouchdb-server"
STAMP="$PKG_DIR/node_modules/.mosaicfs-install-stamp"
START_TIMEOUT=60
STOP_GRACE=5

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

lock_hash() {
    # Node's major version is part of the stamp: leveldown ships per-ABI binaries.
    { cat "$PKG_DIR/package-lock.json"; node -p 'process.versions.modules' 2>/dev/null; } \
        | sha256sum | cut -d' ' -f1
}

cmd_install() {
    need_cmd node "install Node.js 18+ and npm (Debian: apt-get install nodejs npm)"
    need_cmd npm "install npm (Debian: apt-get install npm)"
    local want
    want="$(lock_hash)"
    if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    # Tests start servers in parallel; only one of them may run npm ci.
    exec 9>"$PKG_DIR/.install.lock"
    flock 9
    if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
        exec 9>&-
        return 0
    fi
    log "installing pouchdb-server (npm ci in scripts/couchdb)..."
    if ! (cd "$PKG_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2; then
        exec 9>&-
        die "npm ci in $PKG_DIR failed (is the npm registry reachable?)"
    fi
    [ -x "$BIN" ] || die "npm ci succeeded but $BIN is missing"
    echo "$want" >"$STAMP"
    exec 9>&-
    log "pouchdb-server installed"
}

# Parsed options.
PORT="" DIR="" USER_NAME="" PASSWORD="" HOST=127.0.0.1 HAVE_PASSWORD=""

parse_opts() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
            --user) USER_NAME="${2:?--user needs a value}"; shift 2 ;;
            --password) PASSWORD="${2-}"; HAVE_PASSWORD=1; shift 2 ;;
            --host) HOST="${2:?--host needs a value}"; shift 2 ;;
            -h|--help) usage ;;
            *) die "unknown option '$1' (see: couchdb.sh --help)" ;;
        esac
    done
    [ -n "$DIR" ] || die "--dir DIR is required"
    # Absolute, so the server (which runs in DIR/data) and the pid file agree.
    case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
}

# pid_alive PID — true if PID runs and is a pouchdb-server (guards against pid reuse).
pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q pouchdb-server
}

running_pid() {
    local pid
    pid="$(cat "$DIR/pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && pid_alive "$pid" && echo "$pid"
}

log_tail() {
    local f
    for f in "$DIR/server.log" "$DIR/data/log.txt"; do
        [ -s "$f" ] && { echo "--- last lines of $f:"; tail -n 20 "$f"; }
    done
    return 0
}

fail_start() {
    local pid
    pid="$(cat "$DIR/pid" 2>/dev/null || true)"
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$DIR/pid" "$DIR/url"
    log_tail >&2
    die "$1"
}

json_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

cmd_start() {
    parse_opts "$@"
    [ -n "$PORT" ] || die "--port PORT is required (port 0 is not supported: pick a free port)"
    case "$PORT" in ''|*[!0-9]*) die "--port must be a number, got '$PORT'" ;; esac
    if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
        die "--port must be 1..65535 (port 0 is not supported)"
    fi
    if [ -n "$USER_NAME" ] && [ -z "$HAVE_PASSWORD" ]; then die "--user needs --password"; fi
    if [ -z "$USER_NAME" ] && [ -n "$HAVE_PASSWORD" ]; then die "--password needs --user"; fi

    local pid
    if pid="$(running_pid)"; then
        die "a server is already running from $DIR (pid $pid, $(cat "$DIR/url" 2>/dev/null)); run: couchdb.sh stop --dir $DIR"
    fi
    local probe_host=$HOST
    [ "$HOST" = 0.0.0.0 ] && probe_host=127.0.0.1
    local url="http://$probe_host:$PORT"
    if (exec 3<>"/dev/tcp/$probe_host/$PORT") 2>/dev/null; then
        die "port $PORT on $probe_host is already in use; choose another --port"
    fi

    cmd_install
    mkdir -p "$DIR/data" || die "cannot create $DIR/data"
    : >"$DIR/server.log"
    # cwd = data dir: pouchdb-server writes log.txt there. No stdin/stdout is
    # inherited, so a caller reading our stdout sees EOF when we exit.
    (cd "$DIR/data" && exec "$BIN" -p "$PORT" -o "$HOST" -d "$DIR/data" -c "$DIR/data/config.json" -n) \
        </dev/null >>"$DIR/server.log" 2>&1 &
    pid=$!
    disown "$pid" 2>/dev/null || true
    echo "$pid" >"$DIR/pid"

    local deadline=$((SECONDS + START_TIMEOUT))
    until curl -fsS -o /dev/null --max-time 2 "$url/" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || fail_start "pouchdb-server exited during start-up (port $PORT taken?)"
        [ "$SECONDS" -lt "$deadline" ] || fail_start "pouchdb-server did not answer on $url within ${START_TIMEOUT}s"
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null || fail_start "another server answers on $url, ours exited"

    if [ -n "$USER_NAME" ]; then
        local body code
        body="$(json_string "$PASSWORD")"
        # In admin party anyone may create the admin; if DIR already has one
        # (a restart), the same credentials may update it.
        code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
            "$url/_config/admins/$USER_NAME" --data-binary "$body")" || code=000
        if [ "$code" = 401 ] || [ "$code" = 403 ]; then
            code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
                -u "$USER_NAME:$PASSWORD" "$url/_config/admins/$USER_NAME" --data-binary "$body")" || code=000
        fi
        [ "$code" = 200 ] || fail_start "setting admin '$USER_NAME' failed (HTTP $code; DIR has a different admin? use a fresh --dir)"
        local session
        session="$(curl -sS -u "$USER_NAME:$PASSWORD" "$url/_session")" || session=""
        case "$session" in
            *'"_admin"'*) ;;
            *) fail_start "admin credentials for '$USER_NAME' are not accepted: $session" ;;
        esac
    fi
    echo "$url" >"$DIR/url"
    log "pouchdb-server running: $url (pid $pid, data $DIR/data)"
    echo "$url"
}

cmd_stop() {
    parse_opts "$@"
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$DIR/pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for_pid_exit "$pid" "$STOP_GRACE"; then
        log "pid $pid ignored SIGTERM for ${STOP_GRACE}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for_pid_exit "$pid" 5 || die "could not kill pid $pid"
    fi
    rm -f "$DIR/pid"
    log "stopped pid $pid ($DIR)"
}

cmd_status() {
    parse_opts "$@"
    local pid
    if pid="$(running_pid)"; then
        echo "running $pid $(cat "$DIR/url" 2>/dev/null || echo unknown-url)"
    else
        echo "stopped"
        return 1
    fi
}

[ $# -ge 1 ] || usage
sub=$1
shift
case "$sub" in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown command '$sub' (install|start|stop|status)" ;;
esac
