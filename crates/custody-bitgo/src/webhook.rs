//! Deposits from BitGo's transfer webhook: the optional `X-Signature-SHA256` check, parsing
//! the notification, and reading the transfer back from BitGo, which is all that is trusted.

use custody_core::amount::Amount;
use custody_core::chain_address::ChainAddress;
use custody_core::ports::{Notification, ProviderError, UnattributableReport, VerifiedDeposit};
use custody_core::transaction::TransactionStatus;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::wire::{self, Transfer, TransferEntry, TransferNotification};
use crate::{asset_for_coin, BitgoClient};

impl BitgoClient {
    /// Checks `X-Signature-SHA256` when a webhook secret is configured: hex of
    /// HMAC-SHA256(secret, raw body), compared in constant time. Without a secret, passes
    /// (the read-back is what is trusted either way).
    ///
    /// # Errors
    /// `Unverified` when a secret is configured and the signature is missing or wrong.
    pub fn check_signature(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<(), ProviderError> {
        let Some(secret) = &self.config.webhook_secret else {
            return Ok(());
        };
        let signature = signature
            .ok_or_else(|| ProviderError::Unverified("no X-Signature-SHA256 header".into()))?;
        let expected = hex::decode(signature.trim())
            .map_err(|_| ProviderError::Unverified("X-Signature-SHA256 is not hex".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| ProviderError::Unverified("unusable webhook secret".into()))?;
        mac.update(payload);
        mac.verify_slice(&expected)
            .map_err(|_| ProviderError::Unverified("X-Signature-SHA256 does not match".into()))
    }

    /// Reads the transfer a webhook names back from BitGo and turns it into a deposit, trusting
    /// only what was read.
    pub(crate) async fn read_back_deposit(
        &self,
        notice: &TransferNotification,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let unverified = |why: String| ProviderError::Unverified(why);
        let asset = asset_for_coin(&notice.coin, self.config.environment)
            .ok_or_else(|| unverified(format!("coin `{}` is not one we hold", notice.coin)))?;
        let (coin, wallet) = self.transfer_route(asset)?;
        if notice.wallet != wallet {
            return Err(unverified(format!(
                "wallet {} is not our {coin} wallet",
                notice.wallet
            )));
        }
        match self
            .read_deposit(asset, coin, wallet, &notice.transfer)
            .await
        {
            Err(ProviderError::NotFound) => Err(unverified(format!(
                "BitGo has no transfer {} on our {coin} wallet",
                notice.transfer
            ))),
            other => other,
        }
    }

    /// Reads the receive `transfer_id` of our `coin` wallet back from BitGo and turns it into
    /// a deposit of `asset`: the webhook's read-back, and how an open deposit is refreshed.
    ///
    /// # Errors
    /// `NotFound` when BitGo has no such transfer on the wallet; `Unverified` when it is not a
    /// receive of our wallet or is malformed; transport errors.
    pub(crate) async fn read_deposit(
        &self,
        asset: custody_core::asset::AssetId,
        coin: &str,
        wallet: &str,
        transfer_id: &str,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let transfer = self.read_own_transfer(coin, wallet, transfer_id).await?;
        deposit_of(asset, wallet, &transfer)
    }

    /// Reads `transfer_id` of our `coin` wallet back, checking BitGo answered for it.
    ///
    /// # Errors
    /// `NotFound`; `Unverified` when the answer is another wallet's, coin's or transfer;
    /// transport errors.
    pub(crate) async fn read_own_transfer(
        &self,
        coin: &str,
        wallet: &str,
        transfer_id: &str,
    ) -> Result<Transfer, ProviderError> {
        let transfer = self.get_transfer(coin, wallet, transfer_id).await?;
        if transfer.wallet != wallet || transfer.coin != coin || transfer.id != transfer_id {
            return Err(ProviderError::Unverified(format!(
                "BitGo's transfer {transfer_id} is not a {coin} transfer of our wallet"
            )));
        }
        Ok(transfer)
    }
}

/// The deposit a receive of our `wallet` (read back from BitGo) is.
///
/// # Errors
/// `Unverified` when it is not a receive or names no single address of ours; `Malformed` when
/// its amount is zero or not an integer.
pub(crate) fn deposit_of(
    asset: custody_core::asset::AssetId,
    wallet: &str,
    transfer: &Transfer,
) -> Result<VerifiedDeposit, ProviderError> {
    let unverified = |why: String| ProviderError::Unverified(why);
    if transfer.kind != "receive" {
        return Err(unverified(format!(
            "transfer {} is a {}, not a deposit",
            transfer.id, transfer.kind
        )));
    }
    let (status, _) = wire::transfer_status(&transfer.state)
        .ok_or_else(|| unverified(format!("transfer state `{}` is unknown", transfer.state)))?;
    let status = match status {
        // A replaced receive is superseded by its replacement, credited under its own
        // transfer id: this one will never complete.
        _ if transfer.state == "replaced" => TransactionStatus::Failed,
        TransactionStatus::Completed | TransactionStatus::Failed => status,
        _ => TransactionStatus::Confirming,
    };
    let (raw_address, amount) = receiving_entry(transfer, wallet)?;
    let address = ChainAddress::parse(asset.network(), raw_address)
        .map_err(|e| unverified(format!("BitGo reported an invalid receiving address: {e}")))?;
    Ok(VerifiedDeposit {
        provider_ref: transfer.id.clone(),
        asset,
        amount,
        address,
        tx_hash: transfer.txid.clone().filter(|t| !t.is_empty()),
        status,
        confirmations: None,
    })
}

/// What a receive of our `wallet` (read back from BitGo) is: a deposit, or, when it pays
/// several of our addresses, one suspense report (reason `several_outputs`) for the whole
/// transfer: its total to our addresses, the first of them, and every output in `detail`.
/// One provider transfer stays one record under its one reference, so nothing is credited
/// until an operator decides (see docs/providers.md, "Suspense").
///
/// # Errors
/// As [`deposit_of`], except for several outputs.
pub(crate) fn notification_of(
    asset: custody_core::asset::AssetId,
    wallet: &str,
    transfer: &Transfer,
) -> Result<Notification, ProviderError> {
    match deposit_of(asset, wallet, transfer) {
        Err(ProviderError::Unverified(why)) if why.contains(SEVERAL) => {
            several_outputs(asset, wallet, transfer)
        }
        other => other.map(Notification::Deposit),
    }
}

const SEVERAL: &str = "credits several of our addresses";

fn several_outputs(
    asset: custody_core::asset::AssetId,
    wallet: &str,
    transfer: &Transfer,
) -> Result<Notification, ProviderError> {
    let unverified = |why: String| ProviderError::Unverified(why);
    let (status, _) = wire::transfer_status(&transfer.state)
        .ok_or_else(|| unverified(format!("transfer state `{}` is unknown", transfer.state)))?;
    let status = match status {
        _ if transfer.state == "replaced" => TransactionStatus::Failed,
        TransactionStatus::Completed | TransactionStatus::Failed => status,
        _ => TransactionStatus::Confirming,
    };
    let mut outputs = Vec::new();
    let mut total: u128 = 0;
    let mut first: Option<ChainAddress> = None;
    for entry in transfer
        .entries
        .iter()
        .filter(|e| e.is_change != Some(true))
    {
        let (Some(raw), Some(address)) = (entry.value_string.as_deref(), entry.receiving_address())
        else {
            continue;
        };
        let Ok(units) = raw.parse::<u128>() else {
            continue;
        };
        let ours = entry.wallet.as_deref() == Some(wallet);
        if units == 0 || !(ours || entry.wallet.is_none()) {
            continue;
        }
        outputs.push(serde_json::json!({
            "address": address, "amount": raw, "wallet": entry.wallet,
        }));
        if ours {
            total = total.checked_add(units).ok_or_else(|| {
                ProviderError::Malformed(format!("transfer {} overflows", transfer.id))
            })?;
            if first.is_none() {
                first = Some(ChainAddress::parse(asset.network(), address).map_err(|e| {
                    unverified(format!("BitGo reported an invalid receiving address: {e}"))
                })?);
            }
        }
    }
    let address = first.ok_or_else(|| {
        unverified(format!(
            "transfer {} credits no address of our wallet",
            transfer.id
        ))
    })?;
    Ok(Notification::Unattributable(Box::new(
        UnattributableReport {
            deposit: VerifiedDeposit {
                provider_ref: transfer.id.clone(),
                asset,
                amount: Amount::from_base_units(total),
                address,
                tx_hash: transfer.txid.clone().filter(|t| !t.is_empty()),
                status,
                confirmations: None,
            },
            reason: "several_outputs",
            detail: serde_json::json!({
                "detail": format!("BitGo transfer {} pays several of our addresses", transfer.id),
                "provider": "bitgo",
                "wallet": wallet,
                "state": transfer.state,
                "outputs": outputs,
            }),
        },
    )))
}

/// Parses BitGo's transfer webhook (`{hash, transfer, coin, type: "transfer", state,
/// wallet}`). Parsing is all it does: nothing in it is trusted.
///
/// # Errors
/// `Unverified` when the body is not a transfer notification.
pub fn parse_transfer_webhook(payload: &[u8]) -> Result<TransferNotification, ProviderError> {
    let notice: TransferNotification = serde_json::from_slice(payload)
        .map_err(|e| ProviderError::Unverified(format!("not a BitGo transfer webhook: {e}")))?;
    if notice.kind != "transfer" {
        return Err(ProviderError::Unverified(format!(
            "a `{}` webhook is not a transfer notification",
            notice.kind
        )));
    }
    // BitGo ids are 32 lowercase hex; anything else never reaches a URL.
    for (field, id) in [("transfer", &notice.transfer), ("wallet", &notice.wallet)] {
        if !is_bitgo_id(id) {
            return Err(ProviderError::Unverified(format!(
                "the webhook's `{field}` is not a BitGo id"
            )));
        }
    }
    Ok(notice)
}

/// `^[0-9a-f]{32}$`, BitGo's id format.
pub(crate) fn is_bitgo_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The one address of our wallet a receive credited, and by how much. An entry annotated as
/// our wallet's wins; without any, a single positive entry carrying no wallet annotation at
/// all is accepted (the deposit service then refuses it unless the address is one of ours).
/// An entry annotated as another wallet's is never ours.
fn receiving_entry<'t>(
    transfer: &'t Transfer,
    wallet: &str,
) -> Result<(&'t str, Amount), ProviderError> {
    let credits: Vec<(&TransferEntry, &str, Amount)> = transfer
        .entries
        .iter()
        .filter(|e| e.is_change != Some(true))
        .filter_map(|e| {
            let units: u128 = e.value_string.as_deref()?.parse().ok()?;
            let address = e.receiving_address()?;
            (units > 0).then_some((e, address, Amount::from_base_units(units)))
        })
        .collect();
    let ours: Vec<_> = credits
        .iter()
        .filter(|(e, _, _)| e.wallet.as_deref() == Some(wallet))
        .collect();
    let unannotated: Vec<_> = credits
        .iter()
        .filter(|(e, _, _)| e.wallet.is_none())
        .collect();
    let chosen = match (ours.as_slice(), unannotated.as_slice()) {
        ([one], _) | ([], [one]) => one,
        ([], []) if unusable_amount(transfer, wallet) => {
            return Err(ProviderError::Malformed(format!(
                "transfer {} credits our wallet a zero or unreadable amount",
                transfer.id
            )))
        }
        ([], []) => {
            return Err(ProviderError::Unverified(format!(
                "transfer {} credits no address of our wallet",
                transfer.id
            )))
        }
        _ => {
            return Err(ProviderError::Unverified(format!(
                "transfer {} {SEVERAL}; split deposits are not supported",
                transfer.id
            )))
        }
    };
    Ok((chosen.1, chosen.2))
}

/// Whether a receive crediting nothing names a zero or non-integer amount for our wallet (its
/// own `valueString`, or an entry annotated as our wallet's): a poison notification, refused
/// as malformed rather than as unverified.
fn unusable_amount(transfer: &Transfer, wallet: &str) -> bool {
    let unusable = |v: &str| v.parse::<i128>().map_or(true, |units| units == 0);
    transfer.value_string.as_deref().is_some_and(unusable)
        || transfer
            .entries
            .iter()
            .filter(|e| e.is_change != Some(true) && e.wallet.as_deref() == Some(wallet))
            .any(|e| e.value_string.as_deref().is_none_or(unusable))
}
