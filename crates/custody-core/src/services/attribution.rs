//! Deposit attribution: whether a deposit reported at one of our addresses may be credited to
//! that address's wallet, and what happens to one that may not.
//!
//! A deposit to an address of an **archived** vault is not credited: an archived vault can
//! never send, so the funds would be stranded in a wallet nobody can move them out of. It is
//! recorded instead in `unattributed_deposits` with the provider's report and the reason, for
//! operators (`custody admin deposits unattributed`), and never lost: a repeated report
//! updates the same record.

use crate::deposit_address::DepositAddress;
use crate::error::{Error, ResourceKind};
use crate::ports::{StoreTx, VerifiedDeposit};
use crate::vault::VaultStatus;
use crate::work::UnattributedDeposit;
use time::OffsetDateTime;

/// Why a deposit was not credited: its receiving address belongs to an archived vault.
pub const VAULT_ARCHIVED: &str = "vault_archived";

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
    tx.record_unattributed_deposit(&UnattributedDeposit {
        provider_ref: deposit.provider_ref.clone(),
        tenant_id: Some(address.tenant_id),
        vault_id: Some(address.vault_id),
        deposit_address_id: Some(address.id),
        asset: deposit.asset,
        amount: deposit.amount,
        address: deposit.address.clone(),
        tx_hash: deposit.tx_hash.clone(),
        status: deposit.status,
        confirmations: deposit.confirmations,
        reason: VAULT_ARCHIVED.to_owned(),
        first_seen_at: now,
        last_seen_at: now,
    })
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

#[cfg(test)]
mod tests;
