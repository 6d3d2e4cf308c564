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

/// All of `entries` in one statement (a multi-row `VALUES`, in their order, which is their
/// `seq` order); `None` when there are none.
pub fn insert(entries: &[LedgerEntry]) -> Option<Statement> {
    if entries.is_empty() {
        return None;
    }
    let rows = entries
        .iter()
        .map(|entry| {
            let (account_kind, wallet, bucket) = account_columns(&entry.posting.account);
            vec![
                Value::from(entry.transaction_id.to_string()),
                Value::from(entry.asset.to_string()),
                Value::from(account_kind),
                Value::from(wallet),
                Value::from(bucket),
                Value::decimal(entry.posting.delta),
                Value::from(entry.created_at),
            ]
        })
        .collect();
    // `column1` … are the names both databases give a `VALUES` list's columns.
    Some(
        Statement::new(
            "INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, \
             wallet_id, bucket, delta, created_at) \
             SELECT :environment, column1, column2, column3, column4, column5, column6, column7 \
             FROM (VALUES :entries) AS l",
        )
        .bind_rows("entries", rows),
    )
}

#[async_trait]
impl<T: Transaction> LedgerTx for SqlTx<T> {
    async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        match insert(entries) {
            Some(stmt) => self.execute(stmt).await,
            None => Ok(()),
        }
    }
}
