//! `custody admin reconcile` as an operator runs it (issue 14), on both stores: a clean store
//! exits 0; a balance row corrupted with raw SQL behind the store's back exits 2, naming the
//! wallet, the bucket and both figures; `--tenant` and `--environment` narrow the run.
#![allow(clippy::expect_used)]

use std::process::Command;

use custody_conformance::checks::reconcile::book;
use custody_conformance::fixtures::{amount, customer_vault, transaction, usdt_eth, wallet};
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::ledger::Movement;
use custody_core::ports::EnvironmentStores;
use custody_core::transaction::{TransactionKind, TransactionStatus};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_custody");
const MASTER_KEY: [u8; 32] = [0x42; 32];

enum Engine {
    Postgres(custody_postgres::testing::TestDatabase),
    Sqlite,
}

struct Setup {
    dir: tempfile::TempDir,
    engine: Engine,
}

impl Setup {
    fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .env_remove("CUSTODY_LISTEN")
            .env("CUSTODY_CONFIG_DIR", self.dir.path().join("config"))
            .env("CUSTODY_SECURITY__MASTER_KEY", hex::encode(MASTER_KEY))
            .env("RUST_LOG", "warn");
        match &self.engine {
            Engine::Postgres(db) => cmd.env("DATABASE_URL", db.url().expose()),
            Engine::Sqlite => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// Runs `custody admin <args>`: its exit code and its JSON.
    fn admin(&self, args: &[&str]) -> (i32, Value) {
        let out = self
            .command()
            .arg("admin")
            .args(args)
            .output()
            .expect("run admin");
        let code = out.status.code().expect("exited");
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "custody admin {args:?} printed no JSON ({e}), exit {code}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, json)
    }

    async fn store(&self) -> EnvironmentStores {
        let url = match &self.engine {
            Engine::Postgres(db) => db.url().clone(),
            Engine::Sqlite => custody_embed::DatabaseUrl::new(format!(
                "sqlite://{}",
                self.dir.path().join("data/custody.db").display()
            )),
        };
        custody_embed::Store::connect(&url, custody_embed::MasterKey::from_bytes(MASTER_KEY))
            .await
            .expect("open the binary's store")
            .environment(Environment::Sandbox)
    }

    /// Adds one to a wallet's `available` with raw SQL, bypassing the ledger.
    async fn corrupt_available(&self, wallet: &str) {
        use sqlx::Connection as _;
        match &self.engine {
            Engine::Postgres(db) => {
                let mut conn = sqlx::PgConnection::connect(db.url().expose())
                    .await
                    .expect("connect");
                sqlx::query("UPDATE wallets SET available = available + 1 WHERE id = $1")
                    .bind(wallet)
                    .execute(&mut conn)
                    .await
                    .expect("corrupt");
            }
            Engine::Sqlite => {
                let path = self.dir.path().join("data/custody.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .expect("connect");
                sqlx::query(
                    "UPDATE wallets SET available = CAST(CAST(available AS INTEGER) + 1 AS TEXT) \
                     WHERE id = ?1",
                )
                .bind(wallet)
                .execute(&mut conn)
                .await
                .expect("corrupt");
            }
        }
    }
}

async fn exits_on_drift(engine: Engine) {
    let setup = Setup {
        dir: tempfile::tempdir().expect("tmp"),
        engine,
    };
    std::fs::create_dir_all(setup.dir.path().join("config")).expect("config");
    let (code, tenant) = setup.admin(&["tenant", "create", "--name", "Books Pay"]);
    assert_eq!(code, 0);
    let tenant = TenantId::parse(tenant["id"].as_str().expect("id")).expect("tenant id");

    // A funded wallet with a withdrawal handed over: 1,000,000 deposited, 400 held.
    let env = setup.store().await;
    let vault = customer_vault(tenant, 1);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.insert_vault(&vault).await.expect("vault");
    let w = wallet(&vault, usdt_eth(), 2);
    tx.insert_wallet(&w).await.expect("wallet");
    tx.commit().await.expect("commit");
    let mut deposit = transaction(
        tenant,
        3,
        TransactionKind::Deposit,
        usdt_eth(),
        1_000_000,
        None,
        Some(w.id),
    );
    deposit.status = TransactionStatus::Completed;
    book(
        &env,
        tenant,
        &deposit,
        &[
            Movement::DepositDetected {
                wallet: w.id,
                asset: usdt_eth(),
                amount: amount(1_000_000),
            },
            Movement::DepositCompleted {
                wallet: w.id,
                amount: amount(1_000_000),
            },
        ],
        None,
    )
    .await;
    let mut out = transaction(
        tenant,
        4,
        TransactionKind::Withdrawal,
        usdt_eth(),
        400,
        Some(w.id),
        None,
    );
    out.status = TransactionStatus::PendingSignature;
    book(
        &env,
        tenant,
        &out,
        &[Movement::WithdrawalSubmitted {
            wallet: w.id,
            amount: amount(400),
        }],
        None,
    )
    .await;
    drop(env);

    let (code, clean) = setup.admin(&["reconcile"]);
    assert_eq!(code, 0, "{clean}");
    assert_eq!(clean["verdict"], "clean");
    let sandbox = &clean["environments"][1];
    assert_eq!(sandbox["environment"], "sandbox");
    assert_eq!(sandbox["ledger"]["walletsChecked"], 1);
    assert_eq!(sandbox["ledger"]["balanceDrift"], serde_json::json!([]));
    assert_eq!(sandbox["ledger"]["totalDrift"], serde_json::json!([]));
    let asset = &sandbox["provider"]["assets"][0];
    assert_eq!(asset["assetId"], "USDT_ETHEREUM");
    assert_eq!(asset["status"], "not_checkable", "{asset}");
    assert_eq!(asset["ledgerTotal"], "1000000");
    assert_eq!(asset["handedOverWithdrawals"]["total"], "400");
    assert_eq!(
        clean["environments"][0]["provider"]["skipped"], "no custody provider to compare with",
        "no live routes configured"
    );

    setup.corrupt_available(&w.id.to_string()).await;
    let (code, drift) = setup.admin(&["reconcile", "--environment", "sandbox"]);
    assert_eq!(code, 2, "drift exits 2: {drift}");
    assert_eq!(drift["verdict"], "drift");
    assert_eq!(drift["exitCode"], 2);
    let found = &drift["environments"][0]["ledger"]["balanceDrift"];
    assert_eq!(
        found,
        &serde_json::json!([{
            "walletId": w.id.to_string(),
            "tenant": tenant.to_string(),
            "assetId": "USDT_ETHEREUM",
            "entriesAssetId": "USDT_ETHEREUM",
            "bucket": "available",
            "balanceRow": "999601",
            "ledger": "999600",
            "difference": "1",
        }])
    );
    // The row changed behind the ledger's back also disagrees with the tenant-wide total
    // (1,000,000 deposited − 400 held), which `GET /connect/v1/balances` reads.
    assert_eq!(
        drift["environments"][0]["ledger"]["totalDrift"],
        serde_json::json!([{
            "tenant": tenant.to_string(),
            "assetId": "USDT_ETHEREUM",
            "total": "999600",
            "wallets": "999601",
        }])
    );
    let (code, mine) = setup.admin(&["reconcile", "--tenant", &tenant.to_string()]);
    assert_eq!(code, 2, "{mine}");
    let other = "ten_01J00000000000000000000000";
    let (code, theirs) = setup.admin(&["reconcile", "--env", "sandbox", "--tenant", other]);
    assert_eq!(code, 0, "another tenant's books are clean: {theirs}");
    let (code, live) = setup.admin(&["reconcile", "--environment", "live"]);
    assert_eq!(code, 0, "live is untouched: {live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_exits_2_on_drift_sqlite() {
    exits_on_drift(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_exits_2_on_drift_postgres() {
    let db = custody_postgres::testing::fresh_database().await;
    exits_on_drift(Engine::Postgres(db)).await;
}
