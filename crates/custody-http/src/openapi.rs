//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa) and committed
//! as `docs/openapi.json`; a test fails when the committed copy is stale
//! (`UPDATE_OPENAPI=1 cargo test -p custody-http openapi` rewrites it).

mod contract;

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error envelope every endpoint answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The body of the error envelope.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `invalid_request_error` (400, 404 route, 405, 413, 415, 422), `authentication_error`
    /// (401), `authorization_error` (403), `not_found_error` (404), `conflict_error` (409),
    /// `rate_limit_error` (429), `provider_error` (502/503), `api_error` (500/503).
    #[schema(example = "invalid_request_error")]
    pub r#type: String,
    /// Stable machine code (e.g. `unknown_field`, `idempotency_conflict`).
    #[schema(example = "unknown_field")]
    pub code: String,
    /// Human explanation.
    pub message: String,
    /// The HTTP status.
    #[schema(example = 422)]
    pub status: u16,
    /// Equals the `X-Request-Id` response header.
    #[schema(example = "req_01JD0Q4V3X5M7Z9B1C3E5G7H9K")]
    pub request_id: String,
    /// Whether retrying the same request (same Idempotency-Key) may succeed.
    pub retryable: bool,
    /// Per-field problems, when a field is at fault.
    pub field_errors: Option<Vec<FieldErrorSchema>>,
    /// Sandbox keys only, on signature failures: the exact string the server signed and the
    /// clock skew in seconds (server minus `X-Timestamp`).
    pub signature_debug: Option<SignatureDebugSchema>,
}

/// One field's problem.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrorSchema {
    /// The field (or header, or parameter) as the partner named it.
    pub field: String,
    /// Stable code.
    pub code: String,
    /// Human explanation.
    pub message: String,
}

/// The sandbox signature debugger.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureDebugSchema {
    /// What the server signed (HMAC canonical string or Ed25519 payload).
    pub signed_string: String,
    /// Server time minus `X-Timestamp`; null when the header was missing or malformed.
    pub clock_skew_seconds: Option<i64>,
}

struct Security;

/// The `X-Timestamp` and `X-Signature` schemes of a signed dialect: with the key's scheme they
/// form one security requirement of three headers (see `contract::expand_security`).
fn signing_headers(
    components: &mut utoipa::openapi::Components,
    scheme: &str,
    timestamp: &str,
    signature: &str,
) {
    components.add_security_scheme(
        format!("{scheme}Timestamp"),
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Timestamp",
            timestamp,
        ))),
    );
    components.add_security_scheme(
        format!("{scheme}Signature"),
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Signature",
            signature,
        ))),
    );
}

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Connect: `Authorization: Bearer sk_test_…` (a bearer-mode key). \
                         Nothing is signed. See docs/connect.md.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "hmac",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "Platform (an hmac-mode key): `X-API-Key: <key id key_… or the key>`, sent with \
                 `X-Timestamp` (`hmacTimestamp`) and `X-Signature` (`hmacSignature`). \
                 See docs/platform.md.",
            ))),
        );
        signing_headers(
            components,
            "hmac",
            "Platform: the current Unix time in seconds, plain digits, within ±30 s of the \
             server clock.",
            "Platform: lowercase hex HMAC-SHA256(secret, canonical), where canonical is four \
             lines joined by `\\n`, no trailing newline: `{X-Timestamp}\\n{METHOD}\\n\
             {path?query exactly as sent}\\n{lowercase hex SHA-256 of the exact body bytes \
             (of the empty string without a body)}`. Test vectors: docs/platform.md.",
        );
        components.add_security_scheme(
            "ed25519",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Accounts (an ed25519-mode key): `Authorization: Bearer <key>`, sent \
                         with `X-Timestamp` (`ed25519Timestamp`) and `X-Signature` \
                         (`ed25519Signature`). See docs/accounts.md.",
                    ))
                    .build(),
            ),
        );
        signing_headers(
            components,
            "ed25519",
            "Accounts: the current Unix time in seconds, plain digits, within ±60 s of the \
             server clock.",
            "Accounts: standard base64 (padded) of the Ed25519 signature, by the key's private \
             half, of the UTF-8 bytes `{METHOD}\\n{path?query exactly as sent}\\n\
             {X-Timestamp}\\n{exact body bytes}` (ending in `\\n` without a body). Test \
             vectors: docs/accounts.md.",
        );
    }
}

