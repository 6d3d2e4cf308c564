//! Typed identifiers: a short prefix naming the resource, then a ULID.
//!
//! Ids cross the wire as strings like `vlt_01J9Z3…`. Parsing is strict: the prefix must be the
//! one of the expected type and the rest a 26-character Crockford base32 ULID, so a `tx_` id
//! can never be used where a wallet id is expected. Parsing never panics.
//!
//! Why ULIDs: they sort by creation time, which gives every list a stable cursor order for free,
//! and they carry no meaning a partner could rely on. New ids come from the
//! [`IdGenerator`](crate::ports::IdGenerator) port, never from a global random source, so tests
//! are deterministic.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Why a string is not a valid id of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string does not start with the prefix of the expected resource.
    #[error("expected an id starting with `{expected}`")]
    WrongPrefix {
        /// The prefix the id should have had (e.g. `vlt_`).
        expected: &'static str,
    },
    /// The prefix was right but the rest is not a ULID.
    #[error("the id after `{prefix}` is not a valid identifier")]
    Malformed {
        /// The prefix that matched.
        prefix: &'static str,
    },
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// The wire prefix of this id type, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps a ULID handed out by the id generator.
            pub const fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The ULID inside, e.g. for storage or for ordering.
            pub const fn ulid(&self) -> Ulid {
                self.0
            }

            /// Parses `"{prefix}{ULID}"`; the ULID part is case-insensitive like Crockford
            /// base32 itself.
            ///
            /// # Errors
            /// [`IdError::WrongPrefix`] or [`IdError::Malformed`]; never panics.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                let rest = input
                    .strip_prefix($prefix)
                    .ok_or(IdError::WrongPrefix { expected: $prefix })?;
                let malformed = IdError::Malformed { prefix: $prefix };
                let ulid = Ulid::from_string(rest).map_err(|_| malformed.clone())?;
                // `Ulid::from_string` silently drops the bits of a first character above `7`
                // (26 base32 characters hold 130 bits, a ULID 128), so `8…` would decode to the
                // same id as `0…`. Demanding a round trip keeps one string per id.
                if !ulid.to_string().eq_ignore_ascii_case(rest) {
                    return Err(malformed);
                }
                Ok(Self(ulid))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// A tenant: one partner company.
    TenantId, "ten_"
);
typed_id!(
    /// An API key record (the public identifier, not the secret).
    ApiKeyId, "key_"
);
typed_id!(
    /// A vault: the container of one end-customer's holdings (or the tenant's treasury).
    VaultId, "vlt_"
);
typed_id!(
    /// A wallet: one asset inside one vault. The Accounts dialect calls it an account, hence
    /// the `acc_` prefix.
    WalletId, "acc_"
);
typed_id!(
    /// A deposit (blockchain) address of a wallet.
    AddressId, "ba_"
);
typed_id!(
    /// A transaction: deposit, internal transfer or withdrawal.
    TransactionId, "tx_"
);
typed_id!(
    /// An address-book entry (an allow-listed withdrawal destination).
    AddressBookEntryId, "abe_"
);
typed_id!(
    /// An event in the outbox.
    EventId, "evt_"
);
typed_id!(
    /// One webhook delivery attempt of an event.
    DeliveryId, "whd_"
);
typed_id!(
    /// One HTTP request, echoed in `X-Request-Id` and in error bodies.
    RequestId, "req_"
);

#[cfg(test)]
mod tests {
    use super::*;

    const ULID: &str = "01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C";

    #[test]
    fn round_trips_through_its_wire_form() {
        let id = VaultId::parse(&format!("vlt_{ULID}")).unwrap();
        assert_eq!(id.to_string(), format!("vlt_{ULID}"));
        assert_eq!(VaultId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn ulid_part_is_case_insensitive() {
        let lower = WalletId::parse(&format!("acc_{}", ULID.to_lowercase())).unwrap();
        let upper = WalletId::parse(&format!("acc_{ULID}")).unwrap();
        assert_eq!(lower, upper);
    }

    #[test]
    fn wrong_prefix_is_an_error_naming_the_expected_prefix() {
        let err = VaultId::parse(&format!("acc_{ULID}")).unwrap_err();
        assert_eq!(err, IdError::WrongPrefix { expected: "vlt_" });
        assert_eq!(err.to_string(), "expected an id starting with `vlt_`");
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for bad in [
            "ba_",
            "ba_x",
            "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1",   // 25 chars
            "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1CD", // 27 chars
            "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1!",
            "ba_81J9Z3K8Q4WJ5V6X7Y8Z9A0B1C", // above the 128-bit range
            "ba_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1\u{e9}",
        ] {
            assert_eq!(
                AddressId::parse(bad),
                Err(IdError::Malformed { prefix: "ba_" }),
                "{bad}"
            );
        }
        assert_eq!(
            AddressId::parse(""),
            Err(IdError::WrongPrefix { expected: "ba_" })
        );
    }

    #[test]
    fn serde_uses_the_wire_form_and_rejects_wrong_prefixes() {
        let id = TransactionId::from_ulid(Ulid::from_parts(1, 2));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: TransactionId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(
            serde_json::from_str::<TransactionId>("\"vlt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C\"").is_err()
        );
    }

    #[test]
    fn ids_order_by_creation_time() {
        let older = EventId::from_ulid(Ulid::from_parts(1_000, u128::MAX >> 48));
        let newer = EventId::from_ulid(Ulid::from_parts(1_001, 0));
        assert!(older < newer);
        assert!(older.to_string() < newer.to_string());
    }

    #[test]
    fn every_prefix_is_distinct() {
        let prefixes = [
            TenantId::PREFIX,
            ApiKeyId::PREFIX,
            VaultId::PREFIX,
            WalletId::PREFIX,
            AddressId::PREFIX,
            TransactionId::PREFIX,
            AddressBookEntryId::PREFIX,
            EventId::PREFIX,
            DeliveryId::PREFIX,
            RequestId::PREFIX,
        ];
        let unique: std::collections::BTreeSet<_> = prefixes.iter().collect();
        assert_eq!(unique.len(), prefixes.len());
    }
}
