//! One exact, signed sum of an integer column, for both databases: the balances per asset
//! ([`tables::wallets::available_by_asset`](crate::tables::wallets::available_by_asset)) and
//! reconciliation's ledger sums ([`tables::reconcile`](crate::tables::reconcile)).
//!
//! PostgreSQL sums `numeric` exactly: the whole sum is `part0`. SQLite keeps amounts as text,
//! and its `SUM` of text goes through floating point; there each value's magnitude is cut into
//! [`PARTS`] parts of [`PART_DIGITS`] digits, each part signed and summed as a 64-bit integer
//! (exact, or an SQLite "integer overflow" error past 9.2 × 10⁸ rows of one group: never a
//! rounded number). Either way the select list is `part0` (lowest digits) … `part3`, as
//! decimal text, and [`read`] puts them back together with checked arithmetic.

use custody_core::ports::StoreError;

use crate::codec::Columns;

/// Digits per part.
pub const PART_DIGITS: usize = 10;
/// Parts per sum: 4 × 10 digits cover the 39 a stored amount or delta may have.
pub const PARTS: usize = 4;
const NAMES: [&str; PARTS] = ["part0", "part1", "part2", "part3"];

/// SQLite's select items: `column`'s sign times each part of its zero-padded magnitude, summed.
/// The text is padded first, so every `substr` starts at a position ≥ 1 (where both databases
/// agree on what it means).
pub(crate) fn in_parts(column: &str) -> String {
    let padding = "0".repeat(PARTS * PART_DIGITS);
    let text = format!("CAST({column} AS TEXT)");
    let magnitude = format!("ltrim({text}, '-')");
    (0..PARTS)
        .map(|k| {
            // In the padded text of length L + PARTS·DIGITS, part k ends DIGITS·k from the end.
            let start = PARTS * PART_DIGITS - PART_DIGITS * k - PART_DIGITS + 1;
            format!(
                "CAST(SUM(CASE WHEN substr({text}, 1, 1) = '-' THEN -1 ELSE 1 END \
                 * CAST(substr('{padding}' || {magnitude}, length({magnitude}) + {start}, \
                 {PART_DIGITS}) AS BIGINT)) AS TEXT) AS part{k}"
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's select items: the exact `numeric` sum in `part0`, the other parts zero.
pub(crate) fn whole(column: &str) -> String {
    let mut items = vec![format!("CAST(SUM({column}) AS TEXT) AS part0")];
    items.extend((1..PARTS).map(|k| format!("'0' AS part{k}")));
    items.join(", ")
}

/// A condition keeping the groups whose sum may be non-zero (parts may cancel out through
/// carries while the total is zero: check [`read`]'s total as well).
#[must_use]
pub fn may_be_non_zero() -> String {
    NAMES
        .iter()
        .map(|name| format!("{name} <> '0'"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// An exact sum: its sign and magnitude (a sum of amounts can exceed `i128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactSum {
    negative: bool,
    magnitude: u128,
}

impl ExactSum {
    fn new(negative: bool, magnitude: u128) -> ExactSum {
        ExactSum {
            negative: negative && magnitude != 0,
            magnitude,
        }
    }

    /// The sum as an `i128`, when it is one.
    #[must_use]
    pub fn to_i128(self) -> Option<i128> {
        if self.negative {
            0i128.checked_sub_unsigned(self.magnitude)
        } else {
            i128::try_from(self.magnitude).ok()
        }
    }

    /// The sum as a signed amount (any sum [`read`] returns is one).
    #[must_use]
    pub fn signed(self) -> custody_core::totals::SignedAmount {
        custody_core::totals::SignedAmount::new(self.negative, self.magnitude)
    }

    /// The sum as a `u128`, when it is one (not negative).
    #[must_use]
    pub fn to_u128(self) -> Option<u128> {
        (!self.negative).then_some(self.magnitude)
    }
}

/// Puts a row's parts back together: `None` for a sum beyond ±`u128::MAX`.
///
/// # Errors
/// `Internal` for a part that is not an integer (a corrupt row).
pub fn read(row: &impl Columns) -> Result<Option<ExactSum>, StoreError> {
    let mut parts = Vec::with_capacity(PARTS);
    for name in NAMES {
        parts.push(row.text(name)?);
    }
    total(&parts)
}

fn total(parts: &[String]) -> Result<Option<ExactSum>, StoreError> {
    let mut signed = Vec::with_capacity(parts.len());
    for (raw, name) in parts.iter().zip(NAMES) {
        let (negative, digits) = match raw.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, raw.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(crate::corrupt(format_args!(
                "{name}: `{raw}` is not an integer"
            )));
        }
        match digits.parse::<u128>() {
            Ok(magnitude) => signed.push((negative, magnitude)),
            // Beyond u128 in one part: only PostgreSQL's whole sum can be.
            Err(_) => return Ok(None),
        }
    }
    if signed[1..].iter().all(|(_, m)| *m == 0) {
        let (negative, magnitude) = signed[0];
        return Ok(Some(ExactSum::new(negative, magnitude)));
    }
    // SQLite's parts, each a 64-bit sum: carry them into digits of base 10^PART_DIGITS.
    let base = 10i128.pow(PART_DIGITS as u32);
    let mut carry = 0i128;
    let mut digits = [0u128; PARTS];
    for (k, (negative, magnitude)) in signed.into_iter().enumerate() {
        let magnitude = i128::try_from(magnitude)
            .map_err(|_| crate::corrupt(format_args!("{}: beyond a 64-bit sum", NAMES[k])))?;
        let value = if negative { -magnitude } else { magnitude };
        let value = value
            .checked_add(carry)
            .ok_or_else(|| crate::corrupt(format_args!("{}: beyond a 64-bit sum", NAMES[k])))?;
        digits[k] = value.rem_euclid(base).unsigned_abs();
        carry = value.div_euclid(base);
    }
    let base = base.unsigned_abs();
    let combine = |digit: &dyn Fn(u128) -> u128| {
        digits.iter().rev().try_fold(0u128, |acc, d| {
            acc.checked_mul(base)?.checked_add(digit(*d))
        })
    };
    // The sum is carry · base^PARTS + Σ digit_k · base^k with every digit in [0, base).
    Ok(match carry {
        0 => combine(&|d| d).map(|m| ExactSum::new(false, m)),
        // Negative: its magnitude is base^PARTS − Σ digit_k · base^k, that is the digits'
        // complement to base − 1, plus one.
        -1 => combine(&|d| base - 1 - d)
            .and_then(|m| m.checked_add(1))
            .map(|m| ExactSum::new(true, m)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(parts: [&str; PARTS]) -> Option<ExactSum> {
        total(&parts.map(str::to_owned)).expect("integers")
    }

    /// What SQLite's parts are for `values`: each value's sign times its parts, summed.
    fn sqlite_parts(values: &[i128]) -> [String; PARTS] {
        let base = 10u128.pow(PART_DIGITS as u32);
        let mut parts = [0i128; PARTS];
        for v in values {
            let mut m = v.unsigned_abs();
            for part in &mut parts {
                let digit = i128::try_from(m % base).expect("small");
                *part += if *v < 0 { -digit } else { digit };
                m /= base;
            }
        }
        parts.map(|p| p.to_string())
    }

    #[test]
    fn whole_sums_are_read_as_they_are() {
        let max = u128::MAX.to_string();
        assert_eq!(
            sum([&max, "0", "0", "0"]).and_then(ExactSum::to_u128),
            Some(u128::MAX)
        );
        assert_eq!(sum([&max, "0", "0", "0"]).and_then(ExactSum::to_i128), None);
        let min = format!("-{}", i128::MIN.unsigned_abs());
        assert_eq!(
            sum([&min, "0", "0", "0"]).and_then(ExactSum::to_i128),
            Some(i128::MIN)
        );
        assert_eq!(
            sum(["-0", "0", "0", "0"]).and_then(ExactSum::to_u128),
            Some(0)
        );
        let beyond = format!("{max}0");
        assert_eq!(sum([&beyond, "0", "0", "0"]), None, "beyond u128");
        assert!(total(&["1.5", "0", "0", "0"].map(str::to_owned)).is_err());
        assert!(total(&["", "0", "0", "0"].map(str::to_owned)).is_err());
    }

    #[test]
    fn parts_carry_and_borrow_exactly() {
        let cases: &[(&[i128], i128)] = &[
            (&[9_999_999_999, 9_999_999_999], 19_999_999_998),
            (
                &[i128::from(i64::MAX), i128::from(i64::MAX), 2],
                2 * i128::from(i64::MAX) + 2,
            ),
            (&[-1, -9_999_999_999], -10_000_000_000),
            (&[10_000_000_000, -1], 9_999_999_999),
            (&[-10_000_000_000, 1], -9_999_999_999),
            (&[i128::MAX, -i128::MAX], 0),
            (&[i128::MAX, -1], i128::MAX - 1),
            (&[-i128::MAX, -1], i128::MIN),
            (&[-(1 << 64), -(1 << 64)], -(1 << 65)),
        ];
        for (values, expected) in cases {
            let parts = sqlite_parts(values);
            assert_eq!(
                total(&parts).expect("parts").and_then(ExactSum::to_i128),
                Some(*expected),
                "{values:?} as {parts:?}"
            );
        }
    }

    #[test]
    fn sums_up_to_u128_max_either_way_and_nothing_beyond() {
        // u128::MAX as two halves: beyond i128, exact as u128.
        let half = i128::try_from(u128::MAX / 2).expect("fits");
        let parts = sqlite_parts(&[half, half, 1]);
        let max = total(&parts).expect("parts").expect("in range");
        assert_eq!(max.to_u128(), Some(u128::MAX));
        assert_eq!(max.to_i128(), None);
        let parts = sqlite_parts(&[-half, -half, -1]);
        let min = total(&parts).expect("parts").expect("in range");
        assert_eq!(min, ExactSum::new(true, u128::MAX));
        assert_eq!(min.to_u128(), None);
        assert_eq!(total(&sqlite_parts(&[half, half, 2])).expect("parts"), None);
        assert_eq!(
            total(&sqlite_parts(&[-half, -half, -2])).expect("parts"),
            None
        );
    }
}
