"""Create the resources the path parameters need, through the API, and write the run's config.

Usage: provision.py BASE_URL OUT_TOML SEED MAX_EXAMPLES

Needs the CUSTODY_ST_* credentials in the environment (see signing.py). Creates, as a partner
would: two Platform vaults, a USDC_ETHEREUM wallet in each (the wallet id is also the Accounts
`accountId`), two more vaults that only PATCH uses, an extra deposit address on the first wallet, and a Connect address for an
`external_ref` user and one for the treasury. Their ids become Schemathesis dictionaries bound to
the matching path parameters, so most generated requests reach real resources (the rest keep
exercising unknown and malformed ids); schema-invalid entries are used only by negative cases.
"""

from __future__ import annotations

import json
import sys
import uuid

import requests

from signing import DialectAuth, dialect_of

SESSION = requests.Session()


def call(base: str, method: str, path: str, body: object | None = None, idempotent: bool = False) -> dict:
    headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else {}
    response = SESSION.request(
        method,
        base + path,
        json=body,
        headers=headers,
        auth=DialectAuth(dialect_of(path)),
        timeout=30,
    )
    if response.status_code >= 300:
        raise SystemExit(f"provision: {method} {path} answered {response.status_code}: {response.text}")
    return response.json()


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def main() -> None:
    base, out, seed, max_examples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    vaults, wallets = [], []
    for n in (1, 2):
        vault = call(base, "POST", "/v1/vaults", {"externalId": f"st-vault-{n}", "name": f"Schemathesis {n}"}, True)
        vaults.append(vault["id"])
        wallet = call(base, "POST", f"/v1/vaults/{vault['id']}/wallets", {"assetId": "USDC_ETHEREUM"}, True)
        wallets.append(wallet["id"])
    # PATCH gets vaults of its own: archiving one (schema-valid, and allowed for an empty vault)
    # would otherwise turn every later wallet or address creation in it into 422 vault_archived.
    patch_vaults = [
        call(base, "POST", "/v1/vaults", {"externalId": f"st-patch-{n}", "name": f"Patch {n}"}, True)["id"]
        for n in (1, 2)
    ]
    call(base, "POST", f"/v1/wallets/{wallets[0]}/addresses", {"label": "schemathesis"}, True)
    account_addresses = [
        item["id"] for item in call(base, "GET", f"/v1/accounts/{wallets[0]}/blockchain-addresses")["items"]
    ]
    connect_addresses = [
        call(base, "POST", "/connect/v1/addresses", body, True)["id"]
        for body in (
            {"asset": "USDT", "network": "ethereum", "external_ref": "st-user-1"},
            {"asset": "USDC", "network": "solana"},
        )
    ]
    external_refs = ["st-user-1"]

    config = f"""# Written by .ci/schemathesis/provision.py for one run; not committed.
seed = {seed}
continue-on-failure = true

[generation]
mode = "all"
max-examples = {max_examples}
# Identical inputs are skipped, so the budget goes to distinct requests.
unique-inputs = true
database = "none"

[phases.examples]
enabled = true
[phases.coverage]
enabled = true
[phases.fuzzing]
enabled = true
[phases.stateful]
enabled = true
max-steps = 20
inference = {{ algorithms = ["location-headers", "dependency-analysis"] }}

[dictionaries]
vaults = {{ values = {toml_list(vaults)} }}
patch-vaults = {{ values = {toml_list(patch_vaults)} }}
wallets = {{ values = {toml_list(wallets)} }}
account-addresses = {{ values = {toml_list(account_addresses)} }}
connect-addresses = {{ values = {toml_list(connect_addresses)} }}
external-refs = {{ values = {toml_list(external_refs)} }}

[parameters]
"path.vaultId" = {{ dictionary = "vaults", probability = 0.8 }}
"path.walletId" = {{ dictionary = "wallets", probability = 0.8 }}
"path.accountId" = {{ dictionary = "wallets", probability = 0.8 }}
"path.blockchainAddressId" = {{ dictionary = "account-addresses", probability = 0.8 }}
"path.address_id" = {{ dictionary = "connect-addresses", probability = 0.8 }}
"path.external_ref" = {{ dictionary = "external-refs", probability = 0.5 }}

[[operations]]
include-path = "/v1/vaults/{{vaultId}}"
include-method = "PATCH"
parameters = {{ "path.vaultId" = {{ dictionary = "patch-vaults", probability = 0.8 }} }}
"""
    with open(out, "w", encoding="utf-8") as fd:
        fd.write(config)
    print(
        json.dumps(
            {
                "vaults": vaults,
                "patchVaults": patch_vaults,
                "wallets": wallets,
                "accountAddresses": account_addresses,
                "connectAddresses": connect_addresses,
                "externalRefs": external_refs,
            }
        )
    )


if __name__ == "__main__":
    main()
