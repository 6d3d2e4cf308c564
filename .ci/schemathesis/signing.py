"""How each custody dialect authenticates a request, over the exact bytes sent.

Shared by the Schemathesis hooks (hooks.py) and the provisioning script (provision.py), so the
resources the run needs are created through the same code path that signs the generated requests.

- Connect (`/connect/v1/…`): `Authorization: Bearer <key>`; nothing is signed.
- Platform (`/v1/…` except `/v1/accounts/…`): `X-API-Key`, `X-Timestamp`, and `X-Signature` =
  lowercase hex HMAC-SHA256(secret as UTF-8, "{ts}\\n{METHOD}\\n{path?query}\\n{hex sha256(body)}").
- Accounts (`/v1/accounts/…`): `Authorization: Bearer <key>`, `X-Timestamp`, and `X-Signature` =
  standard base64 of Ed25519("{METHOD}\\n{path?query}\\n{ts}\\n" + raw body).

Credentials come from the environment (run.sh exports them after minting keys with
`custody admin`): CUSTODY_ST_CONNECT_KEY, CUSTODY_ST_PLATFORM_KEY_ID, CUSTODY_ST_PLATFORM_SECRET,
CUSTODY_ST_ACCOUNTS_KEY, CUSTODY_ST_ACCOUNTS_PRIVATE_KEY (path to a PKCS#8 PEM).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Iterable
from functools import lru_cache

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CONNECT = "connect"
PLATFORM = "platform"
ACCOUNTS = "accounts"

# The headers each dialect's credentials travel in (what a negative case may have removed or
# mangled on purpose, and what the signer then leaves alone).
SIGNING_HEADERS = {
    CONNECT: ("Authorization",),
    PLATFORM: ("X-API-Key", "X-Timestamp", "X-Signature"),
    ACCOUNTS: ("Authorization", "X-Timestamp", "X-Signature"),
}


def dialect_of(path: str) -> str | None:
    """The dialect serving a path (template or concrete); None for the unauthenticated endpoints."""
    if path.startswith("/connect/"):
        return CONNECT
    if path == "/v1/accounts" or path.startswith("/v1/accounts/"):
        return ACCOUNTS
    if path.startswith("/v1/"):
        return PLATFORM
    return None


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the harness through .ci/schemathesis/run.sh")
    return value


@lru_cache(maxsize=1)
def _accounts_private_key() -> Ed25519PrivateKey:
    with open(_env("CUSTODY_ST_ACCOUNTS_PRIVATE_KEY"), "rb") as fd:
        key = serialization.load_pem_private_key(fd.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError("CUSTODY_ST_ACCOUNTS_PRIVATE_KEY is not an Ed25519 private key")
    return key


def platform_signature(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    canonical = f"{timestamp}\n{method}\n{path}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def accounts_signature(key: Ed25519PrivateKey, timestamp: str, method: str, path: str, body: bytes) -> str:
    payload = f"{method}\n{path}\n{timestamp}\n".encode() + body
    return base64.b64encode(key.sign(payload)).decode("ascii")


def _body_bytes(request: requests.PreparedRequest) -> bytes:
    """The body exactly as it will go on the wire, made bytes here so nothing re-encodes it later."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        # http.client would encode a str body as ISO-8859-1; send (and sign) its UTF-8 bytes instead.
        encoded = body.encode("utf-8")
        request.body = encoded
        request.prepare_content_length(encoded)
        return encoded
    raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")


class DialectAuth(requests.auth.AuthBase):
    """Authenticates one prepared request for one dialect.

    `requests` calls it last, after the URL, headers and body are final, so the signature covers
    the exact method, path?query and body bytes sent. `keep` names signing headers a negative
    case mutated on purpose: those keep the generated value (or stay absent) and are not signed
    over, so the server sees the mangled credential the test meant to send.
    """

    def __init__(self, dialect: str, keep: Iterable[str] = ()) -> None:
        self.dialect = dialect
        self.keep = {name.lower() for name in keep}

    def _set(self, request: requests.PreparedRequest, name: str, value: str) -> None:
        if name.lower() not in self.keep:
            request.headers[name] = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        method = (request.method or "GET").upper()
        path = request.path_url  # path and ?query exactly as they go on the request line
        body = _body_bytes(request)
        timestamp = str(int(time.time()))
        if self.dialect == CONNECT:
            self._set(request, "Authorization", f"Bearer {_env('CUSTODY_ST_CONNECT_KEY')}")
        elif self.dialect == PLATFORM:
            secret = _env("CUSTODY_ST_PLATFORM_SECRET")
            self._set(request, "X-API-Key", _env("CUSTODY_ST_PLATFORM_KEY_ID"))
            self._set(request, "X-Timestamp", timestamp)
            self._set(request, "X-Signature", platform_signature(secret, timestamp, method, path, body))
        elif self.dialect == ACCOUNTS:
            key = _accounts_private_key()
            self._set(request, "Authorization", f"Bearer {_env('CUSTODY_ST_ACCOUNTS_KEY')}")
            self._set(request, "X-Timestamp", timestamp)
            self._set(request, "X-Signature", accounts_signature(key, timestamp, method, path, body))
        else:
            raise ValueError(f"unknown dialect {self.dialect!r}")
        return request


def self_test() -> None:
    """Check both signers against the published test vectors (docs/platform.md, docs/accounts.md)."""
    assert (
        platform_signature("hmac_test_secret", "1700000000", "POST", "/v1/vaults", b'{"externalId":"cust-42","name":"Alice"}')
        == "db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792"
    ), "platform vector 1"
    assert (
        platform_signature("hmac_test_secret", "1700000000", "GET", "/v1/vaults?limit=2&externalId=cust-42", b"")
        == "d0e42d41f4b673bbe076641fe8ece45fd4fb026858a860b11e2859876d224e90"
    ), "platform vector 2"
    rfc8032_test1 = serialization.load_pem_private_key(
        b"-----BEGIN PRIVATE KEY-----\n"
        b"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
        b"-----END PRIVATE KEY-----\n",
        password=None,
    )
    assert isinstance(rfc8032_test1, Ed25519PrivateKey)
    account = "/v1/accounts/acc_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C/blockchain-addresses"
    assert (
        accounts_signature(rfc8032_test1, "1700000000", "POST", account, b'{"chain":"ethereum","asset":"USDC"}')
        == "+Yz7XU3oAF99O9FaH9C3CYdvOQSuDDtaO5IG+a68EUCXajxjsR+y5dPJgATTPTQ3nWpGUsKtfGYT6zcEfqbBBw=="
    ), "accounts vector 1"
    assert (
        accounts_signature(rfc8032_test1, "1700000000", "GET", account + "?limit=2", b"")
        == "7UoEFS/k1BbO124ai9YENkt59I7/24LvjyxowyMktrjXc6I6S2rNfvc0q2MI10bFF7ZZLt1s/4cwKq/Bup8UCA=="
    ), "accounts vector 2"


if __name__ == "__main__":
    self_test()
    print("signing: the four documented test vectors match")
