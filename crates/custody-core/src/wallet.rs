//! Wallets and their balances.
//!
//! A wallet holds one asset inside one vault (one wallet per (vault, asset)). Its balances are
//! three buckets: `available` (spendable), `pending` (incoming deposits still confirming) and
//! `held` (locked for withdrawals in flight). `total` is their sum. Balances are a
//! materialisation of the [ledger](crate::ledger): they only change by applying postings, and a
//! bucket can never go below zero.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::amount::Amount;
use crate::asset::AssetId;
use crate::id::{TenantId, VaultId, WalletId};
use crate::text::Label;

/// One of a wallet's three balance buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// Spendable.
    Available,
    /// Incoming, not yet final.
    Pending,
    /// Reserved for outgoing withdrawals.
    Held,
}

impl Bucket {
    /// Every bucket.
    pub const ALL: [Bucket; 3] = [Bucket::Available, Bucket::Pending, Bucket::Held];

    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Bucket::Available => "available",
            Bucket::Pending => "pending",
            Bucket::Held => "held",
        }
    }
}

/// Applying a delta would take a bucket below zero or past the representable maximum.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BalanceError {
    /// The bucket holds less than the debit.
    #[error("{bucket:?} balance {balance} is less than {requested}")]
    Insufficient {
        /// The bucket debited.
        bucket: Bucket,
        /// What it held.
        balance: Amount,
        requested: Amount,
    },
    /// The credit would overflow (cannot happen with real token supplies; refused rather than
    /// wrapped).
    #[error("balance overflow")]
    Overflow,
}

/// A wallet's balances in base units of its asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    /// Spendable.
    pub available: Amount,
    /// Incoming, confirming.
    pub pending: Amount,
    /// Locked for withdrawals in flight.
    pub held: Amount,
}

impl Balances {
    /// The amount in one bucket.
    pub const fn get(&self, bucket: Bucket) -> Amount {
        match bucket {
            Bucket::Available => self.available,
            Bucket::Pending => self.pending,
            Bucket::Held => self.held,
        }
    }

    fn slot(&mut self, bucket: Bucket) -> &mut Amount {
        match bucket {
            Bucket::Available => &mut self.available,
            Bucket::Pending => &mut self.pending,
            Bucket::Held => &mut self.held,
        }
    }

    /// `available + pending + held`; `None` only on overflow, which real supplies never reach.
    pub fn total(&self) -> Option<Amount> {
        self.available
            .checked_add(self.pending)?
            .checked_add(self.held)
    }

    /// Adds a signed delta to one bucket.
    ///
    /// # Errors
    /// [`BalanceError::Insufficient`] if the bucket would go negative, [`BalanceError::Overflow`]
    /// if it would exceed `u128`. The balances are unchanged on error.
    pub fn apply(&mut self, bucket: Bucket, delta: i128) -> Result<(), BalanceError> {
        let slot = self.slot(bucket);
        let magnitude = Amount::from_base_units(delta.unsigned_abs());
        let next = if delta >= 0 {
            slot.checked_add(magnitude).ok_or(BalanceError::Overflow)?
        } else {
            slot.checked_sub(magnitude)
                .ok_or(BalanceError::Insufficient {
                    bucket,
                    balance: *slot,
                    requested: magnitude,
                })?
        };
        *slot = next;
        Ok(())
    }
}

/// The status of a wallet. Wallets are not frozen individually: their vault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletStatus {
    /// The only status today; kept as an enum so the wire shape can grow.
    Active,
}

/// A wallet: one asset in one vault.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    /// `acc_…` (the Accounts dialect calls a wallet an account).
    pub id: WalletId,
    pub tenant_id: TenantId,
    pub vault_id: VaultId,
    pub asset: AssetId,
    pub label: Option<Label>,
    pub status: WalletStatus,
    /// Balances in base units.
    pub balances: Balances,
    /// Increases on every change (balance changes included).
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Wallet {
    /// Records a change: next version, new time.
    pub fn touch(&mut self, now: OffsetDateTime) {
        self.version += 1;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amt(n: u128) -> Amount {
        Amount::from_base_units(n)
    }

    #[test]
    fn credits_and_debits_each_bucket() {
        let mut b = Balances::default();
        for bucket in Bucket::ALL {
            b.apply(bucket, 10).unwrap();
            b.apply(bucket, -4).unwrap();
            assert_eq!(b.get(bucket), amt(6));
        }
        assert_eq!(b.total(), Some(amt(18)));
    }

    #[test]
    fn a_debit_below_zero_is_refused_and_changes_nothing() {
        let mut b = Balances {
            available: amt(5),
            ..Balances::default()
        };
        let err = b.apply(Bucket::Available, -6).unwrap_err();
        assert_eq!(
            err,
            BalanceError::Insufficient {
                bucket: Bucket::Available,
                balance: amt(5),
                requested: amt(6)
            }
        );
        assert_eq!(b.available, amt(5));
        b.apply(Bucket::Available, -5).unwrap();
        assert!(b.available.is_zero());
    }

    #[test]
    fn overflow_is_refused() {
        let mut b = Balances {
            held: Amount::from_base_units(u128::MAX),
            ..Balances::default()
        };
        assert_eq!(b.apply(Bucket::Held, 1), Err(BalanceError::Overflow));
        assert_eq!(b.total(), Some(Amount::from_base_units(u128::MAX)));
        b.available = amt(1);
        assert_eq!(b.total(), None);
    }

    #[test]
    fn extreme_negative_delta_does_not_panic() {
        let mut b = Balances::default();
        assert!(b.apply(Bucket::Pending, i128::MIN).is_err());
    }
}
