//! The rules every operation shares, applied to the generated document in one place (what
//! `#[utoipa::path]` cannot say once for all handlers):
//!
//! - **Security.** A handler declares its dialect's scheme with the scope it needs
//!   (`security(("hmac" = ["vaults:write"]))`); here the signed dialects become one requirement
//!   of three header schemes (`hmac` + `hmacTimestamp` + `hmacSignature`, likewise `ed25519…`),
//!   the scopes are also published as `x-scopes` and in the description, and 401/403 are added.
//! - **Errors.** Every status the server can answer for the operation, each with the envelope
//!   whose `code` is an enum of what that status carries ([`ERRORS`]), `X-Request-Id` on every
//!   response, `Retry-After` where it can appear, `Idempotency-Replayed` on replayable success,
//!   and one error example per operation.
//! - **Inputs.** Id patterns of path parameters and cursors, the text rule of `external_ref`,
//!   the `Idempotency-Key` constraints, and the asset/network enums (from
//!   [`custody_core::asset`], so a new asset reaches the document by itself).
//! - **utoipa's gaps.** An `Option<T>` body means "no body", not "JSON null"; link objects get
//!   their camelCase field names (`operationId`).

use custody_core::asset::{AssetId, AssetSymbol, EnabledAssets, Network};
use custody_core::deposit_address::AddressStatus;
use custody_core::transaction::TransactionStatus;
use custody_core::vault::VaultStatus;
use serde_json::{json, Map, Value};

/// Crockford base32 ULID as the ids carry it (26 characters, first `0`–`7`, any case).
const ULID: &str = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}";
/// Text with no control characters (Unicode `Cc`), bidirectional controls or zero-width
/// characters, as `custody_core::text` checks it.
const NO_CONTROL: &str =
    "^[^\\x00-\\x1F\\x7F-\\x9F\\u200B-\\u200D\\u2060\\uFEFF\\u202A-\\u202E\\u2066-\\u2069]*$";
/// `Idempotency-Key`: 1–255 printable ASCII characters (an HTTP header value loses leading and
/// trailing spaces, so the first and last are not spaces).
const IDEMPOTENCY_KEY: &str = "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$";

