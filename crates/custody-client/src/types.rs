//! Wire types shared by the dialects: amounts and open enums.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in whole tokens as the API spells it: a plain decimal string (`"125.5"`), never a
/// float. The text is kept exactly as received or given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Amount(String);

/// Why a string is not an [`Amount`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a plain non-negative decimal amount (e.g. \"12.5\")")]
pub struct AmountError(String);

impl Amount {
    /// Parses a plain decimal string: digits, at most one `.`, no sign, no exponent.
    ///
    /// # Errors
    /// [`AmountError`] otherwise.
    pub fn new(text: impl Into<String>) -> Result<Amount, AmountError> {
        let text = text.into();
        let plain = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && text.bytes().filter(|b| *b == b'.').count() <= 1
            && text.bytes().any(|b| b.is_ascii_digit());
        if !plain || Decimal::from_str_exact(&text).is_err() {
            return Err(AmountError(text));
        }
        Ok(Amount(text))
    }

    /// The amount of `base_units` of an asset with `decimals` decimals (`12_500_000`, 6 →
    /// `"12.5"`).
    ///
    /// # Errors
    /// [`AmountError`] when it does not fit a 96-bit decimal or `decimals` exceeds 28.
    pub fn from_base_units(base_units: u128, decimals: u32) -> Result<Amount, AmountError> {
        let mantissa =
            i128::try_from(base_units).map_err(|_| AmountError(base_units.to_string()))?;
        let value = Decimal::try_from_i128_with_scale(mantissa, decimals)
            .map_err(|_| AmountError(base_units.to_string()))?;
        Ok(Amount(value.normalize().to_string()))
    }

    /// The text, as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact decimal value.
    pub fn to_decimal(&self) -> Decimal {
        // Checked at construction; deserialised amounts are checked the same way.
        Decimal::from_str_exact(&self.0).unwrap_or_default()
    }

    /// The amount in base units of an asset with `decimals` decimals (`"12.5"`, 6 →
    /// `12_500_000`); `None` when it has more decimals than that or does not fit.
    pub fn to_base_units(&self, decimals: u32) -> Option<u128> {
        let value = self.to_decimal().normalize();
        if value.scale() > decimals {
            return None;
        }
        let factor = Decimal::from(10u64.checked_pow(decimals)?);
        let scaled = value.checked_mul(factor)?.normalize();
        u128::try_from(scaled.mantissa()).ok()
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::new(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::new(text).map_err(serde::de::Error::custom)
    }
}

/// An enum of the wire whose set may grow: known values are variants, anything else is kept in
/// `Unknown(String)` (so a new server value never breaks a client) and serialises back as it
/// came.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version of the client does not know.
            Unknown(String),
        }

        impl $name {
            /// The value as spelled on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($wire => $name::$variant,)*
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Ok($name::from(text.as_str()))
            }
        }
    };
}
pub(crate) use open_enum;

#[cfg(test)]
mod tests {
    use super::*;

    open_enum!(
        /// test
        Colour { Red = "red", }
    );

    #[test]
    fn amounts_are_plain_decimal_strings() {
        assert_eq!(Amount::new("12.5").expect("ok").as_str(), "12.5");
        for bad in ["", "-1", "1e3", "1.2.3", ".", "12,5", " 1", "+1", "NaN"] {
            assert!(Amount::new(bad).is_err(), "{bad:?}");
        }
        assert!(
            serde_json::from_str::<Amount>("12.5").is_err(),
            "a JSON number is refused"
        );
        let a: Amount = serde_json::from_str("\"0.000001\"").expect("string");
        assert_eq!(a.to_base_units(6), Some(1));
        assert_eq!(
            Amount::new("12.5").expect("ok").to_base_units(6),
            Some(12_500_000)
        );
        assert_eq!(
            Amount::new("12.5000000").expect("ok").to_base_units(6),
            Some(12_500_000)
        );
        assert_eq!(Amount::new("0.0000001").expect("ok").to_base_units(6), None);
        assert_eq!(
            Amount::from_base_units(12_500_000, 6).expect("ok").as_str(),
            "12.5"
        );
        assert_eq!(Amount::from_base_units(0, 6).expect("ok").as_str(), "0");
        assert_eq!(
            serde_json::to_string(&Amount::new("40").expect("ok")).expect("json"),
            "\"40\""
        );
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let c: Colour = serde_json::from_str("\"red\"").expect("known");
        assert_eq!(c, Colour::Red);
        let c: Colour = serde_json::from_str("\"ultraviolet\"").expect("unknown tolerated");
        assert_eq!(c, Colour::Unknown("ultraviolet".into()));
        assert_eq!(serde_json::to_string(&c).expect("json"), "\"ultraviolet\"");
    }
}
