//! `/connect/v1/addresses`: create (per user and treasury), read one, list.

use super::*;
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// POST /connect/v1/addresses
// ---------------------------------------------------------------------------------------------

async fn per_user_address_lazily_creates_the_user(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let vaults = app.store.environment(Environment::Sandbox).vaults;
    let reference = ExternalRef::parse("user-8842".to_owned()).expect("ref");
    assert!(
        vaults
            .find_by_external_ref(tenant_of(&key), &reference)
            .await
            .is_err(),
        "no vault before first sight"
    );

    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"user-8842","label":"main"}"#;
    let (status, headers, _, created) = post(&app, &key, body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        keys(&created),
        [
            "address",
            "asset",
            "created_at",
            "external_ref",
            "id",
            "label",
            "network",
            "status"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<BTreeSet<_>>(),
        "snake_case fields: {created}"
    );
    assert!(
        created["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ba_")),
        "{created}"
    );
    assert_eq!(created["asset"], "USDT");
    assert_eq!(created["network"], "ethereum");
    assert_eq!(created["external_ref"], "user-8842");
    assert_eq!(created["label"], "main");
    assert_eq!(created["status"], "active");
    assert_rfc3339_utc(&created["created_at"]);
    assert_address_format("ethereum", created["address"].as_str().expect("address"));

    // The profile (a vault named by the reference) now exists.
    let vault = vaults
        .find_by_external_ref(tenant_of(&key), &reference)
        .await
        .expect("the user's vault was created on first sight");
    assert_eq!(vault.external_ref.as_ref(), Some(&reference));

    // A second asset for the same user lands in the same vault.
    let (status, usdc) = mint(&app, &key, "USDC", "solana", Some("user-8842")).await;
    assert_eq!(status, 201);
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=user-8842")).await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed}");
    assert!(items.iter().any(|i| i["id"] == usdc["id"]));
    assert!(items.iter().all(|i| i["external_ref"] == "user-8842"));
}

