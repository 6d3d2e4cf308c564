//! Issue 16 (auth findings 3, 5, 9) over HTTP on both stores: each signed request is
//! single-use within its window (a partner's retry with the same `Idempotency-Key` still gets
//! the stored answer), also across two instances over one database; bearer keys never move
//! money and a signature sent with one is refused; an Ed25519 public key belongs to one tenant
//! and environment.

use custody_core::api_key::{
    format_key, hash_key, key_hint, ApiKey, IpAllowList, KeyMode, Scope, ScopeSet,
};
use custody_core::environment::Environment;
use custody_core::error::Error;
use custody_core::id::ApiKeyId;
use custody_core::services::NewKey;
use custody_core::tenant::TenantStatus;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_error, now, parts, spawn_app, Engine, KeySpec, TestApp};
use crate::on_both_stores;

async fn vault_count(app: &TestApp, key: &crate::helpers::Key) -> usize {
    let (status, _, _, body) = parts(
        app.request(key, Method::GET, "/v1/vaults", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().map_or(0, Vec::len)
}

/// Finding 3: a captured signed POST re-sent within the window, with another (unsigned)
/// Idempotency-Key or none, is 401 `signature_replayed` and creates nothing; the partner's own
/// retry with the same Idempotency-Key (same second, so the same signature, or re-signed) is
/// answered from the idempotency record; identical GETs in one second both answer.
async fn a_replayed_signed_request_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    for mode in [KeyMode::Hmac, KeyMode::Ed25519] {
        let key = app.sandbox_key(mode).await;
        let ts = now();
        let body = r#"{"externalId":"replayed"}"#;
        let send = |idempotency: Option<&str>, at: i64| {
            let request = app
                .request(&key, Method::POST, "/v1/vaults", Some(body))
                .at(at);
            match idempotency {
                Some(k) => request.idempotency_key(k),
                None => request,
            }
        };
        let (status, _, first, _) = parts(send(Some("original"), ts).send().await).await;
        assert_eq!(status, 201, "{mode:?}: {}", String::from_utf8_lossy(&first));

        // The attacker: same signed request, another Idempotency-Key, or none.
        for idempotency in [Some("attacker"), None] {
            let body = assert_error(
                send(idempotency, ts).send().await,
                401,
                "authentication_error",
                "signature_replayed",
            )
            .await;
            assert!(body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Idempotency-Key")));
        }
        assert_eq!(
            vault_count(&app, &key).await,
            1,
            "{mode:?}: nothing created"
        );

        // The partner's retries: the same signature with the same key, or signed again.
        for at in [ts, ts + 1] {
            let (status, headers, replayed, _) =
                parts(send(Some("original"), at).send().await).await;
            assert_eq!(status, 201, "{mode:?}");
            assert_eq!(replayed, first, "{mode:?}: the stored response");
            assert_eq!(
                headers
                    .get("idempotency-replayed")
                    .and_then(|v| v.to_str().ok()),
                Some("true")
            );
        }
        assert_eq!(vault_count(&app, &key).await, 1);

        // Reads are not single-use: the same signed GET twice in one second.
        for _ in 0..2 {
            let response = app
                .request(&key, Method::GET, "/v1/vaults", None)
                .at(ts)
                .send()
                .await;
            assert_eq!(response.status(), 200);
        }
    }
}

/// Finding 3, several instances: a signature used on one instance is refused on another over
/// the same database (the replay cache is in the store, not in memory).
async fn replays_are_refused_across_instances(engine: Engine) {
    let app = spawn_app(engine).await;
    let other = app.second_instance().await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let ts = now();
    let body = r#"{"externalId":"twice"}"#;
    let response = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .at(ts)
        .idempotency_key("first")
        .send()
        .await;
    assert_eq!(response.status(), 201);
    assert_error(
        app.request_to(&other, &key, Method::POST, "/v1/vaults", Some(body))
            .at(ts)
            .idempotency_key("second")
            .send()
            .await,
        401,
        "authentication_error",
        "signature_replayed",
    )
    .await;
    // The other instance serves fresh signatures.
    let response = app
        .request_to(&other, &key, Method::POST, "/v1/vaults", Some(body))
        .at(ts + 1)
        .idempotency_key("first")
        .send()
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(vault_count(&app, &key).await, 1);
}

/// Finding 9: bearer keys never hold money-moving scopes: refused at mint with the reason, an
/// empty scope list means every other scope, and a key minted before the rule is refused at
/// use (403 `missing_scope`, saying why); a signature sent with a bearer key is a 401.
async fn bearer_keys_never_move_money(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    for scope in Scope::SIGNED_ONLY {
        let refused = app
            .admin
            .mint_key(NewKey {
                tenant_id: tenant,
                environment: Environment::Sandbox,
                mode: KeyMode::Bearer,
                scopes: [Scope::VaultsRead, scope].into_iter().collect(),
                allowed_ips: IpAllowList::allow_all(),
                ed25519_public_key: None,
            })
            .await
            .expect_err("a bearer key with a money-moving scope");
        assert_eq!(refused.code(), "scope_requires_signed_key");
        assert!(refused.to_string().contains(scope.as_str()), "{refused}");
    }
    let bearer = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    assert_eq!(bearer.minted.record.scopes, ScopeSet::bearer_default());
    assert!(bearer.minted.record.scopes.contains(Scope::VaultsWrite));
    for mode in [KeyMode::Hmac, KeyMode::Ed25519] {
        let signed = app.key(tenant, KeySpec::sandbox(mode)).await;
        assert_eq!(signed.minted.record.scopes, ScopeSet::all());
    }

    // A signature header with a bearer key: refused, not ignored.
    let ok = app
        .request(&bearer, Method::GET, "/v1/assets", None)
        .send()
        .await;
    assert_eq!(ok.status(), 200);
    for header in ["X-Signature", "x-signature"] {
        assert_error(
            app.request(&bearer, Method::GET, "/v1/assets", None)
                .header("X-Timestamp", &now().to_string())
                .header(header, &"0".repeat(64))
                .send()
                .await,
            401,
            "authentication_error",
            "authentication_failed",
        )
        .await;
    }

    // A bearer key stored before the rule, holding transfers:write: refused at use.
    let key = format_key(Environment::Sandbox, &[9u8; 32]);
    let legacy = ApiKey {
        id: ApiKeyId::from_ulid(ulid::Ulid::from_parts(1, 99)),
        tenant_id: tenant,
        environment: Environment::Sandbox,
        mode: KeyMode::Bearer,
        scopes: ScopeSet::all(),
        allowed_ips: IpAllowList::allow_all(),
        key_hash: hash_key(&key),
        key_hint: key_hint(&key),
        ed25519_public_key: None,
        created_at: custody_core::ports::Clock::now(&custody_http::system::SystemClock),
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    };
    app.store
        .shared()
        .api_keys
        .insert(&legacy, None)
        .await
        .expect("a legacy bearer key");
    for (path, body) in [
        ("/v1/transactions/transfer", "{}"),
        ("/v1/transactions/withdraw", "{}"),
        ("/v1/address-book", "{}"),
    ] {
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .header("Authorization", format!("Bearer {key}"))
            .header("Idempotency-Key", format!("legacy-{path}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        let body: Value = assert_error(response, 403, "authorization_error", "missing_scope").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("bearer keys never move money")),
            "{body}"
        );
    }
    // Its other scopes still work.
    let response = app
        .client
        .get(format!("{}/v1/vaults", app.address))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

fn pem(seed: u8) -> String {
    SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem")
}

/// Finding 5: an Ed25519 public key registered on a sandbox key cannot be registered on a live
/// key (nor on another tenant's): 409 `public_key_in_use`. Same tenant and environment is fine.
async fn an_ed25519_public_key_belongs_to_one_environment(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    let other = app.tenant(TenantStatus::Approved).await;
    let mint = |tenant, environment, pem: String| NewKey {
        tenant_id: tenant,
        environment,
        mode: KeyMode::Ed25519,
        scopes: ScopeSet::empty(),
        allowed_ips: IpAllowList::allow_all(),
        ed25519_public_key: Some(pem),
    };
    app.admin
        .mint_key(mint(tenant, Environment::Sandbox, pem(1)))
        .await
        .expect("sandbox key");
    app.admin
        .mint_key(mint(tenant, Environment::Sandbox, pem(1)))
        .await
        .expect("a second sandbox key with the same public key");
    for (t, env) in [
        (tenant, Environment::Live),
        (other, Environment::Sandbox),
        (other, Environment::Live),
    ] {
        let refused: Error = app
            .admin
            .mint_key(mint(t, env, pem(1)))
            .await
            .expect_err("the public key is bound elsewhere");
        assert_eq!(refused.code(), "public_key_in_use");
        assert_eq!(refused.kind(), custody_core::error::ErrorKind::Conflict);
        assert!(refused.to_string().contains("another environment"));
    }
    // Another key pair for live is fine.
    app.admin
        .mint_key(mint(tenant, Environment::Live, pem(2)))
        .await
        .expect("live key with its own key pair");
}

on_both_stores!(
    a_replayed_signed_request_is_refused,
    replays_are_refused_across_instances,
    bearer_keys_never_move_money,
    an_ed25519_public_key_belongs_to_one_environment,
);
