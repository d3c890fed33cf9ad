#!/usr/bin/env bash
# The demo on one machine: an agent crawls a sample tree into its local
# CouchDB, which replicates to the control plane's CouchDB (both pouchdb-server);
# the control plane's REST API (mosaicfs-server, HTTPS) serves listings, search
# and file content, fetching bytes from the agent's transfer endpoint.
#
#   scripts/demo.sh [start]      build, start everything, wait for the file
#                                documents to reach the control plane and its API
#   scripts/demo.sh stop         stop the agent, the server, then both CouchDBs
#   scripts/demo.sh status       what is running and how many file documents
#   scripts/demo.sh restart-server  stop and start mosaicfs-server alone (same data)
#   scripts/demo.sh add-node     a second machine, set up by `mosaicfs-agent init`
#                                alone (its own CouchDB, credential, agent and
#                                transfer port): prints the transcript and ends
#                                reading one of its files through the first
#                                node's mount. Needs a running demo.
#   scripts/demo.sh sample DIR   only create the sample tree in DIR; prints its file count
#   scripts/demo.sh config       only print the agent.toml the demo would write
#
# Environment:
#   MOSAICFS_DEMO_DIR         where everything lives       (default /tmp/mosaicfs-demo)
#   MOSAICFS_DEMO_CP_PORT     control-plane CouchDB port   (default 5984)
#   MOSAICFS_DEMO_AGENT_PORT  agent-local CouchDB port     (default 5985)
#   MOSAICFS_DEMO_SERVER_PORT control-plane HTTPS API port (default 8443)
#   MOSAICFS_DEMO_TRANSFER_PORT agent transfer port        (default 7847)
#   MOSAICFS_DEMO_SERVER_BIN  use this server binary instead of building one
#   MOSAICFS_DEMO_VFS_BIN     use this mosaicfs-vfs binary instead of building one
#   MOSAICFS_DEMO_AGENT_BIN   use this agent binary instead of building one
#   MOSAICFS_DEMO_WEB_DIR     serve this built web UI instead of building web/dist
#   MOSAICFS_DEMO_TIMEOUT     seconds to wait for the documents (default 120)
#   MOSAICFS_DEMO_NODE2_DB_PORT, MOSAICFS_DEMO_NODE2_TRANSFER_PORT  the second
#                             machine's CouchDB and transfer ports (5986, 7848)
set -euo pipefail

