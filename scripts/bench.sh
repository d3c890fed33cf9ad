#!/usr/bin/env bash
# Benchmarks (issue 7). Measures and prints; never asserts times. Each
# benchmark prints one "RESULT" line and adds a row (what | ours | anchor
# measured in the same run | ratio | target) to the results table.
#
#   bench.sh [--quick] [--keep] [--out FILE] [local] [search] [replicate] [readdir] [remote] [web] [backup]
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
#                  file data when the archive is /dev/null itself); full runs
#                  also tar a copy of /usr/include (a real tree's shape);
#                  (9) VmHWM of the agent's crawl and of the VFS daemon with
#                  the index built (crawled files plus EXTRA seeded documents).
#       search     (4) filename search p95 over NAMES names with mosaicfs-index
#                  (substring and glob shapes) vs `grep -F` over a flat file
#                  of the same names.
#       replicate  (10) cold-start replication (POST /_replicate) of the
#                  agent's database (run after local) to a fresh database.
#       backup     (11) full backup (GET /api/system/backup?type=full) of
#                  BFILES seeded documents vs CouchDB's own
#                  `_all_docs?include_docs=true` dump of the same database;
#                  (12) restore (POST /api/system/restore) of that file into
#                  a fresh database vs a `_bulk_docs` load (new_edits: false,
#                  batches of 1000, one request in flight, as the restore
#                  writes) of the same documents into another fresh one.
#                  MB/s and docs/s; target ≥ 80 % of each anchor.
#       readdir    (3) seeds RFILES documents over 5 nodes, starts a release
#                  mosaicfs-server, measures GET /api/vfs over 10 mount sources
#                  uncached and cached (mosaicfs-readdir-bench).
#       remote     two nodes on this machine: an owner agent (`run`, with its
#                  transfer endpoint) holding R7 and R8 MiB files, a release
#                  mosaicfs-server issuing transfer tokens, and the VFS of a
#                  second node mounting them (Tier 4 over loopback HTTP).
#                  (7a) first read of the R7 file through the mount
#                  (throughput, time to first byte) vs `curl` of the same
#                  file from nginx (Debian package, own prefix and conf, on
#                  loopback, sendfile), source page cache warm for both;
#                  three alternating rounds, a fresh VFS cache each, medians;
#                  (7d) 7a against the same download written to a file on
#                  this disk (`curl -o`), the least a reader keeping a copy
#                  pays; (7b) the second read from the VFS cache with cold page
#                  caches vs `cat` of the source, cold; (7c) a read with the
#                  cache file in the page cache (complete cached copies are
#                  passed through to the kernel, so this no longer bounds 7a);
#                  (7e) the ceiling of any read the daemon serves itself:
#                  the cached file read through a fresh mount with
#                  --no-passthrough, cache file in the page cache (no
#                  network, no cache write; three rounds, median) vs nginx;
#                  (8) R8_READS random 1 MiB reads of the R8 file (block
#                  mode) p95; then, on a fresh cache, a video player's
#                  viewing pattern (mosaicfs-remote-bench view: probe head
#                  and tail, play, 4 forward seeks, 1 back into watched and 1
#                  into unwatched data) and the block map's interval count.
#       web        the web UI in Debian Chromium (web/bench/web-bench.mjs,
#                  issue 15) against a release mosaicfs-server serving the
#                  built UI over WFILES seeded documents plus one directory
#                  of WFLAT entries: (W1) JS shipped for the first page
#                  (bytes on the wire, gzip); (W2) login → dashboard painted,
#                  three cold browser profiles, median; (W3) the browser
#                  replica after its first sync (IndexedDB bytes, time to
#                  live); (W4) the WFLAT-entry directory's first rows painted,
#                  cold, vs `curl` of the same GET /api/vfs listing; (W5)
#                  scrolling it for 4 s: frame rate and dropped frames.
#   Full sizes: FILES 100,000 (90,000 tree + 10,000 small), BIG 1 GiB,
#   NAMES 500,000, EXTRA 400,000, RFILES 500,000, R7 1024, R8 4096,
#   R8_READS 200, WFILES 500,000, WFLAT 20,000. --quick: FILES 5,000,
#   BIG 64 MiB, NAMES 20,000, EXTRA 15,000, RFILES 20,000, R7 64, R8 256,
#   R8_READS 50, WFILES 20,000, WFLAT 5,000.
#   The table goes to docs/benchmarks.md (full run) or
#   target/benchmarks-quick.md (--quick), or to --out FILE.
#   Cold reads drop the page cache (echo 3 > /proc/sys/vm/drop_caches; root).
#   --keep leaves the temporary directory and prints its path.
#   Environment: BENCH_R7_MIB, BENCH_R8_MIB override the remote sizes;
#   BENCH_VFS_ARGS adds arguments to the local VFS mount (experiments, e.g.
#   --kernel-opens); BENCH_PERF_DIR=DIR records `perf record -g` of the
#   reader's VFS daemon and the owner agent during 7a's last round
#   (DIR/vfs.data, owner.data). BENCH_WEB_DIST serves another build of the UI
#   (e.g. `vite build --minify false` for profiling); BENCH_PROFILE=FILE
#   records a CPU profile of W5's scrolling (web/bench/web-bench.mjs).
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
        local | search | replicate | readdir | remote | web | backup) WHAT+=("$1") ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
