//! Amounts of money: unsigned integers of an asset's base units.
//!
//! Inside the system money is only ever an integer count of base units (`1.5` USDT with 6
//! decimals is `1_500_000`), so sums and comparisons are exact and no floating point is
//! involved anywhere. Two string forms cross the boundary:
//!
//! * the **human form** partners send and read, a whole-token decimal string such as `"1.5"`,
//!   parsed with [`Amount::parse`] against the asset's decimals and written with
//!   [`Amount::to_decimal_string`];
//! * the **base-units form** (`"1500000"`) used by providers, by storage and by our own
//!   serde representation, parsed with [`Amount::parse_base_units`].
//!
//! Decimal parsing of money is never hand-rolled: a small pre-scan only checks that the input
//! is plain `digits[.digits]` (so each mistake gets a precise error code), and the numeric
//! conversion is done by `rust_decimal`, which is exact or fails. Both parsers never panic.
//!
//! Rules of the human form, decided once here:
//!
//! * **Trailing fractional zeros are accepted**, even beyond the asset's decimals:
//!   `"1.5000000"` for a 6-decimal asset is exactly 1.5 and is taken as such. Only a non-zero
//!   digit beyond the allowed scale is refused ([`AmountError::TooManyDecimals`]), because that
//!   would need rounding and we never round money.
//! * **Leading zeros are accepted** (`"007.5"` is 7.5): the value is unambiguous, and refusing
//!   it would only push partners into formatting tricks.
//! * **The largest parseable amount is [`Amount::MAX_PARSEABLE`]**, `2^96 - 1` base units,
//!   the exact range of `rust_decimal`'s 96-bit mantissa (about 7.9e22 whole tokens at 6
//!   decimals). An [`Amount`] itself holds any `u128`, e.g. a provider balance read with
//!   [`Amount::parse_base_units`], but a partner can never send more than that.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an amount string was refused. The messages go verbatim into 422 bodies, so they speak
/// to the partner; [`AmountError::code`] gives the stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The string is empty.
    #[error("amount is empty")]
    Empty,
    /// The string starts with `+` or `-`; amounts are unsigned and direction is carried by
    /// the operation, never by a sign.
    #[error("amount must be written without a sign (+ or -)")]
    Signed,
    /// The string contains `e` or `E`: exponent notation is refused because it is how
    /// floating-point values leak into requests.
    #[error("amount must be written in plain decimal notation, without an exponent")]
    Exponent,
    /// Anything else that is not `digits[.digits]` with ASCII digits: whitespace, `"1."`,
    /// `".5"`, `"1.2.3"`, `"1,5"`, `"0x10"`, digit separators, non-ASCII digits.
    #[error("amount must be a plain decimal number such as \"1.5\": ASCII digits, optionally followed by '.' and more digits")]
    Malformed,
    /// A non-zero digit appears beyond the asset's decimals; representing it would need
    /// rounding.
    #[error("amount has more than {max} decimal places")]
    TooManyDecimals {
        /// The asset's decimals, the most fractional digits allowed.
        max: u8,
    },
    /// The amount is zero where a positive amount is required.
    #[error("amount must be greater than zero")]
    Zero,
    /// The amount is larger than can be held exactly: above [`Amount::MAX_PARSEABLE`] base
    /// units for [`Amount::parse`], above `u128::MAX` for [`Amount::parse_base_units`].
    #[error("amount is too large")]
    Overflow,
}

impl AmountError {
    /// The stable machine code of the error, for API error bodies and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            AmountError::Empty => "amount_empty",
            AmountError::Signed => "amount_signed",
            AmountError::Exponent => "amount_exponent",
            AmountError::Malformed => "amount_malformed",
            AmountError::TooManyDecimals { .. } => "amount_too_many_decimals",
            AmountError::Zero => "amount_zero",
            AmountError::Overflow => "amount_overflow",
        }
    }
}

