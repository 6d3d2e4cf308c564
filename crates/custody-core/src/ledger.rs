//! The ledger: append-only double entry.
//!
//! Every money movement is a [`Movement`] that expands into postings summing to zero. Wallet
//! buckets are accounts; the outside world (the chain) is one clearing account per asset, so a
//! deposit is "external → pending" and a completed withdrawal "held → external". Balances are
//! the running sum of a wallet's postings; the stores materialise them for speed, and a
//! reconcile proves the two agree.
//!
//! | movement | debit (−) | credit (+) |
//! |---|---|---|
//! | deposit detected | external | pending |
//! | deposit completed | pending | available |
//! | deposit failed (e.g. reorg) | pending | external |
//! | withdrawal submitted | available | held |
//! | withdrawal completed | held | external |
//! | withdrawal failed / cancelled | held | available |
//! | internal transfer | available(A) | available(B) |

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::amount::Amount;
use crate::asset::AssetId;
use crate::id::{TransactionId, WalletId};
use crate::wallet::{BalanceError, Balances, Bucket};

/// A ledger account.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Account {
    /// One bucket of one wallet.
    #[serde(rename_all = "camelCase")]
    Wallet { wallet_id: WalletId, bucket: Bucket },
    /// The world outside custody for one asset: the counter-account of on-chain movements.
    #[serde(rename_all = "camelCase")]
    External { asset: AssetId },
}

/// One leg of a movement: a signed change to one account.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Posting {
    pub account: Account,
    /// Positive credits, negative debits, in base units.
    #[serde(with = "i128_string")]
    pub delta: i128,
}

mod i128_string {
    pub(super) fn serialize<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// An economic event of a transaction, before it is expanded into postings.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// A deposit was seen on-chain and is confirming.
    DepositDetected {
        /// The receiving wallet.
        wallet: WalletId,
        asset: AssetId,
        amount: Amount,
    },
    /// A confirming deposit became final: it is now spendable.
    DepositCompleted {
        /// The receiving wallet.
        wallet: WalletId,
        amount: Amount,
    },
    /// A confirming deposit will not complete (reorg, provider rejection).
    DepositFailed {
        /// The receiving wallet.
        wallet: WalletId,
        asset: AssetId,
        amount: Amount,
    },
    /// A withdrawal was accepted: its funds are locked.
    WithdrawalSubmitted {
        /// The sending wallet.
        wallet: WalletId,
        amount: Amount,
    },
    /// A withdrawal is final on-chain: the held funds left custody.
    WithdrawalCompleted {
        /// The sending wallet.
        wallet: WalletId,
        asset: AssetId,
        amount: Amount,
    },
    /// A withdrawal failed or was cancelled: the held funds are spendable again.
    WithdrawalReleased {
        /// The sending wallet.
        wallet: WalletId,
        amount: Amount,
    },
    /// An internal transfer between two wallets of the same asset.
    Transfer {
        from: WalletId,
        to: WalletId,
        amount: Amount,
    },
}

/// A movement could not be expanded or applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The amount does not fit a signed ledger delta.
    #[error("amount too large for the ledger")]
    AmountTooLarge,
    /// A posting names a wallet whose balances were not supplied.
    #[error("wallet {0} is not part of this unit of work")]
    UnknownWallet(WalletId),
    /// A bucket would go negative (insufficient funds) or overflow.
    #[error(transparent)]
    Balance(#[from] BalanceError),
}

fn wallet(wallet_id: WalletId, bucket: Bucket) -> Account {
    Account::Wallet { wallet_id, bucket }
}