[ "${#WHAT[@]}" -eq 0 ] && WHAT=(local search replicate readdir remote web backup)

if [ "$QUICK" -eq 1 ]; then
    TREE=3000 SMALL=2000 BIG_MIB=64 NAMES=20000 EXTRA=15000 RFILES=20000 BFILES=20000
    R7_MIB=64 R8_MIB=256 R8_READS=50 WFILES=20000 WFLAT=5000
else
    TREE=90000 SMALL=10000 BIG_MIB=1024 NAMES=500000 EXTRA=400000 RFILES=500000 BFILES=500000
    R7_MIB=1024 R8_MIB=4096 R8_READS=200 WFILES=500000 WFLAT=20000
fi
R7_MIB="${BENCH_R7_MIB:-$R7_MIB}"
R8_MIB="${BENCH_R8_MIB:-$R8_MIB}"
FILES=$((TREE + SMALL))
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
BIN="$TARGET_DIR/release"
if [ -z "$OUT" ]; then
    if [ "$QUICK" -eq 1 ]; then OUT="$TARGET_DIR/benchmarks-quick.md"; else OUT="$REPO_ROOT/docs/benchmarks.md"; fi
fi

WORK="$(mktemp -d /tmp/mosaicfs-bench.XXXXXX)"
SERVER_PID=""
VFS_PID=""
OWNER_PID=""
NGINX_PID=""
MNT="$WORK/mnt"
COUCH_URL=""
COUCH_USER="admin"
COUCH_PW=benchpw
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    stop_vfs
    [ -n "$OWNER_PID" ] && kill "$OWNER_PID" 2>/dev/null && wait_for_pid_exit "$OWNER_PID" 15 || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait_for_pid_exit "$NGINX_PID" 10 || true
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
  readdir $RFILES documents, remote reads $R7_MIB MiB and $R8_MIB MiB ($R8_READS random reads),
  web UI over $WFILES + $WFLAT documents

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

# median A...: the middle value (of an odd count).
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }

# pair COLD OURS... -- ANCHOR...: five alternating rounds of our command and
# the anchor's (each after a page-cache drop when COLD is 1); prints
# "median_ours median_anchor" in seconds and logs every round. One round
# alone swings by 2x here (cold reads from this VM's disk most of all).
PAIR_ROUNDS=5
pair() {
    local cold="$1" a=() b=() o=() d=() i
    shift
    while [ "$1" != "--" ]; do a+=("$1"); shift; done
    shift
    b=("$@")
    for i in $(seq "$PAIR_ROUNDS"); do
        if [ "$cold" -eq 1 ]; then drop_caches; fi
        o+=("$(time_cmd "${a[@]}")")
        if [ "$cold" -eq 1 ]; then drop_caches; fi
        d+=("$(time_cmd "${b[@]}")")
        log "  round $i ($([ "$cold" -eq 1 ] && echo cold || echo warm)): ours ${o[-1]} s, anchor ${d[-1]} s (${a[*]} | ${b[*]})"
    done
    echo "$(median "${o[@]}") $(median "${d[@]}")"
}
# GNU grep stops at the first match when its output is /dev/null: print them.
grep_pipe() { grep -F -- "$1" "$2" | cat >/dev/null; }

# agent_toml_rest WATCH STATE NODE DB: the agent.toml lines after the
# credential: one watch path, the state directory, the node id, the agent's
# database DB and replication to `control`, all on the bench CouchDB.
agent_toml_rest() {
    cat <<EOF
watch_paths = ["$1"]
state_dir = "$2"
node_id = "$3"

[couchdb]
url = "$COUCH_URL"
database = "$4"
username = "$COUCH_USER"
password = "$COUCH_PW"

[replication]
url = "$COUCH_URL"
database = "control"
username = "$COUCH_USER"
password = "$COUCH_PW"
EOF
}

SRC="$WORK/src"
NODE=bench-node
AGENT_CONFIG="$WORK/agent.toml"

