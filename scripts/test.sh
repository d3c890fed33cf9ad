#!/usr/bin/env bash
# Runs every check CI runs, in order, stopping at the first failure:
#   1. scripts/install-deps.sh
#   2. cargo fmt --all --check                              (skipped if MOSAICFS_TEST_SKIP_LINT=1)
#   3. cargo clippy --workspace --all-targets -- -D warnings (skipped if MOSAICFS_TEST_SKIP_LINT=1)
#   4. cargo nextest run --workspace  (cargo test --workspace without nextest);
#      extra arguments are passed on, e.g. scripts/test.sh -E 'test(crawl)'
#   5. the web UI: type check and unit tests (vitest), then the end-to-end tests
#      in headless Chromium against the demo stack (scripts/web.sh e2e;
#      skipped if MOSAICFS_TEST_SKIP_WEB_E2E=1)
#   6. scripts/fuzz-api.sh: schemathesis against a running server's OpenAPI
#      (skipped if MOSAICFS_TEST_SKIP_FUZZ=1)
#   7. docker-compose*.yml validation (docker compose config, else a YAML parse)
# Integration tests start their own pouchdb-server through scripts/couchdb.sh.
set -euo pipefail

SCRIPT_NAME=test.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

step() {
    local name=$1 start=$SECONDS
    shift
    log "== $name: $*"
    "$@" || die "$name failed (exit $?)"
    log "== $name ok ($((SECONDS - start))s)"
}

# Compose files need their required variables to render; dummy values suffice.
validate_compose() {
    local f
    if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
        for f in docker-compose.yml docker-compose.dev.yml; do
            COUCHDB_PASSWORD=validate docker compose -f "$f" config -q || return 1
        done
        log "compose files valid (docker compose config)"
    elif command -v docker-compose >/dev/null 2>&1; then
        for f in docker-compose.yml docker-compose.dev.yml; do
            COUCHDB_PASSWORD=validate docker-compose -f "$f" config -q || return 1
        done
        log "compose files valid (docker-compose config)"
    elif command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
        python3 - docker-compose.yml docker-compose.dev.yml <<'EOF' || return 1
import sys, yaml
for path in sys.argv[1:]:
    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict) or not services:
        sys.exit(f"{path}: no services")
    for name, svc in services.items():
        if not ("image" in svc or "build" in svc):
            sys.exit(f"{path}: service {name} has neither image nor build")
        for dep in svc.get("depends_on", {}) or {}:
            if dep not in services:
                sys.exit(f"{path}: service {name} depends on unknown service {dep}")
EOF
        log "note: 'docker compose' is not available; compose files only checked as YAML"
    else
        log "note: neither 'docker compose' nor python3-yaml available; compose files not validated"
    fi
}

# A committed Cargo.lock must be up to date: CI builds exactly what was reviewed.
locked=()
[ -f Cargo.lock ] && locked=(--locked)

# A CI run builds once from scratch: incremental caches only cost disk there.
if [ -n "${CI:-}" ]; then
    export CARGO_INCREMENTAL=0
fi

total_start=$SECONDS
step "install-deps" scripts/install-deps.sh

if [ "${MOSAICFS_TEST_SKIP_LINT:-}" = 1 ]; then
    log "MOSAICFS_TEST_SKIP_LINT=1: skipping fmt and clippy"
else
    step "fmt" cargo fmt --all --check
    step "clippy" cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings
fi

# Two shared CouchDB-protocol servers for the whole run (tests make their own
# databases on them); without these variables each test process would start
# its own servers through scripts/couchdb.sh.
couch_dir=$(mktemp -d /tmp/mosaicfs-test-couch.XXXXXX)
stop_couch() {
    scripts/couchdb.sh stop --dir "$couch_dir/a" >/dev/null 2>&1 || true
    scripts/couchdb.sh stop --dir "$couch_dir/b" >/dev/null 2>&1 || true
    rm -rf "$couch_dir"
}
trap stop_couch EXIT
export MOSAICFS_TEST_COUCHDB_USER=admin MOSAICFS_TEST_COUCHDB_PASSWORD=test-password
MOSAICFS_TEST_COUCHDB_A=$(scripts/couchdb.sh start --port "$(free_port)" --dir "$couch_dir/a" \
    --user admin --password test-password)
MOSAICFS_TEST_COUCHDB_B=$(scripts/couchdb.sh start --port "$(free_port)" --dir "$couch_dir/b" \
    --user admin --password test-password)
export MOSAICFS_TEST_COUCHDB_A MOSAICFS_TEST_COUCHDB_B
log "test CouchDB servers: a=$MOSAICFS_TEST_COUCHDB_A b=$MOSAICFS_TEST_COUCHDB_B"

# The agent's init tests run the real server binary; the web UI's end-to-end
# tests run all three.
step "build binaries" cargo build "${locked[@]}" -p mosaicfs-server -p mosaicfs-agent -p mosaicfs-vfs

if cargo nextest --version >/dev/null 2>&1; then
    step "tests" cargo nextest run --workspace "${locked[@]}" --no-fail-fast "$@"
else
    log "cargo-nextest not found; falling back to cargo test"
    step "tests" cargo test --workspace "${locked[@]}" --no-fail-fast "$@"
fi

step "bench-quick" scripts/bench.sh --quick

step "web-unit" scripts/web.sh test
if [ "${MOSAICFS_TEST_SKIP_WEB_E2E:-}" = 1 ]; then
    log "MOSAICFS_TEST_SKIP_WEB_E2E=1: skipping the web UI's end-to-end tests"
else
    step "web-e2e" scripts/web.sh e2e
fi

if [ "${MOSAICFS_TEST_SKIP_FUZZ:-}" = 1 ]; then
    log "MOSAICFS_TEST_SKIP_FUZZ=1: skipping the API fuzzing"
else
    step "fuzz-api" scripts/fuzz-api.sh
fi

step "compose" validate_compose

log "all checks passed in $((SECONDS - total_start))s"
