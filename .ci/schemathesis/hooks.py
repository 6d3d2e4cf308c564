"""Schemathesis hooks for custody: authenticate each dialect, sign exactly what is sent.

Loaded by run.sh through SCHEMATHESIS_HOOKS=hooks (with this folder on PYTHONPATH).

- Auth: one provider for every operation. It picks the dialect from the operation's path
  (signing.dialect_of) and attaches a `requests` auth object (signing.DialectAuth) to the case.
  `requests` runs that object last, on the fully prepared request, so the HMAC and Ed25519
  signatures cover the final method, path?query and body bytes. Schemathesis skips the provider
  for negative cases that mutate a declared security parameter (those must get a 401); signing
  headers that a negative case mutated as ordinary header parameters are left as generated.
  The `ignored_auth` check's probes (no credentials, wrong credentials) bypass the provider by
  design, so they are real unauthenticated requests.
- Idempotency-Key: every request that carries one (required on Connect and Accounts POSTs,
  optional on Platform mutations) gets a fresh UUID v4 unless the case is a negative one about
  that very header, so generated keys ("0", "00", …) never collide into 409
  `idempotency_conflict` between unrelated requests.

Disabled checks and ignored failures (each with its reason):
- No check is disabled: every default check runs.
- Ignored: `positive_data_acceptance` (ST202) failures whose response is one of the error codes
  in STATE_RULES below, each for the reason given there: those refusals depend on stored state,
  tenant configuration or a rule between parameters, which no schema of the request can express. Everything else about
  such a response is still checked (its status must be documented, its body must match).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import threading
import uuid
from collections.abc import MutableMapping
from typing import Any

import schemathesis
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters
from schemathesis.openapi.checks import RejectedPositiveData

from signing import SIGNING_HEADERS, DialectAuth, dialect_of

IDEMPOTENCY_KEY = "Idempotency-Key"
ALL_HEADERS = "*"


def _negated_headers(case: Any) -> set[str]:
    """Lower-case names of the headers a negative case mutated or removed on purpose.

    Empty for positive cases. When the header component is negative but neither the mutation
    nor an undeclared header says which header it touched, every header counts as mutated
    (ALL_HEADERS): the harness then adds no credential and no key, and the request goes out
    exactly as generated.
    """
    # `case._meta`, not `case.meta`: reading `meta` revalidates the case before it is final.
    meta = getattr(case, "_meta", None)
    if meta is None or not meta.generation.mode.is_negative:
        return set()
    names = {name.lower() for name, location in negated_parameters(meta) if location == ParameterLocation.HEADER}
    for mutation in getattr(meta.phase.data, "mutations", ()):
        if mutation.parameter_location != ParameterLocation.HEADER:
            continue
        if mutation.parameter:
            names.add(mutation.parameter.lower())
        names.update(segment.lower() for segment in mutation.path if isinstance(segment, str))
        if mutation.operator == OperatorKind.REMOVE_REQUIRED_PROPERTY or "required" in mutation.keywords:
            removed = mutation.original_value if isinstance(mutation.original_value, list) else [mutation.original_value]
            names.update(name.lower() for name in removed if isinstance(name, str))
    if not names and meta.is_negative_at(ParameterLocation.HEADER):
        # E.g. the coverage phase's "unexpected header" scenario names no parameter: the headers
        # the operation does not declare are the mutation.
        declared = {
            parameter.name.lower()
            for parameter in case.operation.iter_parameters()
            if parameter.location == ParameterLocation.HEADER
        }
        headers = case.headers if isinstance(case.headers, MutableMapping) else {}
        names.update(name.lower() for name in headers if name.lower() not in declared)
    if not names and meta.is_negative_at(ParameterLocation.HEADER):
        names.add(ALL_HEADERS)
    return names


def _mutated(name: str, negated: set[str]) -> bool:
    return ALL_HEADERS in negated or name.lower() in negated


def _requires_idempotency_key(operation: Any) -> bool:
    return any(
        parameter.location == ParameterLocation.HEADER
        and parameter.name.lower() == IDEMPOTENCY_KEY.lower()
        and parameter.is_required
        for parameter in operation.iter_parameters()
    )


def _refresh_idempotency_key(case: Any) -> None:
    """Give the case a fresh Idempotency-Key: always where required, where sent when optional."""
    if _mutated(IDEMPOTENCY_KEY, _negated_headers(case)):
        return
    headers = {} if case.headers is None else case.headers
    if not isinstance(headers, MutableMapping):
        return
    present = [name for name in headers if name.lower() == IDEMPOTENCY_KEY.lower()]
    if not present and not _requires_idempotency_key(case.operation):
        return
    for name in present:
        del headers[name]
    headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    case.headers = headers


# No caching (refresh_interval=None): get() is called per case, and the choice depends on the path.
@schemathesis.auth(refresh_interval=None)
class CustodyAuth:
    def get(self, case: Any, ctx: Any) -> str | None:
        return dialect_of(ctx.operation.path)

    def set(self, case: Any, dialect: str, ctx: Any) -> None:
        negated = _negated_headers(case)
        keep = [name for name in SIGNING_HEADERS[dialect] if _mutated(name, negated)]
        case._auth = DialectAuth(dialect, keep=keep)
        _refresh_idempotency_key(case)


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    # Again here: cases the auth provider skipped (negated credentials) and stateful steps.
    _refresh_idempotency_key(case)


# `starting_after` and `ending_before` together are refused (400 `invalid_pagination`), a rule
# OpenAPI cannot state; without this filter most generated list queries hit it and test nothing
# else. (The few the coverage phase still sends are ignored through STATE_RULES below.)
@schemathesis.hook
def filter_query(context: Any, query: Any) -> bool:
    return not (isinstance(query, dict) and "starting_after" in query and "ending_before" in query)


# --- a tally of what the server answered, per operation, status and error code -----------------
# Written at exit to $CUSTODY_ST_TALLY (run.sh sets it): the error codes each operation really
# produces, to compare with the ones the document declares.
_TALLY: collections.Counter[tuple[str, int, str]] = collections.Counter()
_TALLY_LOCK = threading.Lock()


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    code = "-"
    if response.status_code >= 400:
        code = _error_code(response) or "(not an error envelope)"
    with _TALLY_LOCK:
        _TALLY[(case.operation.label, response.status_code, code)] += 1


def _write_tally() -> None:
    path = os.environ.get("CUSTODY_ST_TALLY")
    if not path:
        return
    with _TALLY_LOCK:
        rows = [
            {"operation": operation, "status": status, "code": code, "count": count}
            for (operation, status, code), count in sorted(_TALLY.items())
        ]
    with open(path, "w", encoding="utf-8") as fd:
        json.dump(rows, fd, indent=1)


atexit.register(_write_tally)


# --- refusals of schema-valid requests that depend on state, not on the request ----------------
STATE_RULES = {
    # The vault was archived by an earlier request (PATCH status Archived is schema-valid).
    "vault_archived": "the vault's current status, set by earlier requests",
    # Archiving needs an empty vault; emptiness is the vault's balance, not the request.
    "vault_not_empty": "the vault's balances",
    # `chain`/`asset` must be the stored account's; valid values for another account.
    "account_asset_mismatch": "the stored account's asset",
    # Which assets a tenant may use is operator configuration (`custody admin asset …`).
    "asset_not_enabled": "the tenant's configuration",
    # `starting_after` together with `ending_before`: OpenAPI cannot say "not both" of two
    # query parameters (it is in both parameters' descriptions).
    "invalid_pagination": "a rule between two parameters, which OpenAPI cannot express",
    # Money movement: whether a transfer or withdrawal can go depends on stored balances, the
    # wallets' assets and vaults, and the address-book entry's state and network.
    "insufficient_funds": "the wallet's stored balance",
    "asset_mismatch": "the two stored wallets' assets",
    "same_wallet": "two ids that happen to name the same stored wallet",
    "address_book_entry_not_active": "the entry's status (deleted or cooling off) set by earlier requests",
    "destination_network_mismatch": "the stored entry's network against the stored wallet's asset",
    "destination_asset_mismatch": "the stored entry's asset against the stored wallet's asset",
    "vault_frozen": "the vault's current status, set by earlier requests",
    # A syntactically valid address may still fail its network's own check (EIP-55 checksum of
    # mixed case, a base58 string that does not decode to 32 bytes), which no pattern can say.
    "invalid_address": "checksums and decoded lengths, which JSON Schema cannot express",
    # The sandbox deposit's `address` must be one of the tenant's stored deposit addresses, and
    # a wallet needs its primary address; both are stored state.
    "ambiguous_address": "which stored wallets hold the address",
    "wallet_has_no_address": "the stored wallet's addresses",
    # Whole-token amounts are parsed with the asset's decimals (6 for every asset today, but
    # the document cannot tie a body's amount to the stored wallet's asset).
    "amount_too_many_decimals": "the stored wallet's asset's decimals",
    # Webhook endpoints (docs/webhooks.md): a URL is checked by the WHATWG parser and the SSRF
    # policy of the key's environment on the addresses its host resolves to at that moment (DNS
    # is state outside the request; a sandbox key may use http only on loopback).
    "invalid_webhook_url": "WHATWG URL parsing (scheme, host, credentials, fragment), which no pattern expresses exactly",
    "webhook_url_forbidden": "the key's environment and where the host resolves (DNS) at request time",
    "webhook_url_unresolvable": "DNS at request time",
    # `since` must not be after the server's clock.
    "invalid_since": "the server clock",
}


def _error_code(response: Any) -> str | None:
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a schema-valid request refused for a state rule (STATE_RULES)."""
    if isinstance(failure, RejectedPositiveData) and _error_code(response) in STATE_RULES:
        return False
    return True