bench_local() {
    ensure_couch
    mkdir -p "$SRC" "$WORK/state"
    log "generating $FILES files..."
    "$BIN/mosaicfs-bench-util" tree --dir "$SRC/tree" --files "$TREE" --seed 7 >&2
    "$BIN/mosaicfs-bench-util" tree --dir "$SRC/small" --files "$SMALL" --max-bytes 4096 --seed 9 >&2
    {
        printf '%s\n' 'control_plane_url = "https://localhost:8443"' \
            'access_key_id = "MOSAICFS_00000000000000AD"' 'secret_key = "bench-secret"'
        agent_toml_rest "$SRC" "$WORK/state" "$NODE" agent
    } >"$AGENT_CONFIG"

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
    # (6c/6d) a real tree nobody here wrote, with a real shape (the generated
    # small-file tree has more directories than files).
    REAL_TREE=""
    if [ "$QUICK" -eq 0 ] && [ -d /usr/include ]; then
        cp -r /usr/include "$SRC/include"
        REAL_TREE=include
    fi
    local indexed=$((FILES + EXTRA + 1))
    [ -n "$REAL_TREE" ] && indexed=$((indexed + $(find "$SRC/$REAL_TREE" -type f | wc -l)))
    MOSAICFS_LOG=warn "$BIN/mosaicfs-agent" --config "$AGENT_CONFIG" crawl >&2
    "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database agent --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$EXTRA" --nodes 5 --seed 2 >&2
    "$BIN/mosaicfs-bench-util" vdir --url "$COUCH_URL" --database agent --username "$COUCH_USER" \
        --password "$COUCH_PW" --path /bench --node "$NODE" --export "$SRC" >&2

    log "mounting..."
    mkdir -p "$MNT"
    local mount_t
    mount_t="$(now)"
    # shellcheck disable=SC2086 # BENCH_VFS_ARGS is a list of words
    RUST_LOG=warn "$BIN/mosaicfs-vfs" mount --config "$AGENT_CONFIG" --mountpoint "$MNT" \
        --cache-dir "$WORK/vfs-cache" ${BENCH_VFS_ARGS:-} >"$WORK/vfs.log" 2>&1 &
    VFS_PID=$!
    local deadline=$((SECONDS + 600))
    until [ -f "$MNT/bench/big/big.bin" ]; do
        kill -0 "$VFS_PID" 2>/dev/null || die "mosaicfs-vfs exited: $(tail -5 "$WORK/vfs.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "the mount did not show /bench/big/big.bin"
        sleep 0.2
    done
    echo "mount ready (index of $indexed file documents built) in $(fmt 1 "$(since "$mount_t")") s"

    # (5): sequential read, cold then warm, through the mount and directly
    # (median of 5 alternating rounds each).
    local bytes=$((BIG_MIB * 1048576)) ours direct cold=1
    drop_caches || cold=0
    if [ "$cold" -eq 1 ]; then
        read -r ours direct <<<"$(pair 1 cat "$MNT/bench/big/big.bin" -- cat "$SRC/big/big.bin")"
        row 5a "sequential read $BIG_MIB MiB, cold cache (MB/s, median of 5)" "$(calc "int($bytes / $ours / 1e6)") MB/s" \
            "$(calc "int($bytes / $direct / 1e6)") MB/s (cat)" "$(calc "int(100 * $direct / $ours)") %" "≥ 90 %"
    else
        row 5a "sequential read $BIG_MIB MiB, cold cache" "not measured (cannot drop caches)" "—" "—" "≥ 90 %"
    fi
    cat "$MNT/bench/big/big.bin" "$SRC/big/big.bin" >/dev/null
    read -r ours direct <<<"$(pair 0 cat "$MNT/bench/big/big.bin" -- cat "$SRC/big/big.bin")"
    row 5b "sequential read $BIG_MIB MiB, warm cache (MB/s, median of 5)" "$(calc "int($bytes / $ours / 1e6)") MB/s" \
        "$(calc "int($bytes / $direct / 1e6)") MB/s (cat)" "$(calc "int(100 * $direct / $ours)") %" "≥ 90 %"

    # (6): tar of the small files (and of the real tree) through the mount
    # and on the source, median of 5 alternating rounds each.
    local tree label
    for tree in small $REAL_TREE; do
        if [ "$tree" = small ]; then
            label="tar of $SMALL small files"
        else
            label="tar of a copy of /usr/include ($(find "$SRC/$tree" -type f | wc -l) files, $(find "$SRC/$tree" -type d | wc -l) directories)"
        fi
        if [ "$cold" -eq 1 ]; then
            read -r ours direct <<<"$(pair 1 tar_pipe "$MNT/bench" "$tree" -- tar_pipe "$SRC" "$tree")"
            row "$([ "$tree" = small ] && echo 6a || echo 6c)" "$label, cold cache (s, median of 5)" "$(fmt 3 "$ours") s" \
                "$(fmt 3 "$direct") s (tar on the source)" "$(calc "int(100 * $direct / $ours)") %" "≥ 50 %"
        fi
        tar_pipe "$MNT/bench" "$tree"
        tar_pipe "$SRC" "$tree"
        read -r ours direct <<<"$(pair 0 tar_pipe "$MNT/bench" "$tree" -- tar_pipe "$SRC" "$tree")"
        row "$([ "$tree" = small ] && echo 6b || echo 6d)" "$label, warm cache (s, median of 5)" "$(fmt 3 "$ours") s" \
            "$(fmt 3 "$direct") s (tar on the source)" "$(calc "int(100 * $direct / $ours)") %" "≥ 50 %"
    done

    # (9b): the VFS daemon's peak resident memory.
    local vfs_kib
    vfs_kib="$(awk '/VmHWM/ { print $2 }' "/proc/$VFS_PID/status")"
    row 9b "VFS daemon VmHWM, $indexed documents indexed, after 5 and 6" \
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

# start_server DB DATA_DIR SECRET: a release server on DB; sets SERVER_PID
# and SERVER_URL.
start_server() {
    local sport
    sport="$(free_port)"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-server" --listen "127.0.0.1:$sport" --data-dir "$2" \
        --couchdb-url "$COUCH_URL" --couchdb-database "$1" --couchdb-user "$COUCH_USER" \
        --couchdb-password "$COUCH_PW" --max-restore-bytes $((4 * 1024 * 1024 * 1024)) \
        --bootstrap-credential "MOSAICFS_00000000000000AD:$3" >"$2.log" 2>&1 &
    SERVER_PID=$!
    SERVER_URL="https://127.0.0.1:$sport"
    local deadline=$(($(date +%s) + 60))
    until curl -sf --cacert "$2/tls-cert.pem" "$SERVER_URL/health" >/dev/null 2>&1; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$2.log")"
        [ "$(date +%s)" -ge "$deadline" ] && die "the server did not start"
        sleep 0.2
    done
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    SERVER_PID=""
}

# token DATA_DIR SECRET: a JWT from the running server.
server_token() {
    curl -sf --cacert "$1/tls-cert.pem" -H 'Content-Type: application/json' \
        -d "{\"access_key_id\":\"MOSAICFS_00000000000000AD\",\"secret_key\":\"$2\"}" \
        "$SERVER_URL/api/auth/login" | jq -r .token
}

bench_backup() {
    ensure_couch
    local secret="bench-secret-$RANDOM$RANDOM" t secs bytes n tok
    log "seeding $BFILES documents for backup and restore..."
    "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database bsrc --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$BFILES" --nodes 5 --seed 3 >&2
    start_server bsrc "$WORK/bserver" "$secret"
    tok="$(server_token "$WORK/bserver" "$secret")"
    # Anchor first, then ours, so neither profits from a cache the other filled.
    t="$(now)"
    curl -sf -u "$COUCH_USER:$COUCH_PW" "$COUCH_URL/bsrc/_all_docs?include_docs=true" -o "$WORK/alldocs.json"
    local a_secs a_bytes
    a_secs="$(since "$t")"
    a_bytes="$(stat -c %s "$WORK/alldocs.json")"
    t="$(now)"
    curl -sf --cacert "$WORK/bserver/tls-cert.pem" -H "Authorization: Bearer $tok" \
        "$SERVER_URL/api/system/backup?type=full" -o "$WORK/backup.json"
    secs="$(since "$t")"
    bytes="$(stat -c %s "$WORK/backup.json")"
    n="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["docs"]))' "$WORK/backup.json")"
    stop_server
    echo "backup: $n documents, $bytes bytes in $(fmt 2 "$secs") s; _all_docs dump: $a_bytes bytes in $(fmt 2 "$a_secs") s"
    row 11 "full backup of $n documents (MB/s, docs/s)" \
        "$(calc "int($bytes / $secs / 1e6)") MB/s, $(calc "int($n / $secs)") docs/s ($(fmt 1 "$secs") s)" \
        "$(calc "int($a_bytes / $a_secs / 1e6)") MB/s, $(calc "int($n / $a_secs)") docs/s (_all_docs?include_docs=true, $(fmt 1 "$a_secs") s)" \
        "$(fmt 2 "$a_secs / $secs") (docs/s)" "≥ 0.8"

    # Anchor: the same documents into a fresh database with _bulk_docs.
    curl -sf -u "$COUCH_USER:$COUCH_PW" -X PUT "$COUCH_URL/bload" >/dev/null
    a_secs="$(python3 - "$WORK/backup.json" "$COUCH_URL" "$COUCH_USER" "$COUCH_PW" <<'PY'
import base64, http.client, json, sys, time, urllib.parse
docs = json.load(open(sys.argv[1]))["docs"]
u = urllib.parse.urlparse(sys.argv[2])
auth = "Basic " + base64.b64encode(f"{sys.argv[3]}:{sys.argv[4]}".encode()).decode()
bodies = [json.dumps({"docs": docs[i:i + 1000], "new_edits": False}).encode() for i in range(0, len(docs), 1000)]
c = http.client.HTTPConnection(u.hostname, u.port)
t = time.time()
for b in bodies:
    c.request("POST", "/bload/_bulk_docs", b, {"Content-Type": "application/json", "Authorization": auth})
    r = c.getresponse(); r.read()
    assert r.status < 300, r.status
print(time.time() - t)
PY
)"
    start_server bdst "$WORK/bdst" "$secret"
    tok="$(server_token "$WORK/bdst" "$secret")"
    t="$(now)"
    curl -sf --cacert "$WORK/bdst/tls-cert.pem" -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' --data-binary "@$WORK/backup.json" \
        "$SERVER_URL/api/system/restore" -o "$WORK/restore.json"
    secs="$(since "$t")"
    local restored
    restored="$(jq -r .restored_count "$WORK/restore.json")"
    stop_server
    echo "restore: $restored documents in $(fmt 2 "$secs") s; _bulk_docs load: $(fmt 2 "$a_secs") s"
    row 12 "restore of the $n-document full backup into a fresh database (MB/s, docs/s)" \
        "$(calc "int($bytes / $secs / 1e6)") MB/s, $(calc "int($restored / $secs)") docs/s ($(fmt 1 "$secs") s)" \
        "$(calc "int($bytes / $a_secs / 1e6)") MB/s, $(calc "int($n / $a_secs)") docs/s (_bulk_docs new_edits:false, batches of 1000, $(fmt 1 "$a_secs") s)" \
        "$(fmt 2 "$a_secs / $secs") (docs/s)" "≥ 0.8"
}