async fn treasury_address_omits_external_ref(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (status, created) = mint(&app, &key, "USDT", "ethereum", None).await;
    assert_eq!(status, 201, "{created}");
    let object = created.as_object().expect("object");
    assert!(
        !object.contains_key("external_ref"),
        "a treasury address omits the key entirely (not null): {created}"
    );
    assert!(created["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("ba_")));

    // The treasury is one pooled vault: a second asset goes to the same vault, which has no
    // external reference, and no customer vault was created.
    let (_, second) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert!(!second
        .as_object()
        .expect("object")
        .contains_key("external_ref"));
    let addresses = app.store.environment(Environment::Sandbox).addresses;
    let first = addresses
        .get(
            tenant_of(&key),
            created["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    let other = addresses
        .get(
            tenant_of(&key),
            second["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    assert_eq!(
        first.vault_id, other.vault_id,
        "one treasury vault per tenant"
    );
    let vault = app
        .store
        .environment(Environment::Sandbox)
        .vaults
        .get(tenant_of(&key), first.vault_id)
        .await
        .expect("vault");
    assert_eq!(vault.external_ref, None);

    // A Platform vault without an externalId is neither the treasury nor taken for it.
    let hmac = app
        .key(tenant_of(&key), KeySpec::sandbox(KeyMode::Hmac))
        .await;
    let (status, _, _, plain) = parts(
        app.request(
            &hmac,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"name":"no reference"}"#),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let (status, third) = mint(&app, &key, "XAUT", "ethereum", None).await;
    assert_eq!(status, 201);
    let third = addresses
        .get(
            tenant_of(&key),
            third["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    assert_eq!(
        third.vault_id, first.vault_id,
        "still the one treasury vault"
    );
    assert_ne!(
        Some(third.vault_id.to_string()),
        plain["id"].as_str().map(str::to_owned)
    );

    // GET and list render treasury addresses without the key too.
    let fetched = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}/{}", created["id"].as_str().expect("id")),
    )
    .await;
    assert!(
        !fetched
            .as_object()
            .expect("object")
            .contains_key("external_ref"),
        "{fetched}"
    );
    let listed = get_ok(&app, &key, ADDRESSES).await;
    for item in listed["items"].as_array().expect("items") {
        assert!(
            !item
                .as_object()
                .expect("object")
                .contains_key("external_ref"),
            "{item}"
        );
    }
}

async fn asset_and_network_are_case_insensitive(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (status, first) = mint(&app, &key, "uSdT", "ETHEREUM", Some("u1")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["asset"], "USDT", "canonical case on output");
    assert_eq!(first["network"], "ethereum");
    let (status, again) = mint(&app, &key, "usdt", "Ethereum", Some("u1")).await;
    assert_eq!(status, 200, "the same wallet: {again}");
    assert_eq!(again, first);
    let (status, sui) = mint(&app, &key, "usdc", "SUI", Some("u1")).await;
    assert_eq!(status, 201);
    assert_eq!(
        (sui["asset"].as_str(), sui["network"].as_str()),
        (Some("USDC"), Some("sui"))
    );
}

async fn code_lengths_are_checked(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let cases = [
        ("U", "ethereum", "asset", "invalid_code"),
        ("", "ethereum", "asset", "invalid_code"),
        ("ABCDEFGHIJKLMNOPQ", "ethereum", "asset", "invalid_code"), // 17
        ("USDT", "e", "network", "invalid_code"),
        ("USDT", "", "network", "invalid_code"),
        ("USDT", "ethereumethereum1", "network", "invalid_code"), // 17
        // Within 2–16 but naming nothing we support: an unsupported code, not a length error.
        ("XX", "ethereum", "asset", "unsupported_asset"),
        ("ABCDEFGHIJKLMNOP", "ethereum", "asset", "unsupported_asset"), // 16
        ("USDT", "ab", "network", "unsupported_network"),
        ("USDT", "ethereumethereum", "network", "unsupported_network"), // 16
    ];
    for (asset, network, field, code) in cases {
        let response = app
            .request(
                &key,
                Method::POST,
                ADDRESSES,
                Some(&create_body(asset, network, Some("u"))),
            )
            .idempotency_key(&idem())
            .send()
            .await;
        let body = assert_error(response, 422, "invalid_request_error", code).await;
        assert_eq!(
            field_of(&body),
            field,
            "asset={asset:?} network={network:?}: {body}"
        );
    }
    // Nothing was created by any of them.
    let listed = get_ok(&app, &key, ADDRESSES).await;
    assert_eq!(listed["items"], json!([]));
}

async fn text_length_limits(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let max = "r".repeat(255);
    let (status, created) = mint(&app, &key, "USDT", "ethereum", Some(&max)).await;
    assert_eq!(status, 201);
    assert_eq!(
        created["external_ref"],
        max.as_str(),
        "255 characters are accepted and echoed"
    );
    // Characters, not bytes: 255 two-byte characters are within the limit.
    let wide = "ü".repeat(255);
    let (status, created) = mint(&app, &key, "USDT", "ethereum", Some(&wide)).await;
    assert_eq!(status, 201);
    assert_eq!(created["external_ref"], wide.as_str());

    let too_long = "r".repeat(256);
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some(&too_long))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");

    let label_ok =
        json!({"asset": "USDC", "network": "base", "external_ref": "l", "label": "x".repeat(255)});
    let (status, _, _, body) = post(&app, &key, &label_ok.to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["label"].as_str().map(str::len), Some(255));

    let label_long =
        json!({"asset": "USDC", "network": "ink", "external_ref": "l", "label": "x".repeat(256)});
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(&label_long.to_string()))
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "label");

    // Control characters are refused (they would corrupt logs and exports).
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some("a\nb"))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");

    // An empty reference is not "absent": it is refused rather than silently meaning treasury.
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some(""))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");
}

