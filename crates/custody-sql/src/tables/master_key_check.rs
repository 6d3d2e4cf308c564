//! `master_key_check`: one row holding a value sealed under the master key (a fixed label,
//! AES-256-GCM, never the key itself), so a store opened with another master key is told at
//! once instead of answering 503 for every HMAC key later.

use custody_core::ports::{MasterKeyCheck, StoreError};
use time::OffsetDateTime;

use crate::codec::Columns as _;
use crate::seal::MasterKey;
use crate::statement::Statement;
use crate::store::Database;

/// What is sealed: only the master key that sealed it opens it again.
const LABEL: &[u8] = b"custody master-key check v1";
/// The sealed value's associated data.
const CONTEXT: &[u8] = b"master_key_check";

pub fn get() -> Statement {
    Statement::new("SELECT check_value FROM master_key_check WHERE id = 1")
}

/// Records the check value unless one is recorded (then nothing changes).
pub fn record(value: Vec<u8>, now: OffsetDateTime) -> Statement {
    Statement::new(
        "INSERT INTO master_key_check (id, check_value, created_at) \
         VALUES (1, :value, :now) ON CONFLICT (id) DO NOTHING",
    )
    .bind("value", value)
    .bind("now", now)
}

/// One sealed HMAC secret, if any key has one: a database from before the check value proves
/// its master key with it.
pub fn one_sealed_secret() -> Statement {
    Statement::new(
        "SELECT id, hmac_secret_sealed FROM api_keys WHERE hmac_secret_sealed IS NOT NULL \
         ORDER BY id LIMIT 1",
    )
}

/// Compares `master` with the database's check value, recording one when there is none yet
/// (a new database, or one from before the check value whose sealed secrets open with
/// `master`).
///
/// # Errors
/// Store trouble only.
pub async fn check<D: Database>(
    db: &D,
    master: &MasterKey,
    now: OffsetDateTime,
) -> Result<MasterKeyCheck, StoreError> {
    // Twice at most: another process may record its value between our read and our insert.
    for _ in 0..2 {
        if let Some(row) = db.fetch_optional(get()).await? {
            let value = row.bytes("check_value")?;
            return Ok(if master.open(&value, CONTEXT).is_ok() {
                MasterKeyCheck::Matches
            } else {
                MasterKeyCheck::Mismatch
            });
        }
        if let Some(row) = db.fetch_optional(one_sealed_secret()).await? {
            let id = row.text("id")?;
            let sealed = row.bytes("hmac_secret_sealed")?;
            if master.open(&sealed, id.as_bytes()).is_err() {
                return Ok(MasterKeyCheck::Mismatch);
            }
        }
        let value = master
            .seal(LABEL, CONTEXT)
            .map_err(|e| StoreError::Internal(format!("sealing the check value: {e}").into()))?;
        if db.write(record(value, now)).await? == 1 {
            return Ok(MasterKeyCheck::Recorded);
        }
    }
    Err(StoreError::Unavailable(
        "the master key's check value kept changing while being recorded".into(),
    ))
}
