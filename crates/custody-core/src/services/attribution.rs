//! Deposit attribution: whether a deposit reported at one of our addresses may be credited to
//! that address's wallet, and what happens to one that may not.
//!
//! A deposit to an address of an **archived** vault is not credited: an archived vault can
//! never send, so the funds would be stranded in a wallet nobody can move them out of. It is
//! recorded instead in `unattributed_deposits` (the suspense list) with the provider's report
//! and the reason, for operators (`custody admin deposits unattributed|assign|return`), and
//! never lost: a repeated report updates the same record. [`suspend`] is how every other
//! unattributable deposit (unknown address, asset mismatch, several outputs, a disagreeing
//! report) is recorded too.

use crate::deposit_address::DepositAddress;
use crate::error::{Error, ResourceKind};
use crate::ports::{StoreTx, VerifiedDeposit};
use crate::vault::VaultStatus;
use crate::work::{SuspenseState, UnattributedDeposit};
use time::OffsetDateTime;

/// Why a deposit was not credited: its receiving address belongs to an archived vault.
pub(crate) const VAULT_ARCHIVED: &str = "vault_archived";
/// Why a deposit was not credited: no wallet of ours owns the receiving address.
pub(crate) const UNKNOWN_ADDRESS: &str = "unknown_address";
/// Why a deposit was not credited: the asset is not the receiving address's wallet's.
pub(crate) const ASSET_MISMATCH: &str = "asset_mismatch";
/// Why a deposit was not credited: one provider transfer paid several of our addresses.
pub(crate) const SEVERAL_OUTPUTS: &str = "several_outputs";

/// Called where a new deposit is attributed (`DepositService`, before the deposit transaction
/// is created), inside its unit of work: when `address`'s vault cannot receive, records the
/// deposit as unattributed in `tx` and returns the refusal to answer **after committing**
/// `tx`; otherwise `None` and nothing is written. Takes the vault's shared lock (after the
/// wallet: the money-movement order), so the vault cannot be archived until `tx` ends.
///
/// # Errors
/// Store errors (the unit of work is then over).
pub(crate) async fn divert_unattributable(
    tx: &mut dyn StoreTx,
    address: &DepositAddress,
    deposit: &VerifiedDeposit,
    now: OffsetDateTime,
) -> Result<Option<Error>, Error> {
    let vault = tx
        .share_vault(address.tenant_id, address.vault_id)
        .await
        .map_err(Error::from_store(ResourceKind::Vault))?;
    if vault.status != VaultStatus::Archived {
        return Ok(None);
    }
    suspend(
        tx,
        Some(address),
        deposit,
        VAULT_ARCHIVED,
        serde_json::json!({ "detail": "the receiving address belongs to an archived vault" }),
        now,
    )
    .await?;
    Ok(Some(Error::Refused {
        code: "deposit_not_attributed",
        message: format!(
            "{} belongs to an archived vault: the deposit was recorded for operators, not \
             credited",
            deposit.address
        ),
    }))
}

/// Records `deposit` in the suspense list (`unattributed_deposits`) with `reason` and
/// everything the provider said (the verified fields plus `extra`, merged into the record's
/// `report`), inside `tx`: a first report inserts the record, a repeated one updates what the
/// provider says now (never a second record, never a reset of an operator's resolution).
///
/// # Errors
/// Store errors (the unit of work is then over).
pub(crate) async fn suspend(
    tx: &mut dyn StoreTx,
    address: Option<&DepositAddress>,
    deposit: &VerifiedDeposit,
    reason: &str,
    extra: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), Error> {
    tx.record_unattributed_deposit(&UnattributedDeposit {
        provider_ref: deposit.provider_ref.clone(),
        tenant_id: address.map(|a| a.tenant_id),
        vault_id: address.map(|a| a.vault_id),
        deposit_address_id: address.map(|a| a.id),
        asset: deposit.asset,
        amount: deposit.amount,
        address: deposit.address.clone(),
        tx_hash: deposit.tx_hash.clone(),
        status: deposit.status,
        confirmations: deposit.confirmations,
        reason: reason.to_owned(),
        first_seen_at: now,
        last_seen_at: now,
        report: report_json(deposit, extra),
        state: SuspenseState::Open,
        transaction_id: None,
        resolution: serde_json::Value::Null,
    })
    .await?;
    Ok(())
}

/// What the provider said, as kept in a suspense record: its reference, asset, amount in
/// base units (a decimal string), receiving address, hash, status and confirmations, plus
/// `extra`'s fields (the detail, every output of a split transfer).
fn report_json(deposit: &VerifiedDeposit, extra: serde_json::Value) -> serde_json::Value {
    let mut report = serde_json::json!({
        "providerRef": deposit.provider_ref,
        "asset": deposit.asset.to_string(),
        "amount": deposit.amount.base_units().to_string(),
        "network": deposit.address.network().as_str(),
        "address": deposit.address.as_str(),
        "txHash": deposit.tx_hash,
        "status": deposit.status.as_str(),
        "confirmations": deposit.confirmations.map(|c| serde_json::json!({
            "seen": c.seen, "required": c.required
        })),
    });
    if let (Some(report), serde_json::Value::Object(extra)) = (report.as_object_mut(), extra) {
        report.extend(extra);
    }
    report
}

#[cfg(test)]
mod tests;
