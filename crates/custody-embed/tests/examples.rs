//! The examples' flows, run by `cargo test` (hence by CI): `embedded_sqlite` on a temporary
//! file, `embedded_postgres` on a throwaway PostgreSQL cluster.

#![allow(clippy::expect_used, clippy::unwrap_used)]
// Each example is its own crate root with its own `mod shared;`; included here side by side,
// that module is loaded twice on purpose (each example compiles exactly as `cargo run` builds it).
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/embedded_sqlite.rs"]
mod embedded_sqlite;

#[allow(dead_code)]
#[path = "../examples/embedded_postgres.rs"]
mod embedded_postgres;

use custody_embed::core::amount::Amount;
use custody_embed::core::transaction::TransactionStatus;
use custody_embed::MasterKey;

fn usdt(whole: u128) -> Amount {
    // USDT has 6 decimals.
    Amount::parse(&whole.to_string(), 6).expect("amount")
}

/// The two examples include the flow module each (two `Report` types): a macro checks either.
macro_rules! assert_flow {
    ($report:expr) => {{
        let report = &$report;
        assert_eq!(report.withdrawal, TransactionStatus::Completed);
        assert!(report.ledger_matches, "balances equal the ledger's replay");
        assert_eq!(report.bob.available, usdt(25));
        assert_eq!(
            report.alice.available,
            usdt(65),
            "100 in, 25 to Bob, 10 out"
        );
        assert_eq!(
            report.alice.held,
            Amount::ZERO,
            "nothing held once the withdrawal completed"
        );
        assert_eq!(report.alice.pending, Amount::ZERO);
        for expected in [
            "vault.created",
            "wallet.created",
            "address.created",
            "transaction.created",
            "transaction.status.updated",
            "balance.updated",
            "address_book.entry.created",
        ] {
            assert!(
                report.events.iter().any(|e| e == expected),
                "{expected} in {:?}",
                report.events
            );
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sqlite_example_moves_money_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("custody.db").display());
    let report = embedded_sqlite::run(&url, MasterKey::from_bytes([3; 32]))
        .await
        .expect("the example runs");
    assert_flow!(report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_postgres_example_moves_money_end_to_end() {
    let db = custody_postgres::testing::fresh_database().await;
    let report = embedded_postgres::run(db.url().expose(), MasterKey::from_bytes([3; 32]))
        .await
        .expect("the example runs");
    assert_flow!(report);
}
