//! `request_signatures`: the replay cache of signed requests, shared by both environments (a
//! key names its environment). One row per (key, digest of what was signed) until the
//! signature's timestamp leaves its window; inserting a row that exists is a replay. Kept in
//! the database so every instance sharing it agrees on which use came first.

use custody_core::ports::{SignatureSeen, SignatureUse};
use time::OffsetDateTime;

use crate::statement::Statement;

/// Records a use, or replaces a row that expired at `now` (as if absent); a live row is left
/// alone and no row comes back (in PostgreSQL a concurrent insert of the same row waits for
/// the first to commit, then sees it).
pub fn record(used: &SignatureUse) -> Statement {
    Statement::new(
        "INSERT INTO request_signatures \
             (api_key_id, signature_digest, idempotency_key, used_at, expires_at) \
         VALUES (:key, :digest, :idempotency_key, :now, :expires_at) \
         ON CONFLICT (api_key_id, signature_digest) DO UPDATE SET \
             idempotency_key = excluded.idempotency_key, used_at = excluded.used_at, \
             expires_at = excluded.expires_at \
         WHERE request_signatures.expires_at <= excluded.used_at \
         RETURNING api_key_id",
    )
    .bind("key", used.key_id.to_string())
    .bind("digest", used.digest.to_vec())
    .bind("idempotency_key", used.idempotency_key.clone())
    .bind("now", used.now)
    .bind("expires_at", used.expires_at)
}

/// The earlier use's `Idempotency-Key` (some row when there was one).
pub fn earlier(used: &SignatureUse) -> Statement {
    Statement::new(
        "SELECT idempotency_key FROM request_signatures \
         WHERE api_key_id = :key AND signature_digest = :digest",
    )
    .bind("key", used.key_id.to_string())
    .bind("digest", used.digest.to_vec())
}

/// Deletes the rows expired at `now`.
pub fn purge_expired(now: OffsetDateTime) -> Statement {
    Statement::new("DELETE FROM request_signatures WHERE expires_at <= :now").bind("now", now)
}

/// The outcome of [`record`] and, when it returned no row, [`earlier`].
pub fn seen(recorded: bool, earlier_key: Option<String>) -> SignatureSeen {
    if recorded {
        SignatureSeen::First
    } else {
        SignatureSeen::Again {
            idempotency_key: earlier_key,
        }
    }
}