/// The error statuses: description, `type`s and the `code`s each can carry.
const ERRORS: &[(u16, &str, &[&str], &[&str])] = &[
    (
        400,
        "The request could not be read: missing or malformed body, query parameter, path id, \
         cursor or `Idempotency-Key`; a path or query that is not percent-encoded UTF-8.",
        &["invalid_request_error"],
        &[
            "body_required",
            "malformed_json",
            "invalid_path",
            "invalid_query_parameter",
            "invalid_limit",
            "invalid_cursor",
            "invalid_pagination",
            "invalid_text",
            "invalid_vault_id",
            "invalid_wallet_id",
            "invalid_account_id",
            "invalid_address_id",
            "invalid_blockchain_address_id",
            "invalid_address_book_entry_id",
            "invalid_transaction_id",
            "invalid_event_id",
            "invalid_event_type",
            "invalid_code",
            "unsupported_network",
            "unsupported_asset",
            "invalid_asset_id",
            "invalid_kind",
            "invalid_status",
            "idempotency_key_required",
            "invalid_idempotency_key",
            "invalid_request",
        ],
    ),
    (
        408,
        "The body was not received within the read deadline (`server.body_read_timeout_ms`, \
         10 s by default); the connection is closed.",
        &["invalid_request_error"],
        &["request_timeout"],
    ),
    (
        401,
        "The request could not be authenticated (missing, unknown or revoked key, bad \
         signature, timestamp outside the window, address not allowed). Sandbox keys get \
         `signatureDebug`. A signed request sent a second time within its window (other than a \
         retry with the same `Idempotency-Key`) is `signature_replayed`.",
        &["authentication_error"],
        &["authentication_failed", "signature_replayed"],
    ),
    (
        403,
        "The key lacks the operation's scope (`x-scopes`), or the tenant is not approved for \
         live or is suspended.",
        &["authorization_error"],
        &["missing_scope", "tenant_not_approved", "tenant_suspended"],
    ),
    (
        404,
        "No such resource for your tenant and environment (another tenant's id answers the \
         same), or no such route.",
        &["not_found_error"],
        &["resource_not_found", "route_not_found"],
    ),
    (
        405,
        "The path exists but not with this method; `Allow` lists the methods it has.",
        &["invalid_request_error"],
        &["method_not_allowed"],
    ),
    (
        409,
        "A conflict: the `Idempotency-Key` was used for another request, or is still in \
         flight (`Retry-After`), a unique value is taken, or a status change is not allowed.",
        &["conflict_error"],
        &[
            "idempotency_conflict",
            "idempotency_key_in_flight",
            "vault_external_ref_taken",
            "address_book_entry_exists",
            "transaction_not_cancellable",
            "invalid_state_transition",
            "conflict",
            "webhook_endpoint_conflict",
        ],
    ),
    (
        413,
        "The body is larger than the limit (64 KiB).",
        &["invalid_request_error"],
        &["payload_too_large"],
    ),
    (
        415,
        "The body was not sent as `Content-Type: application/json`.",
        &["invalid_request_error"],
        &["unsupported_media_type"],
    ),
    (
        422,
        "The body was read but a field breaks a rule (`fieldErrors` names it), or the \
         resource's state refuses the change.",
        &["invalid_request_error"],
        &[
            "unknown_field",
            "missing_field",
            "invalid_field",
            "invalid_text",
            "invalid_metadata",
            "invalid_status",
            "invalid_asset_id",
            "invalid_code",
            "unsupported_asset",
            "unsupported_network",
            "unsupported_asset_network",
            "asset_not_enabled",
            "asset_not_withdrawable",
            "account_asset_mismatch",
            "vault_archived",
            "vault_frozen",
            "vault_not_empty",
            "invalid_wallet_id",
            "invalid_address",
            "address_empty",
            "address_invalid",
            "address_bad_checksum",
            "address_wrong_network",
            "address_book_entry_not_active",
            "destination_asset_mismatch",
            "destination_network_mismatch",
            "amount_empty",
            "amount_malformed",
            "amount_signed",
            "amount_exponent",
            "amount_zero",
            "amount_overflow",
            "amount_too_many_decimals",
            "insufficient_funds",
            "asset_mismatch",
            "asset_network_mismatch",
            "same_wallet",
            "invalid_settle",
            "invalid_address_book_entry_id",
            "wallet_or_address_required",
            "ambiguous_address",
            "wallet_has_no_address",
            "unknown_deposit_address",
            "deposit_asset_mismatch",
            "sandbox_only",
            "wallet_address_limit_reached",
            "invalid_webhook_url",
            "webhook_url_forbidden",
            "webhook_url_unresolvable",
            "invalid_event_type",
            "invalid_event_types",
            "invalid_since",
        ],
    ),
    (
        429,
        "Too many requests: the key's or the tenant's rate limit (`rate_limited`; see the \
         `X-RateLimit-*` headers), or too many requests with a body in flight from your address \
         (`too_many_requests_in_flight`). Wait `Retry-After` seconds.",
        &["rate_limit_error"],
        &["rate_limited", "too_many_requests_in_flight"],
    ),
    (
        500,
        "An internal error, logged with the request id. Retry with the same \
         `Idempotency-Key`: nothing was stored unless the retry replays it.",
        &["api_error"],
        &["internal_error"],
    ),
    (
        502,
        "The custody provider refused; nothing was changed. Not retryable as is.",
        &["provider_error"],
        &[
            "provider_rejected",
            "provider_not_found",
            "provider_unverified",
        ],
    ),
    (
        503,
        "The store or the custody provider is unavailable or rate-limited; nothing was \
         changed. Retry with the same `Idempotency-Key` after `Retry-After` when given.",
        &["api_error", "provider_error"],
        &[
            "service_unavailable",
            "provider_unavailable",
            "provider_rate_limited",
        ],
    ),
];