/// A non-negative quantity of an asset, in its base units (`10^decimals` per whole token).
///
/// An `Amount` does not know its asset: the asset travels next to it, and its decimals are
/// passed explicitly whenever the human form is parsed or written.
///
/// ```
/// use custody_core::amount::{Amount, AmountError};
///
/// // 6 decimals (USDT): "1.5" is 1 500 000 base units, and back.
/// let a = Amount::parse("1.5", 6)?;
/// assert_eq!(a.base_units(), 1_500_000);
/// assert_eq!(a.to_decimal_string(6), "1.5");
/// assert_eq!(a.to_string(), "1500000"); // Display: base units
///
/// // Arithmetic is checked: amounts are never negative and never wrap.
/// let b = Amount::from_base_units(500_000);
/// assert_eq!(a.checked_sub(b), Some(Amount::from_base_units(1_000_000)));
/// assert_eq!(b.checked_sub(a), None);
///
/// // What a partner cannot send: floats' notation, signs, more decimals than the asset has.
/// assert_eq!(Amount::parse("1e6", 6), Err(AmountError::Exponent));
/// assert_eq!(Amount::parse("-1", 6), Err(AmountError::Signed));
/// assert_eq!(Amount::parse("0.0000001", 6).map_err(|e| e.code()), Err("amount_too_many_decimals"));
/// # Ok::<(), AmountError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(u128);

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);

    /// The largest amount [`Amount::parse`] accepts: `2^96 - 1` base units, the exact range
    /// of `rust_decimal` (whose mantissa is 96 bits).
    pub const MAX_PARSEABLE: Amount = Amount((1u128 << 96) - 1);

    /// Wraps a count of base units.
    pub const fn from_base_units(units: u128) -> Amount {
        Amount(units)
    }

    /// The count of base units.
    pub const fn base_units(self) -> u128 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if `other` is larger (amounts are never negative).
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Parses a partner-supplied amount (must be > 0) in whole-token decimal notation for an
    /// asset with `decimals`, e.g. `"1.5"` with 6 decimals is 1 500 000 base units.
    ///
    /// Accepted: `digits[.digits]` in ASCII, with any leading zeros and any trailing
    /// fractional zeros (see the [module documentation](self)).
    ///
    /// # Errors
    /// In order of precedence: [`AmountError::Empty`], [`AmountError::Signed`],
    /// [`AmountError::Exponent`], [`AmountError::Malformed`],
    /// [`AmountError::TooManyDecimals`], [`AmountError::Zero`], [`AmountError::Overflow`]
    /// (above [`Amount::MAX_PARSEABLE`] base units; also for an asset with more than 28
    /// decimals, `rust_decimal`'s maximum scale, given more than 28 significant fractional
    /// digits: no catalogue asset comes close). Never panics.
    pub fn parse(input: &str, decimals: u8) -> Result<Amount, AmountError> {
        check_notation(input)?;
        let (int_part, frac_part) = split_plain_decimal(input)?;

        // Trailing fractional zeros carry no value; dropping them before conversion means
        // "1.5000000" is accepted for 6 decimals and never hits rust_decimal's scale limit.
        let significant_frac = frac_part.trim_end_matches('0');
        if significant_frac.len() > usize::from(decimals) {
            return Err(AmountError::TooManyDecimals { max: decimals });
        }

        let exact = if significant_frac.is_empty() {
            Cow::Borrowed(int_part)
        } else {
            Cow::Owned(format!("{int_part}.{significant_frac}"))
        };
        // The pre-scan guaranteed syntax and scale, so the only failure left is a value
        // rust_decimal cannot hold exactly (more than 96 bits, or more than 28 decimals).
        let value = Decimal::from_str_exact(&exact).map_err(|_| AmountError::Overflow)?;
        // Never negative after the pre-scan; mapped rather than unwrapped to stay panic-free.
        let mantissa = u128::try_from(value.mantissa()).map_err(|_| AmountError::Signed)?;
        if mantissa == 0 {
            // Checked before scaling so that "0" is Zero even for absurd decimals.
            return Err(AmountError::Zero);
        }

        // value = mantissa / 10^scale, so base units = mantissa * 10^(decimals - scale).
        // scale <= decimals holds (it is the significant fractional length checked above);
        // checked_sub keeps that an error rather than a panic should it ever not.
        let shift = u32::from(decimals)
            .checked_sub(value.scale())
            .ok_or(AmountError::TooManyDecimals { max: decimals })?;
        let units = 10u128
            .checked_pow(shift)
            .and_then(|factor| mantissa.checked_mul(factor))
            .ok_or(AmountError::Overflow)?;
        if units > Self::MAX_PARSEABLE.0 {
            return Err(AmountError::Overflow);
        }
        Ok(Amount(units))
    }

    /// Parses a base-units integer string such as `"1500000"` (providers, storage). Zero is
    /// allowed. Same strictness as [`Amount::parse`]: ASCII digits only, no sign, no
    /// exponent, no `.` at all; leading zeros are accepted. The full `u128` range is
    /// accepted.
    ///
    /// # Errors
    /// [`AmountError::Empty`], [`AmountError::Signed`], [`AmountError::Exponent`],
    /// [`AmountError::Malformed`] (including any `.`), [`AmountError::Overflow`] above
    /// `u128::MAX`. Never panics.
    pub fn parse_base_units(input: &str) -> Result<Amount, AmountError> {
        check_notation(input)?;
        if !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        // An integer, not a decimal: std's exact integer parser does the conversion. With
        // only ASCII digits left, overflow is its only possible failure.
        input
            .parse::<u128>()
            .map(Amount)
            .map_err(|_| AmountError::Overflow)
    }

    /// Canonical human form for an asset with `decimals`: no exponent, no sign, no leading
    /// zeros except `"0.x"`, trailing fractional zeros trimmed, no trailing dot (`"1.5"`,
    /// `"0"`, `"100"`, `"0.000001"`). Exact for every `u128` and every `decimals`.
    pub fn to_decimal_string(self, decimals: u8) -> String {
        // Formatting, unlike parsing, is only placing a '.' among the digits of an integer:
        // nothing can round, and it works beyond rust_decimal's 96-bit range.
        let digits = self.0.to_string();
        let scale = usize::from(decimals);
        if scale == 0 {
            return digits;
        }
        // Left-pad so that at least one digit sits before the point ("0.000001").
        let padded = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.is_empty() {
            int_part.to_owned()
        } else {
            format!("{int_part}.{frac_part}")
        }
    }
}

