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
