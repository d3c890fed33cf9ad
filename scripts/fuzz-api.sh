#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis, driven by the server's own OpenAPI
# description (GET /api/openapi.json).
#
#   fuzz-api.sh           run the fuzzer (below)
#   fuzz-api.sh install   only install schemathesis (scripts/install-deps.sh)
#
# A run:
#   1. installs schemathesis (pinned) from PyPI if it is missing,
#   2. builds target/debug/mosaicfs-server (a no-op when up to date),
#   3. starts a pouchdb-server (scripts/couchdb.sh) and the server with a
#      bootstrap credential, each on a free port,
#   4. logs in, creates a few things for path parameters to name, and runs
#      schemathesis with the bearer token (agent requests signed with HMAC by
#      scripts/fuzz/hooks.py), checking that no answer is a 5xx and that every
#      answer matches its documented schema,
#   5. prints the summary and exits non-zero on any failure.
# The run is bounded by its example count, not by the clock: a slow or busy
# machine takes longer but tests the same cases. The timeout is only a safety
# net against a hang; when it stops a run in which nothing failed, the script
# reports how far it got and succeeds (a slow machine is not a failure).
# Everything it started is stopped on exit. Environment:
#   MOSAICFS_FUZZ_EXAMPLES   test cases per operation (default 50)
#   MOSAICFS_FUZZ_SEED       seed, to replay a run (default random; printed)
#   MOSAICFS_FUZZ_TIMEOUT    safety net: seconds before schemathesis is stopped
#                            (default 900; see above)
set -euo pipefail

SCRIPT_NAME=fuzz-api.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SCHEMATHESIS_VERSION=4.32.5
KEY=MOSAICFS_00000000000000F2
SECRET=fuzz-bootstrap-secret-0123
EXAMPLES=${MOSAICFS_FUZZ_EXAMPLES:-50}
SEED=${MOSAICFS_FUZZ_SEED:-$RANDOM$RANDOM}
TIMEOUT=${MOSAICFS_FUZZ_TIMEOUT:-900}

# Installs the pinned schemathesis unless it is already there. Debian's own
# python refuses pip into the system (PEP 668); then it goes to the user site.
install_schemathesis() {
    need_cmd python3 "install python3 (scripts/install-deps.sh)"
    if [ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null)" \
        = "$SCHEMATHESIS_VERSION" ]; then
        return 0
    fi
    python3 -m pip --version >/dev/null 2>&1 || need_apt python3-pip
    log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI..."
    python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages \
            "schemathesis==$SCHEMATHESIS_VERSION" \
        || die "pip install schemathesis==$SCHEMATHESIS_VERSION failed (is PyPI reachable?)"
}

case "${1:-run}" in
    install)
        install_schemathesis
        exit 0
        ;;
    run) ;;
    *) die "usage: fuzz-api.sh [install]" ;;
esac

install_schemathesis
need_cmd curl "install curl (scripts/install-deps.sh)"
need_cmd jq "install jq (scripts/install-deps.sh)"

cargo build --quiet -p mosaicfs-server
server_bin="$REPO_ROOT/target/debug/mosaicfs-server"
[ -x "$server_bin" ] || die "$server_bin is missing after the build"

