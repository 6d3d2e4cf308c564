#!/usr/bin/env bash
# The OpenAPI document as a contract: validate `GET /openapi.json` with an OpenAPI 3.1 validator,
# then run Schemathesis against a real `custody serve` (fresh embedded SQLite store, keys minted
# with `custody admin`, every request authenticated and signed by hooks.py).
#
#   bash .ci/schemathesis/run.sh [--binary PATH] [-- EXTRA SCHEMATHESIS RUN ARGS…]
#
# Without --binary (or CUSTODY_BIN) it builds `cargo build -p custody-http --bin custody`.
# Needs python3 (with venv and pip) and PyPI; the pinned tools go into a virtualenv under the
# build dir, reused while requirements.txt and constraints.txt are unchanged.
#
# Environment (all optional):
#   CUSTODY_BIN                 a prebuilt custody binary (same as --binary)
#   SCHEMATHESIS_SEED           the Hypothesis seed (default 20261206: every run generates the same requests)
#   SCHEMATHESIS_MAX_EXAMPLES   examples per operation in the fuzzing phase (default 300)
#   SCHEMATHESIS_WORKERS        concurrent Schemathesis workers (default 1: with 2, Schemathesis
#                               4.32.5 on CPython 3.11 once crashed in its coverage phase with
#                               "SystemError: AST constructor recursion depth mismatch")
#   SCHEMATHESIS_OUT            where reports and logs go (default target/schemathesis)
#   CUSTODY_OPENAPI_FILE        validate and test this document instead of the served one (to try
#                               a candidate document against the current server)
#
# After Schemathesis, generated_client.py generates a Python client from the served document
# (openapi-python-client, pinned in client-requirements.txt, its own venv) and drives each dialect
# through it, signing with the headers the document declares.
#
# Exit status: non-zero when the document is invalid, Schemathesis found any failure or error, or
# the generated client's calls did not answer as documented.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

bin="${CUSTODY_BIN:-}"
while (($#)); do
    case "$1" in
    --binary)
        bin="$2"
        shift 2
        ;;
    --)
        shift
        break
        ;;
    *)
        echo "usage: $0 [--binary PATH] [-- EXTRA SCHEMATHESIS RUN ARGS…]" >&2
        exit 2
        ;;
    esac
done

seed="${SCHEMATHESIS_SEED:-20261206}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-300}"
workers="${SCHEMATHESIS_WORKERS:-1}"
out="${SCHEMATHESIS_OUT:-$target_dir/schemathesis}"
venv="$target_dir/schemathesis-venv"

# The hooks and helpers are imported from this folder: keep the source tree free of bytecode.
export PYTHONDONTWRITEBYTECODE=1

say() { echo "schemathesis: $*"; }
die() {
    echo "schemathesis: $*" >&2
    exit 1
}

# --- tools: a pinned virtualenv, cached under the build dir -----------------------------------
stamp="$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/schemathesis" || "$(cat "$venv/.custody-stamp" 2>/dev/null)" != "$stamp" ]]; then
    say "installing the pinned tools into $venv"
    command -v python3 >/dev/null || die "python3 is required"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$here/requirements.txt" -c "$here/constraints.txt"
    echo "$stamp" >"$venv/.custody-stamp"
fi
py="$venv/bin/python"
say "$("$venv/bin/schemathesis" --version), $("$py" -c 'import importlib.metadata as m; print("openapi-spec-validator", m.version("openapi-spec-validator"))')"
PYTHONPATH="$here" "$py" "$here/signing.py"

# --- the binary ------------------------------------------------------------------------------
if [[ -z "$bin" ]]; then
    say "building custody (debug)"
    (cd "$root" && cargo build -q -p custody-http --bin custody)
    bin="$target_dir/debug/custody"
fi
[[ -x "$bin" ]] || die "no custody binary at $bin"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

# --- a fresh server --------------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/custody-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$run_dir/config" "$run_dir/keys"
# Everything the server and `custody admin` read, pinned to the run dir: no profile file, an
# embedded SQLite store (with its generated master key) under data/, and no DATABASE_URL.
unset DATABASE_URL CUSTODY_DATABASE__URL CUSTODY_SECURITY__MASTER_KEY CUSTODY_PROFILE RUST_LOG
export CUSTODY_CONFIG_DIR="$run_dir/config"
export CUSTODY_DATABASE__DATA_DIR="$run_dir/data"
export CUSTODY_LOG__FORMAT=json
export CUSTODY_LOG__LEVEL=info
# Schemathesis sends hundreds of requests per second with one key per dialect: rate limits
# (docs/operations.md) high enough that its run never trips them (they are tested in Rust).
export CUSTODY_RATE_LIMIT__SANDBOX_PER_KEY=100000
export CUSTODY_RATE_LIMIT__SANDBOX_PER_TENANT=100000
export CUSTODY_RATE_LIMIT__LIVE_PER_KEY=100000
export CUSTODY_RATE_LIMIT__LIVE_PER_TENANT=100000
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
export CUSTODY_LISTEN="127.0.0.1:$port"

admin() { (cd "$run_dir" && "$bin" admin "$@"); }
json_field() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

(cd "$run_dir" && exec "$bin" serve >"$out/server.stdout" 2>"$out/server.log") &
server_pid=$!
ready=""
for _ in $(seq 1 300); do
    if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$base/healthz" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || die "custody serve exited: $(tail -5 "$out/server.log")"
    sleep 0.1