impl Movement {
    /// The two postings of this movement, debit first. They always sum to zero.
    ///
    /// # Errors
    /// [`LedgerError::AmountTooLarge`] when the amount exceeds `i128::MAX` base units.
    pub fn postings(self) -> Result<[Posting; 2], LedgerError> {
        use Movement::*;
        let (debit, credit, amount) = match self {
            DepositDetected {
                wallet: w,
                asset,
                amount,
            } => (
                Account::External { asset },
                wallet(w, Bucket::Pending),
                amount,
            ),
            DepositCompleted { wallet: w, amount } => (
                wallet(w, Bucket::Pending),
                wallet(w, Bucket::Available),
                amount,
            ),
            DepositFailed {
                wallet: w,
                asset,
                amount,
            } => (
                wallet(w, Bucket::Pending),
                Account::External { asset },
                amount,
            ),
            WithdrawalSubmitted { wallet: w, amount } => (
                wallet(w, Bucket::Available),
                wallet(w, Bucket::Held),
                amount,
            ),
            WithdrawalCompleted {
                wallet: w,
                asset,
                amount,
            } => (wallet(w, Bucket::Held), Account::External { asset }, amount),
            WithdrawalReleased { wallet: w, amount } => (
                wallet(w, Bucket::Held),
                wallet(w, Bucket::Available),
                amount,
            ),
            Transfer { from, to, amount } => (
                wallet(from, Bucket::Available),
                wallet(to, Bucket::Available),
                amount,
            ),
        };
        let delta = i128::try_from(amount.base_units()).map_err(|_| LedgerError::AmountTooLarge)?;
        Ok([
            Posting {
                account: debit,
                delta: -delta,
            },
            Posting {
                account: credit,
                delta,
            },
        ])
    }
}

/// Applies postings to the balances of the wallets they touch, all or nothing: if any posting
/// would take a bucket negative, `balances` is left exactly as it was.
///
/// # Errors
/// [`LedgerError::UnknownWallet`] when a posting names a wallet not in `balances`;
/// [`LedgerError::Balance`] when a bucket would go negative (insufficient funds) or overflow.
pub fn apply(
    balances: &mut BTreeMap<WalletId, Balances>,
    postings: &[Posting],
) -> Result<(), LedgerError> {
    let mut next = balances.clone();
    for posting in postings {
        if let Account::Wallet { wallet_id, bucket } = posting.account {
            next.get_mut(&wallet_id)
                .ok_or(LedgerError::UnknownWallet(wallet_id))?
                .apply(bucket, posting.delta)?;
        }
    }
    *balances = next;
    Ok(())
}

/// Whether postings balance. True for every [`Movement`]; used by reconciliation and tests.
pub fn sums_to_zero(postings: &[Posting]) -> bool {
    postings
        .iter()
        .try_fold(0i128, |acc, p| acc.checked_add(p.delta))
        == Some(0)
}

/// A posting as stored: which transaction wrote it and when.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The transaction that caused it.
    pub transaction_id: TransactionId,
    /// The asset of both legs.
    pub asset: AssetId,
    pub posting: Posting,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl LedgerEntry {
    /// Stamps postings with their transaction, asset and time.
    pub fn for_postings(
        transaction_id: TransactionId,
        asset: AssetId,
        postings: &[Posting],
        created_at: OffsetDateTime,
    ) -> Vec<LedgerEntry> {
        postings
            .iter()
            .map(|&posting| LedgerEntry {
                transaction_id,
                asset,
                posting,
                created_at,
            })
            .collect()
    }
}

/// Rebuilds a wallet's balances from its ledger entries, the reference the materialised
/// balances are reconciled against.
///
/// # Errors
/// [`LedgerError::Balance`] if the entries, in order, would ever take a bucket negative,
/// which means the ledger itself is corrupt.
pub fn replay(wallet_id: WalletId, entries: &[LedgerEntry]) -> Result<Balances, LedgerError> {
    let mut balances = Balances::default();
    for entry in entries {
        if let Account::Wallet {
            wallet_id: w,
            bucket,
        } = entry.posting.account
        {
            if w == wallet_id {
                balances.apply(bucket, entry.posting.delta)?;
            }
        }
    }
    Ok(balances)
}

#[cfg(test)]
mod tests;