/// Applies the shared rules to the serialised document.
pub(super) fn apply(doc: &mut Value) {
    error_schemas(doc);
    schema_rules(&mut doc["components"]["schemas"]);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let methods: Vec<String> = item.keys().cloned().collect();
        for method in methods {
            if let Some(operation) = item.get_mut(&method).and_then(Value::as_object_mut) {
                operation_rules(path, &method, operation);
            }
        }
    }
}

/// `Error400` … `Error503`: the envelope with the status's `type`s and `code`s as enums.
fn error_schemas(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for (status, _, types, codes) in ERRORS {
        schemas[format!("Error{status}")] = json!({
            "description": format!("The error envelope of a {status}."),
            "allOf": [
                {"$ref": "#/components/schemas/ErrorEnvelope"},
                {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "type": {"type": "string", "enum": types},
                    "code": {"type": "string", "enum": codes},
                    // `enum`, not `const`: client generators handle a one-value enum better.
                    "status": {"type": "integer", "enum": [status]},
                }}}},
            ],
        });
    }
}

fn operation_rules(path: &str, method: &str, op: &mut Map<String, Value>) {
    let secured = expand_security(op);
    optional_body(op);
    let has_body = op.contains_key("requestBody");
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_path_param = params.iter().any(|p| p["in"] == "path");
    let idempotent = params.iter().any(|p| p["name"] == "Idempotency-Key");
    constrain_parameters(path, op);

    let mut statuses = vec![405, 500];
    if secured {
        statuses.extend([400, 401, 403, 429, 503]);
    }
    if has_path_param {
        statuses.extend([400, 404]);
    }
    if has_body {
        statuses.extend([400, 408, 413, 415, 422, 429]);
    }
    if idempotent || method == "patch" {
        statuses.push(409);
    }
    let Some(responses) = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    else {
        return;
    };
    for status in statuses {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({}));
    }
    for (status, response) in responses.iter_mut() {
        let code: u16 = status.parse().unwrap_or(0);
        link_field_names(response);
        response["headers"] = Value::Object(response_headers(code, idempotent, secured));
        if let Some((_, description, ..)) = ERRORS.iter().find(|(s, ..)| *s == code) {
            if response["description"].as_str().unwrap_or("").is_empty() {
                response["description"] = json!(description);
            }
            response["content"] = json!({"application/json": {
                "schema": {"$ref": format!("#/components/schemas/Error{code}")}}});
        }
    }
    // One error example per operation, on its most telling error.
    if let Some(code) = [422, 404, 400, 405]
        .into_iter()
        .find(|code| responses.contains_key(&code.to_string()))
    {
        responses[&code.to_string()]["content"]["application/json"]["example"] =
            error_example(code, has_body);
    }
}

/// utoipa 5.5 serialises a link's `operationId` / `operationRef` in snake case, which OpenAPI
/// (and its validators) do not know: spell them as the specification does.
fn link_field_names(response: &mut Value) {
    for link in response
        .get_mut("links")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut)
    {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
        ] {
            if let Some(value) = link.remove(from) {
                link.insert(to.to_owned(), value);
            }
        }
    }
}

fn response_headers(status: u16, idempotent: bool, secured: bool) -> Map<String, Value> {
    let mut headers = Map::new();
    headers.insert(
        "X-Request-Id".into(),
        json!({"description": "The request's id (`req_…`), also in error bodies; quote it to support.",
               "required": true, "schema": {"type": "string", "pattern": format!("^req_{ULID}$")}}),
    );
    // Every response to an authenticated request (401 aside: no key was recognised).
    if secured && status != 401 {
        for (name, description) in [
            ("X-RateLimit-Limit", "Requests per second this key may send (also its burst)."),
            ("X-RateLimit-Remaining", "Requests still allowed right now (the smaller of the key's and its tenant's budgets)."),
            ("X-RateLimit-Reset", "Seconds until the key's budget is full again."),
        ] {
            headers.insert(
                name.into(),
                json!({"description": description, "schema": {"type": "integer", "minimum": 0}}),
            );
        }
    }
    if (200..300).contains(&status) && idempotent {
        headers.insert(
            "Idempotency-Replayed".into(),
            json!({"description": "`true` when this is the stored response of an earlier request with the same `Idempotency-Key`, replayed byte for byte.",
                   "schema": {"type": "string", "enum": ["true"]}}),
        );
    }
    if matches!(status, 409 | 429 | 503) {
        headers.insert(
            "Retry-After".into(),
            json!({"description": "Seconds to wait before retrying (with 409 `idempotency_key_in_flight`, 429, and a rate-limited provider).",
                   "schema": {"type": "integer", "minimum": 0}}),
        );
    }
    headers
}

