//! Rhino's response shapes, the fields this crate reads (unknown fields are ignored).
//!
//! Field names follow the SDA service's generated types (`sda-api-types.generated.d.ts`,
//! SDK 1.14.0). Every field Rhino might omit is an `Option`, so a sparse answer is still
//! readable; a field of an unexpected *type* makes the whole answer unreadable, which the
//! client reports as `Unavailable` (never a panic). Amounts are kept as the strings Rhino sends:
//! only `amountWei` (base units, an integer string) is ever turned into money, and never through
//! a float.

use serde::{Deserialize, Deserializer};

/// A smart deposit address: one element of the array `POST /sda/deposit-addresses` answers,
/// and the body of `GET /sda/deposit-addresses/{depositAddress}/{depositChain}`
/// (`DepositAddressStatusResponse`, the same fields).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositAddress {
    /// The chain the address receives on (`ETHEREUM`).
    pub deposit_chain: String,
    /// Where to send funds.
    pub deposit_address: String,
    /// Where Rhino forwards them.
    pub destination_chain: Option<String>,
    /// Shown only to secret-key JWTs.
    pub destination_address: Option<String>,
    /// Our label (`<wallet id>:<address index>`).
    pub address_note: Option<String>,
    /// Tokens the address accepts, with their USD deposit limits.
    pub supported_tokens: Option<Vec<SupportedToken>>,
    /// Whether Rhino monitors the address.
    pub is_active: Option<bool>,
    /// Read by Rhino's own adapter; not in the 1.14.0 schema.
    pub is_paused: Option<bool>,
    /// The token deposits are settled in, when one was asked for.
    pub token_out: Option<String>,
}

/// The answer of `GET /sda/deposit-addresses/{depositAddress}/{depositChain}`.
pub type DepositAddressStatus = DepositAddress;

/// A token an SDA accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedToken {
    /// `USDT`, `USDC`, …
    pub symbol: String,
    /// The token contract / mint on the deposit chain.
    pub address: Option<String>,
    /// USD ceiling per deposit, as Rhino sent the number (informational; not money we move).
    pub max_deposit_limit_usd: Option<serde_json::Number>,
    /// USD floor per deposit (informational).
    pub min_deposit_limit_usd: Option<serde_json::Number>,
}

/// The answer of `GET /sda/deposit-addresses/{depositAddress}/{depositChain}/history`
/// (`DepositAddressHistoryResponse`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepositAddressHistory {
    /// The address asked about.
    pub deposit_address: Option<String>,
    pub deposit_chain: Option<String>,
    /// Deposits in the window, newest first as Rhino orders them.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub bridges: Vec<HistoryItem>,
}

/// One deposit into an SDA. `_tag` is `accepted`, `rejected` or `failed` (Rhino's adapter
/// also knows `detected` and `confirming`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    /// `accepted`, `rejected`, `failed`, …
    #[serde(rename = "_tag", default)]
    pub tag: String,
    /// The deposit's id at Rhino (our provider reference).
    #[serde(rename = "_id", default)]
    pub id: String,
    /// `USDT`, `USDC`, …
    pub token_symbol: Option<String>,
    /// The token contract / mint.
    pub token_address: Option<String>,
    /// Human decimal amount (informational only: never used as money).
    #[serde(default, deserialize_with = "string_or_number")]
    pub amount: Option<String>,
    /// The amount in base units, an integer string: the only amount this crate credits.
    #[serde(default, deserialize_with = "string_or_number")]
    pub amount_wei: Option<String>,
    /// The sending address.
    pub sender: Option<String>,
    /// The deposit transaction.
    pub tx_hash: Option<String>,
    /// ISO UTC.
    pub created_at: Option<String>,
    /// `rejected` only: `OVER_MAX`, `UNDER_MIN`, `UNSUPPORTED_TOKEN`, …
    pub reason: Option<String>,
    /// `rejected` only.
    pub tx_uid: Option<String>,
    /// `rejected` / `failed`: the underlying error's tag.
    pub original_error_tag: Option<String>,
    /// `accepted` only: the bridge record (`_tag: "depositAddressBridge"`).
    pub history: Option<BridgeRecord>,
}

/// The bridge Rhino runs for an accepted deposit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeRecord {
    /// The bridge id.
    #[serde(rename = "_id")]
    pub id: Option<String>,
    /// `PENDING`, `PENDING_CONFIRMATION`, `DEPOSIT_ACCEPTED`, `ACCEPTED`, `EXECUTED`, `FAILED`, …
    pub state: Option<String>,
    /// Source chain.
    pub chain_in: Option<String>,
    /// Destination chain.
    pub chain_out: Option<String>,
    /// The token bridged.
    pub token: Option<String>,
    /// The token delivered, for a swap.
    pub token_out: Option<String>,
    /// Human decimal amount in (informational).
    #[serde(default, deserialize_with = "string_or_number")]
    pub amount_in: Option<String>,
    /// Human decimal amount out (informational).
    #[serde(default, deserialize_with = "string_or_number")]
    pub amount_out: Option<String>,
    /// Where the bridge delivers.
    pub recipient: Option<String>,
    /// Who deposited.
    pub depositor: Option<String>,
    /// The SDA, for SDA-driven bridges.
    pub deposit_address: Option<String>,
    /// Deposit transaction, once seen.
    pub deposit_tx_hash: Option<String>,
    /// Delivery transaction, once `EXECUTED`.
    pub withdraw_tx_hash: Option<String>,
}

/// `null` or absent reads as an empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string, or a JSON number kept as its text (so `"12"` and `12` read alike). A number too
/// large for an exact integer arrives as float text (`1e21`), which the base-units parser
/// refuses: precision is never silently lost.
fn string_or_number<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<Raw>::deserialize(deserializer)? {
        Some(Raw::Text(s)) => Some(s),
        Some(Raw::Number(n)) => Some(n.to_string()),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_reads_documented_items_and_ignores_unknown_fields() {
        let body = serde_json::json!({
            "depositAddress": "0xabc", "depositChain": "ETHEREUM", "extra": 1,
            "bridges": [
                {"_tag": "accepted", "_id": "b1", "tokenSymbol": "USDT", "amount": "1.5",
                 "amountUsd": 1.5, "amountWei": "1500000", "txHash": "0xt",
                 "history": {"_tag": "depositAddressBridge", "_id": "h1", "state": "EXECUTED",
                             "amountIn": "1.5", "fee": "0.1", "withdrawTxHash": "0xw"}},
                {"_tag": "rejected", "_id": "b2", "reason": "UNDER_MIN", "amountWei": 12,
                 "blockNumber": 19000000}
            ]
        });
        let history: DepositAddressHistory = serde_json::from_value(body).unwrap();
        assert_eq!(history.bridges.len(), 2);
        assert_eq!(history.bridges[0].amount_wei.as_deref(), Some("1500000"));
        assert_eq!(
            history.bridges[0]
                .history
                .as_ref()
                .and_then(|h| h.state.as_deref()),
            Some("EXECUTED")
        );
        assert_eq!(history.bridges[1].amount_wei.as_deref(), Some("12"));
        assert_eq!(history.bridges[1].reason.as_deref(), Some("UNDER_MIN"));
    }

    #[test]
    fn null_bridges_read_as_empty() {
        let history: DepositAddressHistory =
            serde_json::from_value(serde_json::json!({"bridges": null})).unwrap();
        assert!(history.bridges.is_empty());
    }
}
