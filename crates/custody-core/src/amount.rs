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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units(n: u128) -> Amount {
        Amount::from_base_units(n)
    }

    #[test]
    fn parses_whole_and_fractional_amounts() {
        assert_eq!(Amount::parse("1.5", 6), Ok(units(1_500_000)));
        assert_eq!(Amount::parse("100", 6), Ok(units(100_000_000)));
        assert_eq!(Amount::parse("0.000001", 6), Ok(units(1)));
        assert_eq!(Amount::parse("12.345678", 6), Ok(units(12_345_678)));
        assert_eq!(Amount::parse("1", 18), Ok(units(1_000_000_000_000_000_000)));
    }

    #[test]
    fn exactly_the_maximum_decimals_is_accepted_one_more_is_not() {
        assert_eq!(Amount::parse("0.123456", 6), Ok(units(123_456)));
        let err = Amount::parse("0.1234567", 6).unwrap_err();
        assert_eq!(err, AmountError::TooManyDecimals { max: 6 });
        assert_eq!(err.to_string(), "amount has more than 6 decimal places");
        assert_eq!(err.code(), "amount_too_many_decimals");
        // Smaller than one base unit is a precision error, not a zero.
        assert_eq!(
            Amount::parse("0.0000001", 6),
            Err(AmountError::TooManyDecimals { max: 6 })
        );
    }

    #[test]
    fn trailing_fractional_zeros_are_accepted_beyond_the_scale() {
        assert_eq!(Amount::parse("1.5000000", 6), Ok(units(1_500_000)));
        assert_eq!(Amount::parse("1.50", 6), Ok(units(1_500_000)));
        // Far more zeros than rust_decimal's 28-digit scale still parse: they are trimmed.
        let long = format!("1.5{}", "0".repeat(100));
        assert_eq!(Amount::parse(&long, 6), Ok(units(1_500_000)));
        assert_eq!(
            Amount::parse(&format!("1.5{}1", "0".repeat(100)), 6),
            Err(AmountError::TooManyDecimals { max: 6 })
        );
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(Amount::parse("007.5", 6), Ok(units(7_500_000)));
        assert_eq!(Amount::parse("00.5", 6), Ok(units(500_000)));
        let long = format!("{}1", "0".repeat(100));
        assert_eq!(Amount::parse(&long, 0), Ok(units(1)));
    }

    #[test]
    fn zero_decimal_assets_take_whole_numbers_only() {
        assert_eq!(Amount::parse("5", 0), Ok(units(5)));
        assert_eq!(Amount::parse("5.0", 0), Ok(units(5)));
        assert_eq!(
            Amount::parse("5.1", 0),
            Err(AmountError::TooManyDecimals { max: 0 })
        );
    }

    #[test]
    fn zero_is_refused_in_every_spelling() {
        for zero in ["0", "000", "0.0", "0.000000", "0.000000000", "00.00"] {
            assert_eq!(Amount::parse(zero, 6), Err(AmountError::Zero), "{zero}");
        }
        // Zero stays Zero even when 10^decimals would not fit in a u128.
        assert_eq!(Amount::parse("0", 200), Err(AmountError::Zero));
        let err = Amount::parse("0", 0).unwrap_err();
        assert_eq!(err.code(), "amount_zero");
        assert_eq!(err.to_string(), "amount must be greater than zero");
    }

    #[test]
    fn empty_signed_and_exponent_inputs_have_their_own_errors() {
        assert_eq!(Amount::parse("", 6), Err(AmountError::Empty));
        for signed in ["+1", "-1", "-0", "+", "-", "-1e5", "+1.5"] {
            assert_eq!(
                Amount::parse(signed, 6),
                Err(AmountError::Signed),
                "{signed}"
            );
        }
        for exponent in ["1e6", "1E6", "1.5e-3", "1e", "e", "E5", "12E+1"] {
            assert_eq!(
                Amount::parse(exponent, 6),
                Err(AmountError::Exponent),
                "{exponent}"
            );
        }
    }

    #[test]
    fn anything_else_that_is_not_plain_decimal_is_malformed() {
        // Non-ASCII digits are refused even though char::is_numeric accepts them.
        for bad in [
            " 1",
            "1 ",
            "1 000",
            "\t1",
            "1\n",
            "1.",
            ".5",
            ".",
            "..",
            "1.2.3",
            "1..2",
            "1,5",
            "1_000",
            "0x10",
            "0b1",
            "NaN",
            "inf",
            "Infinity",
            "\u{661}",    // Arabic-Indic digit one
            "\u{ff11}",   // full-width digit one
            "1.\u{ff15}", // full-width fractional digit
            "\u{0}",
            "1\u{0}",
            "$1",
            "1USD",
        ] {
            assert_eq!(
                Amount::parse(bad, 6),
                Err(AmountError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_largest_parseable_value_is_rust_decimals_exact_range() {
        assert_eq!(
            Amount::MAX_PARSEABLE.base_units(),
            Decimal::MAX.mantissa().unsigned_abs()
        );
        let max = "79228162514264337593543950335";
        assert_eq!(max, Amount::MAX_PARSEABLE.to_string());
        assert_eq!(Amount::parse(max, 0), Ok(Amount::MAX_PARSEABLE));
        assert_eq!(
            Amount::parse("79228162514264337593543950336", 0),
            Err(AmountError::Overflow)
        );
        // The same bound applies after scaling by the asset's decimals.
        assert_eq!(
            Amount::parse("79228162514264337593543.950335", 6),
            Ok(Amount::MAX_PARSEABLE)
        );
        assert_eq!(
            Amount::parse("79228162514264337593543.950336", 6),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Amount::parse("79228162514264337593544", 6),
            Err(AmountError::Overflow)
        );
        let err = Amount::parse(&format!("1{}", "0".repeat(100)), 6).unwrap_err();
        assert_eq!(err, AmountError::Overflow);
        assert_eq!(err.code(), "amount_overflow");
        assert_eq!(err.to_string(), "amount is too large");
        // 10^40 base units do not fit in a u128.
        assert_eq!(Amount::parse("1", 40), Err(AmountError::Overflow));
        assert_eq!(Amount::parse("1", u8::MAX), Err(AmountError::Overflow));
    }

    #[test]
    fn base_units_parse_digits_only_over_the_full_u128_range() {
        assert_eq!(Amount::parse_base_units("1500000"), Ok(units(1_500_000)));
        assert_eq!(Amount::parse_base_units("0"), Ok(Amount::ZERO));
        assert_eq!(Amount::parse_base_units("007"), Ok(units(7)));
        assert_eq!(
            Amount::parse_base_units(&u128::MAX.to_string()),
            Ok(units(u128::MAX))
        );
        assert_eq!(
            Amount::parse_base_units("340282366920938463463374607431768211456"),
            Err(AmountError::Overflow)
        );
        assert_eq!(Amount::parse_base_units(""), Err(AmountError::Empty));
        assert_eq!(Amount::parse_base_units("+1"), Err(AmountError::Signed));
        assert_eq!(Amount::parse_base_units("-1"), Err(AmountError::Signed));
        assert_eq!(Amount::parse_base_units("1e6"), Err(AmountError::Exponent));
        for bad in ["1.0", "1.", ".1", " 1", "1 ", "1_000", "0x10", "１"] {
            assert_eq!(
                Amount::parse_base_units(bad),
                Err(AmountError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decimal_strings_are_canonical() {
        for (base, decimals, human) in [
            (1_500_000, 6, "1.5"),
            (0, 6, "0"),
            (0, 0, "0"),
            (100_000_000, 6, "100"),
            (1, 6, "0.000001"),
            (10, 6, "0.00001"),
            (123_456, 6, "0.123456"),
            (1_000_000, 6, "1"),
            (1_000_001, 6, "1.000001"),
            (42, 0, "42"),
            (1, 1, "0.1"),
            (u128::MAX, 0, "340282366920938463463374607431768211455"),
            (u128::MAX, 18, "340282366920938463463.374607431768211455"),
            (u128::MAX, 39, "0.340282366920938463463374607431768211455"),
        ] {
            assert_eq!(
                units(base).to_decimal_string(decimals),
                human,
                "{base}/{decimals}"
            );
        }
        let tiny = units(1).to_decimal_string(u8::MAX);
        assert_eq!(tiny.len(), 2 + 255);
        assert!(tiny.starts_with("0.000") && tiny.ends_with("01"));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(units(2).checked_add(units(3)), Some(units(5)));
        assert_eq!(units(u128::MAX).checked_add(units(1)), None);
        assert_eq!(units(5).checked_sub(units(3)), Some(units(2)));
        assert_eq!(units(3).checked_sub(units(5)), None);
        assert_eq!(units(3).checked_sub(units(3)), Some(Amount::ZERO));
        assert!(Amount::ZERO.is_zero());
        assert!(Amount::default().is_zero());
        assert!(!units(1).is_zero());
        assert!(units(1) < units(2));
    }

    #[test]
    fn display_and_debug_show_base_units() {
        assert_eq!(units(1_500_000).to_string(), "1500000");
        assert_eq!(format!("{:?}", units(1_500_000)), "1500000");
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            AmountError::Empty,
            AmountError::Signed,
            AmountError::Exponent,
            AmountError::Malformed,
            AmountError::TooManyDecimals { max: 6 },
            AmountError::Zero,
            AmountError::Overflow,
        ];
        let codes: std::collections::BTreeSet<_> = errors.iter().map(AmountError::code).collect();
        assert_eq!(codes.len(), errors.len());
        assert!(codes.iter().all(|c| c.starts_with("amount_")));
    }

    #[test]
    fn serde_uses_a_base_units_string_never_a_number() {
        let amount = units(1_500_000);
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"1500000\"");
        let back: Amount = serde_json::from_str("\"1500000\"").unwrap();
        assert_eq!(back, amount);
        let big: Amount = serde_json::from_str(&format!("\"{}\"", u128::MAX)).unwrap();
        assert_eq!(big, units(u128::MAX));
        assert!(serde_json::from_str::<Amount>("1500000").is_err());
        assert!(serde_json::from_str::<Amount>("1.5").is_err());
        let err = serde_json::from_str::<Amount>("\"1.5\"").unwrap_err();
        assert!(err.to_string().contains("plain decimal number"), "{err}");
        assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
    }

    /// Test oracle: the canonical spelling of a `digits[.digits]` string.
    fn canonical(input: &str) -> String {
        let (int_part, frac_part) = input.split_once('.').unwrap_or((input, ""));
        let int_part = int_part.trim_start_matches('0');
        let int_part = if int_part.is_empty() { "0" } else { int_part };
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.is_empty() {
            int_part.to_owned()
        } else {
            format!("{int_part}.{frac_part}")
        }
    }

    proptest! {
        #[test]
        fn human_form_round_trips(x in 1..=Amount::MAX_PARSEABLE.base_units(), d in 0u8..=18) {
            let amount = units(x);
            let human = amount.to_decimal_string(d);
            prop_assert_eq!(Amount::parse(&human, d), Ok(amount));
            // Leading zeros and extra trailing zeros do not change the value.
            let padded = if human.contains('.') {
                format!("00{human}000")
            } else {
                format!("00{human}.000")
            };
            prop_assert_eq!(Amount::parse(&padded, d), Ok(amount));
        }

        #[test]
        fn human_form_has_the_canonical_shape(x in any::<u128>(), d in 0u8..=40) {
            let human = units(x).to_decimal_string(d);
            prop_assert_eq!(canonical(&human), human.clone());
            prop_assert!(!human.ends_with('.'));
            prop_assert!(human.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            if let Some((_, frac)) = human.split_once('.') {
                prop_assert!(frac.len() <= usize::from(d));
            }
        }

        #[test]
        fn base_units_round_trip(x in any::<u128>()) {
            prop_assert_eq!(Amount::parse_base_units(&x.to_string()), Ok(units(x)));
            let json = serde_json::to_string(&units(x)).unwrap();
            prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), units(x));
        }

        #[test]
        fn valid_decimal_strings_parse_to_their_canonical_value(
            input in "[0-9]{1,25}(\\.[0-9]{1,12})?",
            d in 0u8..=18,
        ) {
            match Amount::parse(&input, d) {
                Ok(amount) => prop_assert_eq!(amount.to_decimal_string(d), canonical(&input)),
                Err(AmountError::Zero) => prop_assert_eq!(canonical(&input), "0"),
                Err(AmountError::TooManyDecimals { max }) => {
                    prop_assert_eq!(max, d);
                    let frac = input.split_once('.').map_or("", |(_, f)| f);
                    prop_assert!(frac.trim_end_matches('0').len() > usize::from(d));
                }
                Err(AmountError::Overflow) => {
                    // The base-units digits, computed independently of the parser.
                    let (int_part, frac) = input.split_once('.').unwrap_or((&input, ""));
                    let frac = frac.trim_end_matches('0');
                    let zeros = "0".repeat(usize::from(d) - frac.len());
                    let digits = format!("{int_part}{frac}{zeros}");
                    let fits = digits
                        .parse::<u128>()
                        .is_ok_and(|n| n <= Amount::MAX_PARSEABLE.base_units());
                    prop_assert!(!fits, "{input} wrongly overflowed");
                }
                Err(other) => prop_assert!(false, "unexpected {other:?} for {input}"),
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_strings(input in any::<String>(), d in any::<u8>()) {
            let _ = Amount::parse(&input, d);
            let _ = Amount::parse_base_units(&input);
        }

        #[test]
        fn parse_never_panics_on_near_misses(input in "[-+0-9eE.,x _]{0,60}", d in any::<u8>()) {
            if let Ok(amount) = Amount::parse(&input, d) {
                prop_assert!(!amount.is_zero());
                prop_assert!(amount <= Amount::MAX_PARSEABLE);
            }
            let _ = Amount::parse_base_units(&input);
        }
    }
}