work=$(mktemp -d /tmp/mosaicfs-fuzz.XXXXXX)
server_pid=
cleanup() {
    local status=$?
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait_for_pid_exit "$server_pid" 10 || kill -9 "$server_pid" 2>/dev/null || true
    fi
    scripts/couchdb.sh stop --dir "$work/couch" >/dev/null 2>&1 || true
    if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
        log "last lines of the server log:"
        grep -E 'ERROR|panicked' "$work/server.log" | tail -n 20 >&2 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

couch_url=$(scripts/couchdb.sh start --port "$(free_port)" --dir "$work/couch" \
    --user admin --password fuzz-password)
port=$(free_port)
base="https://127.0.0.1:$port"
MOSAICFS_LOG=info "$server_bin" \
    --listen "127.0.0.1:$port" \
    --data-dir "$work/data" \
    --couchdb-url "$couch_url" \
    --couchdb-database mosaicfs_fuzz \
    --couchdb-user admin \
    --couchdb-password fuzz-password \
    --bootstrap-credential "$KEY:$SECRET" \
    --node-id fuzz-server \
    >"$work/server.log" 2>&1 &
server_pid=$!

# -k: the server presents its own self-signed certificate, generated at start;
# there is nothing to verify it against here but itself.
deadline=$((SECONDS + 30))
until curl -ksf "$base/health" >/dev/null 2>&1; do
    kill -0 "$server_pid" 2>/dev/null || die "mosaicfs-server exited; see $work/server.log"
    [ "$SECONDS" -lt "$deadline" ] || die "mosaicfs-server did not answer /health in 30 s"
    sleep 0.2
done
token=$(curl -ksf -X POST "$base/api/auth/login" -H 'content-type: application/json' \
    -d "{\"access_key_id\":\"$KEY\",\"secret_key\":\"$SECRET\"}" | jq -r .token)
if [ -z "$token" ] || [ "$token" = null ]; then
    die "login with the bootstrap credential failed"
fi

# Things for the path parameters to name (scripts/fuzz/hooks.py puts them in
# about half of the generated cases, so those handlers run instead of 404).
# The credential is a throwaway: the bootstrap one signs the agent requests.
api() {
    curl -ksf -H "Authorization: Bearer $token" -H 'content-type: application/json' "$@"
}
api -X POST "$base/api/nodes" -d "{\"node_id\":\"fuzz-node\",\"friendly_name\":\"fuzz node\",\"platform\":\"linux\",\"access_key_id\":\"$KEY\"}" >/dev/null \
    || die "seeding: registering fuzz-node failed"
api -X POST "$base/api/nodes" -d "{\"node_id\":\"fuzz-nas\",\"friendly_name\":\"fuzz NAS\",\"platform\":\"linux\",\"access_key_id\":\"$KEY\"}" >/dev/null \
    || die "seeding: registering fuzz-nas failed"
# A file on the server's own node (served from its disk) for {file_id}.
mkdir -p "$work/files"
printf 'fuzz file\n' >"$work/files/fuzz.txt"
api -X POST "$base/api/nodes" -d "{\"node_id\":\"fuzz-server\",\"friendly_name\":\"fuzz server\",\"platform\":\"linux\",\"access_key_id\":\"$KEY\",\"watch_paths\":[\"$work/files\"]}" >/dev/null \
    || die "seeding: registering fuzz-server failed"
file_id=file::0190c0de5b6f7a3e8c1d2e3f4a5bf022
curl -sf -u admin:fuzz-password -X PUT "$couch_url/mosaicfs_fuzz/$file_id" -H 'content-type: application/json' \
    -d "{\"type\":\"file\",\"inode\":4242,\"name\":\"fuzz.txt\",\"size\":10,\"mtime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"mime_type\":\"text/plain\",\"status\":\"active\",\"source\":{\"node_id\":\"fuzz-server\",\"export_path\":\"$work/files/fuzz.txt\",\"export_parent\":\"$work/files\"}}" >/dev/null \
    || die "seeding: writing the file document failed"
seed_key=$(api -X POST "$base/api/credentials" -d '{"name":"fuzz target"}' | jq -r .access_key_id)
rule_id=$(api -X POST "$base/api/labels/rules" \
    -d '{"name":"fuzz rule","node_id":"fuzz-node","path_prefix":"/srv/","labels":["fuzz"],"enabled":true}' | jq -r ._id)
mount_id=$(api -X POST "$base/api/nodes/fuzz-node/mounts" \
    -d '{"remote_node_id":"fuzz-nas","remote_base_export_path":"/srv","local_mount_path":"/mnt/nas","mount_type":"nfs","priority":1}' \
    | jq -r .mount_id)
api -X POST "$base/api/vfs/directories" -d '{"virtual_path":"/fuzz"}' >/dev/null \
    || die "seeding: creating /fuzz failed"
for v in "$seed_key" "$rule_id" "$mount_id"; do
    { [ -n "$v" ] && [ "$v" != null ]; } || die "seeding failed (credential $seed_key, rule $rule_id, mount $mount_id)"
done
MOSAICFS_FUZZ_SEEDED=$(jq -nc --arg k "$seed_key" --arg r "$rule_id" --arg m "$mount_id" --arg f "$file_id" \
    '{node_id: "fuzz-node", access_key_id: $k, rule_id: $r, mount_id: $m, path: "fuzz", file_id: $f}')
export MOSAICFS_FUZZ_SEEDED MOSAICFS_FUZZ_KEY=$KEY MOSAICFS_FUZZ_SECRET=$SECRET
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$REPO_ROOT/scripts/fuzz${PYTHONPATH:+:$PYTHONPATH}"

log "fuzzing $base (schemathesis $SCHEMATHESIS_VERSION, $EXAMPLES examples per operation, seed $SEED)"
# --tls-verify false: the same self-signed certificate as above.
# --workers 1: hypothesis 6.x races in its lambda-source cache with several
# workers ("AST constructor recursion depth mismatch"), a tool error.
# Logout is excluded: it would revoke the token the rest of the run uses.
set +e
# From the scratch directory: schemathesis keeps its cache (.schemathesis/)
# in the working directory, which must not be the repository.
(cd "$work" && timeout --signal=INT "$TIMEOUT" python3 -m schemathesis.cli run "$base/api/openapi.json" \
    --header "Authorization: Bearer $token" \
    --tls-verify false \
    --checks not_a_server_error,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 20 \
    --exclude-path /api/auth/logout \
    --suppress-health-check all \
    --no-color) 2>&1 | tee "$work/fuzz.out"
status=${PIPESTATUS[0]}
set -e
# The summary's "Test cases:" line: "N generated, N passed[, M failed][, K errored]".
cases="$(grep -A1 '^Test cases:' "$work/fuzz.out" | tail -n 1 | sed 's/^ *//')"
if [ "$status" -eq 124 ]; then
    # Stopping schemathesis cuts the request in flight, which it reports as
    # one "errored" case (a network error); more than one is a real error.
    failed="$(echo "$cases" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')"
    errored="$(echo "$cases" | sed -n 's/.* \([0-9]*\) errored.*/\1/p')"
    if [ -n "$cases" ] && [ "${failed:-0}" -eq 0 ] && [ "${errored:-0}" -le 1 ]; then
        log "warning: stopped by the ${TIMEOUT}s safety timeout before every example ran (a slow machine); nothing failed: $cases"
        exit 0
    fi
    die "schemathesis was stopped after ${TIMEOUT}s with failures or no summary ($cases; replay with MOSAICFS_FUZZ_SEED=$SEED)"
fi
[ "$status" -eq 0 ] || die "schemathesis found failures (exit $status; replay with MOSAICFS_FUZZ_SEED=$SEED)"
log "no failures: $cases"