async fn unsupported_assets_and_pairs_are_422(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let cases = [
        ("BTC", "ethereum", "asset", "unsupported_asset"),
        ("USDT", "bitcoin", "network", "unsupported_network"),
        // Real tokens, real networks, not offered together.
        ("XAUT", "solana", "network", "unsupported_asset_network"),
        ("USDT", "sui", "network", "unsupported_asset_network"),
        ("USDT", "base", "network", "unsupported_asset_network"),
    ];
    for (asset, network, field, code) in cases {
        let response = app
            .request(
                &key,
                Method::POST,
                ADDRESSES,
                Some(&create_body(asset, network, Some("u"))),
            )
            .idempotency_key(&idem())
            .send()
            .await;
        let body = assert_error(response, 422, "invalid_request_error", code).await;
        assert_eq!(field_of(&body), field, "{asset}/{network}: {body}");
    }
}

async fn an_asset_the_tenant_has_not_enabled_is_422(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let usdt_sol = AssetId::parse("USDT_SOLANA").expect("asset");
    app.admin
        .set_asset(tenant_of(&key), Environment::Sandbox, usdt_sol, false)
        .await
        .expect("disable");
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("usdt", "solana", Some("fresh-user"))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    assert_eq!(field_of(&body), "asset", "names the asset: {body}");
    // Same for the treasury.
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "solana", None)),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    // Nothing was provisioned for the refused request.
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=fresh-user")).await;
    assert_eq!(listed["items"], json!([]));
    let balances = get_ok(&app, &key, "/connect/v1/balances/fresh-user").await;
    assert_eq!(balances["balances"], json!([]));
    // Other assets still work; another tenant is unaffected.
    mint(&app, &key, "USDT", "ethereum", Some("fresh-user")).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let (status, _) = mint(&app, &other, "USDT", "solana", Some("fresh-user")).await;
    assert_eq!(status, 201);
    // Re-enabled, it works.
    app.admin
        .set_asset(tenant_of(&key), Environment::Sandbox, usdt_sol, true)
        .await
        .expect("enable");
    let (status, _) = mint(&app, &key, "USDT", "solana", Some("fresh-user")).await;
    assert_eq!(status, 201);
}

async fn unknown_fields_are_422_naming_the_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for (body, field) in [
        (
            r#"{"asset":"USDT","netwrok":"ethereum","network":"ethereum"}"#,
            "netwrok",
        ),
        (
            r#"{"asset":"USDT","network":"ethereum","externalRef":"u1"}"#,
            "externalRef",
        ),
        (
            r#"{"asset":"USDT","network":"ethereum","user_id":"u1"}"#,
            "user_id",
        ),
    ] {
        let response = app
            .request(&key, Method::POST, ADDRESSES, Some(body))
            .idempotency_key(&idem())
            .send()
            .await;
        let error = assert_error(response, 422, "invalid_request_error", "unknown_field").await;
        assert_eq!(field_of(&error), field, "{error}");
        assert_eq!(error["error"]["fieldErrors"][0]["code"], "unknown_field");
    }
    // Missing and mistyped fields are 422 naming them; broken JSON is 400.
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(r#"{"asset":"USDT"}"#))
        .idempotency_key(&idem())
        .send()
        .await;
    let error = assert_error(response, 422, "invalid_request_error", "missing_field").await;
    assert_eq!(field_of(&error), "network");
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(r#"{"asset":"USDT","network":7}"#),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let error = assert_error(response, 422, "invalid_request_error", "invalid_field").await;
    assert_eq!(field_of(&error), "network");
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(r#"{"asset":"USDT","#))
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "malformed_json").await;
    let listed = get_ok(&app, &key, ADDRESSES).await;
    assert_eq!(listed["items"], json!([]), "nothing was created");
}

async fn repeat_with_a_different_key_is_200_with_the_same_address(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let body = r#"{"asset":"USDC","network":"ethereum","external_ref":"u1","label":"first"}"#;
    let (status, headers, _, first) = post(&app, &key, body).await;
    assert_eq!(status, 201, "{first}");
    assert!(headers.get("idempotency-replayed").is_none());
    let (status, headers, _, second) = post(&app, &key, body).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        headers.get("idempotency-replayed").is_none(),
        "a new key is not a replay: the address converged by itself"
    );
    assert_eq!(second, first, "the same address, rendered the same");
    // The label only applies to a newly minted address.
    let relabel = r#"{"asset":"USDC","network":"ethereum","external_ref":"u1","label":"second"}"#;
    let (status, _, _, third) = post(&app, &key, relabel).await;
    assert_eq!(status, 200);
    assert_eq!(third, first);
    // The treasury converges the same way.
    let (status, treasury) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert_eq!(status, 201);
    let (status, again) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert_eq!(status, 200);
    assert_eq!(again, treasury);
    assert_ne!(
        treasury["address"], first["address"],
        "treasury and user are different wallets"
    );
}

