#!/usr/bin/env bash
# The guides' walk-throughs as a test: bash .ci/guides.sh [--binary PATH]
#
# Extracts, in order, every ```sh block of docs/connect.md, docs/platform.md and docs/accounts.md
# that is preceded by the line `<!-- ci: walk-through -->`, and runs them top to bottom in one bash
# session against a fresh `custody serve` (embedded store, sandbox keys minted with
# `custody admin`). The blocks run as written, except that their placeholder assignments of
# BASE, CONNECT_KEY, PLATFORM_KEY_ID, PLATFORM_SECRET, ACCOUNTS_KEY, ACCOUNTS_PRIVATE_KEY and
# ACCOUNT are replaced by this run's values, and `curl` fails on any HTTP error (4xx/5xx): a
# walk-through that reuses an idempotency key or depends on an earlier step it lost fails here.
# Needs bash, curl, openssl (with Ed25519) and python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CUSTODY_BIN:-}"
if [[ "${1:-}" == "--binary" ]]; then
    bin="$2"
fi
if [[ -z "$bin" ]]; then
    (cd "$root" && cargo build -q -p custody-http --bin custody)
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/custody"
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

say() { echo "guides: $*"; }
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/custody-guides.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$run_dir"
}
trap cleanup EXIT

unset DATABASE_URL CUSTODY_DATABASE__URL CUSTODY_SECURITY__MASTER_KEY CUSTODY_PROFILE RUST_LOG
export CUSTODY_CONFIG_DIR="$run_dir/config" CUSTODY_DATABASE__DATA_DIR="$run_dir/data"
mkdir -p "$CUSTODY_CONFIG_DIR"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export CUSTODY_LISTEN="127.0.0.1:$port"
(cd "$run_dir" && exec "$bin" serve >"$run_dir/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$run_dir/server.log" >&2; exit 1; }
    sleep 0.1
done

admin() { (cd "$run_dir" && "$bin" admin "$@"); }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
tenant="$(admin tenant create --name guides | field id)"
openssl genpkey -algorithm ed25519 -out "$run_dir/accounts-private.pem"
openssl pkey -in "$run_dir/accounts-private.pem" -pubout -out "$run_dir/accounts-public.pem"
hmac_json="$(admin key mint --tenant "$tenant" --env sandbox --mode hmac)"

# The session's preamble: this run's values, and a curl that fails on HTTP errors.
script="$run_dir/walk-through.sh"
cat >"$script" <<EOF
set -euo pipefail
cd "$run_dir"
BASE=http://127.0.0.1:$port
CONNECT_KEY=$(admin key mint --tenant "$tenant" --env sandbox --mode bearer | field key)
PLATFORM_KEY_ID=$(field id <<<"$hmac_json")
PLATFORM_SECRET=$(field secret <<<"$hmac_json")
ACCOUNTS_KEY=$(admin key mint --tenant "$tenant" --env sandbox --mode ed25519 --public-key-file "$run_dir/accounts-public.pem" | field key)
ACCOUNTS_PRIVATE_KEY=$run_dir/accounts-private.pem
curl() { command curl --fail-with-body "\$@"; }
EOF

blocks=0
for guide in connect platform accounts; do
    if [[ "$guide" == accounts ]]; then
        # The Accounts guide starts from "a wallet id from Platform": the Platform walk-through's
        # vault gets a USDC wallet, made with the guide's own signing function.
        cat >>"$script" <<'EOF'
vault=$(platform GET '/v1/vaults?externalId=cust-41' | python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][0]["id"])')
ACCOUNT=$(platform POST "/v1/vaults/$vault/wallets" '{"assetId":"USDC_ETHEREUM"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
EOF
    fi
    count="$(python3 - "$root/docs/$guide.md" "$script" <<'PY'
import re, sys

marker = "<!-- ci: walk-through -->"
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
provided = re.compile(r"^(BASE|CONNECT_KEY|PLATFORM_KEY_ID|PLATFORM_SECRET|ACCOUNTS_KEY|ACCOUNTS_PRIVATE_KEY|ACCOUNT)=")
out, count, i = [], 0, 0
while i < len(lines):
    if lines[i].strip() == marker:
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or lines[j].strip() != "```sh":
            sys.exit(f"{sys.argv[1]}:{i + 1}: the marker must precede a ```sh block")
        j += 1
        out.append(f"echo '== {sys.argv[1].rsplit('/', 1)[-1]}:{j}' >&2")
        while lines[j].strip() != "```":
            out.append(": provided by .ci/guides.sh" if provided.match(lines[j]) else lines[j])
            j += 1
        count += 1
        i = j
    i += 1
with open(sys.argv[2], "a", encoding="utf-8") as fd:
    fd.write("\n".join(out) + "\n")
print(count)
PY
)"
    [[ "$count" -gt 0 ]] || { echo "guides: no walk-through block in docs/$guide.md" >&2; exit 1; }
    blocks=$((blocks + count))
done

say "running $blocks walk-through blocks against $bin on port $port"
if ! bash "$script" >"$run_dir/out.txt" 2>&1; then
    cat "$run_dir/out.txt" >&2
    echo "guides: FAILED (a walk-through step answered an HTTP error; see above)" >&2
    exit 1
fi
say "$blocks walk-through blocks ran top to bottom, every request 2xx"