SCRIPT_NAME=demo.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR="${MOSAICFS_DEMO_DIR:-/tmp/mosaicfs-demo}"
case "$DEMO_DIR" in /*) ;; *) DEMO_DIR="$PWD/$DEMO_DIR" ;; esac
case "$DEMO_DIR" in *'"'*|*\\*) die "MOSAICFS_DEMO_DIR must not contain quotes or backslashes" ;; esac
CP_PORT="${MOSAICFS_DEMO_CP_PORT:-5984}"
AGENT_PORT="${MOSAICFS_DEMO_AGENT_PORT:-5985}"
SERVER_PORT="${MOSAICFS_DEMO_SERVER_PORT:-8443}"
TRANSFER_PORT="${MOSAICFS_DEMO_TRANSFER_PORT:-7847}"
ACCESS_KEY=MOSAICFS_0123456789ABCDEF
SECRET_KEY=demo-secret-key-0123456789
TIMEOUT="${MOSAICFS_DEMO_TIMEOUT:-120}"
DB_USER="admin"
DB_PASSWORD=demo-password
DB_NAME=mosaicfs

COUCHDB_SH="$REPO_ROOT/scripts/couchdb.sh"
CP_DIR="$DEMO_DIR/couchdb-control-plane"
AGENT_DB_DIR="$DEMO_DIR/couchdb-agent"
SAMPLE_DIR="$DEMO_DIR/sample"
STATE_DIR="$DEMO_DIR/agent-state"
CONFIG="$DEMO_DIR/agent.toml"
AGENT_LOG="$DEMO_DIR/agent.log"
AGENT_PID="$DEMO_DIR/agent.pid"
SERVER_DIR="$DEMO_DIR/server"
SERVER_LOG="$DEMO_DIR/server.log"
SERVER_PID="$DEMO_DIR/server.pid"
MOUNT_DIR="$DEMO_DIR/mnt"
WEB_DIST="${MOSAICFS_DEMO_WEB_DIR:-$REPO_ROOT/web/dist}"
VFS_LOG="$DEMO_DIR/vfs.log"
NODE2_DIR="$DEMO_DIR/node2"
NODE2_DB_PORT="${MOSAICFS_DEMO_NODE2_DB_PORT:-5986}"
NODE2_TRANSFER_PORT="${MOSAICFS_DEMO_NODE2_TRANSFER_PORT:-7848}"
VFS_PID="$DEMO_DIR/vfs.pid"
API_URL="https://127.0.0.1:$SERVER_PORT"
CP_URL="http://127.0.0.1:$CP_PORT"
AGENT_DB_URL="http://127.0.0.1:$AGENT_PORT"
# _all_docs range for ids "file::" .. "file::\ufff0", URL-encoded.
FILE_RANGE='startkey=%22file%3A%3A%22&endkey=%22file%3A%3A%EF%BF%B0%22'

# make_sample_tree DIR — a few dozen files of varied types and sizes in nested
# directories, with a space and non-ASCII characters in some names. Deterministic.
make_sample_tree() {
    local root=$1 i
    rm -rf "$root"
    mkdir -p "$root"/{documents/reports/2024,documents/notes,photos/holiday,music/albums/ambient,code/src,code/docs,archive/old,"projects/client work",projects/résumé-été}

    : >"$root/empty.txt"
    printf 'MosaicFS demo tree.\n' >"$root/README.md"
    for i in 1 2 3 4 5 6; do
        printf 'Quarterly report %d\n%s\n' "$i" "$(printf 'line of report text %.0s' $(seq 1 $((i * 20))))" \
            >"$root/documents/reports/2024/report-q$i.txt"
    done
    for i in 1 2 3 4; do
        printf '# Note %d\n\n- item a\n- item b\n' "$i" >"$root/documents/notes/note-$i.md"
    done
    printf 'id,name,size\n' >"$root/documents/inventory.csv"
    for i in $(seq 1 500); do printf '%d,item-%d,%d\n' "$i" "$i" $((i * 37)) >>"$root/documents/inventory.csv"; done
    printf '{"demo": true, "files": 3, "nested": {"ok": [1, 2, 3]}}\n' >"$root/documents/settings.json"

    # "Photos" and "music": binary files of a few sizes (zeros compress, but that
    # does not matter to a crawler).
    for i in 1 2 3 4 5; do
        head -c $((i * 48 * 1024)) /dev/zero | tr '\0' "\\$((i + 100))" >"$root/photos/holiday/IMG_000$i.jpg"
    done
    head -c $((2 * 1024 * 1024)) /dev/zero >"$root/photos/panorama.png"
    for i in 1 2 3; do
        head -c $((i * 300 * 1024)) /dev/zero >"$root/music/albums/ambient/track-0$i.flac"
    done
    head -c $((5 * 1024 * 1024)) /dev/zero >"$root/archive/old/backup-2019.tar.gz"
    printf 'legacy\n' >"$root/archive/old/legacy.log"

    printf 'fn main() {\n    println!("hello");\n}\n' >"$root/code/src/main.rs"
    printf 'pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n' >"$root/code/src/lib.rs"
    printf '[package]\nname = "sample"\n' >"$root/code/Cargo.toml"
    printf '# Sample docs\n' >"$root/code/docs/index.md"
    printf '#!/bin/sh\necho build\n' >"$root/code/build.sh"
    chmod +x "$root/code/build.sh"

    printf 'Proposal for the client.\n' >"$root/projects/client work/proposal draft.txt"
    printf 'Meeting notes\n' >"$root/projects/client work/meeting notes 2024-03.md"
    printf 'Curriculum vitæ\n' >"$root/projects/résumé-été/résumé.txt"
    printf 'Ünïcödé ファイル\n' >"$root/projects/résumé-été/日本語ファイル.txt"
    printf 'emoji name\n' >"$root/projects/résumé-été/notes-🚀.md"

    find "$root" -type f | wc -l | tr -d ' '
}

agent_config() {
    local fp_line='# control_plane_fingerprint = "AA:BB:…"   # the server'"'"'s certificate (GET /health); written once it runs'
    if [ -n "${CP_FINGERPRINT:-}" ]; then
        fp_line="control_plane_fingerprint = \"$CP_FINGERPRINT\"   # pins the server's self-signed certificate"
    fi
    cat <<EOF
# MosaicFS agent configuration
control_plane_url = "$API_URL"   # the REST API
$fp_line
access_key_id = "$ACCESS_KEY"
secret_key = "$SECRET_KEY"
watch_paths = ["$SAMPLE_DIR"]
state_dir = "$STATE_DIR"      # node_id file lives here
crawl_interval_secs = 10       # demo only: re-crawl often (the default is 3600; the watcher sees changes in between)
# node_id = "node-..."                            # optional; generated on first run into state_dir/node_id
# friendly_name = "demo laptop"                   # optional, defaults to hostname

[couchdb]                 # this agent's local CouchDB
url = "$AGENT_DB_URL"
database = "$DB_NAME"
username = "$DB_USER"
password = "$DB_PASSWORD"

[replication]             # the control plane's CouchDB, replication target
url = "$CP_URL"
database = "$DB_NAME"
username = "$DB_USER"
password = "$DB_PASSWORD"

[transfer]                # where the control plane (and later peers) fetch file bytes
listen = "127.0.0.1:$TRANSFER_PORT"
EOF
}

# count_file_docs URL — number of file documents in URL/mosaicfs (empty on error).
count_file_docs() {
    curl -fsS --max-time 10 -u "$DB_USER:$DB_PASSWORD" "$1/$DB_NAME/_all_docs?$FILE_RANGE" 2>/dev/null \
        | jq '.rows | length' 2>/dev/null
}

running_pid() {
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}
agent_running_pid() { running_pid "$AGENT_PID"; }

# stop_pid PIDFILE NAME — SIGTERM, then SIGKILL after 15 s.
stop_pid() {
    local pid
    if pid="$(running_pid "$1")"; then
        log "stopping $2 (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_for_pid_exit "$pid" 15; then
            log "$2 ignored SIGTERM for 15s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

# api ARGS... — curl against the demo's REST API, trusting exactly its certificate.
api() {
    curl -sS --cacert "$SERVER_DIR/tls-cert.pem" "$@"
}

stop_all() {
    # The mount first (SIGTERM unmounts), then the agent: on SIGTERM it marks
    # its node offline in CouchDB.
    stop_pid "$VFS_PID" mosaicfs-vfs
    stop_pid "$NODE2_DIR/agent.pid" "second agent"
    "$COUCHDB_SH" stop --dir "$NODE2_DIR/couchdb" >/dev/null 2>&1 || true
    if grep -qs " $MOUNT_DIR fuse" /proc/mounts; then
        fusermount3 -u "$MOUNT_DIR" 2>/dev/null || umount -l "$MOUNT_DIR" 2>/dev/null || true
    fi
    stop_pid "$AGENT_PID" agent
    stop_pid "$SERVER_PID" mosaicfs-server
    "$COUCHDB_SH" stop --dir "$AGENT_DB_DIR"
    "$COUCHDB_SH" stop --dir "$CP_DIR"
}

create_db() {
    local code
    code="$(curl -sS -o /dev/null -w '%{http_code}' -u "$DB_USER:$DB_PASSWORD" -X PUT "$1/$DB_NAME")" || code=000
    case "$code" in
        201|202|412) ;;
        *) die "creating $1/$DB_NAME failed (HTTP $code)" ;;
    esac
}

# start_server BIN — start mosaicfs-server on $API_URL (serving the web UI from
# $WEB_DIST) and wait until it answers /health.
start_server() {
    local server_bin=$1
    log "starting mosaicfs-server on $API_URL"
    MOSAICFS_COUCHDB_PASSWORD="$DB_PASSWORD" MOSAICFS_BOOTSTRAP_CREDENTIAL="$ACCESS_KEY:$SECRET_KEY" \
        nohup "$server_bin" --listen "127.0.0.1:$SERVER_PORT" --data-dir "$SERVER_DIR" \
        --couchdb-url "$CP_URL" --couchdb-user "$DB_USER" --web-dir "$WEB_DIST" </dev/null >>"$SERVER_LOG" 2>&1 &
    local spid=$!
    disown "$spid" 2>/dev/null || true
    echo "$spid" >"$SERVER_PID"
    echo "$server_bin" >"$SERVER_DIR.bin"
    local sdeadline=$((SECONDS + 60))
    until [ -f "$SERVER_DIR/tls-cert.pem" ] && api -f -o /dev/null "$API_URL/health" 2>/dev/null; do
        kill -0 "$spid" 2>/dev/null || { tail -n 20 "$SERVER_LOG" >&2; die "mosaicfs-server exited; log above ($SERVER_LOG)"; }
        [ "$SECONDS" -lt "$sdeadline" ] || die "mosaicfs-server did not answer /health within 60s ($SERVER_LOG)"
        sleep 0.3
    done
}

# The server alone: stop it and start it again with the same data (the web
# UI's tests use this to take the server away and bring it back).
cmd_restart_server() {
    [ -f "$SERVER_DIR.bin" ] || die "the demo is not running (no $SERVER_DIR.bin)"
    stop_pid "$SERVER_PID" mosaicfs-server
    start_server "$(cat "$SERVER_DIR.bin")"
}

cmd_start() {
    stop_all
    "$REPO_ROOT/scripts/install-deps.sh"

    local agent_bin="${MOSAICFS_DEMO_AGENT_BIN:-}"
    local server_bin="${MOSAICFS_DEMO_SERVER_BIN:-}"
    local vfs_bin="${MOSAICFS_DEMO_VFS_BIN:-}"
    if [ -z "$agent_bin" ] || [ -z "$server_bin" ] || [ -z "$vfs_bin" ]; then
        need_cmd cargo "install the Rust toolchain (https://rustup.rs)"
        log "building mosaicfs-agent, mosaicfs-server and mosaicfs-vfs (release)..."
        (cd "$REPO_ROOT" && cargo build --release -p mosaicfs-agent -p mosaicfs-server -p mosaicfs-vfs) \
            || die "cargo build failed"
        agent_bin="${agent_bin:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/mosaicfs-agent}"
        server_bin="${server_bin:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/mosaicfs-server}"
        vfs_bin="${vfs_bin:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/mosaicfs-vfs}"
    fi
    [ -x "$agent_bin" ] || die "agent binary $agent_bin not found"
    [ -x "$server_bin" ] || die "server binary $server_bin not found"
    mkdir -p "$DEMO_DIR"
    echo "$agent_bin" >"$DEMO_DIR/agent.bin"
    if [ -z "${MOSAICFS_DEMO_WEB_DIR:-}" ]; then
        "$REPO_ROOT/scripts/web.sh" build >/dev/null || die "building the web UI failed"
    fi

    # Every run starts from empty databases so the counts below mean something.
    mkdir -p "$DEMO_DIR"
    rm -rf "$CP_DIR" "$AGENT_DB_DIR" "$STATE_DIR" "$SERVER_DIR" "$NODE2_DIR"
    rm -f "$AGENT_LOG" "$SERVER_LOG"

    "$COUCHDB_SH" start --port "$CP_PORT" --dir "$CP_DIR" --user "$DB_USER" --password "$DB_PASSWORD" >/dev/null \
        || die "control-plane CouchDB did not start (port taken? set MOSAICFS_DEMO_CP_PORT)"
    "$COUCHDB_SH" start --port "$AGENT_PORT" --dir "$AGENT_DB_DIR" --user "$DB_USER" --password "$DB_PASSWORD" >/dev/null \
        || die "agent CouchDB did not start (port taken? set MOSAICFS_DEMO_AGENT_PORT)"
    # The control plane's database exists before any agent connects (in
    # production couchdb-init creates it); the agent's too, to keep the demo simple.
    create_db "$CP_URL"
    create_db "$AGENT_DB_URL"

    start_server "$server_bin"

    local expected
    expected="$(make_sample_tree "$SAMPLE_DIR")"
    log "sample tree: $expected files in $SAMPLE_DIR"
    mkdir -p "$STATE_DIR"
    # Without the pin, the agent (and a VFS reading this config) cannot check
    # the control plane's self-signed certificate: transfer-token requests to
    # it fail with UnknownIssuer (issue 25).
    CP_FINGERPRINT="$(api "$API_URL/health" | jq -r '.tls_fingerprint // empty')"
    [ -n "$CP_FINGERPRINT" ] || die "the server's /health reports no tls_fingerprint ($SERVER_LOG)"
    agent_config >"$CONFIG"

    log "starting agent: $agent_bin run --config $CONFIG"
    nohup "$agent_bin" run --config "$CONFIG" </dev/null >"$AGENT_LOG" 2>&1 &
    local pid=$!
    disown "$pid" 2>/dev/null || true
    echo "$pid" >"$AGENT_PID"

    local deadline=$((SECONDS + TIMEOUT)) count=""
    while :; do
        count="$(count_file_docs "$CP_URL" || true)"
        [ "${count:-0}" -ge "$expected" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$AGENT_LOG" >&2 || true
            die "the agent exited early; log above ($AGENT_LOG). Servers left running; stop with: scripts/demo.sh stop"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$AGENT_LOG" >&2 || true
            die "after ${TIMEOUT}s the control plane has ${count:-0} of $expected file documents (agent log: $AGENT_LOG). Still running; stop with: scripts/demo.sh stop"
        fi
        sleep 1
    done

    # The server answers from its index, which follows the control-plane
    # database: wait until the API lists every file too.
    local token listed=0
    token="$(api -X POST "$API_URL/api/auth/login" -H 'content-type: application/json' \
        -d "{\"access_key_id\":\"$ACCESS_KEY\",\"secret_key\":\"$SECRET_KEY\"}" | jq -r .token)"
    if [ -z "$token" ] || [ "$token" = null ]; then die "could not log in to $API_URL ($SERVER_LOG)"; fi
    while [ "$listed" -lt "$expected" ]; do
        listed="$(api -H "Authorization: Bearer $token" "$API_URL/api/files?limit=1000" | jq '.items | length')" || listed=0
        [ "$SECONDS" -lt "$deadline" ] || die "the API lists $listed of $expected files after ${TIMEOUT}s ($SERVER_LOG)"
        [ "$listed" -ge "$expected" ] || sleep 0.5
    done
    local readme_id fingerprint
    readme_id="$(api -H "Authorization: Bearer $token" "$API_URL/api/search?q=README.md" | jq -r '.items[0].id // .items[0]._id // empty')"
    fingerprint="$(api "$API_URL/health" | jq -r .tls_fingerprint)"

    # Two virtual directories over the sample tree: the tree as it is, and
    # every text file flattened into one directory.
    local node_id
    node_id="$(cat "$STATE_DIR/node_id")"
    api -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' -X POST \
        "$API_URL/api/vfs/directories" -d "{\"virtual_path\":\"/sample\",\"mounts\":[{\"source\":{\"node_id\":\"$node_id\",\"export_path\":\"$SAMPLE_DIR\"},\"strategy\":\"prefix_replace\"}]}"
    api -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' -X POST \
        "$API_URL/api/vfs/directories" -d "{\"virtual_path\":\"/texts\",\"mounts\":[{\"source\":{\"node_id\":\"*\",\"export_path\":\"$SAMPLE_DIR\"},\"strategy\":\"flatten\",\"steps\":[{\"op\":\"glob\",\"pattern\":\"*.{txt,md}\"}],\"conflict_policy\":\"suffix_node_id\"}]}"

    # The virtual filesystem, mounted from the agent's local replica once the
    # directories have been pulled into it.
    local mounted="not mounted"
    if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1; then
        local dirs=0
        while [ "$dirs" -lt 3 ] && [ "$SECONDS" -lt "$deadline" ]; do
            dirs="$(curl -fsS -u "$DB_USER:$DB_PASSWORD" \
                "$AGENT_DB_URL/$DB_NAME/_all_docs?startkey=%22dir%3A%3A%22&endkey=%22dir%3A%3A%EF%BF%B0%22" | jq '.rows | length')" || dirs=0
            [ "$dirs" -ge 3 ] || sleep 0.5
        done
        mkdir -p "$MOUNT_DIR"
        log "mounting the virtual filesystem at $MOUNT_DIR"
        nohup "$vfs_bin" mount --config "$CONFIG" --mountpoint "$MOUNT_DIR" </dev/null >"$VFS_LOG" 2>&1 &
        local vpid=$!
        disown "$vpid" 2>/dev/null || true
        echo "$vpid" >"$VFS_PID"
        local vdeadline=$((SECONDS + 60))
        until grep -qs " $MOUNT_DIR fuse" /proc/mounts && [ -n "$(ls -A "$MOUNT_DIR/sample" 2>/dev/null)" ]; do
            kill -0 "$vpid" 2>/dev/null || { tail -n 20 "$VFS_LOG" >&2; die "mosaicfs-vfs exited; log above ($VFS_LOG)"; }
            [ "$SECONDS" -lt "$vdeadline" ] || die "the mount did not show /sample within 60s ($VFS_LOG)"
            sleep 0.3
        done
        mounted="$MOUNT_DIR (log $VFS_LOG)"
    else
        log "no /dev/fuse or fusermount3 here: the virtual filesystem is not mounted"
    fi

    local summary
    summary="$(grep -iE 'summary|crawl(ed)? (complete|finished|done)' "$AGENT_LOG" | tail -n 1 || true)"
    cat <<EOF

MosaicFS demo is running ($count of $expected file documents reached the control plane).

  Control-plane CouchDB: $CP_URL   (Fauxton: $CP_URL/_utils)
  Agent-local CouchDB:   $AGENT_DB_URL   (Fauxton: $AGENT_DB_URL/_utils)
  Credentials:           $DB_USER / $DB_PASSWORD
  Sample tree:           $SAMPLE_DIR
  Agent config / log:    $CONFIG / $AGENT_LOG
  REST API (HTTPS):      $API_URL   (certificate $SERVER_DIR/tls-cert.pem,
                         SHA-256 $fingerprint)
  API login:             $ACCESS_KEY / $SECRET_KEY
  Server log:            $SERVER_LOG
  Virtual filesystem:    $mounted

  Agent summary: ${summary:-(no summary line in the log yet)}

Look through the mount (read-only; files come from the agent on demand):
  ls $MOUNT_DIR $MOUNT_DIR/sample $MOUNT_DIR/texts
  cat '$MOUNT_DIR/sample/README.md'; stat -c '%i %n' $MOUNT_DIR/sample/README.md $MOUNT_DIR/texts/README.md   # one file, one inode

Try the API (the token is valid 24 h):
  TOKEN=$token
  curl -s --cacert $SERVER_DIR/tls-cert.pem -H "Authorization: Bearer \$TOKEN" '$API_URL/api/files?limit=5' | jq
  curl -s --cacert $SERVER_DIR/tls-cert.pem -H "Authorization: Bearer \$TOKEN" '$API_URL/api/search?q=*.md' | jq '.items[].name'
  curl -s --cacert $SERVER_DIR/tls-cert.pem -H "Authorization: Bearer \$TOKEN" '$API_URL/api/files/${readme_id:-FILE_ID}/content'
  curl -s --cacert $SERVER_DIR/tls-cert.pem '$API_URL/api/openapi.json' | jq '.paths | keys'

Or CouchDB directly:
  curl -s -u $DB_USER:$DB_PASSWORD '$CP_URL/$DB_NAME/_all_docs?$FILE_RANGE' | jq '.rows | length'
  curl -s -u $DB_USER:$DB_PASSWORD '$CP_URL/$DB_NAME/_all_docs?$FILE_RANGE&include_docs=true&limit=1' | jq '.rows[0].doc'
  curl -s -u $DB_USER:$DB_PASSWORD '$CP_URL/$DB_NAME/_all_docs?startkey=%22node%3A%3A%22&endkey=%22node%3A%3A%EF%BF%B0%22&include_docs=true' | jq '.rows[].doc'
  echo new > '$SAMPLE_DIR/new file.txt'    # the next crawl (within 10 s) indexes it and replicates it; the count grows

Stop everything: scripts/demo.sh stop

Open the web UI in a browser and log in with $ACCESS_KEY / $SECRET_KEY
(the certificate is self-signed: accept it once, or compare its SHA-256 above):

  $API_URL/
EOF
}

# A second machine, simulated on this one: its own CouchDB, credential, watch
# directory, agent and transfer port, configured only by `mosaicfs-agent init`
# (unattended), then one of its files read through the first node's mount.
cmd_add_node() {
    [ -f "$DEMO_DIR/agent.bin" ] && [ -f "$SERVER_DIR.bin" ] || die "the demo is not running: scripts/demo.sh start first"
    local agent_bin token key secret fp node2 file="hello-from-node2.txt"
    agent_bin="$(cat "$DEMO_DIR/agent.bin")"
    stop_pid "$NODE2_DIR/agent.pid" "second agent"
    "$COUCHDB_SH" stop --dir "$NODE2_DIR/couchdb" >/dev/null 2>&1 || true
    rm -rf "$NODE2_DIR"
    mkdir -p "$NODE2_DIR/files"
    printf 'written on the second machine at %s\n' "$(date -u +%FT%TZ)" >"$NODE2_DIR/files/$file"
    local db_url
    db_url="$("$COUCHDB_SH" start --port "$NODE2_DB_PORT" --dir "$NODE2_DIR/couchdb" --user "$DB_USER" --password "$DB_PASSWORD")" \
        || die "the second machine's CouchDB did not start (port $NODE2_DB_PORT taken? set MOSAICFS_DEMO_NODE2_DB_PORT)"
    token="$(api -X POST "$API_URL/api/auth/login" -H 'content-type: application/json' \
        -d "{\"access_key_id\":\"$ACCESS_KEY\",\"secret_key\":\"$SECRET_KEY\"}" | jq -r .token)"
    local created
    created="$(api -H "Authorization: Bearer $token" -H 'content-type: application/json' -X POST \
        "$API_URL/api/credentials" -d '{"name":"second machine"}')"
    key="$(echo "$created" | jq -r .access_key_id)"
    secret="$(echo "$created" | jq -r .secret_key)"
    (umask 077 && echo "$secret" >"$NODE2_DIR/secret")
    fp="$(api "$API_URL/health" | jq -r .tls_fingerprint)"
    echo "\$ mosaicfs-agent --config $NODE2_DIR/agent.toml init --control-plane-url $API_URL \\"
    echo "    --access-key-id $key --secret-key-file $NODE2_DIR/secret --watch-path $NODE2_DIR/files \\"
    echo "    --couchdb-url $db_url --replication-url $CP_URL --tls-fingerprint $fp \\"
    echo "    --transfer-listen 127.0.0.1:$NODE2_TRANSFER_PORT --state-dir $NODE2_DIR/state --friendly-name 'second machine' --no-service"
    MOSAICFS_COUCHDB_PASSWORD="$DB_PASSWORD" MOSAICFS_REPLICATION_PASSWORD="$DB_PASSWORD" \
        "$agent_bin" --config "$NODE2_DIR/agent.toml" init --control-plane-url "$API_URL" \
        --access-key-id "$key" --secret-key-file "$NODE2_DIR/secret" --watch-path "$NODE2_DIR/files" \
        --couchdb-url "$db_url" --couchdb-user "$DB_USER" \
        --replication-url "$CP_URL" --replication-user "$DB_USER" \
        --tls-fingerprint "$fp" --transfer-listen "127.0.0.1:$NODE2_TRANSFER_PORT" \
        --state-dir "$NODE2_DIR/state" --friendly-name "second machine" --no-service </dev/null \
        || die "mosaicfs-agent init failed"
    node2="$(cat "$NODE2_DIR/state/node_id")"
    echo "\$ mosaicfs-agent --config $NODE2_DIR/agent.toml run &"
    nohup "$agent_bin" --config "$NODE2_DIR/agent.toml" run </dev/null >"$NODE2_DIR/agent.log" 2>&1 &
    local pid=$!
    disown "$pid" 2>/dev/null || true
    echo "$pid" >"$NODE2_DIR/agent.pid"

    # Its file reaches the control plane, then the first node's replica.
    local deadline=$((SECONDS + TIMEOUT)) found=""
    until [ -n "$found" ]; do
        found="$(api -H "Authorization: Bearer $token" "$API_URL/api/search?q=$file" | jq -r '.items[]? | select(.node_id == "'"$node2"'") | .id' | head -n 1)" || found=""
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$NODE2_DIR/agent.log" >&2; die "the second agent exited; log above"; }
        [ "$SECONDS" -lt "$deadline" ] || die "$file of $node2 did not reach the control plane in ${TIMEOUT}s ($NODE2_DIR/agent.log)"
        [ -n "$found" ] || sleep 0.5
    done
    echo "\$ curl -X POST $API_URL/api/vfs/directories -d '{\"virtual_path\": \"/second-machine\", \"mounts\": [{\"source\": {\"node_id\": \"$node2\", \"export_path\": \"$NODE2_DIR/files\"}}]}'"
    api -o /dev/null -H "Authorization: Bearer $token" -H 'content-type: application/json' -X POST \
        "$API_URL/api/vfs/directories" -d "{\"virtual_path\":\"/second-machine\",\"mounts\":[{\"source\":{\"node_id\":\"$node2\",\"export_path\":\"$NODE2_DIR/files\"},\"strategy\":\"prefix_replace\"}]}"
    if ! grep -qs " $MOUNT_DIR fuse" /proc/mounts; then
        log "the first node's mount is not running here: $file is listed by the API (GET /api/search) but not read through a mount"
        return 0
    fi
    local through="$MOUNT_DIR/second-machine/$file"
    until [ -f "$through" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$through did not appear in ${TIMEOUT}s ($VFS_LOG)"
        sleep 0.5
    done
    echo "\$ cat $through"
    cat "$through"
    echo "\$ sha256sum $NODE2_DIR/files/$file $through"
    sha256sum "$NODE2_DIR/files/$file" "$through"
    [ "$(sha256sum <"$NODE2_DIR/files/$file")" = "$(sha256sum <"$through")" ] || die "the bytes read through the mount differ"
    log "second machine $node2 added: its file read through the first node's mount (peer-to-peer from 127.0.0.1:$NODE2_TRANSFER_PORT)"
}

cmd_status() {
    local pid
    if pid="$(agent_running_pid)"; then echo "agent: running (pid $pid)"; else echo "agent: stopped"; fi
    if pid="$(running_pid "$SERVER_PID")"; then echo "mosaicfs-server: running (pid $pid) at $API_URL"; else echo "mosaicfs-server: stopped"; fi
    if pid="$(running_pid "$VFS_PID")"; then echo "mosaicfs-vfs: mounted at $MOUNT_DIR (pid $pid)"; else echo "mosaicfs-vfs: not mounted"; fi
    echo "control-plane CouchDB: $("$COUCHDB_SH" status --dir "$CP_DIR" || true)"
    echo "agent CouchDB: $("$COUCHDB_SH" status --dir "$AGENT_DB_DIR" || true)"
    echo "file documents on the control plane: $(count_file_docs "$CP_URL" || echo '?')"
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) stop_all; log "demo stopped (data kept in $DEMO_DIR)" ;;
    status) cmd_status ;;
    restart-server) cmd_restart_server ;;
    add-node) cmd_add_node ;;
    sample) [ $# -eq 2 ] || die "usage: demo.sh sample DIR"; make_sample_tree "$2" ;;
    config) agent_config ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2 ;;
    *) die "unknown command '$1' (start|stop|status|restart-server|add-node|sample|config)" ;;
esac
