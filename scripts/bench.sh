#!/usr/bin/env bash
# Benchmarks (issue 7). Measures and prints; never asserts times. Each
# benchmark prints one "RESULT" line and adds a row (what | ours | anchor
# measured in the same run | ratio | target) to the results table.
#
#   bench.sh [--quick] [--keep] [--out FILE] [local] [search] [replicate] [readdir]
#       local      (1) initial crawl of FILES generated files (mosaicfs-agent
#                  crawl, release) vs raw _bulk_docs ingest of FILES prebuilt
#                  documents in batches of 200, one request in flight (as the
#                  crawler writes) into the same server (mosaicfs-seed);
#                  (2) re-crawl of the unchanged tree vs
#                  `find TREE -printf '%p %s %T@\n'`;
#                  (5) sequential read of a BIG file through the mount
#                  (mosaicfs-vfs mount, defaults) cold and warm vs `cat`;
#                  (6) tar of SMALL small files through the mount vs on the
#                  source (`tar -cf - | cat > /dev/null`: GNU tar does not read
#                  file data when the archive is /dev/null itself);
#                  (9) VmHWM of the agent's crawl and of the VFS daemon with
#                  the index built (crawled files plus EXTRA seeded documents).
#       search     (4) filename search p95 over NAMES names with mosaicfs-index
#                  (substring and glob shapes) vs `grep -F` over a flat file
#                  of the same names.
#       replicate  (10) cold-start replication (POST /_replicate) of the
#                  agent's database (run after local) to a fresh database.
#       readdir    (3) seeds RFILES documents over 5 nodes, starts a release
#                  mosaicfs-server, measures GET /api/vfs over 10 mount sources
#                  uncached and cached (mosaicfs-readdir-bench).
#   Full sizes: FILES 100,000 (90,000 tree + 10,000 small), BIG 1 GiB,
#   NAMES 500,000, EXTRA 400,000, RFILES 500,000. --quick: FILES 5,000,
#   BIG 64 MiB, NAMES 20,000, EXTRA 15,000, RFILES 20,000.
#   The table goes to docs/benchmarks.md (full run) or
#   target/benchmarks-quick.md (--quick), or to --out FILE.
#   Cold reads drop the page cache (echo 3 > /proc/sys/vm/drop_caches; root).
#   --keep leaves the temporary directory and prints its path.
set -euo pipefail

SCRIPT_NAME=bench.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
KEEP=0
OUT=""
WHAT=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --keep) KEEP=1 ;;
        --out) OUT="$2"; shift ;;
        local | search | replicate | readdir) WHAT+=("$1") ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
[ "${#WHAT[@]}" -eq 0 ] && WHAT=(local search replicate readdir)

if [ "$QUICK" -eq 1 ]; then
    TREE=3000 SMALL=2000 BIG_MIB=64 NAMES=20000 EXTRA=15000 RFILES=20000
else
    TREE=90000 SMALL=10000 BIG_MIB=1024 NAMES=500000 EXTRA=400000 RFILES=500000
fi
FILES=$((TREE + SMALL))
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
if [ -z "$OUT" ]; then
    if [ "$QUICK" -eq 1 ]; then OUT="$TARGET_DIR/benchmarks-quick.md"; else OUT="$REPO_ROOT/docs/benchmarks.md"; fi
fi

WORK="$(mktemp -d /tmp/mosaicfs-bench.XXXXXX)"
SERVER_PID=""
VFS_PID=""
MNT="$WORK/mnt"
COUCH_URL=""
COUCH_USER="admin"
COUCH_PW=benchpw
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    stop_vfs
    "$REPO_ROOT/scripts/couchdb.sh" stop --dir "$WORK/couch" >/dev/null 2>&1 || true
    if [ "$KEEP" -eq 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
stop_vfs() {
    if [ -n "$VFS_PID" ]; then
        kill "$VFS_PID" 2>/dev/null && wait_for_pid_exit "$VFS_PID" 15 || true
        VFS_PID=""
    fi
    if grep -qs " $MNT fuse" /proc/mounts; then
        fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic with awk.
calc() { awk "BEGIN { printf \"%s\", $1 }"; }
# fmt DIGITS EXPR: EXPR rounded to DIGITS decimals.
fmt() { awk "BEGIN { printf \"%.$1f\", $2 }"; }
# p95 of numbers on stdin.
p95() { sort -g | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR - 1) * 0.95 + 0.5) + 1] }'; }
since() { calc "$(now) - $1"; }