/// The checks shared by both parsers, in the order partners most need them.
fn check_notation(input: &str) -> Result<(), AmountError> {
    if input.is_empty() {
        Err(AmountError::Empty)
    } else if input.starts_with(['+', '-']) {
        Err(AmountError::Signed)
    } else if input.contains(['e', 'E']) {
        Err(AmountError::Exponent)
    } else {
        Ok(())
    }
}

/// Splits `digits[.digits]` into its integer and fractional digit runs (the latter possibly
/// empty when there is no point). This is classification only: rust_decimal would accept
/// `"1."`, `".5"` and `"1_000"`, which we refuse.
fn split_plain_decimal(input: &str) -> Result<(&str, &str), AmountError> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (int_part, frac_part) = match input.split_once('.') {
        // A second '.' stays in the fractional part and fails the digit check.
        Some((int_part, frac_part)) if all_digits(int_part) && all_digits(frac_part) => {
            (int_part, frac_part)
        }
        None if all_digits(input) => (input, ""),
        _ => return Err(AmountError::Malformed),
    };
    Ok((int_part, frac_part))
}

impl fmt::Display for Amount {
    /// The base units, e.g. `1500000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Amount {
    /// A JSON string of base units (`"1500000"`): never a JSON number, which many clients
    /// would read as a lossy float.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Only a string of base units, via [`Amount::parse_base_units`]; a JSON number is refused.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <Cow<'de, str>>::deserialize(deserializer)?;
        Amount::parse_base_units(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
