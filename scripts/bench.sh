#!/usr/bin/env bash
# Benchmarks. Measures and prints; never asserts times.
#
#   bench.sh [--quick] [--keep] [readdir]
#       readdir: start a pouchdb-server (scripts/couchdb.sh) in a temporary
#       directory, seed FILES file documents over 5 nodes (mosaicfs-seed),
#       start a release mosaicfs-server on it, report how long its local
#       index takes to catch up, create 64 directories with 10 mount sources
#       each and measure GET /api/vfs over HTTPS, uncached (each directory
#       once per round, rounds more than the 5 s cache TTL apart) and cached
#       (mosaicfs-readdir-bench). Client and server (Server-Timing) p50/p95.
#       FILES is 500000; --quick uses 20000 and fewer samples.
#       --keep leaves the temporary directory and prints its path.
set -euo pipefail

SCRIPT_NAME=bench.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
KEEP=0
WHAT=()
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        readdir) WHAT+=("$a") ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
        *) die "unknown argument $a (see --help)" ;;
    esac
done
[ "${#WHAT[@]}" -eq 0 ] && WHAT=(readdir)

WORK="$(mktemp -d /tmp/mosaicfs-bench.XXXXXX)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    "$REPO_ROOT/scripts/couchdb.sh" stop --dir "$WORK/couch" >/dev/null 2>&1 || true
    if [ "$KEEP" -eq 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

bench_readdir() {
    local files=500000 dirs=64 rounds=3 cached=1000
    if [ "$QUICK" -eq 1 ]; then files=20000 dirs=16 rounds=2 cached=200; fi
    log "building (release)..."
    (cd "$REPO_ROOT" && cargo build --release -q -p mosaicfs-server -p mosaicfs-bench)
    local bin="$REPO_ROOT/target/release"
    local cport sport url
    cport="$(free_port)"
    url="$("$REPO_ROOT/scripts/couchdb.sh" start --port "$cport" --dir "$WORK/couch" \
        --user admin --password benchpw)"
    log "seeding $files documents..."
    "$bin/mosaicfs-seed" --url "$url" --database bench --username admin --password benchpw \
        --files "$files" --nodes 5
    sport="$(free_port)"
    local secret="bench-secret-$RANDOM$RANDOM"
    MOSAICFS_LOG=warn "$bin/mosaicfs-server" --listen "127.0.0.1:$sport" --data-dir "$WORK/server" \
        --couchdb-url "$url" --couchdb-database bench --couchdb-user admin \
        --couchdb-password benchpw \
        --bootstrap-credential "MOSAICFS_00000000000000AD:$secret" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local deadline=$(($(date +%s) + 30))
    until [ -f "$WORK/server/tls-cert.pem" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$WORK/server.log")"
        [ "$(date +%s)" -ge "$deadline" ] && die "the server did not start"
        sleep 0.2
    done
    echo "readdir: $files documents over 5 nodes, 10 mount sources per directory"
    "$bin/mosaicfs-readdir-bench" --url "https://127.0.0.1:$sport" \
        --ca-cert "$WORK/server/tls-cert.pem" --key MOSAICFS_00000000000000AD --secret "$secret" \
        --dirs "$dirs" --rounds "$rounds" --cached "$cached"
}

for w in "${WHAT[@]}"; do
    "bench_$w"
done