async fn addresses_are_deterministic_and_distinct(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let tenant = tenant_of(&key);
    let (_, a) = mint(&app, &key, "USDT", "ethereum", Some("alice")).await;
    let (_, a_again) = mint(&app, &key, "USDT", "ethereum", Some("alice")).await;
    assert_eq!(a["address"], a_again["address"]);
    assert_eq!(a["id"], a_again["id"]);

    // The sandbox address is a pure function of (tenant, vault, asset, index): recompute it.
    let stored = app
        .store
        .environment(Environment::Sandbox)
        .addresses
        .get(tenant, a["id"].as_str().expect("id").parse().expect("id"))
        .await
        .expect("stored");
    let expected = SandboxProvider::address_for(&MintRequest {
        address_id: stored.id,
        tenant_id: tenant,
        vault_id: stored.vault_id,
        wallet_id: stored.wallet_id,
        asset: stored.asset,
        index: 0,
    })
    .expect("derivation");
    assert_eq!(a["address"], expected.as_str());
    // …so it does not depend on the address id (a retry that minted again would match).
    let rederived = SandboxProvider::address_for(&MintRequest {
        address_id: MISSING_ADDRESS.parse().expect("id"),
        tenant_id: tenant,
        vault_id: stored.vault_id,
        wallet_id: stored.wallet_id,
        asset: stored.asset,
        index: 0,
    })
    .expect("derivation");
    assert_eq!(rederived, expected);

    // Different users, different assets on one network, different tenants: different
    // addresses ((network, address) is unique system-wide).
    let (_, b) = mint(&app, &key, "USDT", "ethereum", Some("bob")).await;
    let (_, a_usdc) = mint(&app, &key, "USDC", "ethereum", Some("alice")).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let (_, other_a) = mint(&app, &other, "USDT", "ethereum", Some("alice")).await;
    let all: BTreeSet<&str> = [&a, &b, &a_usdc, &other_a]
        .iter()
        .map(|v| v["address"].as_str().expect("address"))
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
}

async fn addresses_are_valid_for_every_network(engine: Engine) {
    // Sanity-check the EIP-55 oracle with the EIP's own test vector.
    let mut vector = [0u8; 20];
    hex::decode_to_slice("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", &mut vector).expect("hex");
    assert_eq!(
        eip55_checksum(&vector),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );

    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let mut mixed_case_seen = false;
    for asset in &CATALOGUE {
        let symbol = asset.id.symbol().as_str();
        let network = asset.id.network().as_str();
        for user in ["fmt-1", "fmt-2", "fmt-3"] {
            let (status, body) = mint(&app, &key, symbol, network, Some(user)).await;
            assert_eq!(status, 201, "{body}");
            let address = body["address"].as_str().expect("address");
            assert_address_format(network, address);
            if address.strip_prefix("0x").is_some_and(|h| {
                network != "sui"
                    && h.bytes().any(|b| b.is_ascii_uppercase())
                    && h.bytes().any(|b| b.is_ascii_lowercase())
            }) {
                mixed_case_seen = true;
            }
        }
    }
    assert!(
        mixed_case_seen,
        "EVM addresses are written in EIP-55 mixed case"
    );
}

