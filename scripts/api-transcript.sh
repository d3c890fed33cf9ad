#!/usr/bin/env bash
# A curl session against the running demo (scripts/demo.sh start): login,
# whoami, a paginated walk of /api/files, labels and a labelled search, a
# ranged download of a file that lives on the agent (fetched by the server
# from the agent's transfer endpoint) compared byte for byte with the source,
# and the requests the API must refuse. Prints each command and its answer.
set -euo pipefail

SCRIPT_NAME=api-transcript.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEMO_DIR="${MOSAICFS_DEMO_DIR:-/tmp/mosaicfs-demo}"
API="https://127.0.0.1:${MOSAICFS_DEMO_SERVER_PORT:-8443}"
CERT="$DEMO_DIR/server/tls-cert.pem"
KEY=MOSAICFS_0123456789ABCDEF
SECRET=demo-secret-key-0123456789
SAMPLE="$DEMO_DIR/sample"
[ -f "$CERT" ] || die "no demo running (start it with scripts/demo.sh)"

c() { curl -sS --cacert "$CERT" "$@"; }
show() { printf '\n$ %s\n' "$*"; }

show "curl -X POST $API/api/auth/login -d '{\"access_key_id\":\"$KEY\",\"secret_key\":\"…\"}'"
LOGIN=$(c -X POST "$API/api/auth/login" -H 'content-type: application/json' \
    -d "{\"access_key_id\":\"$KEY\",\"secret_key\":\"$SECRET\"}")
echo "$LOGIN" | jq '{token: (.token[0:24] + "…"), expires_at, access_key_id}'
TOKEN=$(echo "$LOGIN" | jq -r .token)
auth=(-H "Authorization: Bearer $TOKEN")

show "curl $API/api/auth/whoami -H 'Authorization: Bearer …'"
c "${auth[@]}" "$API/api/auth/whoami" | jq -c .

show "paginated walk: curl '$API/api/files?limit=10[&cursor=…]'"
cursor="" page=0 total=0
while :; do
    url="$API/api/files?limit=10${cursor:+&cursor=$cursor}"
    body=$(c "${auth[@]}" "$url")
    n=$(echo "$body" | jq '.items | length')
    page=$((page + 1)) total=$((total + n))
    printf '  page %d: %2d files, first %s, next_cursor %s\n' "$page" "$n" \
        "$(echo "$body" | jq -r '.items[0].name // "-"')" "$(echo "$body" | jq -r '.next_cursor // "null"' | cut -c1-24)"
    cursor=$(echo "$body" | jq -r '.next_cursor // empty')
    [ -n "$cursor" ] || break
done
echo "  $total files in $page pages; on disk: $(find "$SAMPLE" -type f | wc -l)"

report=$(c "${auth[@]}" "$API/api/search?q=report-q1" | jq -r '.items[0].id')
show "curl -X PUT $API/api/labels/assignments/$report -d '{\"labels\":[\"quarterly\"]}'"
c "${auth[@]}" -X PUT "$API/api/labels/assignments/$report" -H 'content-type: application/json' \
    -d '{"labels":["quarterly","2024"]}' | jq -c '{_id, file_id, labels}'
node=$(c "${auth[@]}" "$API/api/files/$report" | jq -r .source.node_id)
show "curl -X POST $API/api/labels/rules -d '{\"node_id\":\"$node\",\"path_prefix\":\"$SAMPLE/documents/notes/\",\"labels\":[\"notes\"],\"name\":\"Notes\"}'"
c "${auth[@]}" -X POST "$API/api/labels/rules" -H 'content-type: application/json' \
    -d "{\"node_id\":\"$node\",\"path_prefix\":\"$SAMPLE/documents/notes/\",\"labels\":[\"notes\"],\"name\":\"Notes\"}" \
    | jq -c '{_id, path_prefix, labels}'
sleep 1
show "curl '$API/api/search?q=report&label=quarterly'"
c "${auth[@]}" "$API/api/search?q=report&label=quarterly" | jq -c '[.items[].name]'
show "curl '$API/api/search?q=*.md&label=notes'"
c "${auth[@]}" "$API/api/search?q=*.md&label=notes" | jq -c '[.items[].name]'
show "curl '$API/api/labels/effective?file_id=$report'"
c "${auth[@]}" "$API/api/labels/effective?file_id=$report" | jq -c .