/// One realistic error body for the operation's most telling error status.
fn error_example(status: u16, has_body: bool) -> Value {
    let (kind, code, message, field) = match status {
        422 if has_body => (
            "invalid_request_error",
            "unknown_field",
            "unknown field `netwrok`; check the field names against the documentation",
            Some("netwrok"),
        ),
        404 => (
            "not_found_error",
            "resource_not_found",
            "vault not found",
            None,
        ),
        400 => (
            "invalid_request_error",
            "invalid_query_parameter",
            "invalid query string: unknown field `limt`",
            Some("limt"),
        ),
        _ => (
            "invalid_request_error",
            "method_not_allowed",
            "this endpoint does not support the request method",
            None,
        ),
    };
    let mut error = json!({
        "type": kind, "code": code, "message": message, "status": status,
        "requestId": "req_01JD0Q4V3X5M7Z9B1C3E5G7H9K", "retryable": false,
    });
    if let Some(field) = field {
        error["fieldErrors"] = json!([{"field": field, "code": code, "message": message}]);
    }
    json!({ "error": error })
}

/// The input rules that come from `custody_core` tables, on the request (and response) schemas.
fn schema_rules(schemas: &mut Value) {
    let statuses: Vec<&str> = VaultStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut nullable_statuses: Vec<Value> = statuses.iter().map(|s| json!(s)).collect();
    nullable_statuses.push(Value::Null);
    let text = json!({"maxLength": 255, "pattern": NO_CONTROL});
    let mut set = |schema: &str, field: &str, rules: &Value| {
        let property = &mut schemas[schema]["properties"][field];
        for (name, rule) in rules.as_object().into_iter().flatten() {
            property[name] = rule.clone();
        }
    };
    // Request bodies.
    let enums = [
        ("CreateConnectAddressRequest", "asset", json!(symbols())),
        ("CreateConnectAddressRequest", "network", json!(networks())),
        ("CreateBlockchainAddressRequest", "asset", json!(symbols())),
        ("CreateBlockchainAddressRequest", "chain", json!(networks())),
        ("CreateWalletRequest", "assetId", json!(asset_ids())),
        ("UpdateVaultRequest", "status", json!(nullable_statuses)),
    ];
    for (schema, field, values) in enums {
        set(schema, field, &json!({ "enum": values }));
    }
    // Webhook endpoints: a URL of at most 2048 characters, known event types.
    set(
        "ConfigureWebhookRequest",
        "url",
        &json!({"minLength": 1, "maxLength": 2048}),
    );
    let subscribable: Vec<&str> = custody_core::event::EventType::ALL
        .iter()
        .filter(|t| **t != custody_core::event::EventType::WebhookTest)
        .map(|t| t.as_str())
        .collect();
    set(
        "ConfigureWebhookRequest",
        "subscribedEventTypes",
        &json!({"minItems": 1, "items": {"type": "string", "enum": subscribable}}),
    );
    for (schema, field) in [
        ("CreateConnectAddressRequest", "external_ref"),
        ("CreateVaultRequest", "externalId"),
    ] {
        set(
            schema,
            field,
            &json!({"minLength": 1, "maxLength": 255, "pattern": NO_CONTROL}),
        );
    }
    for (schema, field) in [
        ("CreateConnectAddressRequest", "label"),
        ("CreateWalletRequest", "label"),
        ("CreateAddressRequest", "label"),
        ("CreateVaultRequest", "name"),
        ("UpdateVaultRequest", "name"),
    ] {
        set(schema, field, &text);
    }
    let metadata = json!({
        "maxProperties": 50,
        "propertyNames": {"pattern": "^[a-zA-Z0-9_]{1,40}$"},
        "additionalProperties": {"type": "string", "maxLength": 500, "pattern": NO_CONTROL},
    });
    set("CreateVaultRequest", "metadata", &metadata);
    // Money movement and the sandbox (Platform).
    let acc = json!({"pattern": format!("^acc_{ULID}$"), "minLength": 30, "maxLength": 30});
    let abe = json!({"pattern": format!("^abe_{ULID}$"), "minLength": 30, "maxLength": 30});
    // A whole-token decimal string, not zero (zero, signs and exponents are refused).
    let amount = json!({"pattern": "^[0-9]{1,30}(\\.[0-9]{1,18})?$",
                        "not": {"pattern": "^0*(\\.0*)?$"}, "example": "12.5"});
    let mut nullable_assets: Vec<Value> = asset_ids().into_iter().map(|a| json!(a)).collect();
    nullable_assets.push(Value::Null);
    set(
        "CreateAddressBookEntryRequest",
        "network",
        &json!({"enum": networks()}),
    );
    set(
        "CreateAddressBookEntryRequest",
        "assetId",
        &json!({"enum": nullable_assets}),
    );
    set("CreateAddressBookEntryRequest", "label", &text);
    set(
        "CreateAddressBookEntryRequest",
        "address",
        &json!({"minLength": 1, "maxLength": 128,
        "pattern": "^[0-9A-Za-z]+$"}),
    );
    for (schema, field) in [
        ("TransferRequest", "sourceWalletId"),
        ("TransferRequest", "destinationWalletId"),
        ("WithdrawRequest", "walletId"),
        ("SimulateDepositRequest", "walletId"),
    ] {
        set(schema, field, &acc);
    }
    set("WithdrawRequest", "addressBookEntryId", &abe);
    for schema in [
        "TransferRequest",
        "WithdrawRequest",
        "SimulateDepositRequest",
    ] {
        set(schema, "amount", &amount);
    }
    for schema in ["TransferRequest", "WithdrawRequest"] {
        set(schema, "reference", &text);
    }
    set(
        "SimulateDepositRequest",
        "settle",
        &json!({"enum": ["realistic", "instant", null]}),
    );
    // Exactly one of walletId and address.

    set("UpdateVaultRequest", "metadata", &metadata);
    // Responses.
    set("PlatformVault", "status", &json!({"enum": statuses}));
    let address_statuses: Vec<&str> = AddressStatus::ALL.iter().map(|s| s.as_str()).collect();
    for schema in ["ConnectAddress", "PlatformAddress", "BlockchainAddress"] {
        set(schema, "status", &json!({"enum": address_statuses}));
    }
    set("BlockchainAddress", "chain", &json!({"enum": networks()}));
    // Only the pairs that exist (USDT is not on every network).
    schemas["CreateConnectAddressRequest"]["allOf"] = asset_pairs("asset", "network");
    schemas["CreateBlockchainAddressRequest"]["allOf"] = asset_pairs("asset", "chain");
    // An entry restricted to an asset is on that asset's network.
    schemas["CreateAddressBookEntryRequest"]["allOf"] = json!(asset_ids()
        .into_iter()
        .map(|id| {
            let network = id
                .rsplit('_')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            json!({"if": {"required": ["assetId"], "properties": {"assetId": {"const": id}}},
                   "then": {"properties": {"network": {"const": network}}}})
        })
        .collect::<Vec<_>>());
    // Exactly one of walletId and address (a JSON null counts as absent).
    let given =
        |field: &str| json!({"required": [field], "properties": {field: {"type": "string"}}});
    let absent = |field: &str| {
        json!({"anyOf": [{"not": {"required": [field]}},
                                                {"properties": {field: {"type": "null"}}}]})
    };
    schemas["SimulateDepositRequest"]["oneOf"] = json!([
        {"allOf": [given("walletId"), absent("address")]},
        {"allOf": [given("address"), absent("walletId")]},
    ]);
}

