//! `/v1/vaults[/{vaultId}]`: create, list, read, the status machine, idempotency.

use super::*;
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Vaults
// ---------------------------------------------------------------------------------------------

async fn create_vault_answers_the_vault(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (status, headers, vault) = call(
        &app,
        &key,
        Method::POST,
        "/v1/vaults",
        Some(r#"{"externalId":"cust-42","name":"Alice","metadata":{"tier":"gold","region":"pe"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    assert!(headers.contains_key("x-request-id"));
    assert!(headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(
        keys_of(&vault),
        [
            "id",
            "externalId",
            "name",
            "metadata",
            "status",
            "createdAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let id = assert_id(&vault["id"], "vlt_");
    assert_eq!(vault["externalId"], "cust-42");
    assert_eq!(vault["name"], "Alice");
    assert_eq!(vault["metadata"], json!({"tier": "gold", "region": "pe"}));
    assert_eq!(vault["status"], "Active");
    assert_timestamp(&vault["createdAt"]);

    // It reads back exactly as created.
    let (status, _, read) = call(&app, &key, Method::GET, &format!("/v1/vaults/{id}"), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, vault);

    // The same externalId again is a conflict, and no second vault exists.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"cust-42","name":"Bob"}"#),
        )
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "vault_external_ref_taken").await;
    let (_, _, list) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // Another tenant may use the same externalId.
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let again = create_vault(&app, &other, json!({"externalId": "cust-42"})).await;
    assert_ne!(again["id"], vault["id"]);

    // Without any field: a vault without externalId, with empty metadata.
    let bare = create_vault(&app, &key, json!({})).await;
    assert_eq!(bare["externalId"], Value::Null);
    assert_eq!(bare["metadata"], json!({}));
    assert_eq!(bare["status"], "Active");

    // Invalid input is a 422 naming the field.
    for (body, field) in [
        (r#"{"externalId":""}"#, "externalId"),
        (r#"{"metadata":{"bad key!":"x"}}"#, "metadata"),
        (r#"{"name":5}"#, "name"),
        (r#"{"extrnalId":"x"}"#, "extrnalId"),
    ] {
        let (status, _, err) = call(&app, &key, Method::POST, "/v1/vaults", Some(body)).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(
            err["error"]["fieldErrors"][0]["field"], field,
            "{body}: {err}"
        );
    }
}

async fn list_vaults_paginates_and_filters(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let vault = create_vault(
            &app,
            &key,
            json!({"externalId": format!("c{n}"), "name": format!("n{n}")}),
        )
        .await;
        ids.push(str_of(&vault, "id").to_owned());
    }
    ids.sort();
    // Another tenant's vault never shows.
    let other = app.sandbox_key(KeyMode::Hmac).await;
    create_vault(&app, &other, json!({"externalId": "c0"})).await;

    let (status, _, all) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    assert_eq!(status, 200, "{all}");
    let listed: Vec<&str> = all["items"]
        .as_array()
        .map(|a| a.iter().map(|v| str_of(v, "id")).collect())
        .unwrap_or_default();
    assert_eq!(listed, ids, "ascending by id, this tenant's only");
    assert_eq!(
        all["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    let (status, _, first) = call(&app, &key, Method::GET, "/v1/vaults?limit=2", None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"][0]["id"], ids[0].as_str());
    assert_eq!(first["items"][1]["id"], ids[1].as_str());
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["pagination"]["hasMore"], true);
    assert_eq!(first["pagination"]["nextCursor"], ids[1].as_str());

    let (status, _, second) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/vaults?limit=2&starting_after={}", ids[1]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["items"][0]["id"], ids[2].as_str());
    assert_eq!(
        second["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    let (status, _, before) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/vaults?limit=1&ending_before={}", ids[2]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["items"].as_array().map(Vec::len),
        Some(1),
        "{before}"
    );
    assert_eq!(before["items"][0]["id"], ids[1].as_str());
    assert_eq!(before["pagination"]["hasMore"], true);

    // ?externalId= finds exactly that vault; an unknown one finds none.
    let (status, _, found) = call(&app, &key, Method::GET, "/v1/vaults?externalId=c1", None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["externalId"], "c1");
    let (status, _, none) = call(
        &app,
        &key,
        Method::GET,
        "/v1/vaults?externalId=nobody",
        None,
    )
    .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["items"], json!([]));

    // Bad list parameters are 400.
    let both = format!("starting_after={}&ending_before={}", ids[0], ids[2]);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=201",
        "starting_after=vlt_nope",
        "starting_after=acc_01J00000000000000000000000",
        both.as_str(),
        "externalId=",
        "external_id=c1",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/vaults?{query}"), None)
            .send()
            .await;
        let (status, _, _, body) = parts(response).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            body["error"]["type"], "invalid_request_error",
            "{query}: {body}"
        );
    }
}

async fn get_vault_is_tenant_scoped(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &other, json!({"externalId": "theirs"})).await;
    let theirs = str_of(&vault, "id");

    let response = app
        .request(&key, Method::GET, &format!("/v1/vaults/{theirs}"), None)
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::GET,
            "/v1/vaults/vlt_01J00000000000000000000000",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // Nor can it be changed or given wallets.
    let response = app
        .request(
            &key,
            Method::PATCH,
            &format!("/v1/vaults/{theirs}"),
            Some(r#"{"status":"Frozen"}"#),
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/vaults/{theirs}/wallets"),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::GET,
            &format!("/v1/vaults/{theirs}/wallets"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // Still active for its owner.
    let (_, _, read) = call(
        &app,
        &other,
        Method::GET,
        &format!("/v1/vaults/{theirs}"),
        None,
    )
    .await;
    assert_eq!(read["status"], "Active");

    for malformed in [
        "nope",
        "vlt_",
        "vlt_!!!",
        "acc_01J00000000000000000000000",
        "vlt_01J0000000000000000000000",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/vaults/{malformed}"), None)
            .send()
            .await;
        let body = assert_error(response, 400, "invalid_request_error", "invalid_vault_id").await;
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "vaultId",
            "{body}"
        );
    }
}

async fn vault_status_machine(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &key, json!({"externalId": "v1", "name": "V"})).await;
    let path = format!("/v1/vaults/{}", str_of(&vault, "id"));

    for status in ["Frozen", "Active", "Frozen", "Archived"] {
        let (code, _, body) = call(
            &app,
            &key,
            Method::PATCH,
            &path,
            Some(&json!({ "status": status }).to_string()),
        )
        .await;
        assert_eq!(code, 200, "{status}: {body}");
        assert_eq!(body["status"], status);
        assert_eq!(body["id"], vault["id"]);
        assert_eq!(body["createdAt"], vault["createdAt"]);
        let (_, _, read) = call(&app, &key, Method::GET, &path, None).await;
        assert_eq!(read["status"], status);
    }
    // Archived is terminal.
    for status in ["Active", "Frozen"] {
        let response = app
            .request(
                &key,
                Method::PATCH,
                &path,
                Some(&json!({ "status": status }).to_string()),
            )
            .send()
            .await;
        assert_error(response, 409, "conflict_error", "invalid_state_transition").await;
    }
    let (_, _, read) = call(&app, &key, Method::GET, &path, None).await;
    assert_eq!(read["status"], "Archived");

    // An archived vault gets no wallet.
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("{path}/wallets"),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "vault_archived").await;

    // An unknown status is a 422 naming `status`, on a live vault too.
    let live = create_vault(&app, &key, json!({"externalId": "v2"})).await;
    let live_path = format!("/v1/vaults/{}", str_of(&live, "id"));
    for bad in [
        r#"{"status":"Deleted"}"#,
        r#"{"status":""}"#,
        r#"{"status":5}"#,
    ] {
        let (code, _, body) = call(&app, &key, Method::PATCH, &live_path, Some(bad)).await;
        assert_eq!(code, 422, "{bad}: {body}");
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "status",
            "{bad}: {body}"
        );
    }
    let (_, _, read) = call(&app, &key, Method::GET, &live_path, None).await;
    assert_eq!(read["status"], "Active");
}

async fn idempotency_key_is_honoured_on_create_vault(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let body = r#"{"externalId":"idem-1","name":"Idem"}"#;
    let first = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .idempotency_key("vault-create-1")
        .send()
        .await;
    let (status, headers, raw, vault) = parts(first).await;
    assert_eq!(status, 201, "{vault}");
    assert!(headers.get("idempotency-replayed").is_none());

    let replay = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .idempotency_key("vault-create-1")
        .send()
        .await;
    let (status, headers, replay_raw, _) = parts(replay).await;
    assert_eq!(status, 201);
    assert_eq!(
        headers
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(replay_raw, raw, "replayed byte for byte");

    // Same key, different request: 409, nothing created.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"idem-2"}"#),
        )
        .idempotency_key("vault-create-1")
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "idempotency_conflict").await;

    let (_, _, list) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "exactly one vault: {list}");
    assert_eq!(items[0]["id"], vault["id"]);

    // Without the header, a repeat is a plain duplicate (409 externalId), not a replay.
    let response = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "vault_external_ref_taken").await;
}

on_both_stores!(
    create_vault_answers_the_vault,
    list_vaults_paginates_and_filters,
    get_vault_is_tenant_scoped,
    vault_status_machine,
    idempotency_key_is_honoured_on_create_vault,
);