# The `remote` section (rows 7 and 8): two nodes on this machine.
RKEY=MOSAICFS_00000000000000BE
RSECRET="bench-remote-secret-$RANDOM$RANDOM"
RSRC="$WORK/remote-src"
OWNER=bench-owner
READER=bench-reader
READER_CONFIG="$WORK/reader.toml"

# couch_put DB DOC_ID JSON: create or overwrite one document.
couch_put() {
    local id rev url
    id="$(jq -rn --arg v "$2" '$v | @uri')"
    url="$COUCH_URL/$1/$id"
    rev="$(curl -sf -u "$COUCH_USER:$COUCH_PW" "$url" | jq -r '._rev // empty' || true)"
    curl -sf -u "$COUCH_USER:$COUCH_PW" -H 'Content-Type: application/json' -X PUT "$url" \
        -d "$(echo "$3" | jq --arg r "$rev" 'if $r == "" then . else . + {_rev: $r} end')" >/dev/null
}

# replicate_once SRC DST: one-shot replication between databases of the bench CouchDB.
replicate_once() {
    local auth
    auth="$(couch_auth_url)"
    curl -sf -u "$COUCH_USER:$COUCH_PW" -H 'Content-Type: application/json' -X POST \
        "$COUCH_URL/_replicate" \
        -d "{\"source\":\"$auth/$1\",\"target\":\"$auth/$2\",\"create_target\":true}" >/dev/null
}