/// utoipa spells an optional body (`Option<T>`) as "T or JSON null"; the server means "T, or
/// no body at all" (a JSON `null` is refused like any non-object).
fn optional_body(op: &mut Map<String, Value>) {
    let Some(body) = op.get_mut("requestBody") else {
        return;
    };
    if body.get("required").and_then(Value::as_bool) == Some(true) {
        return;
    }
    for media in body["content"].as_object_mut().into_iter().flatten() {
        let schema = &mut media.1["schema"];
        let inner = schema["oneOf"]
            .as_array()
            .and_then(|branches| branches.iter().find(|b| b["type"] != "null"))
            .cloned();
        if let Some(inner) = inner {
            *schema = inner;
        }
    }
    body["required"] = json!(false);
}

/// Turns `{"hmac": [scopes]}` into the three-header requirement, and publishes the scopes.
/// Returns whether the operation needs a key.
fn expand_security(op: &mut Map<String, Value>) -> bool {
    let Some(requirements) = op.get_mut("security").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut scopes: Vec<String> = Vec::new();
    for requirement in requirements.iter_mut() {
        let Some(requirement) = requirement.as_object_mut() else {
            continue;
        };
        for (scheme, listed) in requirement.clone() {
            scopes.extend(
                listed
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
            if scheme == "hmac" || scheme == "ed25519" {
                requirement.insert(format!("{scheme}Timestamp"), json!([]));
                requirement.insert(format!("{scheme}Signature"), json!([]));
            }
        }
    }
    scopes.sort();
    scopes.dedup();
    let needed = if scopes.is_empty() {
        "Scopes: none (any key of the tenant).".to_owned()
    } else {
        let list: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
        format!("Scopes: {} (403 `missing_scope` without).", list.join(", "))
    };
    let description = op
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let description = if description.is_empty() {
        needed
    } else {
        format!("{description}\n\n{needed}")
    };
    op.insert("description".into(), json!(description));
    op.insert("x-scopes".into(), json!(scopes));
    true
}

/// The id prefix of a path parameter, by name.
fn id_prefix(path: &str, parameter: &str) -> Option<&'static str> {
    match parameter {
        "id" if path.starts_with("/v1/address-book/") => Some("abe_"),
        "id" if path.starts_with("/v1/transactions/") => Some("tx_"),
        "eventId" => Some("evt_"),
        "vaultId" => Some("vlt_"),
        "walletId" | "accountId" => Some("acc_"),
        "address_id" | "blockchainAddressId" => Some("ba_"),
        _ => None,
    }
}