big="$SAMPLE/archive/old/backup-2019.tar.gz"
id=$(c "${auth[@]}" "$API/api/files/by-path?node_id=$node&path=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$big")" | jq -r ._id)
show "curl -r 1000000-2999999 $API/api/files/$id/content -o part   # lives on $node, served via its transfer endpoint"
c "${auth[@]}" -r 1000000-2999999 -D /tmp/transcript-headers -o /tmp/transcript-part "$API/api/files/$id/content"
grep -iE '^(HTTP|content-range|content-length|etag|content-disposition)' /tmp/transcript-headers | tr -d '\r'
dd if="$big" bs=1000000 skip=1 count=2 status=none of=/tmp/transcript-source
show "cmp part <(dd if=$big bs=1000000 skip=1 count=2)"
cmp /tmp/transcript-part /tmp/transcript-source && echo "  identical: $(sha256sum </tmp/transcript-part | cut -c1-16)… = $(sha256sum </tmp/transcript-source | cut -c1-16)…"

echo
echo "== refused requests"
show "logins with a wrong secret until refused (limit: 5 attempts a minute per IP, the logins above included)"
for i in 1 2 3 4 5 6; do
    code=$(c -o /tmp/transcript-body -D /tmp/transcript-headers -w '%{http_code}' -X POST "$API/api/auth/login" \
        -H 'content-type: application/json' -d "{\"access_key_id\":\"$KEY\",\"secret_key\":\"wrong\"}")
    printf '  wrong secret #%d: HTTP %s %s %s\n' "$i" "$code" "$(grep -i '^retry-after' /tmp/transcript-headers | tr -d '\r')" "$(jq -c . </tmp/transcript-body)"
    [ "$code" != 429 ] || break
done

sign() { # METHOD PATH BODY TIMESTAMP -> signature
    python3 - "$SECRET" "$1" "$2" "$3" "$4" <<'PY'
import hashlib, hmac, sys
secret, method, path, body, ts = sys.argv[1:]
key = hmac.new(secret.encode(), b"mosaicfs-request-signing-v1", hashlib.sha256).digest()
canon = "\n".join(["MOSAICFS-HMAC-SHA256", method, path, "", ts, hashlib.sha256(body.encode()).hexdigest()])
print(hmac.new(key, canon.encode(), hashlib.sha256).hexdigest())
PY
}
body="{\"node_id\":\"$node\"}"
skewed=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
show "POST /api/agent/heartbeat signed with a timestamp 10 minutes old ($skewed)"
c -X POST "$API/api/agent/heartbeat" -H "x-mosaicfs-timestamp: $skewed" \
    -H "authorization: MOSAICFS-HMAC-SHA256 Credential=$KEY, Signature=$(sign POST /api/agent/heartbeat "$body" "$skewed")" \
    -H 'content-type: application/json' -d "$body" -w '  HTTP %{http_code}\n'
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
show "POST /api/agent/heartbeat: signed body $body, sent body {\"node_id\":\"node-evil\"}"
c -X POST "$API/api/agent/heartbeat" -H "x-mosaicfs-timestamp: $now" \
    -H "authorization: MOSAICFS-HMAC-SHA256 Credential=$KEY, Signature=$(sign POST /api/agent/heartbeat "$body" "$now")" \
    -H "x-mosaicfs-content-sha256: $(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" \
    -H 'content-type: application/json' -d '{"node_id":"node-evil"}' -w '  HTTP %{http_code}\n'
show "the same, correctly signed (accepted)"
c -X POST "$API/api/agent/heartbeat" -H "x-mosaicfs-timestamp: $now" \
    -H "authorization: MOSAICFS-HMAC-SHA256 Credential=$KEY, Signature=$(sign POST /api/agent/heartbeat "$body" "$now")" \
    -H 'content-type: application/json' -d "$body" -w '  HTTP %{http_code}\n'
show "curl -X POST $API/api/credentials -d '{\"name\": \"laptop\",'   # malformed JSON"
c "${auth[@]}" -X POST "$API/api/credentials" -H 'content-type: application/json' -d '{"name": "laptop",' -w '  HTTP %{http_code}\n'
show "curl -X POST $API/api/credentials -d '{\"name\": 42}'   # wrong type"
c "${auth[@]}" -X POST "$API/api/credentials" -H 'content-type: application/json' -d '{"name": 42}' -w '  HTTP %{http_code}\n'
