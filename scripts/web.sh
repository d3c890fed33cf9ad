#!/usr/bin/env bash
# The web UI (web/): install, build, unit tests, end-to-end tests in Chromium.
#
#   web.sh install   npm ci in web/ when node_modules is missing or older than
#                    the lockfile; Debian's chromium for the browser tests.
#   web.sh build     type-check and build web/dist with .gz siblings of the
#                    text assets (skipped when dist is newer than every
#                    source file); prints the dist path
#   web.sh test      type-check and run the unit tests (vitest)
#   web.sh e2e       end-to-end tests: starts the demo stack (scripts/demo.sh)
#                    on free ports in a temporary directory, runs web/e2e/*.test.mjs
#                    with node's test runner in headless Chromium, stops the
#                    stack. Screenshots and axe reports land in web/e2e/out/.
#                    Uses the debug binaries in target/ (cargo build them first)
#                    unless MOSAICFS_DEMO_{SERVER,AGENT,VFS}_BIN are set.
set -euo pipefail

SCRIPT_NAME=web.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WEB="$REPO_ROOT/web"
STAMP="$WEB/node_modules/.mosaicfs-install-stamp"

lock_hash() {
    { cat "$WEB/package-lock.json"; node -p 'process.versions.modules' 2>/dev/null; } | sha256sum | cut -d' ' -f1
}

cmd_install() {
    need_cmd npm "install nodejs and npm (scripts/install-deps.sh does)"
    if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(lock_hash)" ]; then
        log "npm ci in web/ ..."
        (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in web/ failed"
        lock_hash >"$STAMP"
    fi
    # The browser tests drive Debian's Chromium (a test tool's own browser
    # download cannot work here).
    if [ ! -x /usr/bin/chromium ]; then
        need_apt chromium fonts-dejavu-core
    fi
}

# True when web/dist is missing or older than a source file or the lockfile.
needs_build() {
    [ -f "$WEB/dist/index.html" ] || return 0
    [ -n "$(find "$WEB/src" "$WEB/index.html" "$WEB/package-lock.json" "$WEB/vite.config.ts" "$WEB/tsconfig.json" \
        -newer "$WEB/dist/index.html" -print -quit 2>/dev/null)" ]
}

cmd_build() {
    cmd_install
    if needs_build; then
        log "building the web UI ..."
        (cd "$WEB" && npx tsc -b >&2 && npx vite build --logLevel warn >&2) || die "web build failed"
        # Precompressed siblings: the server sends foo.js.gz for foo.js to a
        # client that accepts gzip, so nothing is compressed per request.
        find "$WEB/dist" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \) \
            -exec gzip -9 -n -k -f {} +
    fi
    echo "$WEB/dist"
}

cmd_test() {
    cmd_install
    (cd "$WEB" && npx tsc -b && npx vitest run)
}

cmd_e2e() {
    cmd_build >/dev/null
    local target="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug"
    export MOSAICFS_DEMO_SERVER_BIN="${MOSAICFS_DEMO_SERVER_BIN:-$target/mosaicfs-server}"
    export MOSAICFS_DEMO_AGENT_BIN="${MOSAICFS_DEMO_AGENT_BIN:-$target/mosaicfs-agent}"
    export MOSAICFS_DEMO_VFS_BIN="${MOSAICFS_DEMO_VFS_BIN:-$target/mosaicfs-vfs}"
    local b
    for b in "$MOSAICFS_DEMO_SERVER_BIN" "$MOSAICFS_DEMO_AGENT_BIN" "$MOSAICFS_DEMO_VFS_BIN"; do
        [ -x "$b" ] || die "$b not found: cargo build -p mosaicfs-server -p mosaicfs-agent -p mosaicfs-vfs first"
    done
    # Global, not local: the EXIT trap runs after this function has returned.
    E2E_DIR="$(mktemp -d /tmp/mosaicfs-e2e.XXXXXX)"
    local dir="$E2E_DIR"
    export MOSAICFS_DEMO_DIR="$dir"
    MOSAICFS_DEMO_CP_PORT="$(free_port)"
    MOSAICFS_DEMO_AGENT_PORT="$(free_port)"
    MOSAICFS_DEMO_SERVER_PORT="$(free_port)"
    MOSAICFS_DEMO_TRANSFER_PORT="$(free_port)"
    MOSAICFS_DEMO_NODE2_DB_PORT="$(free_port)"
    MOSAICFS_DEMO_NODE2_TRANSFER_PORT="$(free_port)"
    export MOSAICFS_DEMO_CP_PORT MOSAICFS_DEMO_AGENT_PORT MOSAICFS_DEMO_SERVER_PORT MOSAICFS_DEMO_TRANSFER_PORT \
        MOSAICFS_DEMO_NODE2_DB_PORT MOSAICFS_DEMO_NODE2_TRANSFER_PORT
    stop_stack() {
        "$REPO_ROOT/scripts/demo.sh" stop >/dev/null 2>&1 || true
        rm -rf "$E2E_DIR"
    }
    trap stop_stack EXIT
    log "starting the demo stack in $dir"
    "$REPO_ROOT/scripts/demo.sh" start >"$dir/demo.out" 2>&1 || { tail -n 40 "$dir/demo.out" >&2; die "the demo stack did not start"; }
    export MOSAICFS_E2E_BASE="https://127.0.0.1:$MOSAICFS_DEMO_SERVER_PORT"
    export MOSAICFS_E2E_DEMO_DIR="$dir"
    export MOSAICFS_E2E_COUCHDB="http://127.0.0.1:$MOSAICFS_DEMO_CP_PORT"
    rm -rf "$WEB/e2e/out"  # screenshots and axe reports of this run only
    mkdir -p "$WEB/e2e/out"
    (cd "$WEB" && node --test --test-concurrency=1 --test-timeout=180000 "$@" e2e/*.test.mjs)
}

case "${1:-}" in
    install) cmd_install ;;
    build) cmd_build ;;
    test) cmd_test ;;
    e2e) shift; cmd_e2e "$@" ;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
