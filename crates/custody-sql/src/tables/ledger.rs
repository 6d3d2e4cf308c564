//! `ledger_entries`: appended, never changed.

use async_trait::async_trait;
use custody_core::id::WalletId;
use custody_core::ledger::LedgerEntry;
use custody_core::ports::{LedgerTx, StoreError};

use crate::codec::account_columns;
use crate::statement::{Statement, Value};
use crate::store::{SqlTx, Transaction};

/// The delta as signed decimal text.
pub const COLUMNS: &str = "seq, transaction_id, asset_id, account_kind, wallet_id, bucket, \
     CAST(delta AS TEXT) AS delta, created_at";

pub fn of_wallet(wallet: WalletId) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM ledger_entries WHERE environment = :environment \
         AND wallet_id = :wallet ORDER BY seq"
    ))
    .bind("wallet", wallet.to_string())
}

pub fn insert(entry: &LedgerEntry) -> Statement {
    let (account_kind, wallet, bucket) = account_columns(&entry.posting.account);
    Statement::new(
        "INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, \
         wallet_id, bucket, delta, created_at) \
         VALUES (:environment, :transaction, :asset, :account_kind, :wallet, :bucket, :delta, \
         :created_at)",
    )
    .bind("transaction", entry.transaction_id.to_string())
    .bind("asset", entry.asset.to_string())
    .bind("account_kind", account_kind)
    .bind("wallet", wallet)
    .bind("bucket", bucket)
    .bind("delta", Value::decimal(entry.posting.delta))
    .bind("created_at", entry.created_at)
}

#[async_trait]
impl<T: Transaction> LedgerTx for SqlTx<T> {
    async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        for entry in entries {
            self.execute(insert(entry)).await?;
        }
        Ok(())
    }
}