# file_id_of DB NAME: the id of the active file document called NAME.
file_id_of() {
    curl -sf -u "$COUCH_USER:$COUCH_PW" \
        "$COUCH_URL/$1/_all_docs?include_docs=true&startkey=%22file%3A%3A%22&endkey=%22file%3A%3A%EF%BF%B0%22" \
        | jq -r --arg n "$2" '[.rows[].doc | select(.name == $n and .status == "active") | ._id][0] // empty'
}

# mount_reader CACHE_DIR [MOUNT ARGS...]: mounts the reader node's VFS;
# waits for /remote.
mount_reader() {
    mkdir -p "$MNT"
    RUST_LOG=warn MOSAICFS_LOG=warn "$BIN/mosaicfs-vfs" mount --config "$READER_CONFIG" --mountpoint "$MNT" \
        --cache-dir "$1" "${@:2}" >>"$WORK/reader-vfs.log" 2>&1 &
    VFS_PID=$!
    local deadline=$((SECONDS + 120))
    until [ -f "$MNT/remote/r8.bin" ]; do
        kill -0 "$VFS_PID" 2>/dev/null || die "mosaicfs-vfs (reader) exited: $(tail -5 "$WORK/reader-vfs.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "the reader's mount did not show /remote/r8.bin"
        sleep 0.2
    done
}

start_nginx() {
    local ng="$WORK/nginx" port
    port="$(free_port)"
    mkdir -p "$ng/tmp"
    cat >"$ng/nginx.conf" <<EOF
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $RSRC;
    }
}
EOF
    nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" -g 'daemon off;' >"$ng/stdout.log" 2>&1 &
    NGINX_PID=$!
    local deadline=$((SECONDS + 20))
    until curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/r7.bin"; do
        kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(tail -5 "$ng/error.log" "$ng/stdout.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "nginx did not serve r7.bin"
        sleep 0.1
    done
    NGINX_URL="http://127.0.0.1:$port"
}

