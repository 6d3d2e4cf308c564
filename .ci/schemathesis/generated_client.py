"""A client generated from the document works against the server, signing with the headers the
document declares: generated_client.py OPENAPI_JSON BASE_URL OUT_DIR

Run by run.sh (in its own venv with openapi-python-client) after Schemathesis, with the same keys
in the environment (CUSTODY_ST_*). It generates a Python client with openapi-python-client, then
drives each dialect through the generated functions. The generator writes no signing code (no
generator does for custom header schemes), so the one piece a partner writes is the httpx.Auth
below, and it takes every header name from the document's security schemes: a requirement
`{hmac, hmacTimestamp, hmacSignature}` names the key, timestamp and signature headers.
Exits 1 when any call does not answer as the document says it should.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization


def scheme_headers(schemes: dict[str, Any], scheme: str) -> tuple[str, str, str]:
    """(key header, timestamp header, signature header) of a signed dialect, from the document."""
    key = schemes[scheme]
    key_header = key["name"] if key["type"] == "apiKey" else "Authorization"
    return key_header, schemes[f"{scheme}Timestamp"]["name"], schemes[f"{scheme}Signature"]["name"]


class PlatformAuth(httpx.Auth):
    """HMAC-SHA256 over "{ts}\\n{METHOD}\\n{path?query}\\n{hex sha256(body)}" (hmacSignature)."""

    requires_request_body = True

    def __init__(self, headers: tuple[str, str, str], key_id: str, secret: str) -> None:
        self.headers, self.key_id, self.secret = headers, key_id, secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        ts = str(int(time.time()))
        canonical = f"{ts}\n{request.method}\n{request.url.raw_path.decode()}\n{hashlib.sha256(request.content).hexdigest()}"
        key_header, ts_header, sig_header = self.headers
        request.headers[key_header] = self.key_id
        request.headers[ts_header] = ts
        request.headers[sig_header] = hmac.new(self.secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        yield request


class AccountsAuth(httpx.Auth):
    """Ed25519 over "{METHOD}\\n{path?query}\\n{ts}\\n" + body, base64 (ed25519Signature)."""

    requires_request_body = True

    def __init__(self, headers: tuple[str, str, str], key: str, pem_path: str) -> None:
        self.headers, self.key = headers, key
        with open(pem_path, "rb") as fd:
            self.private = serialization.load_pem_private_key(fd.read(), password=None)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        ts = str(int(time.time()))
        payload = f"{request.method}\n{request.url.raw_path.decode()}\n{ts}\n".encode() + request.content
        key_header, ts_header, sig_header = self.headers
        request.headers[key_header] = f"Bearer {self.key}"
        request.headers[ts_header] = ts
        request.headers[sig_header] = base64.b64encode(self.private.sign(payload)).decode()
        yield request


def main() -> int:
    document_path, base, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(document_path, encoding="utf-8") as fd:
        schemes = json.load(fd)["components"]["securitySchemes"]
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "openapi-python-client"), "generate",
         "--path", document_path, "--meta", "none", "--output-path", os.path.join(out, "custody_client"),
         "--overwrite"],
        check=True, stdout=subprocess.DEVNULL,
    )
    sys.path.insert(0, out)
    client_mod = importlib.import_module("custody_client.client")
    api = "custody_client.api"
    connect_create = importlib.import_module(f"{api}.connect.create_address")
    connect_balances = importlib.import_module(f"{api}.connect.get_connect_user_balances")
    create_vault = importlib.import_module(f"{api}.platform.create_vault")
    list_vaults = importlib.import_module(f"{api}.platform.list_vaults")
    create_wallet = importlib.import_module(f"{api}.platform.create_wallet")
    account_balances = importlib.import_module(f"{api}.accounts.get_account_balances")
    create_bca = importlib.import_module(f"{api}.accounts.create_blockchain_address")
    models = importlib.import_module("custody_client.models")

    env = os.environ
    connect = client_mod.AuthenticatedClient(base_url=base, token=env["CUSTODY_ST_CONNECT_KEY"])
    platform = client_mod.Client(base_url=base, httpx_args={"auth": PlatformAuth(
        scheme_headers(schemes, "hmac"), env["CUSTODY_ST_PLATFORM_KEY_ID"], env["CUSTODY_ST_PLATFORM_SECRET"])})
    accounts = client_mod.Client(base_url=base, httpx_args={"auth": AccountsAuth(
        scheme_headers(schemes, "ed25519"), env["CUSTODY_ST_ACCOUNTS_KEY"], env["CUSTODY_ST_ACCOUNTS_PRIVATE_KEY"])})

    results: list[tuple[str, int, set[int]]] = []
    run = uuid.uuid4().hex[:8]

    def call(name: str, expected: set[int], response: Any) -> Any:
        results.append((name, int(response.status_code), expected))
        return response.parsed

    call("connect create_address", {201}, connect_create.sync_detailed(
        client=connect, idempotency_key=str(uuid.uuid4()),
        body=models.CreateConnectAddressRequest.from_dict(
            {"asset": "USDC", "network": "ethereum", "external_ref": f"gen-{run}"})))
    call("connect get_connect_user_balances", {200},
         connect_balances.sync_detailed(client=connect, external_ref=f"gen-{run}"))
    vault = call("platform create_vault", {201}, create_vault.sync_detailed(
        client=platform, idempotency_key=str(uuid.uuid4()),
        body=models.CreateVaultRequest.from_dict({"externalId": f"gen-{run}-p", "name": "Generated"})))
    call("platform list_vaults", {200}, list_vaults.sync_detailed(client=platform, external_id=f"gen-{run}-p"))
    wallet = call("platform create_wallet", {201}, create_wallet.sync_detailed(
        client=platform, vault_id=vault.id, idempotency_key=str(uuid.uuid4()),
        body=models.CreateWalletRequest.from_dict({"assetId": "USDC_ETHEREUM"})))
    call("accounts get_account_balances", {200},
         account_balances.sync_detailed(client=accounts, account_id=wallet.id))
    call("accounts create_blockchain_address", {200, 201}, create_bca.sync_detailed(
        client=accounts, account_id=wallet.id, idempotency_key=str(uuid.uuid4()),
        body=models.CreateBlockchainAddressRequest.from_dict({"chain": "ethereum", "asset": "USDC"})))

    failed = [r for r in results if r[1] not in r[2]]
    for name, status, expected in results:
        print(f"generated client: {name}: {status}{'' if status in expected else f' (expected {sorted(expected)})'}")
    print(f"generated client: {len(results) - len(failed)}/{len(results)} calls as documented "
          "(openapi-python-client, signing headers from the document's security schemes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
