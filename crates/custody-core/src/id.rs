//! Typed identifiers: a short prefix naming the resource, then a ULID.
//!
//! Ids cross the wire as strings like `vlt_01J9Z3…`. Parsing is strict: the prefix must be the
//! one of the expected type and the rest a 26-character Crockford base32 ULID, so a `tx_` id
//! can never be used where a wallet id is expected. Parsing never panics.
//!
//! ```
//! use custody_core::id::{IdError, TenantId, VaultId};
//!
//! let vault = VaultId::parse("vlt_01J9Z3YQ4X5K8M2N7P6R3T1V0W")?;
//! assert_eq!(vault.to_string(), "vlt_01J9Z3YQ4X5K8M2N7P6R3T1V0W");
//! // Another resource's id is refused, whatever its ULID.
//! assert_eq!(
//!     TenantId::parse("vlt_01J9Z3YQ4X5K8M2N7P6R3T1V0W"),
//!     Err(IdError::WrongPrefix { expected: TenantId::PREFIX })
//! );
//! // New ids come from the `IdGenerator` port; `from_ulid` wraps what it hands out.
//! let tenant = TenantId::from_ulid(ulid::Ulid::nil());
//! assert!(tenant.to_string().starts_with(TenantId::PREFIX));
//! # Ok::<(), IdError>(())
//! ```
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
#[non_exhaustive]
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
    /// A tenant's outbound webhook endpoint (one per tenant and environment).
    WebhookEndpointId, "whe_"
);
typed_id!(
    /// One HTTP request, echoed in `X-Request-Id` and in error bodies.
    RequestId, "req_"
);

#[cfg(test)]
mod tests;
