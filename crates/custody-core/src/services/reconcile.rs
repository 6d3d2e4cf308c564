//! `custody admin reconcile`: proving, per environment, that the money adds up.
//!
//! 1. **Ledger.** For every wallet and bucket, the sum of its ledger entries equals the
//!    materialised balance row; every transaction's postings sum to zero; a final transaction
//!    leaves nothing `pending` or `held`. All read from one snapshot
//!    ([`ledger_snapshot`](crate::ports::ReconcileStore::ledger_snapshot)), so traffic
//!    committing meanwhile never shows as drift.
//! 2. **Provider** (per asset). The sum of our wallets' ledger balances against what the custody
//!    provider reports holding
//!    ([`custody_balance`](crate::ports::CustodyProvider::custody_balance)). The two differ
//!    while money is on its way, so the difference `reported − ledger` is *explained* when it lies in
//!    `[−(pending deposits + handed-over withdrawals), +suspense]`:
//!    - a withdrawal handed to the provider and not final is still `held` in our ledger but may
//!      already have left the provider's wallet (the provider is lower by up to its amount);
//!    - a deposit still confirming is `pending` in our ledger but may not be in the provider's
//!      balance yet (lower by up to its amount);
//!    - a deposit in suspense (recorded, credited to no wallet) is at the provider but in no
//!      wallet (higher by up to its amount).
//!
//!    Anything outside is drift. A provider that reports no balance (Rhino, the sandbox) is
//!    "not checkable", which is not drift; one that fails makes the run incomplete.

use std::collections::BTreeMap;

use crate::asset::AssetId;
use crate::error::Error;
use crate::id::{TenantId, WalletId};
use crate::ports::{
    CustodyBalance, DynCustodyProvider, DynReconcileStore, InFlightItem, LedgerSnapshot,
    ProviderError, TransactionResidue,
};
use crate::totals::SignedAmount;
use crate::wallet::Bucket;

/// One bucket of one wallet whose balance row disagrees with its ledger, or ledger entries of
/// a wallet under another asset than its own.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletDrift {
    pub wallet_id: WalletId,
    pub tenant_id: TenantId,
    /// The wallet's asset.
    pub asset: AssetId,
    /// The entries' asset (differs from `asset` only for misfiled entries).
    pub entries_asset: AssetId,
    pub bucket: Bucket,
    /// The balance row (0 for misfiled entries).
    pub materialised: i128,
    /// The sum of the ledger entries.
    pub ledger: i128,
}

/// A tenant's maintained total of an asset ([`crate::totals`]) that differs from its wallets'
/// available balances summed.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalDrift {
    pub tenant_id: TenantId,
    pub asset: AssetId,
    /// The maintained total (its slots summed; 0 when it has no row).
    pub total: SignedAmount,
    /// Σ `available` over the tenant's wallets of the asset (`None` beyond `u128`).
    pub wallets: Option<u128>,
}

/// The ledger half of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerCheck {
    /// Wallets read.
    pub wallets_checked: usize,
    /// Balance rows that disagree with their ledger.
    pub drift: Vec<WalletDrift>,
    /// Transactions whose postings do not sum to zero.
    pub unbalanced: Vec<TransactionResidue>,
    /// Final transactions leaving a `pending` or `held` residue.
    pub final_residues: Vec<TransactionResidue>,
    /// Maintained tenant-wide totals that differ from their wallets' sum.
    pub total_drift: Vec<TotalDrift>,
}

impl LedgerCheck {
    /// Whether anything disagrees.
    pub fn drifted(&self) -> bool {
        !(self.drift.is_empty()
            && self.unbalanced.is_empty()
            && self.final_residues.is_empty()
            && self.total_drift.is_empty())
    }
}

/// What became of one asset's provider comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOutcome {
    /// The difference is zero or explained by money in flight.
    Explained,
    /// The difference is outside what money in flight explains.
    Drift,
    /// The provider reports no balance for it (Rhino, the sandbox): not drift.
    NotCheckable(String),
    /// The provider could not be asked (unavailable, refused): the run is incomplete.
    Failed(ProviderError),
}

/// One asset compared with its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderCheck {
    /// The asset.
    pub asset: AssetId,
    /// Σ over our wallets of the asset of their ledger balances (every bucket).
    pub ledger_total: i128,
    /// Of which still `pending` (deposits confirming).
    pub pending: i128,
    /// Open withdrawals handed to the provider.
    pub handed_over: Vec<InFlightItem>,
    /// Deposits in suspense.
    pub suspense: Vec<InFlightItem>,
    /// What the provider reported, when it did.
    pub reported: Option<CustodyBalance>,
    /// The verdict.
    pub outcome: ProviderOutcome,
}