/// The id prefix of a list's cursors: the ids of the items it lists.
fn cursor_prefix(path: &str) -> Option<&'static str> {
    if path.ends_with("/wallets") {
        Some("acc_")
    } else if path.ends_with("/vaults") {
        Some("vlt_")
    } else if path.ends_with("addresses") {
        Some("ba_")
    } else if path.ends_with("/address-book") {
        Some("abe_")
    } else if path.ends_with("/transactions") {
        Some("tx_")
    } else if path.ends_with("/webhooks/outbound/deliveries") {
        Some("evt_")
    } else {
        None
    }
}

fn id_schema(prefix: &str) -> Value {
    json!({"type": "string", "pattern": format!("^{prefix}{ULID}$"),
           "example": format!("{prefix}01JD0Q4V3X5M7Z9B1C3E5G7H9K")})
}

/// Text of `external_ref` / `externalId`: 1–255 characters, no control characters.
fn reference_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_CONTROL,
           "example": "user-8842"})
}

fn constrain_parameters(path: &str, op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for param in params {
        let name = param["name"].as_str().unwrap_or("").to_owned();
        let schema = match name.as_str() {
            "Idempotency-Key" => Some(json!({"type": "string", "minLength": 1, "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY, "example": "3f8e2a52-7c1d-4f0e-9a57-1b2c3d4e5f60"})),
            "external_ref" | "externalId" => Some(reference_schema()),
            "network" => Some(json!({"type": "string", "enum": networks()})),
            "assetId" => Some(json!({"type": "string", "enum": asset_ids()})),
            "kind" if path == "/v1/transactions" => {
                Some(json!({"type": "string", "enum": ["Deposit", "Transfer", "Withdrawal"]}))
            }
            "status" if path == "/v1/transactions" => Some(json!({"type": "string",
                "enum": TransactionStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()})),
            "status" if path == "/v1/webhooks/outbound/deliveries" => {
                Some(json!({"type": "string",
                "enum": custody_core::outbox::DeliveryView::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()}))
            }
            "eventType" if path == "/v1/webhooks/outbound/deliveries" => {
                Some(json!({"type": "string",
                "enum": custody_core::event::EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>()}))
            }
            "status" if path == "/v1/address-book" => {
                Some(json!({"type": "string", "enum": ["Active", "Pending", "Deleted"]}))
            }
            "starting_after" | "ending_before" => cursor_prefix(path).map(id_schema),
            "after" if path == "/v1/events" => Some(json!({"type": "string",
                "pattern": format!("^{}([0-7][0-9a-f]{{15}}){{2}}[0-7][0-9A-HJKMNP-TV-Z]{{25}}$",
                    custody_core::event::LogPosition::CURSOR_PREFIX),
                "example": "cur_0000000000000f3a00000000000004d201JFX0R8M2Q6C1V9W3E5T7Y4KE"})),
            "types" if path == "/v1/events" => Some(json!({"type": "string",
                "pattern": format!("^({0})(,({0}))*$", custody_core::event::EventType::ALL
                    .map(custody_core::event::EventType::as_str).join("|").replace('.', "\\.")),
                "example": "transaction.status.updated,balance.updated"})),
            "limit" => {
                Some(json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50}))
            }
            other => id_prefix(path, other).map(id_schema),
        };
        if let Some(schema) = schema {
            param["schema"] = schema;
        }
        if name == "Idempotency-Key" {
            let required = param["required"].as_bool().unwrap_or(false);
            param["description"] = json!(if required {
                "Required. 1–255 printable ASCII characters (a UUID v4 is a good choice). The same \
                 key with the same request within 24 h replays the stored response \
                 (`Idempotency-Replayed: true`); with another request it is 409 \
                 `idempotency_conflict`."
            } else {
                "Optional, recommended. 1–255 printable ASCII characters (a UUID v4 is a good \
                 choice). The same key with the same request within 24 h replays the stored \
                 response (`Idempotency-Replayed: true`); with another request it is 409 \
                 `idempotency_conflict`."
            });
        }
    }
}

/// The supported assets as `{SYMBOL}_{NETWORK}` ids, sorted.
fn asset_ids() -> Vec<String> {
    let mut ids: Vec<String> = EnabledAssets::all().iter().map(|a| a.to_string()).collect();
    ids.sort();
    ids
}

/// Networks as answered (lower case).
fn networks() -> Vec<&'static str> {
    Network::ALL.iter().map(|n| n.as_str()).collect()
}

/// One `if`/`then` per symbol: the networks it exists on, under the dialect's field names (an
/// object-level `anyOf` would make client generators split the body into union types).
fn asset_pairs(symbol_field: &str, network_field: &str) -> Value {
    let branches: Vec<Value> = AssetSymbol::ALL
        .iter()
        .map(|symbol| {
            let on: Vec<&str> = Network::ALL
                .iter()
                .filter(|n| AssetId::new(*symbol, **n).is_ok())
                .map(|n| n.as_str())
                .collect();
            json!({
                "if": {"properties": {symbol_field: {"const": symbol.as_str()}}},
                "then": {"properties": {network_field: {"enum": on}}},
            })
        })
        .collect();
    Value::Array(branches)
}

/// Symbols as answered (upper case).
fn symbols() -> Vec<&'static str> {
    AssetSymbol::ALL.iter().map(|s| s.as_str()).collect()
}