bench_remote() {
    ensure_couch
    need_apt nginx
    need_cmd nginx
    # nginx's workers run as an unprivileged user: they must reach the files.
    chmod 755 "$WORK"
    mkdir -p "$RSRC" "$WORK/owner-state" "$WORK/reader-state" "$WORK/reader-watch"
    log "writing the remote files ($R7_MIB MiB and $R8_MIB MiB)..."
    head -c "$((R7_MIB * 1048576))" /dev/urandom >"$RSRC/r7.bin"
    head -c "$((R8_MIB * 1048576))" /dev/urandom >"$RSRC/r8.bin"

    # The control plane: issues the transfer tokens the reader's VFS sends.
    local sport fp
    sport="$(free_port)"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-server" --listen "127.0.0.1:$sport" --data-dir "$WORK/rserver" \
        --couchdb-url "$COUCH_URL" --couchdb-database control --couchdb-user "$COUCH_USER" \
        --couchdb-password "$COUCH_PW" --bootstrap-credential "$RKEY:$RSECRET" >"$WORK/rserver.log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until [ -f "$WORK/rserver/tls-cert.pem" ] && fp="$(curl -sf --cacert "$WORK/rserver/tls-cert.pem" \
        "https://127.0.0.1:$sport/health" | jq -r '.tls_fingerprint // empty')" && [ -n "$fp" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$WORK/rserver.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "the server did not start"
        sleep 0.2
    done

    # The owner: an agent with its transfer endpoint, crawling RSRC into its
    # own database (and pushing to the control plane's).
    local tport
    tport="$(free_port)"
    {
        printf '%s\n' "control_plane_url = \"https://127.0.0.1:$sport\"" \
            "control_plane_fingerprint = \"$fp\"" "access_key_id = \"$RKEY\"" "secret_key = \"$RSECRET\""
        agent_toml_rest "$RSRC" "$WORK/owner-state" "$OWNER" owner
        printf '\n[transfer]\nlisten = "127.0.0.1:%s"\n' "$tport"
    } >"$WORK/owner.toml"
    # The reader shares the credential (one key signs both nodes' requests;
    # the owner still checks a token per file).
    sed -e "s#^watch_paths = .*#watch_paths = [\"$WORK/reader-watch\"]#" \
        -e "s#^state_dir = .*#state_dir = \"$WORK/reader-state\"#" \
        -e "s#^node_id = .*#node_id = \"$READER\"#" \
        -e 's#^database = "owner"#database = "reader"#' \
        -e '/^\[transfer\]/,$d' "$WORK/owner.toml" >"$READER_CONFIG"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-agent" --config "$WORK/owner.toml" run >"$WORK/owner.log" 2>&1 &
    OWNER_PID=$!
    local r7id="" r8id=""
    deadline=$((SECONDS + 120))
    until [ -n "$r7id" ] && [ -n "$r8id" ]; do
        kill -0 "$OWNER_PID" 2>/dev/null || die "the owner agent exited: $(tail -5 "$WORK/owner.log")"
        [ "$SECONDS" -lt "$deadline" ] || die "the owner agent did not index r7.bin and r8.bin"
        sleep 0.3
        r7id="$(file_id_of owner r7.bin || true)"
        r8id="$(file_id_of owner r8.bin || true)"
    done
    # What replication would bring: the documents reach the control plane
    # and the reader's replica; the reader's node is registered to the key.
    replicate_once owner control
    replicate_once owner reader
    couch_put control "node::$READER" "{\"type\":\"node\",\"node_id\":\"$READER\",\"friendly_name\":\"bench reader\",\"status\":\"online\",\"access_key_id\":\"$RKEY\"}"
    "$BIN/mosaicfs-bench-util" vdir --url "$COUCH_URL" --database reader --username "$COUCH_USER" \
        --password "$COUCH_PW" --path /remote --node "$OWNER" --export "$RSRC" >&2
    start_nginx
    log "mounting the reader's VFS..."
    mount_reader "$WORK/rcache"

    # (7) first read through the mount vs curl from nginx, source warm;
    # three rounds, each a fresh VFS cache, alternating with nginx so both
    # see the same machine; medians by throughput.
    local bytes=$((R7_MIB * 1048576)) out ours=() ng=() dl=() i perf_pids=()
    cat "$RSRC/r7.bin" >/dev/null
    stop_vfs
    for i in 1 2 3; do
        ng+=("$(curl -sf -o /dev/null -w '%{time_total} %{time_starttransfer} %{size_download}' "$NGINX_URL/r7.bin")")
        # (7d) the same download keeping a copy on this disk, as a cache does.
        rm -f "$WORK/download.bin"
        dl+=("$(curl -sf -o "$WORK/download.bin" -w '%{time_total}' "$NGINX_URL/r7.bin")")
        rm -f "$WORK/download.bin"
        [ "$i" -gt 1 ] && rm -rf "$WORK/rcache"
        mount_reader "$WORK/rcache"
        if [ -n "${BENCH_PERF_DIR:-}" ] && [ "$i" -eq 3 ]; then
            mkdir -p "$BENCH_PERF_DIR"
            perf record -g -o "$BENCH_PERF_DIR/vfs.data" -p "$VFS_PID" >/dev/null 2>&1 &
            perf_pids+=($!)
            perf record -g -o "$BENCH_PERF_DIR/owner.data" -p "$OWNER_PID" >/dev/null 2>&1 &
            perf_pids+=($!)
            sleep 1
        fi
        out="$("$BIN/mosaicfs-remote-bench" seq --path "$MNT/remote/r7.bin")"
        for p in "${perf_pids[@]}"; do kill -INT "$p"; wait "$p" || true; done
        perf_pids=()
        echo "round $i: ours $out; nginx (total s, ttfb s, bytes) ${ng[-1]}"
        [ "$(echo "$out" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')" = "$bytes" ] || die "short read through the mount: $out"
        [ "$(echo "${ng[-1]}" | awk '{ print $3 }')" = "$bytes" ] || die "nginx sent ${ng[-1]}"
        ours+=("$(echo "$out" | sed -n 's/.*ttfb_ms=\([0-9.]*\).*mb_s=\([0-9.]*\).*/\2 \1/p')")
        [ "$i" -lt 3 ] && stop_vfs
    done
    local ours_med ng_med ng_mbs
    ours_med="$(printf '%s\n' "${ours[@]}" | sort -g | sed -n 2p)"
    ng_med="$(printf '%s\n' "${ng[@]}" | sort -g | sed -n 2p)"
    ng_mbs="$(calc "int($bytes / $(echo "$ng_med" | awk '{ print $1 }') / 1e6)")"
    row 7a "first read of a $R7_MIB MiB file on another node (Tier 4, loopback HTTP), MB/s and time to first byte" \
        "$(echo "$ours_med" | awk '{ print $1 }') MB/s, TTFB $(echo "$ours_med" | awk '{ print $2 }') ms (median of 3, fresh cache each)" \
        "$ng_mbs MB/s, TTFB $(echo "$ng_med" | awk '{ printf "%.2f", $2 * 1000 }') ms (curl ← nginx sendfile, median of 3)" \
        "$(calc "int(100 * $(echo "$ours_med" | awk '{ print $1 }') / $ng_mbs)") %" "≥ 80 %"
    # (7d) what any reader that keeps a copy (the plan's cache) pays: the
    # download alone, written to a file on the same disk.
    local dl_med
    dl_med="$(median "${dl[@]}")"
    row 7d "the 7a file downloaded into a file on the same disk (curl -o ← nginx: what keeping a copy costs)" \
        "$(echo "$ours_med" | awk '{ print $1 }') MB/s (7a)" \
        "$(calc "int($bytes / $dl_med / 1e6)") MB/s (curl -o FILE ← nginx sendfile, median of 3)" \
        "$(calc "int(100 * $(echo "$ours_med" | awk '{ print $1 }') * $dl_med * 1e6 / $bytes)") %" "report"
    if cmp -s "$MNT/remote/r7.bin" "$RSRC/r7.bin"; then echo "r7.bin through the mount equals the source"; else die "r7.bin differs through the mount"; fi

    # (8) random 1 MiB reads in block mode, source warm.
    cat "$RSRC/r8.bin" >/dev/null
    out="$("$BIN/mosaicfs-remote-bench" random --path "$MNT/remote/r8.bin" --reads "$R8_READS" --size 1048576)"
    echo "$out"
    local p95 p50
    p95="$(echo "$out" | sed -n 's/.*p95_ms=\([0-9.]*\).*/\1/p')"
    p50="$(echo "$out" | sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p')"
    row 8a "$R8_READS random 1 MiB reads of a $R8_MIB MiB remote file (block mode), p95" \
        "p95 $p95 ms (p50 $p50 ms)" "—" "—" "p95 < 50 ms"

    # (8) a viewing pattern on a fresh cache, then the interval count.
    stop_vfs
    mount_reader "$WORK/rcache-view"
    out="$("$BIN/mosaicfs-remote-bench" view --path "$MNT/remote/r8.bin" --scale "$(calc "$R8_MIB / 4096")")"
    echo "$out"
    local iv
    iv="$("$BIN/mosaicfs-remote-bench" intervals --index-db "$WORK/rcache-view/index.db" --file-id "$r8id")"
    echo "$iv"
    row 8b "block-map intervals after a viewing pattern on the $R8_MIB MiB file (probe head+tail, play, 4 seeks ahead, 1 back, 1 ahead)" \
        "$(echo "$iv" | sed -n 's/.*count=\([0-9]*\).*/\1/p') intervals (first frame $(echo "$out" | sed -n 's/.*ttff_ms=\([0-9.]*\).*/\1/p') ms, slowest seek $(echo "$out" | sed -n 's/.*seek_max_ms=\([0-9.]*\).*/\1/p') ms)" \
        "—" "—" "< 20"
    stop_vfs

    # (7b) the second read, from the VFS cache, cold page caches, vs cat cold.
    mount_reader "$WORK/rcache"
    local cold=1 direct
    drop_caches || cold=0
    out="$("$BIN/mosaicfs-remote-bench" seq --path "$MNT/remote/r7.bin")"
    echo "$out (second read)"
    ours_mbs="$(echo "$out" | sed -n 's/.*mb_s=\([0-9.]*\).*/\1/p')"
    [ "$cold" -eq 1 ] && drop_caches
    direct="$(time_cmd cat "$RSRC/r7.bin")"
    row 7b "second read of the same file (from the VFS cache$([ "$cold" -eq 1 ] && echo ', cold page cache'))" \
        "$ours_mbs MB/s" "$(calc "int($bytes / $direct / 1e6)") MB/s (cat of the source$([ "$cold" -eq 1 ] && echo ', cold'))" \
        "$(calc "int(100 * $ours_mbs * $direct * 1e6 / $bytes)") %" "report"
    # (7c) the same once more with the cache file in the page cache (a
    # complete cached copy is passed through to the kernel).
    stop_vfs
    mount_reader "$WORK/rcache"
    cat "$WORK"/rcache/files/*/* >/dev/null
    out="$("$BIN/mosaicfs-remote-bench" seq --path "$MNT/remote/r7.bin")"
    echo "$out (third read, cache file in the page cache)"
    ours_mbs="$(echo "$out" | sed -n 's/.*mb_s=\([0-9.]*\).*/\1/p')"
    row 7c "read of the cached file, its cache file in the page cache (passed through to the cache file since e3417e3)" \
        "$ours_mbs MB/s" "$ng_mbs MB/s (nginx, 7a)" "$(calc "int(100 * $ours_mbs / $ng_mbs)") %" "report"
    stop_vfs
    # (7e) the same read served by the daemon (no passthrough): the FUSE
    # request path alone, with nothing to receive and nothing to write. No
    # first read, which also receives and writes the cache, can beat it.
    local ceil=()
    for i in 1 2 3; do
        mount_reader "$WORK/rcache" --no-passthrough
        out="$("$BIN/mosaicfs-remote-bench" seq --path "$MNT/remote/r7.bin")"
        echo "round $i: $out (the cached file served by the daemon)"
        ceil+=("$(echo "$out" | sed -n 's/.*mb_s=\([0-9.]*\).*/\1/p')")
        stop_vfs
    done
    ours_mbs="$(median "${ceil[@]}")"
    row 7e "ceiling of a read the daemon serves: the cached file through --no-passthrough, cache file in the page cache" \
        "$ours_mbs MB/s (median of 3; 7a is $(calc "int(100 * $(echo "$ours_med" | awk '{ print $1 }') / $ours_mbs)") % of it)" \
        "$ng_mbs MB/s (nginx, 7a)" "$(calc "int(100 * $ours_mbs / $ng_mbs)") %" "report"
    kill "$NGINX_PID" 2>/dev/null && wait_for_pid_exit "$NGINX_PID" 10 || true
    NGINX_PID=""
    kill "$OWNER_PID" 2>/dev/null && wait_for_pid_exit "$OWNER_PID" 15 || true
    OWNER_PID=""
    kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    SERVER_PID=""
}

