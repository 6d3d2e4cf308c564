//! BitGo's JSON shapes, the fields we use (providers.md A5, A9). Every struct tolerates
//! unknown fields; optional documented fields are `Option` so a thinner body never fails to
//! parse. Amounts are only ever read from the `…String` fields (base-unit integers).

use custody_core::transaction::TransactionStatus;
use serde::Deserialize;

/// A BitGo wallet address (`WalletAddress`, A9.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalletAddress {
    /// BitGo's id of the address (32 hex).
    pub id: String,
    /// The address; hidden while a legacy forwarder is pending chain initialisation.
    #[serde(default)]
    pub address: Option<String>,
    /// The wallet coin.
    pub coin: String,
    /// The wallet id.
    pub wallet: String,
    /// Derivation index.
    pub index: u64,
    /// Our label (the address id).
    #[serde(default)]
    pub label: Option<String>,
}

/// A page of addresses (`AddressQueryResult`, A9.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressPage {
    /// The wallet coin.
    pub coin: String,
    /// This page.
    pub addresses: Vec<WalletAddress>,
    /// Pass as `prevId` for the next page; absent on the last.
    #[serde(default)]
    pub next_batch_prev_id: Option<String>,
}

/// One entry of a transfer (who paid, who received).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferEntry {
    #[serde(default)]
    pub address: Option<String>,
    /// The BitGo wallet owning the address, when it is one.
    #[serde(default)]
    pub wallet: Option<String>,
    /// Signed base units (negative: paid out).
    #[serde(default)]
    pub value_string: Option<String>,
    /// A change output (UTXO coins).
    #[serde(default)]
    pub is_change: Option<bool>,
    /// Solana token transfers: the owner of the associated token account in `address`, which
    /// is the wallet address we minted.
    #[serde(default)]
    pub associated_native_coin_address: Option<String>,
}

impl TransferEntry {
    /// The address a partner was given: the token account's owner for SPL tokens, else the
    /// entry's address.
    pub fn receiving_address(&self) -> Option<&str> {
        self.associated_native_coin_address
            .as_deref()
            .or(self.address.as_deref())
    }
}

/// A transfer (`AnnotatedTransferWithInputsOutputs`, A9.6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// BitGo's transfer id (32 hex).
    pub id: String,
    /// The coin (the token's ticker for token transfers).
    pub coin: String,
    /// The wallet it belongs to (each wallet of a wallet-to-wallet move has its own record).
    pub wallet: String,
    /// `send` or `receive`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The transfer state (`TransferState`).
    pub state: String,
    /// The on-chain transaction id, once there is one.
    #[serde(default)]
    pub txid: Option<String>,
    /// Confirmations so far.
    #[serde(default)]
    pub confirmations: Option<u64>,
    /// Signed base units of the whole transfer.
    #[serde(default)]
    pub value_string: Option<String>,
    /// Our idempotency reference on sends (our transaction id).
    #[serde(default)]
    pub sequence_id: Option<String>,
    /// Entries (account-based coins).
    #[serde(default)]
    pub entries: Vec<TransferEntry>,
}

/// A page of transfers (`v2.wallet.listtransfers`, A9.6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferPage {
    /// This page.
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// Pass as `prevId` for the next page; absent on the last.
    #[serde(default)]
    pub next_batch_prev_id: Option<String>,
}

/// A pending approval (`PendingApproval`, A9.5): what a send needing approval returns (202).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PendingApproval {
    /// Its id (32 hex).
    pub id: String,
    /// Its state (`pending…`, `approved`, `processing`, `rejected`).
    pub state: String,
}

/// The transfer webhook BitGo posts (A9.7): only names the transfer; never trusted as is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransferNotification {
    /// `transfer` for transfer webhooks.
    #[serde(rename = "type")]
    pub kind: String,
    /// The wallet the notification claims.
    pub wallet: String,
    /// The transfer id to read back.
    pub transfer: String,
    /// The coin (tells ETH from a token).
    pub coin: String,
    /// The on-chain hash, when known.
    #[serde(default)]
    pub hash: Option<String>,
    /// The claimed state.
    #[serde(default)]
    pub state: Option<String>,
}

/// BitGo's platform error body (`{error, name, requestId}`), or Express's
/// (`{message, name, …}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    pub error: Option<String>,
    pub message: Option<String>,
    pub name: Option<String>,
    pub request_id: Option<String>,
}

