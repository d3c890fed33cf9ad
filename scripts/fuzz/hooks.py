"""schemathesis hooks for scripts/fuzz-api.sh.

- Requests to /api/agent/* are signed with the MOSAICFS-HMAC-SHA256 scheme
  (mosaicfs-common/src/hmac.rs), over the exact bytes sent, so the fuzzer
  reaches those handlers instead of stopping at 401.
- Path parameters that name things (node, rule, mount, credential, virtual
  directory) are, for about half of the generated values, replaced by ones
  fuzz-api.sh created, so the handlers behind them run instead of answering
  404 to every random id. The other half stay random (the 404 paths).

Environment (set by fuzz-api.sh): MOSAICFS_FUZZ_KEY, MOSAICFS_FUZZ_SECRET,
MOSAICFS_FUZZ_SEEDED (JSON: parameter name -> value).
"""

import datetime
import hashlib
import hmac
import json
import os
import zlib
from urllib.parse import urlsplit

import requests
import schemathesis

KEY = os.environ["MOSAICFS_FUZZ_KEY"]
SIGNING_KEY = hmac.new(
    os.environ["MOSAICFS_FUZZ_SECRET"].encode(), b"mosaicfs-request-signing-v1", hashlib.sha256
).digest()
SEEDED = json.loads(os.environ.get("MOSAICFS_FUZZ_SEEDED", "{}"))


def canonical_query(raw: str) -> str:
    """Pairs as sent, sorted by key then value (hmac::canonical_query)."""
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in raw.split("&") if p]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class HmacAuth(requests.auth.AuthBase):
    """Signs the prepared request: method, path and query as sent, the body's bytes."""

    def __call__(self, r):
        url = urlsplit(r.url)
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        canonical = "\n".join(
            [
                "MOSAICFS-HMAC-SHA256",
                r.method.upper(),
                url.path,
                canonical_query(url.query),
                ts,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        sig = hmac.new(SIGNING_KEY, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
        r.headers["Authorization"] = f"MOSAICFS-HMAC-SHA256 Credential={KEY}, Signature={sig}"
        r.headers["X-MosaicFS-Timestamp"] = ts
        return r


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.operation.path.startswith("/api/agent/"):
        kwargs["auth"] = HmacAuth()


@schemathesis.hook
def map_path_parameters(ctx, params):
    if not params:
        return params
    for name, value in list(params.items()):
        seeded = SEEDED.get(name)
        # Deterministic for a value, so a failing case replays the same way.
        if seeded is not None and zlib.crc32(repr(value).encode()) % 2 == 0:
            params[name] = seeded
    return params
