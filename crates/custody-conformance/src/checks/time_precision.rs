//! Time precision: instants with whole microseconds round-trip exactly in every time column.

use custody_core::api_key::KeyMode;
use custody_core::asset::Network;
use custody_core::environment::Environment;
use custody_core::idempotency::{RecordState, ReservationToken};
use custody_core::ledger::{LedgerEntry, Movement};
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt};
use custody_core::ports::Reservation;
use custody_core::transaction::{TransactionKind, TransactionStatus};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::fixtures::*;
use crate::StoreHandles;

/// Instants that lose something under millisecond, second, float or unsigned storage.
fn awkward() -> [OffsetDateTime; 6] {
    [
        datetime!(1999-12-31 23:59:59.999999 UTC),
        datetime!(2038-01-19 03:14:08.000001 UTC),
        datetime!(2100-02-28 12:00:00.500001 UTC),
        datetime!(2024-02-29 00:00:00.000999 UTC),
        datetime!(1969-07-20 20:17:40.000001 UTC),
        datetime!(2262-04-11 23:47:16.854775 UTC),
    ]
}

/// Every time column of every aggregate keeps whole microseconds exactly.
pub async fn time_precision_microseconds(stores: StoreHandles) {
    let env = &stores.sandbox;
    let times = awkward();
    for (i, when) in times.iter().enumerate() {
        let n = 10 * (i as u64 + 1);
        // Tenant.
        let mut t = tenant(n);
        t.created_at = *when;
        stores
            .shared
            .tenants
            .insert(&t, &EnabledAssets::all(), &EnabledAssets::all())
            .await
            .expect("insert tenant");
        assert_eq!(
            stores
                .shared
                .tenants
                .get(t.id)
                .await
                .expect("get")
                .created_at,
            *when,
            "tenant created_at"
        );

        // API key: created, expires, revoked.
        let mut key = api_key(t.id, n, Environment::Sandbox, KeyMode::Bearer);
        key.created_at = *when;
        key.expires_at = Some(*when);
        key.revoked_at = Some(times[(i + 1) % times.len()]);
        stores
            .shared
            .api_keys
            .insert(&key, None)
            .await
            .expect("insert key");
        assert_eq!(
            stores.shared.api_keys.get(key.id).await.expect("get").key,
            key,
            "api key times"
        );

        // Vault, wallet, address.
        let mut vault = customer_vault(t.id, n);
        vault.created_at = *when;
        vault.updated_at = times[(i + 2) % times.len()];
        let mut w = wallet(&vault, usdt_eth(), n + 1);
        w.created_at = *when;
        w.updated_at = *when;
        let mut addr = deposit_address(&w, n + 2, 0);
        addr.created_at = *when;
        addr.updated_at = *when;
        commit_vaults(env, &[&vault]).await;
        commit_wallets(env, &[&w]).await;
        commit_addresses(env, &[&addr]).await;
        assert_eq!(env.vaults.get(t.id, vault.id).await.expect("get"), vault);
        assert_eq!(env.wallets.get(t.id, w.id).await.expect("get"), w);
        assert_eq!(env.addresses.get(t.id, addr.id).await.expect("get"), addr);

        // Transaction history, ledger.
        let mut tr = transaction(
            t.id,
            n + 3,
            TransactionKind::Deposit,
            usdt_eth(),
            10,
            None,
            Some(w.id),
        );
        tr.created_at = *when;
        tr.history[0].at = *when;
        tr.advance(TransactionStatus::Completed, times[(i + 3) % times.len()])
            .expect("advance");
        commit_transactions(env, &[&tr]).await;
        assert_eq!(env.transactions.get(t.id, tr.id).await.expect("get"), tr);
        let postings = Movement::DepositDetected {
            wallet: w.id,
            asset: usdt_eth(),
            amount: amount(10),
        }
        .postings()
        .expect("postings");
        let entries = LedgerEntry::for_postings(tr.id, usdt_eth(), &postings, *when);
        let mut tx = env.uow.begin().await.expect("begin");
        tx.append_ledger(&entries).await.expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(
            env.transactions
                .ledger_for_wallet(w.id)
                .await
                .expect("ledger"),
            vec![entries[1].clone()]
        );

        // Address book: created and deleted.
        let mut entry = address_book_entry(t.id, n + 4, Network::Ethereum, n + 4, None);
        entry.created_at = *when;
        commit_entries(env, &[&entry]).await;
        let mut tx = env.uow.begin().await.expect("begin");
        let mut locked = tx
            .lock_address_book_entry(t.id, entry.id)
            .await
            .expect("lock");
        locked.delete(times[(i + 4) % times.len()]).expect("delete");
        tx.update_address_book_entry(&locked).await.expect("update");
        tx.commit().await.expect("commit");
        assert_eq!(
            env.address_book.get(t.id, entry.id).await.expect("get"),
            locked
        );

        // Event, delivery attempt, retry time.
        let mut event = vault_event(n + 5, &vault);
        event.created_at = *when;
        commit_events(env, &[&event]).await;
        assert_eq!(
            env.events
                .list(t.id, page(200, None, None))
                .await
                .expect("list")
                .items,
            vec![event.clone()]
        );
        let attempt = DeliveryAttempt {
            id: delivery_id(n + 6),
            event_id: event.id,
            tenant_id: t.id,
            attempt: 1,
            attempted_at: *when,
            url: "https://hooks.example.com".to_owned(),
            response_status: Some(500),
            error: Some("boom".to_owned()),
            duration_ms: 12,
        };
        let retry_at = times[(i + 5) % times.len()];
        env.outbox
            .record_attempt(&attempt, AttemptOutcome::RetryAt(retry_at))
            .await
            .expect("record");
        assert_eq!(
            env.outbox.attempts(t.id, event.id).await.expect("attempts"),
            vec![attempt]
        );
        assert_eq!(
            env.outbox
                .status(t.id, event.id)
                .await
                .expect("status")
                .next_attempt_at,
            Some(retry_at)
        );

        // Idempotency: created and expires.
        let key = idem_key(&format!("time-{i}"));
        let created = datetime!(1960-01-01 00:00:00.000001 UTC);
        assert_eq!(
            env.idempotency
                .reserve(t.id, &key, &fingerprint(1), created, *when, None)
                .await
                .expect("reserve"),
            Reservation::Reserved(ReservationToken {
                reserved_at: created,
                owner: None,
            }),
            "the reservation's token is created_at as stored"
        );
        let record = env
            .idempotency
            .lookup(t.id, &key, created)
            .await
            .expect("lookup");
        assert_eq!(record.created_at, created);
        assert_eq!(record.expires_at, *when);
        assert_eq!(record.state, RecordState::InFlight);
    }
}
