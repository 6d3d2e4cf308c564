//! The storage spelling of every enum.
//!
//! These strings are part of the schema (CHECK constraints and partial indexes name them), so
//! they are written out here rather than borrowed from the wire names, which may change with a
//! dialect without a migration.

use custody_core::address_book::EntryStatus;
use custody_core::deposit_address::AddressStatus;
use custody_core::idempotency::RecordState;
use custody_core::transaction::{TransactionKind, TransactionStatus};
use custody_core::vault::{VaultKind, VaultStatus};
use custody_core::wallet::{Bucket, WalletStatus};

macro_rules! storage_names {
    ($(#[$doc:meta])* $to:ident, $from:ident, $ty:ty { $($variant:path => $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        pub const fn $to(value: $ty) -> &'static str {
            match value {
                $($variant => $name),+
            }
        }

        /// Parses the storage name back; `None` for anything else.
        pub fn $from(input: &str) -> Option<$ty> {
            match input {
                $($name => Some($variant),)+
                _ => None,
            }
        }
    };
}

storage_names!(
    /// `active`, `frozen`, `archived`.
    vault_status, parse_vault_status, VaultStatus {
        VaultStatus::Active => "active",
        VaultStatus::Frozen => "frozen",
        VaultStatus::Archived => "archived",
    }
);

storage_names!(
    /// `customer`, `treasury`.
    vault_kind, parse_vault_kind, VaultKind {
        VaultKind::Customer => "customer",
        VaultKind::Treasury => "treasury",
    }
);

storage_names!(
    /// `active`.
    wallet_status, parse_wallet_status, WalletStatus {
        WalletStatus::Active => "active",
    }
);

storage_names!(
    /// `available`, `pending`, `held`.
    bucket, parse_bucket, Bucket {
        Bucket::Available => "available",
        Bucket::Pending => "pending",
        Bucket::Held => "held",
    }
);

storage_names!(
    /// `active`, `suspended`.
    address_status, parse_address_status, AddressStatus {
        AddressStatus::Active => "active",
        AddressStatus::Suspended => "suspended",
    }
);

storage_names!(
    /// `active`, `deleted`.
    entry_status, parse_entry_status, EntryStatus {
        EntryStatus::Active => "active",
        EntryStatus::Deleted => "deleted",
    }
);

storage_names!(
    /// `deposit`, `transfer`, `withdrawal`.
    transaction_kind, parse_transaction_kind, TransactionKind {
        TransactionKind::Deposit => "deposit",
        TransactionKind::Transfer => "transfer",
        TransactionKind::Withdrawal => "withdrawal",
    }
);

storage_names!(
    /// snake_case: `submitted`, `pending_signature`, …
    transaction_status, parse_transaction_status, TransactionStatus {
        TransactionStatus::Submitted => "submitted",
        TransactionStatus::PendingSignature => "pending_signature",
        TransactionStatus::Broadcasting => "broadcasting",
        TransactionStatus::Confirming => "confirming",
        TransactionStatus::Completed => "completed",
        TransactionStatus::Failed => "failed",
        TransactionStatus::Cancelled => "cancelled",
    }
);

/// The statuses in which a withdrawal is still open (not terminal), storage spelling: what the
/// dispatch worker's query and its partial index list.
pub const OPEN_WITHDRAWAL_STATUSES: [&str; 4] = [
    "submitted",
    "pending_signature",
    "broadcasting",
    "confirming",
];

/// `in_flight` or `completed`.
pub const fn record_state(state: &RecordState) -> &'static str {
    match state {
        RecordState::InFlight => "in_flight",
        RecordState::Completed(_) => "completed",
    }
}

/// Ledger account kinds: `wallet` or `external`.
pub const ACCOUNT_WALLET: &str = "wallet";
/// See [`ACCOUNT_WALLET`].
pub const ACCOUNT_EXTERNAL: &str = "external";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for s in TransactionStatus::ALL {
            assert_eq!(parse_transaction_status(transaction_status(s)), Some(s));
        }
        for s in [
            VaultStatus::Active,
            VaultStatus::Frozen,
            VaultStatus::Archived,
        ] {
            assert_eq!(parse_vault_status(vault_status(s)), Some(s));
        }
        for b in Bucket::ALL {
            assert_eq!(parse_bucket(bucket(b)), Some(b));
        }
        for s in AddressStatus::ALL {
            assert_eq!(parse_address_status(address_status(s)), Some(s));
        }
        assert_eq!(parse_vault_status("Active"), None);
        assert_eq!(parse_transaction_status("PendingSignature"), None);
    }

    #[test]
    fn open_withdrawal_statuses_are_the_non_terminal_ones() {
        let open: Vec<&str> = TransactionStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(transaction_status)
            .collect();
        assert_eq!(open, OPEN_WITHDRAWAL_STATUSES);
    }
}
