#!/usr/bin/env bash
# Installs what the tests and the demo need beyond the base image (Debian 12 with
# the Rust toolchain, cargo-nextest, node and npm). Idempotent; a no-op in about a
# second when everything is present. Runs apt-get as root (or via sudo).
set -euo pipefail

SCRIPT_NAME=install-deps.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Debian package -> the command that shows it is present, and why we need it:
#   fuse3   fusermount3  mounting the VFS (arrives with issue #5)
#   jq      jq           demo.sh and ad-hoc checks parse CouchDB JSON
#   curl    curl         couchdb.sh and demo.sh talk HTTP
#   python3 python3      lib.sh free_port; YAML check of the compose files
#   nodejs  node         runs pouchdb-server, the dev/test CouchDB stand-in
#   npm     npm          installs pouchdb-server (scripts/couchdb/package-lock.json)
# The web UI's Node packages and Debian's chromium: scripts/web.sh install (below).
# Presence is judged by the command, so a node or python from elsewhere counts.
DEPS=(
    fuse3:fusermount3
    jq:jq
    curl:curl
    python3:python3
    nodejs:node
    npm:npm
    docker-compose:docker-compose
    util-linux:setpriv
)

missing=()
for dep in "${DEPS[@]}"; do
    command -v "${dep#*:}" >/dev/null 2>&1 || missing+=("${dep%%:*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if command -v dpkg-query >/dev/null 2>&1; then
        need_apt "${missing[@]}"
    else
        die "missing: ${missing[*]}; install them with your package manager"
    fi
fi

"$REPO_ROOT/scripts/couchdb.sh" install
# npm ci in web/ and Debian's chromium for the browser tests.
"$REPO_ROOT/scripts/web.sh" install
# schemathesis (pinned in fuzz-api.sh) from PyPI, for the API fuzzing step.
"$REPO_ROOT/scripts/fuzz-api.sh" install