impl ProviderCheck {
    /// `reported − ledger_total`, when reported.
    pub fn difference(&self) -> Option<i128> {
        let reported = i128::try_from(self.reported.as_ref()?.balance.base_units()).ok()?;
        reported.checked_sub(self.ledger_total)
    }

    /// The range of differences money in flight explains: `(−(pending + handed over),
    /// +suspense)`. `None` only on overflow.
    pub fn explained_range(&self) -> Option<(i128, i128)> {
        let handed = sum(&self.handed_over)?;
        let low = self.pending.checked_add(handed)?.checked_neg()?;
        Some((low, sum(&self.suspense)?))
    }
}

fn sum(items: &[InFlightItem]) -> Option<i128> {
    items.iter().try_fold(0i128, |acc, item| {
        acc.checked_add(i128::try_from(item.amount.base_units()).ok()?)
    })
}

/// How a run ended, and the exit code `custody admin reconcile` uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything checked agrees (exit 0).
    Clean,
    /// Something disagrees (exit 2).
    Drift,
    /// No drift, but a provider check could not run (exit 3).
    Incomplete,
}

impl Verdict {
    /// The process exit code.
    pub const fn exit_code(self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Drift => 2,
            Verdict::Incomplete => 3,
        }
    }

    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Drift => "drift",
            Verdict::Incomplete => "incomplete",
        }
    }

    /// The worse of two.
    pub fn worst(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Drift, _) | (_, Drift) => Drift,
            (Incomplete, _) | (_, Incomplete) => Incomplete,
            _ => Clean,
        }
    }
}

/// One environment's report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// The ledger check.
    pub ledger: LedgerCheck,
    /// Per asset, when the provider check ran.
    pub provider: Vec<ProviderCheck>,
    /// Why the provider check did not run, when it did not.
    pub provider_skipped: Option<String>,
}

impl ReconcileReport {
    /// The verdict: drift anywhere beats an incomplete provider check.
    pub fn verdict(&self) -> Verdict {
        let mut verdict = if self.ledger.drifted() {
            Verdict::Drift
        } else {
            Verdict::Clean
        };
        for check in &self.provider {
            verdict = verdict.worst(match check.outcome {
                ProviderOutcome::Drift => Verdict::Drift,
                ProviderOutcome::Failed(_) => Verdict::Incomplete,
                _ => Verdict::Clean,
            });
        }
        verdict
    }
}

/// Reconciles one environment.
#[derive(Clone)]
pub struct ReconcileService {
    store: DynReconcileStore,
    provider: Option<(DynCustodyProvider, Option<Vec<AssetId>>)>,
}

impl ReconcileService {
    /// The ledger check only.
    pub fn new(store: DynReconcileStore) -> ReconcileService {
        ReconcileService {
            store,
            provider: None,
        }
    }

    /// Also compares `assets` (`None`: every asset some wallet holds) with what `provider`
    /// reports holding.
    #[must_use]
    pub fn with_provider(
        mut self,
        provider: DynCustodyProvider,
        assets: Option<Vec<AssetId>>,
    ) -> ReconcileService {
        self.provider = Some((provider, assets));
        self
    }

    /// Runs both checks. With `tenant`, only that tenant's wallets and transactions are read
    /// and the provider check is skipped (a provider's balance covers every tenant).
    ///
    /// # Errors
    /// Store errors (drift is a report, not an error).
    pub async fn run(&self, tenant: Option<TenantId>) -> Result<ReconcileReport, Error> {
        let snapshot = self.store.ledger_snapshot(tenant).await?;
        let ledger = check_ledger(&snapshot);
        let (provider, provider_skipped) = match (&self.provider, tenant) {
            (_, Some(_)) => (
                Vec::new(),
                Some("a provider's balance covers every tenant: not compared for one".into()),
            ),
            (None, None) => (
                Vec::new(),
                Some("no custody provider to compare with".into()),
            ),
            (Some((provider, assets)), None) => {
                let held: Vec<AssetId> = {
                    let mut held: Vec<AssetId> = snapshot.wallets.iter().map(|w| w.asset).collect();
                    held.sort();
                    held.dedup();
                    held
                };
                let mut checks = Vec::new();
                for &asset in assets.as_ref().unwrap_or(&held) {
                    let reported = provider.custody_balance(asset).await;
                    checks.push(check_provider(&snapshot, asset, reported));
                }
                (checks, None)
            }
        };
        Ok(ReconcileReport {
            ledger,
            provider,
            provider_skipped,
        })
    }
}