done
[[ -n "$ready" ]] || die "custody serve did not answer /healthz on $base within 30 s"
say "custody serve on $base (pid $server_pid, store $run_dir/data)"

# --- a tenant and one sandbox key per dialect, every scope ------------------------------------
tenant="$(admin tenant create --name schemathesis | json_field id)"
connect_key="$(admin key mint --tenant "$tenant" --env sandbox --mode bearer | json_field key)"
hmac_json="$(admin key mint --tenant "$tenant" --env sandbox --mode hmac)"
"$py" - "$run_dir/keys" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

key = Ed25519PrivateKey.generate()
with open(f"{sys.argv[1]}/accounts-private.pem", "wb") as fd:
    fd.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
with open(f"{sys.argv[1]}/accounts-public.pem", "wb") as fd:
    fd.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY
accounts_key="$(admin key mint --tenant "$tenant" --env sandbox --mode ed25519 \
    --public-key-file "$run_dir/keys/accounts-public.pem" | json_field key)"
export CUSTODY_ST_CONNECT_KEY="$connect_key"
CUSTODY_ST_PLATFORM_KEY_ID="$(json_field id <<<"$hmac_json")"
CUSTODY_ST_PLATFORM_SECRET="$(json_field secret <<<"$hmac_json")"
export CUSTODY_ST_PLATFORM_KEY_ID CUSTODY_ST_PLATFORM_SECRET
export CUSTODY_ST_ACCOUNTS_KEY="$accounts_key"
export CUSTODY_ST_ACCOUNTS_PRIVATE_KEY="$run_dir/keys/accounts-private.pem"
say "tenant $tenant: bearer, hmac ($CUSTODY_ST_PLATFORM_KEY_ID) and ed25519 sandbox keys"

# --- resources for the path parameters, and the run's configuration ----------------------------
PYTHONPATH="$here" "$py" "$here/provision.py" "$base" "$run_dir/schemathesis.toml" "$seed" "$max_examples" \
    >"$out/resources.json"
say "resources: $(cat "$out/resources.json")"

# --- 1. the document itself ------------------------------------------------------------------
status=0
if [[ -n "${CUSTODY_OPENAPI_FILE:-}" ]]; then
    say "testing the document $CUSTODY_OPENAPI_FILE, not the served one"
    cp "$CUSTODY_OPENAPI_FILE" "$out/openapi.json"
else
    "$py" -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
        "$base/openapi.json" >"$out/openapi.json"
fi
schema="$base/openapi.json"
[[ -z "${CUSTODY_OPENAPI_FILE:-}" ]] || schema="$run_dir/openapi.json"
cp "$out/openapi.json" "$run_dir/openapi.json"
if ! "$py" "$here/validate.py" "$out/openapi.json" | tee "$out/validator.txt"; then
    status=1
fi

# --- 2. Schemathesis -------------------------------------------------------------------------
say "seed $seed, $max_examples examples per operation, $workers workers"
start=$SECONDS
set +e
(
    cd "$run_dir"
    # A bound on a hung run only; a normal run takes a few minutes (see FINDINGS.md).
    PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks CUSTODY_ST_TALLY="$out/responses.json" timeout --signal=INT --kill-after=30 1800 \
        "$venv/bin/schemathesis" --no-color \
        --config-file "$run_dir/schemathesis.toml" run "$schema" \
        --url "$base" \
        --workers "$workers" \
        --report junit,ndjson \
        --report-dir "$out" \
        --report-junit-path "$out/junit.xml" \
        --report-ndjson-path "$out/events.ndjson" \
        --output-truncate false \
        "$@"
) 2>&1 | tee "$out/schemathesis.txt"
st_status=${PIPESTATUS[0]}
set -e
say "schemathesis exited $st_status after $((SECONDS - start))s; reports in $out"
((st_status == 0)) || status=1

# --- 3. a client generated from the document signs and works ---------------------------------
client_venv="$target_dir/openapi-client-venv"
client_stamp="$(sha256sum "$here/client-requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$client_venv/bin/openapi-python-client" || "$(cat "$client_venv/.custody-stamp" 2>/dev/null)" != "$client_stamp" ]]; then
    say "installing the pinned client generator into $client_venv"
    rm -rf "$client_venv"
    python3 -m venv "$client_venv"
    "$client_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$here/client-requirements.txt"
    echo "$client_stamp" >"$client_venv/.custody-stamp"
fi
if ! "$client_venv/bin/python" "$here/generated_client.py" "$out/openapi.json" "$base" "$run_dir" \
    | tee "$out/generated-client.txt"; then
    status=1
fi

# What the server saw: one `request` log line per request (provisioning included).
if ! "$py" - "$out/server.log" <<'PY'; then
import collections, json, sys

statuses, routes = collections.Counter(), set()
with open(sys.argv[1], encoding="utf-8") as fd:
    for line in fd:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message") == "request":
            statuses[event.get("status")] += 1
            routes.add((event.get("method"), event.get("route")))
total = sum(statuses.values())
by_status = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items(), key=lambda item: str(item[0])))
print(f"schemathesis: the server answered {total} requests ({by_status}) on {len(routes)} method/route pairs")
server_errors = sum(n for code, n in statuses.items() if isinstance(code, int) and code >= 500)
if server_errors:
    print(f"schemathesis: {server_errors} responses were 5xx (see {sys.argv[1]})")
    sys.exit(1)
PY
    status=1
fi

if ((status != 0)); then
    say "FAILED (document invalid or Schemathesis failures; see above and $out)"
fi
exit "$status"
