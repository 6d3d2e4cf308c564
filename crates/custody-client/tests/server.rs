//! The client against a real `custody serve` (the workspace's binary, embedded SQLite store in
//! a temporary directory): every dialect, a transfer, a withdrawal to completion, the error
//! envelope, the event log and a webhook delivered to a local receiver and verified.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{respond, Server, Stub};
use custody_client::accounts::{BalanceType, CreateBlockchainAddress};
use custody_client::connect::CreateAddress;
use custody_client::platform::{
    ConfigureWebhook, CreateAddressBookEntry, CreateTransfer, CreateVault, CreateWallet,
    CreateWithdrawal, DeliveryStatus, SimulateDeposit, Transaction, TransactionFilter,
    TransactionKind, TransactionStatus, UpdateVault, Vault, VaultStatus,
};
use custody_client::webhook::WebhookVerifier;
use custody_client::{Amount, Client, Credentials, EventType, ListParams};
use futures_util::TryStreamExt as _;

fn amount(text: &str) -> Amount {
    Amount::new(text).expect("amount")
}

/// Polls a transaction until it is final (at most a minute: the sandbox chain here completes
/// a withdrawal in about a second).
async fn until_final(client: &Client, id: &str) -> Transaction {
    let started = Instant::now();
    loop {
        let tx = client
            .platform()
            .get_transaction(id)
            .await
            .expect("get transaction");
        if tx.status.is_final() {
            return tx;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{id} stuck in {}",
            tx.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_dialect_with_its_own_key_mode() {
    let server = Server::start().await;

    // Connect, bearer key: a user's address, idempotent by itself and by key.
    let connect = server.bearer();
    let request = CreateAddress::new("USDT", "ethereum")
        .external_ref("user-7311")
        .label("main");
    let first = connect
        .connect()
        .create_address(&request)
        .await
        .expect("create address");
    assert!(first.id.starts_with("ba_"));
    assert_eq!(first.external_ref.as_deref(), Some("user-7311"));
    let again = connect
        .connect()
        .create_address(&CreateAddress::new("usdt", "Ethereum").external_ref("user-7311"))
        .await
        .expect("same address");
    assert_eq!(again.id, first.id);
    let treasury = connect
        .connect()
        .create_address(&CreateAddress::new("USDC", "solana"))
        .await
        .expect("treasury address");
    assert_eq!(treasury.external_ref, None);
    // Pagination: a page of one, then the stream over pages of one.
    let page = connect
        .connect()
        .list_addresses(None, &ListParams::new().limit(1))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    assert!(page.pagination.has_more);
    assert_eq!(
        page.pagination.next_cursor.as_deref(),
        Some(first.id.as_str())
    );
    let all: Vec<_> = connect
        .connect()
        .addresses(None, ListParams::new().limit(1))
        .try_collect()
        .await
        .expect("stream");
    let ids: Vec<_> = all.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec![first.id.as_str(), treasury.id.as_str()]);
    assert_eq!(
        connect
            .connect()
            .get_address(&treasury.id)
            .await
            .expect("get")
            .address,
        treasury.address
    );
    let balances = connect
        .connect()
        .balances(Some("user-7311"))
        .await
        .expect("balances");
    assert_eq!(balances.external_ref.as_deref(), Some("user-7311"));
    assert_eq!(balances.balances[0].amount.as_str(), "0");
    assert_eq!(balances.totals.get("usd").map(String::as_str), Some("0.00"));

    // Platform, hmac key: the vault Connect created, and its wallet.
    let platform = server.hmac();
    let assets = platform.platform().assets().await.expect("assets");
    assert!(assets
        .iter()
        .any(|a| a.id == "USDT_ETHEREUM" && a.decimals == 6));
    let vaults = platform
        .platform()
        .list_vaults(Some("user-7311"), &ListParams::new())
        .await
        .expect("vaults");
    let vault = &vaults.items[0];
    let wallets: Vec<_> = platform
        .platform()
        .wallets(&vault.id, ListParams::new())
        .try_collect()
        .await
        .expect("wallets");
    let wallet = &wallets[0];
    assert_eq!(
        wallet.deposit_address.as_deref(),
        Some(first.address.as_str())
    );

    // Accounts, ed25519 key: the same wallet is an account; its address is the same.
    let accounts = server.ed25519();
    let address = accounts
        .accounts()
        .create_blockchain_address(
            &wallet.id,
            &CreateBlockchainAddress::new("ethereum", "USDT"),
        )
        .await
        .expect("blockchain address");
    assert_eq!(address.id, first.id);
    assert_eq!(address.account_id, wallet.id);
    let listed: Vec<_> = accounts
        .accounts()
        .blockchain_addresses(&wallet.id, ListParams::new().limit(1))
        .try_collect()
        .await
        .expect("addresses");
    assert_eq!(listed.len(), 1);
    let got = accounts
        .accounts()
        .get_blockchain_address(&wallet.id, &address.id)
        .await
        .expect("get");
    assert_eq!(got, address);
    let lines = accounts
        .accounts()
        .balances(&wallet.id)
        .await
        .expect("balances");
    assert_eq!(
        lines.get(&BalanceType::Available).map(Amount::as_str),
        Some("0")
    );
    assert_eq!(lines.items.len(), 4);

    // A wrong Ed25519 key: 401 with the sandbox signature debugger, typed.
    let wrong = Client::new(
        &server.base_url,
        Credentials::ed25519_seed(&server.ed25519_key, [7u8; 32]),
    )
    .expect("client");
    let err = wrong
        .accounts()
        .balances(&wallet.id)
        .await
        .expect_err("wrong key");
    let api = err.api().expect("API error");
    assert_eq!(
        (api.status, api.code.as_str()),
        (401, "authentication_failed")
    );
    let debug = api.signature_debug.as_ref().expect("sandbox debugger");
    assert!(
        debug.signed_string.starts_with("GET\n/v1/accounts/"),
        "{debug:?}"
    );
    assert!(api
        .request_id
        .as_deref()
        .is_some_and(|r| r.starts_with("req_")));
}

#[tokio::test]
async fn transfer_between_funded_wallets_and_a_withdrawal_to_completion() {
    let server = Server::start().await;
    let client = server.hmac();
    let platform = client.platform();

    let alice = platform
        .create_vault(&CreateVault::new().external_id("cust-alice").name("Alice"))
        .await
        .expect("vault");
    // The same Idempotency-Key again: the stored answer, not a conflict.
    let replayed = client
        .platform()
        .idempotency_key("vault-bob")
        .create_vault(&CreateVault::new().external_id("cust-bob"))
        .await
        .expect("vault");
    let replay = client
        .platform()
        .idempotency_key("vault-bob")
        .create_vault(&CreateVault::new().external_id("cust-bob"))
        .await
        .expect("replayed, not vault_external_ref_taken");
    assert_eq!(replay.id, replayed.id);
    let bob = replayed;

    let alice_wallet = platform
        .create_wallet(
            &alice.id,
            &CreateWallet::new("USDT_ETHEREUM").label("Alice USDT"),
        )
        .await
        .expect("wallet");
    let bob_wallet = platform
        .create_wallet(&bob.id, &CreateWallet::new("USDT_ETHEREUM"))
        .await
        .expect("wallet");

    // Fund Alice: one instant deposit, one realistic one that confirms block by block.
    let deposit = platform
        .simulate_deposit(&SimulateDeposit::to_wallet(&alice_wallet.id, amount("200")).instant())
        .await
        .expect("instant deposit");
    assert_eq!(deposit.status, TransactionStatus::Completed);
    let confirming = platform
        .simulate_deposit(&SimulateDeposit::to_wallet(&alice_wallet.id, amount("50")))
        .await
        .expect("realistic deposit");
    assert_eq!(confirming.status, TransactionStatus::Confirming);
    assert_eq!(
        until_final(&client, &confirming.id).await.status,
        TransactionStatus::Completed
    );

    // Transfer 50 to Bob: Completed at once.
    let transfer = platform
        .transfer(
            &CreateTransfer::new(&alice_wallet.id, &bob_wallet.id, amount("50"))
                .reference("rebalance"),
        )
        .await
        .expect("transfer");
    assert_eq!(transfer.kind, TransactionKind::Transfer);
    assert_eq!(transfer.status, TransactionStatus::Completed);
    assert_eq!(
        platform
            .get_wallet(&bob_wallet.id)
            .await
            .expect("bob")
            .balances
            .available
            .as_str(),
        "50"
    );

    // More than Alice holds: the typed 422.
    let err = platform
        .transfer(&CreateTransfer::new(
            &alice_wallet.id,
            &bob_wallet.id,
            amount("1000"),
        ))
        .await
        .expect_err("insufficient");
    assert_eq!(err.code(), Some("insufficient_funds"));
    assert_eq!(err.status(), Some(422));

    // Withdraw 100 to an address-book entry, until Completed.
    let entry = platform
        .create_address_book_entry(
            &CreateAddressBookEntry::new(
                "ethereum",
                "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
                "Alice cold wallet",
            )
            .asset_id("USDT_ETHEREUM"),
        )
        .await
        .expect("entry");
    assert_eq!(entry.address, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    let withdrawal = platform
        .withdraw(
            &CreateWithdrawal::new(&alice_wallet.id, &entry.id, amount("100"))
                .reference("payout-1"),
        )
        .await
        .expect("withdrawal");
    assert_eq!(withdrawal.status, TransactionStatus::Submitted);
    let held = platform
        .get_wallet(&alice_wallet.id)
        .await
        .expect("wallet")
        .balances;
    assert_eq!(
        (held.available.as_str(), held.held.as_str()),
        ("100", "100")
    );
    let done = until_final(&client, &withdrawal.id).await;
    assert_eq!(
        done.status,
        TransactionStatus::Completed,
        "{:?}",
        done.failure_reason
    );
    assert!(done.tx_hash.is_some());
    let walked: Vec<_> = done
        .status_history
        .iter()
        .map(|s| s.status.clone())
        .collect();
    assert_eq!(walked.first(), Some(&TransactionStatus::Submitted));
    assert!(walked.contains(&TransactionStatus::Broadcasting));
    let after = platform
        .get_wallet(&alice_wallet.id)
        .await
        .expect("wallet")
        .balances;
    assert_eq!(
        (
            after.available.as_str(),
            after.held.as_str(),
            after.total.as_str()
        ),
        ("100", "0", "100")
    );

    // Every transaction of Alice's wallet, streamed over pages of one.
    let history: Vec<_> = platform
        .transactions(
            TransactionFilter::wallet(&alice_wallet.id),
            ListParams::new().limit(1),
        )
        .try_collect()
        .await
        .expect("transactions");
    let kinds: Vec<_> = history.iter().map(|t| t.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            TransactionKind::Deposit,
            TransactionKind::Deposit,
            TransactionKind::Transfer,
            TransactionKind::Withdrawal
        ]
    );

    // The event log tells the same story, with typed snapshots.
    let events: Vec<_> = platform
        .events(
            custody_client::platform::EventQuery::new()
                .types(["transaction.status.updated"])
                .limit(5),
        )
        .try_collect()
        .await
        .expect("events");
    let completed = events
        .iter()
        .filter_map(|e| e.snapshot_as::<Transaction>())
        .any(|t| t.id == withdrawal.id && t.status == TransactionStatus::Completed);
    assert!(completed, "the withdrawal's completion is in the log");
}

#[tokio::test]
async fn a_webhook_is_delivered_to_a_local_receiver_and_verified() {
    let server = Server::start().await;
    let client = server.hmac();
    let platform = client.platform();
    let mut receiver = Stub::start(|_| respond(200, &[], "{}")).await;

    let endpoint = platform
        .configure_webhook(&ConfigureWebhook::new(format!("{}/hooks", receiver.url)))
        .await
        .expect("configure");
    let secret = endpoint.signing_secret.clone().expect("secret shown once");
    assert!(secret.starts_with("whsec_"));
    assert!(platform
        .webhook()
        .await
        .expect("get")
        .signing_secret
        .is_none());

    // The test event: delivered during the call, verified with the crate's helper.
    let delivery = platform.test_webhook().await.expect("test");
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    let received = receiver
        .next(Duration::from_secs(30))
        .await
        .expect("test delivery");
    assert_eq!(
        (received.method.as_str(), received.target.as_str()),
        ("POST", "/hooks")
    );
    let verifier = WebhookVerifier::new(&secret);
    let event = verifier
        .verify(&received.headers, &received.body)
        .expect("verified");
    assert_eq!(event.event_type, EventType::WebhookTest);
    assert_eq!(event.id, delivery.event_id);

    // A real change: vault.created arrives, verified, with the vault as its snapshot.
    let vault = platform
        .create_vault(&CreateVault::new().external_id("cust-hook").name("Hook"))
        .await
        .expect("vault");
    let received = receiver
        .next(Duration::from_secs(30))
        .await
        .expect("vault.created delivery");
    let event = verifier
        .verify(&received.headers, &received.body)
        .expect("verified");
    assert_eq!(event.event_type, EventType::VaultCreated);
    assert_eq!(
        event.snapshot_as::<Vault>().expect("vault snapshot").id,
        vault.id
    );
    // A tampered body is refused.
    let mut tampered = received.body.clone();
    tampered.push(b' ');
    assert!(verifier.verify(&received.headers, &tampered).is_err());
    // The event log holds the same event.
    assert_eq!(
        platform.get_event(&event.id).await.expect("log").id,
        event.id
    );

    // Rotation: the next delivery carries two signatures; the old and the new secret each
    // verify it on their own.
    let rotated = platform.rotate_webhook_secret().await.expect("rotate");
    let new_secret = rotated.signing_secret.expect("new secret");
    assert_ne!(new_secret, secret);
    platform
        .update_vault(&vault.id, &UpdateVault::status(VaultStatus::Frozen))
        .await
        .expect("freeze");
    let received = receiver
        .next(Duration::from_secs(30))
        .await
        .expect("vault.status.updated delivery");
    let signatures = received.header("webhook-signature").expect("signature");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    let old = WebhookVerifier::new(&secret)
        .verify(&received.headers, &received.body)
        .expect("old secret");
    let new = WebhookVerifier::new(&new_secret)
        .verify(&received.headers, &received.body)
        .expect("new secret");
    assert_eq!(old.event_type, EventType::VaultStatusUpdated);
    assert_eq!(old.id, new.id);
    assert_eq!(
        old.previous_attributes
            .as_ref()
            .and_then(|p| p.get("status")),
        Some(&serde_json::json!("Active"))
    );
    assert!(
        WebhookVerifier::new("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .verify(&received.headers, &received.body)
            .is_err()
    );

    // The delivery log shows them delivered.
    let delivered: Vec<_> = platform
        .deliveries(
            custody_client::platform::DeliveryFilter {
                status: Some(DeliveryStatus::Delivered),
                ..Default::default()
            },
            ListParams::new().limit(1),
        )
        .try_collect()
        .await
        .expect("deliveries");
    assert!(delivered.iter().any(|d| d.event_id == event.id));
    assert!(delivered
        .iter()
        .all(|d| d.attempts.iter().any(|a| a.http_status == Some(200))));
}

/// The server's single-use signatures and idempotency, seen through the client: resending one
/// logical request (same key) at once is answered from the stored response, however soon; a
/// new logical request gets its own key and creates anew.
#[tokio::test]
async fn a_resent_logical_request_is_replayed_not_refused() {
    let server = Server::start().await;
    let client = server.hmac();
    let request = custody_client::Request::new(custody_client::Method::POST, "/v1/vaults")
        .json(&CreateVault::new().name("Replay"))
        .expect("body");
    let first = client.send(request.clone()).await.expect("created");
    let second = client
        .send(request)
        .await
        .expect("replayed, not signature_replayed");
    assert_eq!(first.status, 201);
    assert!(!first.replayed);
    assert!(second.replayed, "Idempotency-Replayed: true");
    assert_eq!(first.body, second.body);
    assert_eq!(first.idempotency_key, second.idempotency_key);
    let other = client
        .platform()
        .create_vault(&CreateVault::new().name("Replay"))
        .await
        .expect("a new logical request");
    let first: Vault = first.json().expect("vault");
    assert_ne!(other.id, first.id);
}
