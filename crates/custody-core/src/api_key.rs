//! API keys as data and rules: modes, scopes, IP allow-lists, key strings and their hashes, and
//! the life cycle of a key record.
//!
//! An operator mints a key for one tenant and one environment, with one [`KeyMode`] (which of
//! the three authentication schemes it speaks), a [`ScopeSet`] and an optional [`IpAllowList`]
//! (ARCHITECTURE §5). The key string is shown once; only its [`KeyHash`] is stored. A key is
//! [active](KeyStatus::Active) until it is [rotated](ApiKey::rotate) (then it keeps working
//! until the end of a grace period, and is [expired](KeyStatus::Expired) after) or
//! [revoked](ApiKey::revoke) (at once).
//!
//! Nothing here makes random bytes or reads the clock: both come in as arguments.

mod ip_allow;
mod key_string;
mod mode;
mod scope;

use time::{Duration, OffsetDateTime};

use crate::environment::Environment;
use crate::id::{ApiKeyId, TenantId};

pub use ip_allow::{IpAllowList, IpEntryError};
pub use key_string::{
    format_key, generate_hmac_secret, hash_key, key_hint, InvalidKeyHash, KeyHash,
};
pub use mode::{KeyMode, UnknownKeyMode};
pub use scope::{MissingScope, Scope, ScopeSet, UnknownScope};

// ---------------------------------------------------------------------------------------------
// The key record and its life cycle
// ---------------------------------------------------------------------------------------------

/// The longest grace period a rotation may give the old key.
///
/// A key is usually rotated because it may have leaked, and every hour of overlap is an hour a
/// leaked key still works. Seven days is enough for a partner to ship the new secret through
/// an ordinary weekly release; anyone needing longer can keep the old key and rotate later.
pub const MAX_ROTATION_GRACE: Duration = Duration::days(7);

/// Where a key stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Usable, with no end date.
    Active,
    /// Usable until `until` (a rotated key in its grace period, or a key minted with an
    /// expiry).
    Expiring {
        /// The instant it stops working.
        until: OffsetDateTime,
    },
    /// Its expiry has passed.
    Expired,
    /// Revoked by an operator.
    Revoked,
}

/// Why a life-cycle change of a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStateError {
    /// The key was revoked before.
    #[error("the key is already revoked")]
    AlreadyRevoked,
    /// A revoked key cannot be rotated: it is dead, mint a new one instead.
    #[error("a revoked key cannot be rotated")]
    RotateRevoked,
    /// The key was rotated before; rotate its successor instead.
    #[error("the key was already rotated, to {successor}")]
    AlreadyRotated {
        /// The key that replaced it.
        successor: ApiKeyId,
    },
    /// An expired key cannot be rotated: rotating would bring it back to life for the grace
    /// period.
    #[error("an expired key cannot be rotated")]
    RotateExpired,
    /// The grace period is negative or longer than [`MAX_ROTATION_GRACE`].
    #[error("the grace period must be between 0 and 7 days")]
    InvalidGrace,
    /// A key cannot succeed itself.
    #[error("a key cannot be its own successor")]
    SelfSuccessor,
}

/// An API key record: everything the server keeps about a key. The key string itself is never
/// stored, only its hash.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    /// The environment every request made with the key runs in.
    pub environment: Environment,
    /// The one authentication scheme the key speaks.
    pub mode: KeyMode,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// Where the key may be used from; empty means anywhere.
    pub allowed_ips: IpAllowList,
    /// SHA-256 of the key string.
    pub key_hash: KeyHash,
    /// Prefix and last 4 characters of the key, for display and logs ([`key_hint`]); never the
    /// full key.
    pub key_hint: String,
    /// For `ed25519` keys, the public key PEM exactly as registered (parse it with
    /// [`Ed25519PublicKey::from_pem`](crate::signing::Ed25519PublicKey::from_pem)).
    pub ed25519_public_key: Option<String>,
    pub created_at: OffsetDateTime,
    /// When the key stops working: set by a rotation to the end of the grace period.
    pub expires_at: Option<OffsetDateTime>,
    /// When an operator revoked the key.
    pub revoked_at: Option<OffsetDateTime>,
    /// The key that replaced this one in a rotation.
    pub replaced_by: Option<ApiKeyId>,
}

impl ApiKey {
    /// The key's status at `now`.
    ///
    /// Revocation wins over everything and takes effect whatever its recorded time, so a
    /// revocation recorded by an instance whose clock runs slightly ahead is still immediate.
    /// The expiry instant itself is already expired.
    pub fn status_at(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            return KeyStatus::Revoked;
        }
        match self.expires_at {
            Some(until) if now >= until => KeyStatus::Expired,
            Some(until) => KeyStatus::Expiring { until },
            None => KeyStatus::Active,
        }
    }

    /// Whether a request may authenticate with the key at `now` (active or expiring).
    pub fn is_usable_at(&self, now: OffsetDateTime) -> bool {
        matches!(
            self.status_at(now),
            KeyStatus::Active | KeyStatus::Expiring { .. }
        )
    }

    /// Revokes the key at `now`: it stops working at once. A rotated key (in its grace period or
    /// past it) may be revoked, which is how an operator cuts a grace period short.
    ///
    /// # Errors
    /// [`KeyStateError::AlreadyRevoked`]; the record is unchanged.
    pub fn revoke(&mut self, now: OffsetDateTime) -> Result<(), KeyStateError> {
        if self.revoked_at.is_some() {
            return Err(KeyStateError::AlreadyRevoked);
        }
        self.revoked_at = Some(now);
        Ok(())
    }

    /// Records that `successor` replaces this key, which keeps working for `grace` after `now`
    /// (a grace of zero stops it at once). An expiry already earlier than that is kept: a
    /// rotation never lengthens a key's life.
    ///
    /// # Errors
    /// [`KeyStateError::RotateRevoked`], [`KeyStateError::AlreadyRotated`],
    /// [`KeyStateError::RotateExpired`], [`KeyStateError::InvalidGrace`] (negative or above
    /// [`MAX_ROTATION_GRACE`]) or [`KeyStateError::SelfSuccessor`]; on error the record is
    /// unchanged.
    pub fn rotate(
        &mut self,
        now: OffsetDateTime,
        grace: Duration,
        successor: ApiKeyId,
    ) -> Result<(), KeyStateError> {
        if grace.is_negative() || grace > MAX_ROTATION_GRACE {
            return Err(KeyStateError::InvalidGrace);
        }
        if successor == self.id {
            return Err(KeyStateError::SelfSuccessor);
        }
        if self.revoked_at.is_some() {
            return Err(KeyStateError::RotateRevoked);
        }
        if let Some(successor) = self.replaced_by {
            return Err(KeyStateError::AlreadyRotated { successor });
        }
        if self.status_at(now) == KeyStatus::Expired {
            return Err(KeyStateError::RotateExpired);
        }
        // Overflow needs a clock near the year 9999; failing closed (the old key stops now) is
        // the safe reading of it.
        let end_of_grace = now.checked_add(grace).unwrap_or(now);
        self.expires_at = Some(match self.expires_at {
            Some(existing) => existing.min(end_of_grace),
            None => end_of_grace,
        });
        self.replaced_by = Some(successor);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