# The results table: a header for this run, then one row per benchmark.
start_table() {
    local couch_version commit mem
    couch_version="$(curl -sf "$COUCH_URL/" | jq -r '.version // "?"' 2>/dev/null || echo '?')"
    commit="$(git -C "$REPO_ROOT" rev-parse --short HEAD)"
    git -C "$REPO_ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
    mem="$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    mkdir -p "$(dirname "$OUT")"
    cat >"$OUT" <<EOF
# Benchmarks

Produced by \`scripts/bench.sh$([ "$QUICK" -eq 1 ] && echo " --quick")\` (issue 7): every figure
and its anchor come from the same run on the same machine. Benchmarks
measure; nothing here is asserted by a test. Rerun with \`scripts/bench.sh\`
(full sizes) or \`scripts/bench.sh --quick\` (smoke sizes).

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(nproc) cores, $mem memory, kernel $(uname -r)
- CouchDB server: pouchdb-server (scripts/couchdb.sh), version $couch_version
- Commit: $commit
- Sizes: crawl $FILES files ($TREE in a nested tree + $SMALL small files),
  read $BIG_MIB MiB, search $NAMES names, VFS index $FILES crawled + $EXTRA seeded documents,
  readdir $RFILES documents

| # | what | ours | anchor (same run) | ratio | target |
|---|---|---|---|---|---|
EOF
}

# row NUM WHAT OURS ANCHOR RATIO TARGET
row() {
    echo "RESULT $1 $2: ours $3 | anchor $4 | ratio $5 | target $6"
    echo "| $1 | $2 | $3 | $4 | $5 | $6 |" >>"$OUT"
}

ensure_couch() {
    [ -n "$COUCH_URL" ] && return 0
    COUCH_URL="$("$REPO_ROOT/scripts/couchdb.sh" start --port "$(free_port)" --dir "$WORK/couch" \
        --user "$COUCH_USER" --password "$COUCH_PW")"
    start_table
}

couch_auth_url() { echo "$COUCH_URL" | sed "s#://#://$COUCH_USER:$COUCH_PW@#"; }

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
}

# time_cmd CMD...: prints the wall time in seconds.
time_cmd() {
    local t
    t="$(now)"
    "$@" >/dev/null
    since "$t"
}

tar_pipe() { tar -cf - -C "$1" "$2" | cat >/dev/null; }
# GNU grep stops at the first match when its output is /dev/null: print them.
grep_pipe() { grep -F -- "$1" "$2" | cat >/dev/null; }

SRC="$WORK/src"
NODE=bench-node
AGENT_CONFIG="$WORK/agent.toml"

bench_local() {
    ensure_couch
    mkdir -p "$SRC" "$WORK/state"
    log "generating $FILES files..."
    "$BIN/mosaicfs-bench-util" tree --dir "$SRC/tree" --files "$TREE" --seed 7 >&2
    "$BIN/mosaicfs-bench-util" tree --dir "$SRC/small" --files "$SMALL" --max-bytes 4096 --seed 9 >&2
    cat >"$AGENT_CONFIG" <<EOF
control_plane_url = "https://localhost:8443"
access_key_id = "MOSAICFS_00000000000000AD"
secret_key = "bench-secret"
watch_paths = ["$SRC"]
state_dir = "$WORK/state"
node_id = "$NODE"

[couchdb]
url = "$COUCH_URL"
database = "agent"
username = "$COUCH_USER"
password = "$COUCH_PW"

[replication]
url = "$COUCH_URL"
database = "control"
username = "$COUCH_USER"
password = "$COUCH_PW"
EOF

    # (1) anchor: raw ingest of prebuilt documents, batches of 200, 1 in flight.
    log "raw _bulk_docs ingest of $FILES prebuilt documents..."
    local seed_out ingest_rate
    seed_out="$("$BIN/mosaicfs-seed" --url "$COUCH_URL" --database ingest --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$FILES" --nodes 1 --batch-size 200 --concurrency 1)"
    echo "$seed_out" >&2
    ingest_rate="$(echo "$seed_out" | sed -n 's/.*(\([0-9.]*\) docs\/s).*/\1/p')"

    # (1) + (9a): the initial crawl, wall time of the process and its VmHWM.
    log "initial crawl..."
    local t crawl_wall crawl_out crawl_ms crawl_rate agent_kib
    t="$(now)"
    crawl_out="$(MOSAICFS_LOG=warn /usr/bin/time -f '%M' -o "$WORK/crawl.rss" \
        "$BIN/mosaicfs-agent" --config "$AGENT_CONFIG" crawl)"
    crawl_wall="$(since "$t")"
    echo "$crawl_out" >&2
    crawl_ms="$(echo "$crawl_out" | sed -n 's/.*duration_ms=\([0-9]*\).*/\1/p')"
    crawl_rate="$(calc "$FILES / $crawl_wall")"
    agent_kib="$(tail -1 "$WORK/crawl.rss")"
    echo "crawl: $FILES files in $(fmt 2 "$crawl_wall") s wall (crawler's own duration ${crawl_ms} ms)"
    row 1 "initial crawl, $FILES files (docs/s, process wall time)" \
        "$(calc "int($crawl_rate)") docs/s" \
        "$(calc "int($ingest_rate)") docs/s (_bulk_docs, 200/batch, 1 in flight)" \
        "$(calc "int(100 * $crawl_rate / $ingest_rate)") %" "≥ 70 %"

    # (2): re-crawl of the unchanged tree vs find (both warm).
    log "re-crawl vs find..."
    local recrawl_wall find_s best=""
    t="$(now)"
    crawl_out="$(MOSAICFS_LOG=warn "$BIN/mosaicfs-agent" --config "$AGENT_CONFIG" crawl)"
    recrawl_wall="$(since "$t")"
    echo "$crawl_out" >&2
    for _ in 1 2 3; do
        find_s="$(time_cmd find "$SRC" -printf '%p %s %T@\n')"
        if [ -z "$best" ] || awk "BEGIN { exit !($find_s < $best) }"; then best="$find_s"; fi
    done
    row 2 "re-crawl of the unchanged tree, $FILES files (s)" "$(fmt 3 "$recrawl_wall") s" \
        "$(fmt 3 "$best") s (find -printf, best of 3)" "$(fmt 2 "$recrawl_wall / $best")×" "≤ 1.5×"
    row 9a "agent VmHWM, crawl of $FILES files" "$((agent_kib / 1024)) MiB" "—" "—" "< 256 MiB"

    # The big file (indexed by an untimed crawl) and EXTRA documents of other nodes.
    log "writing a $BIG_MIB MiB file, indexing it, seeding $EXTRA more documents..."
    mkdir -p "$SRC/big"
    head -c "$((BIG_MIB * 1048576))" /dev/urandom >"$SRC/big/big.bin"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-agent" --config "$AGENT_CONFIG" crawl >&2
    "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database agent --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$EXTRA" --nodes 5 --seed 2 >&2
    "$BIN/mosaicfs-bench-util" vdir --url "$COUCH_URL" --database agent --username "$COUCH_USER" \
        --password "$COUCH_PW" --path /bench --node "$NODE" --export "$SRC" >&2

    log "mounting..."
    mkdir -p "$MNT"
    local mount_t
    mount_t="$(now)"
    RUST_LOG=warn "$BIN/mosaicfs-vfs" mount --config "$AGENT_CONFIG" --mountpoint "$MNT" \
        --cache-dir "$WORK/vfs-cache" >"$WORK/vfs.log" 2>&1 &
    VFS_PID=$!
    local deadline=$((SECONDS + 600))
    until [ -f "$MNT/bench/big/big.bin" ]; do
        kill -0 "$VFS_PID" 2>/dev/null || die "mosaicfs-vfs exited: $(tail -5 "$WORK/vfs.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "the mount did not show /bench/big/big.bin"
        sleep 0.2
    done
    echo "mount ready (index of $((FILES + EXTRA + 1)) file documents built) in $(fmt 1 "$(since "$mount_t")") s"

    # (5): sequential read, cold then warm, through the mount and directly.
    local bytes=$((BIG_MIB * 1048576)) ours direct cold=1
    drop_caches || cold=0
    if [ "$cold" -eq 1 ]; then
        ours="$(time_cmd cat "$MNT/bench/big/big.bin")"
        drop_caches
        direct="$(time_cmd cat "$SRC/big/big.bin")"
        row 5a "sequential read $BIG_MIB MiB, cold cache (MB/s)" "$(calc "int($bytes / $ours / 1e6)") MB/s" \
            "$(calc "int($bytes / $direct / 1e6)") MB/s (cat)" "$(calc "int(100 * $direct / $ours)") %" "≥ 90 %"
    else
        row 5a "sequential read $BIG_MIB MiB, cold cache" "not measured (cannot drop caches)" "—" "—" "≥ 90 %"
    fi
    cat "$MNT/bench/big/big.bin" "$SRC/big/big.bin" >/dev/null
    ours="$(time_cmd cat "$MNT/bench/big/big.bin")"
    direct="$(time_cmd cat "$SRC/big/big.bin")"
    row 5b "sequential read $BIG_MIB MiB, warm cache (MB/s)" "$(calc "int($bytes / $ours / 1e6)") MB/s" \
        "$(calc "int($bytes / $direct / 1e6)") MB/s (cat)" "$(calc "int(100 * $direct / $ours)") %" "≥ 90 %"

    # (6): tar of the small files through the mount and on the source.
    if [ "$cold" -eq 1 ]; then
        drop_caches
        ours="$(time_cmd tar_pipe "$MNT/bench" small)"
        drop_caches
        direct="$(time_cmd tar_pipe "$SRC" small)"
        row 6a "tar of $SMALL small files, cold cache (s)" "$(fmt 3 "$ours") s" "$(fmt 3 "$direct") s (tar on the source)" \
            "$(calc "int(100 * $direct / $ours)") %" "≥ 50 %"
    fi
    ours="$(time_cmd tar_pipe "$MNT/bench" small)"
    direct="$(time_cmd tar_pipe "$SRC" small)"
    row 6b "tar of $SMALL small files, warm cache (s)" "$(fmt 3 "$ours") s" "$(fmt 3 "$direct") s (tar on the source)" \
        "$(calc "int(100 * $direct / $ours)") %" "≥ 50 %"

    # (9b): the VFS daemon's peak resident memory.
    local vfs_kib
    vfs_kib="$(awk '/VmHWM/ { print $2 }' "/proc/$VFS_PID/status")"
    row 9b "VFS daemon VmHWM, $((FILES + EXTRA + 1)) documents indexed, after 5 and 6" \
        "$((vfs_kib / 1024)) MiB" "—" "—" "< 256 MiB"
    stop_vfs
}

bench_search() {
    ensure_couch
    log "search over $NAMES names..."
    local out p95_ours s gp95 pp95="" tree_arg=() g
    command -v plocate >/dev/null 2>&1 && tree_arg=(--tree "$WORK/names")
    out="$("$BIN/mosaicfs-bench-util" search --names "$NAMES" --out "$WORK/names.txt" "${tree_arg[@]}")"
    echo "$out"
    p95_ours="$(echo "$out" | sed -n 's/.*p95_max=\([0-9.]*\).*/\1/p')"
    # grep -F over the flat file: the substring shapes, 10 runs each.
    gp95="$(for pat in invoice -12345. zzzz; do
        for _ in $(seq 10); do
            s="$(time_cmd grep_pipe "$pat" "$WORK/names.txt")" || true
            calc "$s * 1000"; echo
        done
    done | p95)"
    g="grep -F p95 $gp95 ms (3 substrings, all matches printed)"
    if [ "${#tree_arg[@]}" -gt 0 ]; then
        updatedb -l 0 --prunepaths '' -U "$WORK/names" -o "$WORK/plocate.db"
        pp95="$(for pat in invoice -12345. zzzz '*.pdf' '*/invoice-report-1*' '*[x-z]zz*'; do
            for _ in $(seq 10); do
                s="$(time_cmd plocate -d "$WORK/plocate.db" -l 100 -- "$pat")" || true
                calc "$s * 1000"; echo
            done
        done | p95)"
        g="$g; plocate p95 $pp95 ms (same 6 shapes, -l 100, process start included)"
    else
        g="$g; plocate not installed"
    fi
    echo "search: ours p95 $p95_ours ms; $g"
    row 4 "filename search over $NAMES names, worst shape p95 (3 substring + 3 glob shapes, limit 100)" \
        "$p95_ours ms" "$g" "$(fmt 2 "$p95_ours / $gp95")× grep's" "p95 < 50 ms"
}

bench_replicate() {
    ensure_couch
    local n t secs src
    src=agent
    n="$(curl -sf -u "$COUCH_USER:$COUCH_PW" "$COUCH_URL/$src" | jq -r '.doc_count // 0')"
    if [ "$n" = 0 ]; then
        log "no agent database (run local first); seeding $EXTRA documents to replicate"
        "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database "$src" --username "$COUCH_USER" \
            --password "$COUCH_PW" --files "$EXTRA" --nodes 5 --seed 2 >&2
        n="$EXTRA"
    fi
    log "replicating $n documents to a fresh database..."
    local auth
    auth="$(couch_auth_url)"
    t="$(now)"
    curl -sf -u "$COUCH_USER:$COUCH_PW" -H 'Content-Type: application/json' -X POST \
        "$COUCH_URL/_replicate" \
        -d "{\"source\":\"$auth/$src\",\"target\":\"$auth/replica\",\"create_target\":true}" \
        >"$WORK/replicate.json"
    secs="$(since "$t")"
    local got
    got="$(curl -sf -u "$COUCH_USER:$COUCH_PW" "$COUCH_URL/replica" | jq -r '.doc_count // 0')"
    echo "replicated $got of $n documents in $(fmt 1 "$secs") s"
    row 10 "cold-start replication of $n documents to a fresh database (docs/s)" \
        "$(calc "int($got / $secs)") docs/s ($got docs in $(fmt 1 "$secs") s)" "—" "—" "report"
}

bench_readdir() {
    ensure_couch
    local dirs=64 rounds=3 cached=1000
    if [ "$QUICK" -eq 1 ]; then dirs=16 rounds=2 cached=200; fi
    log "seeding $RFILES documents..."
    "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database bench --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$RFILES" --nodes 5 >&2
    local sport
    sport="$(free_port)"
    local secret="bench-secret-$RANDOM$RANDOM"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-server" --listen "127.0.0.1:$sport" --data-dir "$WORK/server" \
        --couchdb-url "$COUCH_URL" --couchdb-database bench --couchdb-user "$COUCH_USER" \
        --couchdb-password "$COUCH_PW" \
        --bootstrap-credential "MOSAICFS_00000000000000AD:$secret" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local deadline=$(($(date +%s) + 30))
    until [ -f "$WORK/server/tls-cert.pem" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$WORK/server.log")"
        [ "$(date +%s)" -ge "$deadline" ] && die "the server did not start"
        sleep 0.2
    done
    echo "readdir: $RFILES documents over 5 nodes, 10 mount sources per directory"
    local out
    out="$("$BIN/mosaicfs-readdir-bench" --url "https://127.0.0.1:$sport" \
        --ca-cert "$WORK/server/tls-cert.pem" --key MOSAICFS_00000000000000AD --secret "$secret" \
        --dirs "$dirs" --rounds "$rounds" --cached "$cached")"
    echo "$out"
    local u c
    u="$(echo "$out" | grep '^readdir uncached:' | sed -n 's/.*client p50=[0-9.]*ms p95=\([0-9.]*\)ms.*server p50=[0-9.]*ms p95=\([0-9.]*\)ms.*/client \1 ms, server \2 ms/p')"
    c="$(echo "$out" | grep '^readdir cached:' | sed -n 's/.*client p50=[0-9.]*ms p95=\([0-9.]*\)ms.*server p50=[0-9.]*ms p95=\([0-9.]*\)ms.*/client \1 ms, server \2 ms/p')"
    row 3a "readdir p95, 10 mount sources over $RFILES documents, uncached (GET /api/vfs)" "$u" "—" "—" "p95 < 20 ms"
    row 3b "readdir p95, same, cached" "$c" "—" "—" "p95 < 1 ms"
    kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    SERVER_PID=""
}

log "building (release)..."
(cd "$REPO_ROOT" && cargo build --release -q -p mosaicfs-server -p mosaicfs-bench -p mosaicfs-agent -p mosaicfs-vfs)
for w in "${WHAT[@]}"; do
    "bench_$w"
done
log "results in $OUT:"
cat "$OUT"