// ---------------------------------------------------------------------------------------------
// GET /connect/v1/addresses/{id}
// ---------------------------------------------------------------------------------------------

async fn get_returns_the_same_body_as_post(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for external_ref in [Some("u1"), None] {
        let mut body = json!({"asset": "XAUT", "network": "ethereum", "external_ref": external_ref, "label": "gold"});
        if external_ref.is_none() {
            body.as_object_mut().expect("object").remove("external_ref");
        }
        let (status, _, _, created) = post(&app, &key, &body.to_string()).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id");
        let fetched = get_ok(&app, &key, &format!("{ADDRESSES}/{id}")).await;
        assert_eq!(fetched, created);
    }
}

async fn malformed_address_ids_are_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for id in [
        "addr_x",
        "ba_notaulid",
        "acc_01J00000000000000000000000", // another kind of id
        "ba_",
        "01J00000000000000000000000",
        "ba_01J0000000000000000000000",   // 25 characters
        "ba_01J000000000000000000000000", // 27 characters
    ] {
        let response = app
            .request(&key, Method::GET, &format!("{ADDRESSES}/{id}"), None)
            .send()
            .await;
        let body = assert_error(response, 400, "invalid_request_error", "invalid_address_id").await;
        assert_eq!(field_of(&body), "address_id", "{id}: {body}");
    }
}