/// Our status for a BitGo transfer state, with a reason for the unhappy ones; `None` for a
/// state BitGo has not documented (the caller must not act on it).
pub fn transfer_status(state: &str) -> Option<(TransactionStatus, Option<&'static str>)> {
    Some(match state {
        // Created or waiting for an approver: BitGo has not signed yet.
        "initialized" | "pendingApproval" => (TransactionStatus::PendingSignature, None),
        "signed" => (TransactionStatus::Broadcasting, None),
        // A replaced transfer is superseded by a higher-fee one carrying the same payment.
        "unconfirmed" | "replaced" => (TransactionStatus::Confirming, None),
        "confirmed" => (TransactionStatus::Completed, None),
        "failed" => (
            TransactionStatus::Failed,
            Some("BitGo could not confirm the transaction on chain"),
        ),
        "rejected" => (
            TransactionStatus::Failed,
            Some("rejected by a BitGo wallet approver"),
        ),
        "removed" => (
            TransactionStatus::Failed,
            Some("dropped from the chain by a re-organisation"),
        ),
        _ => return None,
    })
}

/// Our status for a pending approval's state; `None` for an undocumented one.
pub fn approval_status(state: &str) -> Option<(TransactionStatus, Option<&'static str>)> {
    Some(match state {
        "approved" | "processing" => (TransactionStatus::Broadcasting, None),
        "rejected" => (
            TransactionStatus::Failed,
            Some("rejected by a BitGo wallet approver"),
        ),
        s if s == "awaitingSignature" || s.starts_with("pending") => {
            (TransactionStatus::PendingSignature, None)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_transfer_state_has_a_status() {
        let expected = [
            ("initialized", TransactionStatus::PendingSignature),
            ("pendingApproval", TransactionStatus::PendingSignature),
            ("signed", TransactionStatus::Broadcasting),
            ("unconfirmed", TransactionStatus::Confirming),
            ("replaced", TransactionStatus::Confirming),
            ("confirmed", TransactionStatus::Completed),
            ("failed", TransactionStatus::Failed),
            ("rejected", TransactionStatus::Failed),
            ("removed", TransactionStatus::Failed),
        ];
        for (state, status) in expected {
            let (got, reason) = transfer_status(state).unwrap_or_else(|| panic!("{state}"));
            assert_eq!(got, status, "{state}");
            assert_eq!(
                reason.is_some(),
                status == TransactionStatus::Failed,
                "{state}"
            );
        }
        assert_eq!(transfer_status("teleported"), None);
        assert_eq!(
            transfer_status("Confirmed"),
            None,
            "states are case-sensitive"
        );
    }

    #[test]
    fn every_documented_approval_state_has_a_status() {
        for state in [
            "pending",
            "awaitingSignature",
            "pendingFinalApproval",
            "pendingCustodianApproval",
            "pendingVideoApproval",
            "pendingIdVerification",
            "pendingLivenessVerification",
            "pendingManualTrustReview",
            "pendingManualSupportReview",
            "pendingVideoApprovalFromSupport",
        ] {
            assert_eq!(
                approval_status(state).map(|s| s.0),
                Some(TransactionStatus::PendingSignature),
                "{state}"
            );
        }
        assert_eq!(
            approval_status("approved").map(|s| s.0),
            Some(TransactionStatus::Broadcasting)
        );
        assert_eq!(
            approval_status("rejected").map(|s| s.0),
            Some(TransactionStatus::Failed)
        );
        assert_eq!(approval_status("lost"), None);
    }

    #[test]
    fn a_minimal_transfer_parses_and_extra_fields_are_ignored() {
        let t: Transfer = serde_json::from_str(
            r#"{"id":"5b612d25c9067f2a1db11a15f165989e","coin":"hteth:tusdt","wallet":"59cd72485007a239fb00282ed480da1f",
                "type":"receive","state":"confirmed","usd":1.5,"history":[],"tags":[]}"#,
        )
        .expect("parses");
        assert_eq!(t.kind, "receive");
        assert!(t.entries.is_empty());
        assert_eq!(t.txid, None);
    }
}

/// `GET /api/v2/{coin}/wallet/{walletId}?allTokens=true`, the parts reconciliation reads:
/// the wallet id and, per token ticker, its balance strings (providers.md A9.4: balances are
/// base-unit strings; tokens appear under `tokens` with `allTokens=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletBalances {
    /// The wallet id.
    pub id: String,
    /// The wallet's own coin (`eth`, `hteth`, `sol`, `tsol`).
    pub coin: String,
    /// The native coin's balance, base units.
    #[serde(default)]
    pub balance_string: Option<String>,
    /// Per token ticker.
    #[serde(default)]
    pub tokens: std::collections::BTreeMap<String, TokenBalance>,
}

/// One token's balances on a wallet.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenBalance {
    /// The balance, base units.
    pub balance_string: String,
    /// Confirmed only.
    #[serde(default)]
    pub confirmed_balance_string: Option<String>,
    /// Spendable now.
    #[serde(default)]
    pub spendable_balance_string: Option<String>,
}