/// The ledger half, from a snapshot.
pub fn check_ledger(snapshot: &LedgerSnapshot) -> LedgerCheck {
    let mut drift = Vec::new();
    for wallet in &snapshot.wallets {
        let mut sums: BTreeMap<(AssetId, Bucket), i128> = BTreeMap::new();
        for sum in &wallet.ledger {
            *sums.entry((sum.asset, sum.bucket)).or_default() += sum.sum;
        }
        for bucket in Bucket::ALL {
            let materialised =
                i128::try_from(wallet.balances.get(bucket).base_units()).unwrap_or(i128::MAX);
            let ledger = sums.remove(&(wallet.asset, bucket)).unwrap_or(0);
            if ledger != materialised {
                drift.push(WalletDrift {
                    wallet_id: wallet.wallet_id,
                    tenant_id: wallet.tenant_id,
                    asset: wallet.asset,
                    entries_asset: wallet.asset,
                    bucket,
                    materialised,
                    ledger,
                });
            }
        }
        // Entries under another asset than the wallet's.
        for ((asset, bucket), ledger) in sums {
            drift.push(WalletDrift {
                wallet_id: wallet.wallet_id,
                tenant_id: wallet.tenant_id,
                asset: wallet.asset,
                entries_asset: asset,
                bucket,
                materialised: 0,
                ledger,
            });
        }
    }
    LedgerCheck {
        wallets_checked: snapshot.wallets.len(),
        drift,
        unbalanced: snapshot.unbalanced.clone(),
        final_residues: snapshot.final_residues.clone(),
        total_drift: check_totals(snapshot),
    }
}

/// Each (tenant, asset): the maintained total against Σ `available` of its wallets, exactly.
/// A pair with wallets and no total row counts as a total of 0 (so a tenant whose wallets of
/// the asset hold nothing is clean), and a total with no wallets must be 0.
fn check_totals(snapshot: &LedgerSnapshot) -> Vec<TotalDrift> {
    let mut pairs: BTreeMap<(TenantId, AssetId), (SignedAmount, Option<u128>)> = BTreeMap::new();
    for wallet in &snapshot.wallets {
        let (_, sum) = pairs
            .entry((wallet.tenant_id, wallet.asset))
            .or_insert((SignedAmount::ZERO, Some(0)));
        *sum = sum.and_then(|s| s.checked_add(wallet.balances.available.base_units()));
    }
    for total in &snapshot.totals {
        let (kept, _) = pairs
            .entry((total.tenant_id, total.asset))
            .or_insert((SignedAmount::ZERO, Some(0)));
        *kept = total.total;
    }
    pairs
        .into_iter()
        .filter(|(_, (total, wallets))| {
            wallets.map(|w| SignedAmount::new(false, w)) != Some(*total)
        })
        .map(|((tenant_id, asset), (total, wallets))| TotalDrift {
            tenant_id,
            asset,
            total,
            wallets,
        })
        .collect()
}

/// One asset's provider comparison, from a snapshot and the provider's answer.
pub(crate) fn check_provider(
    snapshot: &LedgerSnapshot,
    asset: AssetId,
    reported: Result<CustodyBalance, ProviderError>,
) -> ProviderCheck {
    let mut ledger_total = 0i128;
    let mut pending = 0i128;
    for wallet in snapshot.wallets.iter().filter(|w| w.asset == asset) {
        for sum in wallet.ledger.iter().filter(|s| s.asset == asset) {
            ledger_total = ledger_total.saturating_add(sum.sum);
            if sum.bucket == Bucket::Pending {
                pending = pending.saturating_add(sum.sum);
            }
        }
    }
    let of_asset = |items: &[InFlightItem]| -> Vec<InFlightItem> {
        items.iter().filter(|i| i.asset == asset).cloned().collect()
    };
    let mut check = ProviderCheck {
        asset,
        ledger_total,
        pending,
        handed_over: of_asset(&snapshot.handed_over),
        suspense: of_asset(&snapshot.suspense),
        reported: None,
        outcome: ProviderOutcome::Explained,
    };
    check.outcome = match reported {
        Err(ProviderError::Unsupported(why)) => ProviderOutcome::NotCheckable(why),
        Err(e) => ProviderOutcome::Failed(e),
        Ok(balance) => {
            check.reported = Some(balance);
            match (check.difference(), check.explained_range()) {
                (Some(d), Some((low, high))) if low <= d && d <= high => ProviderOutcome::Explained,
                _ => ProviderOutcome::Drift,
            }
        }
    };
    check
}

#[cfg(test)]
mod tests;