async fn missing_and_foreign_ids_are_the_same_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let owner = app.sandbox_key(KeyMode::Bearer).await;
    let (_, created) = mint(&app, &owner, "USDT", "ethereum", Some("u1")).await;
    let id = created["id"].as_str().expect("id");

    let stranger = app.sandbox_key(KeyMode::Bearer).await;
    let foreign = assert_error(
        app.request(&stranger, Method::GET, &format!("{ADDRESSES}/{id}"), None)
            .send()
            .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    // The same id shape that exists nowhere: compare with the owner's own missing id too.
    let missing_for_stranger = assert_error(
        app.request(
            &stranger,
            Method::GET,
            &format!("{ADDRESSES}/{MISSING_ADDRESS}"),
            None,
        )
        .send()
        .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    let missing_for_owner = assert_error(
        app.request(
            &owner,
            Method::GET,
            &format!("{ADDRESSES}/{MISSING_ADDRESS}"),
            None,
        )
        .send()
        .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    assert_eq!(
        without_request_id(&foreign),
        without_request_id(&missing_for_stranger),
        "another tenant's id must be indistinguishable from a missing one"
    );
    assert_eq!(
        without_request_id(&foreign),
        without_request_id(&missing_for_owner)
    );
    assert_ne!(
        foreign["error"]["requestId"],
        missing_for_stranger["error"]["requestId"]
    );
    assert!(
        !foreign.to_string().contains(id),
        "the 404 does not echo the foreign id"
    );
    // The owner still sees it.
    get_ok(&app, &owner, &format!("{ADDRESSES}/{id}")).await;
}

// ---------------------------------------------------------------------------------------------
// GET /connect/v1/addresses
// ---------------------------------------------------------------------------------------------

async fn list_paginates_with_cursors(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &other, "USDT", "ethereum", Some("u1")).await; // another tenant's: never listed
    for (asset, network, user) in [
        ("USDT", "ethereum", Some("u1")),
        ("USDC", "ethereum", Some("u1")),
        ("USDT", "ethereum", Some("u2")),
        ("USDC", "solana", None),
        ("USDT", "solana", Some("u3")),
    ] {
        mint(&app, &key, asset, network, user).await;
    }

    let all = get_ok(&app, &key, &format!("{ADDRESSES}?limit=200")).await;
    assert_eq!(
        keys(&all),
        ["items", "pagination"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert_eq!(
        keys(&all["pagination"]),
        ["has_more", "next_cursor"]
            .map(str::to_owned)
            .into_iter()
            .collect(),
        "snake_case pagination: {all}"
    );
    assert_eq!(all["pagination"]["has_more"], false);
    assert!(all["pagination"]["next_cursor"].is_null());
    let ids: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 5);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ascending by id");
    // The default page (50) holds them all.
    assert_eq!(get_ok(&app, &key, ADDRESSES).await, all);

    // Forward, two at a time.
    let mut seen = Vec::new();
    let mut path = format!("{ADDRESSES}?limit=2");
    let mut pages = 0;
    loop {
        let page = get_ok(&app, &key, &path).await;
        pages += 1;
        let items = page["items"].as_array().expect("items");
        seen.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        if page["pagination"]["has_more"] == true {
            assert_eq!(items.len(), 2);
            let cursor = page["pagination"]["next_cursor"].as_str().expect("cursor");
            assert_eq!(
                cursor,
                items[1]["id"].as_str().expect("id"),
                "cursor is the last id"
            );
            path = format!("{ADDRESSES}?limit=2&starting_after={cursor}");
        } else {
            assert!(page["pagination"]["next_cursor"].is_null(), "{page}");
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Backward: the page just before the cursor, still ascending.
    let before = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}?limit=2&ending_before={}", ids[4]),
    )
    .await;
    let before_ids: Vec<&str> = before["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(before_ids, vec![ids[2].as_str(), ids[3].as_str()]);
    assert_eq!(before["pagination"]["has_more"], true, "{before}");
    let first = get_ok(&app, &key, &format!("{ADDRESSES}?ending_before={}", ids[0])).await;
    assert_eq!(first["items"], json!([]));
    let after_last = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}?starting_after={}", ids[4]),
    )
    .await;
    assert_eq!(after_last["items"], json!([]));
    assert_eq!(after_last["pagination"]["has_more"], false);

    // Filter by user.
    let u1 = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=u1")).await;
    let u1_items = u1["items"].as_array().expect("items");
    assert_eq!(u1_items.len(), 2, "{u1}");
    assert!(u1_items.iter().all(|i| i["external_ref"] == "u1"));
    let u1_page = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=u1&limit=1")).await;
    assert_eq!(u1_page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(u1_page["pagination"]["has_more"], true);
    let nobody = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=nobody")).await;
    assert_eq!(
        nobody,
        json!({"items": [], "pagination": {"has_more": false, "next_cursor": null}})
    );
    // The other tenant's "u1" is not ours and ours is not theirs.
    let theirs = get_ok(&app, &other, &format!("{ADDRESSES}?external_ref=u1")).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(1));
}

async fn bad_list_parameters_are_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("starting_after=nope", "starting_after"),
        ("starting_after=acc_01J00000000000000000000000", "starting_after"),
        ("ending_before=nope", "ending_before"),
        (
            "starting_after=ba_01J00000000000000000000000&ending_before=ba_01J00000000000000000000000",
            "starting_after",
        ),
        ("limt=5", "limt"),
    ] {
        let (status, _, _, body) = parts(
            app.request(&key, Method::GET, &format!("{ADDRESSES}?{query}"), None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{query}");
        assert_eq!(body["error"]["status"], 400);
        assert_eq!(field_of(&body), field, "{query}: {body}");
    }
    for limit in [1, 200] {
        let page = get_ok(&app, &key, &format!("{ADDRESSES}?limit={limit}")).await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    }
}

on_both_stores!(
    per_user_address_lazily_creates_the_user,
    treasury_address_omits_external_ref,
    asset_and_network_are_case_insensitive,
    code_lengths_are_checked,
    text_length_limits,
    unsupported_assets_and_pairs_are_422,
    an_asset_the_tenant_has_not_enabled_is_422,
    unknown_fields_are_422_naming_the_field,
    repeat_with_a_different_key_is_200_with_the_same_address,
    addresses_are_deterministic_and_distinct,
    addresses_are_valid_for_every_network,
    get_returns_the_same_body_as_post,
    malformed_address_ids_are_400,
    missing_and_foreign_ids_are_the_same_404,
    list_paginates_with_cursors,
    bad_list_parameters_are_400,
);