/// What the document says besides its paths, which [`crate::routes::endpoints`] adds.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "custody",
        description = "Multi-tenant crypto custody API: three dialects (Connect, Platform, \
                       Accounts) over one core. Integration guides: docs/connect.md, \
                       docs/platform.md, docs/accounts.md.",
        version = "0.1.0"
    ),
    servers((url = "/", description = "The server that served this document; `custody serve` listens on 127.0.0.1:8080 by default")),
    components(schemas(ErrorEnvelope, ErrorBody, FieldErrorSchema, SignatureDebugSchema)),
    modifiers(&Security),
    tags(
        (name = "Connect", description = "ZoPay Connect dialect: snake_case, bearer keys"),
        (name = "Platform", description = "Vaults and wallets: camelCase, HMAC-signed requests"),
        (name = "Accounts", description = "Accounts and blockchain addresses: camelCase, Ed25519-signed requests"),
        (name = "Operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `/openapi.json` serves and `docs/openapi.json` holds).
pub fn document_json() -> String {
    let mut doc = crate::routes::endpoints().document(ApiDoc::openapi());
    doc.openapi = utoipa::openapi::OpenApiVersion::Version31;
    let mut value = serde_json::to_value(&doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "OpenAPI document did not serialise");
        serde_json::json!({})
    });
    contract::apply(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned()) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every operation must declare, so an endpoint added later is covered the same way
    /// (issue 17): unique operationIds; for a keyed operation, its scopes, 401 and 403, and
    /// the three signing headers of a signed dialect; every error status with its envelope;
    /// `X-Request-Id` on every response; a pattern or length rule on every path parameter.
    /// No `enum` in the document lists a value twice: code generators refuse such a document
    /// (openapi-python-client: "Duplicate key … in enum"), and two branches adding the same
    /// error code to `ERRORS` did exactly that once.
    #[test]
    fn no_enum_lists_a_value_twice() {
        fn walk(at: &str, value: &serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::Array(values)) = map.get("enum") {
                        let mut seen = std::collections::BTreeSet::new();
                        for v in values {
                            assert!(seen.insert(v.to_string()), "{at}: enum lists {v} twice");
                        }
                    }
                    for (key, child) in map {
                        walk(&format!("{at}/{key}"), child);
                    }
                }
                serde_json::Value::Array(items) => {
                    for (n, child) in items.iter().enumerate() {
                        walk(&format!("{at}/{n}"), child);
                    }
                }
                _ => {}
            }
        }
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        walk("", &doc);
    }

    #[test]
    fn every_operation_declares_the_contract() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let what = format!("{method} {path}");
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "{what}: operationId {id} twice");
                let responses = op["responses"].as_object().unwrap();
                if let Some(requirements) = op["security"].as_array() {
                    assert!(op["x-scopes"].is_array(), "{what}: no x-scopes");
                    for status in ["401", "403"] {
                        assert!(responses.contains_key(status), "{what}: no {status}");
                    }
                    for requirement in requirements {
                        for scheme in ["hmac", "ed25519"] {
                            if requirement.get(scheme).is_some() {
                                for part in ["Timestamp", "Signature"] {
                                    let name = format!("{scheme}{part}");
                                    assert!(requirement.get(&name).is_some(), "{what}: no {name}");
                                }
                            }
                        }
                    }
                }
                for (status, response) in responses {
                    assert!(
                        response["headers"]["X-Request-Id"].is_object(),
                        "{what} {status}: no X-Request-Id"
                    );
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            format!("#/components/schemas/Error{status}"),
                            "{what} {status}"
                        );
                    }
                }
                for param in op["parameters"].as_array().into_iter().flatten() {
                    if param["in"] == "path" {
                        let schema = &param["schema"];
                        assert!(
                            schema["pattern"].is_string() && schema["maxLength"].is_number()
                                || schema["pattern"]
                                    .as_str()
                                    .is_some_and(|p| p.ends_with("{25}$")),
                            "{what}: path parameter {} is unconstrained",
                            param["name"]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn openapi_is_3_1_and_the_committed_copy_is_current() {
        let generated = document_json();
        let value: serde_json::Value = serde_json::from_str(&generated).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p custody-http openapi`"
        );
    }
}