# The `web` section (rows W1–W5): the web UI in Chromium over a seeded index.
bench_web() {
    ensure_couch
    local dist key=MOSAICFS_00000000000000EB secret="bench-web-secret-$RANDOM$RANDOM"
    dist="${BENCH_WEB_DIST:-$("$REPO_ROOT/scripts/web.sh" build | tail -n 1)}"
    log "seeding $WFILES documents and a directory of $WFLAT..."
    "$BIN/mosaicfs-seed" --url "$COUCH_URL" --database webbench --username "$COUCH_USER" \
        --password "$COUCH_PW" --files "$WFILES" --nodes 5 \
        --flat-dir /data/node-bench-0/big --flat-files "$WFLAT" >&2
    local sport
    sport="$(free_port)"
    MOSAICFS_LOG=warn "$BIN/mosaicfs-server" --listen "127.0.0.1:$sport" --data-dir "$WORK/web-server" \
        --couchdb-url "$COUCH_URL" --couchdb-database webbench --couchdb-user "$COUCH_USER" \
        --couchdb-password "$COUCH_PW" --web-dir "$dist" \
        --bootstrap-credential "$key:$secret" >"$WORK/web-server.log" 2>&1 &
    SERVER_PID=$!
    local deadline=$(($(date +%s) + 30))
    until [ -f "$WORK/web-server/tls-cert.pem" ]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$WORK/web-server.log")"
        [ "$(date +%s)" -ge "$deadline" ] && die "the server did not start"
        sleep 0.2
    done
    local out base="https://127.0.0.1:$sport"
    out="$(cd "$REPO_ROOT/web" && BENCH_BASE="$base" BENCH_KEY="$key" BENCH_SECRET="$secret" \
        BENCH_FLAT_NODE=node-bench-0 BENCH_FLAT_DIR=/data/node-bench-0/big BENCH_FLAT_FILES="$WFLAT" \
        BENCH_NODES=node-bench-0,node-bench-1,node-bench-2,node-bench-3,node-bench-4 \
        node bench/web-bench.mjs)" || die "web-bench failed (server log: $WORK/web-server.log)"
    echo "web: $out"
    j() { echo "$out" | jq -r "$1"; }
    # The anchor for W4: the same listing fetched by curl (the bytes the page waits for).
    local token api_s=()
    token="$(curl -sf --cacert "$WORK/web-server/tls-cert.pem" -H 'Content-Type: application/json' \
        -d "{\"access_key_id\":\"$key\",\"secret_key\":\"$secret\"}" "$base/api/auth/login" | jq -r .token)"
    for _ in 1 2 3; do
        api_s+=("$(curl -sf -o /dev/null -w '%{time_total}' --cacert "$WORK/web-server/tls-cert.pem" \
            -H "Authorization: Bearer $token" --compressed "$base/api/vfs?path=/big")")
    done
    local api_ms cold_ms
    api_ms="$(calc "$(median "${api_s[@]}") * 1000")"
    cold_ms="$(j .big_first_rows_cold_ms_median)"
    row W1 "JS shipped for the first page (login), bytes on the wire" \
        "$(calc "int($(j .first_page_js_bytes) / 1024)") KB in $(j .first_page_js_files) files (+ $(calc "int($(j .first_page_css_bytes) / 1024)") KB CSS; $(calc "int($(j .dashboard_js_bytes) / 1024)") KB JS once the dashboard shows)" \
        "—" "—" "< 250 KB"
    row W2 "login → dashboard painted, $WFILES file documents indexed (3 cold browser profiles)" \
        "$(j .dashboard_ms_median) ms median ($(j '.dashboard_ms | join(", ")') ms)" "—" "—" "< 1500 ms"
    row W3 "browser replica after its first sync, $WFILES files indexed" \
        "$(calc "int($(j '.replica_storage.indexedDB // .replica_storage.total // 0') / 1024)") KB IndexedDB, $(j .replica_docs) documents, live after $(j .replica_live_ms_median) ms median" \
        "—" "—" "< 50 MB, < 30 s"
    row W4 "a $WFLAT-entry directory: first rows painted (cold, median of 3; cached $(fmt 0 "$(j .big_first_rows_cached_ms_median)") ms)" \
        "$(fmt 0 "$cold_ms") ms" "$(fmt 0 "$api_ms") ms (curl of GET /api/vfs, gzip)" "$(fmt 2 "$cold_ms / $api_ms")x" "< 300 ms"
    row W5 "scrolling it for 4 s, one step a frame" \
        "$(fmt 1 "$(j .scroll.fps)") fps, $(j .scroll.dropped) of $(j .scroll.frames) frames dropped (frame $(fmt 1 "$(j .scroll.frameMs)") ms, worst $(fmt 0 "$(j .scroll.worstMs)") ms)" \
        "—" "—" "60 fps"
    kill "$SERVER_PID" 2>/dev/null && wait_for_pid_exit "$SERVER_PID" 10 || true
    SERVER_PID=""
}

log "building (release)..."
# The agent and the VFS only for the sections that run them.
PKGS=(-p mosaicfs-server -p mosaicfs-bench)
case " ${WHAT[*]} " in *" local "* | *" remote "*) PKGS+=(-p mosaicfs-agent -p mosaicfs-vfs) ;; esac
(cd "$REPO_ROOT" && cargo build --release -q "${PKGS[@]}")
for w in "${WHAT[@]}"; do
    "bench_$w"
done
log "results in $OUT:"
cat "$OUT"
