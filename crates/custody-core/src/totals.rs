//! The tenant-wide available balance per asset, maintained (issue 18).
//!
//! `GET /connect/v1/balances` without a user used to sum every wallet of the tenant on each
//! call: linear in the tenant's wallets. Instead every balance change adds its net change of
//! `available` (over the wallets it touched, all of one asset) to a running total per
//! (tenant, environment, asset), in the same database transaction as the wallets. So that one
//! tenant's concurrent movements do not all queue on one row, the total is striped over
//! [`SLOTS`] rows: a movement adds to the slot its transaction id picks ([`slot_of`]), and a
//! read sums the slots. One slot may go negative (money credited through one slot and spent
//! through another); only the sum per asset is a balance, and it is never negative.
//!
//! [`book`](crate::services) is the one place balances change, so it is the one caller of
//! [`AssetTotalTx::adjust_available_total`](crate::ports::AssetTotalTx::adjust_available_total).

use std::cmp::Ordering;

use crate::amount::Amount;
use crate::id::TransactionId;

/// How many rows one (tenant, environment, asset) total is striped over: a movement writes one
/// of them, a read sums at most this many per asset. 16 keeps a tenant's concurrent movements
/// (as many as the connection pool lets through) mostly on different rows while a read stays a
/// handful of rows.
pub const SLOTS: u8 = 16;

/// The slot a transaction's movements add to: the low bits of its id, which are random (a ULID's
/// last 80 bits), so deterministic for the transaction and spread over [`SLOTS`].
#[must_use]
pub fn slot_of(transaction: TransactionId) -> u8 {
    let low = u128::from(transaction.ulid()) % u128::from(SLOTS);
    // Below SLOTS, a u8.
    u8::try_from(low).unwrap_or(0)
}

/// An exact signed amount of base units: a magnitude and a sign, so that every change of a
/// `u128` total fits (never an `i128` overflow, never a float). Zero is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignedAmount {
    negative: bool,
    magnitude: u128,
}

impl SignedAmount {
    /// Zero.
    pub const ZERO: SignedAmount = SignedAmount {
        negative: false,
        magnitude: 0,
    };

    /// `magnitude`, negative when asked (zero stays non-negative).
    #[must_use]
    pub const fn new(negative: bool, magnitude: u128) -> SignedAmount {
        SignedAmount {
            negative: negative && magnitude != 0,
            magnitude,
        }
    }

    /// A non-negative amount.
    #[must_use]
    pub const fn positive(amount: Amount) -> SignedAmount {
        SignedAmount::new(false, amount.base_units())
    }

    /// `after − before`, exactly.
    #[must_use]
    pub fn change(before: Amount, after: Amount) -> SignedAmount {
        let (before, after) = (before.base_units(), after.base_units());
        if after >= before {
            SignedAmount::new(false, after - before)
        } else {
            SignedAmount::new(true, before - after)
        }
    }

    /// Whether it is below zero.
    #[must_use]
    pub const fn is_negative(self) -> bool {
        self.negative
    }

    /// Whether it is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.magnitude == 0
    }

    /// Its absolute value in base units.
    #[must_use]
    pub const fn magnitude(self) -> u128 {
        self.magnitude
    }

    /// The sum, or `None` when its magnitude exceeds `u128`.
    #[must_use]
    pub fn checked_add(self, other: SignedAmount) -> Option<SignedAmount> {
        if self.negative == other.negative {
            return Some(SignedAmount::new(
                self.negative,
                self.magnitude.checked_add(other.magnitude)?,
            ));
        }
        Some(match self.magnitude.cmp(&other.magnitude) {
            Ordering::Less => SignedAmount::new(other.negative, other.magnitude - self.magnitude),
            _ => SignedAmount::new(self.negative, self.magnitude - other.magnitude),
        })
    }

    /// As an amount, when not negative.
    #[must_use]
    pub fn to_amount(self) -> Option<Amount> {
        (!self.negative).then(|| Amount::from_base_units(self.magnitude))
    }

    /// Parses base-unit decimal text with an optional leading `-` (as the stores keep a slot).
    #[must_use]
    pub fn parse(text: &str) -> Option<SignedAmount> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(SignedAmount::new(negative, digits.parse().ok()?))
    }
}

impl std::fmt::Display for SignedAmount {
    /// Base units, with a leading `-` when negative: `-125`, `0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negative {
            write!(f, "-{}", self.magnitude)
        } else {
            write!(f, "{}", self.magnitude)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: i128) -> SignedAmount {
        SignedAmount::new(v < 0, v.unsigned_abs())
    }

    #[test]
    fn adds_exactly_across_signs_and_up_to_u128_max() {
        assert_eq!(s(5).checked_add(s(-7)), Some(s(-2)));
        assert_eq!(s(-5).checked_add(s(7)), Some(s(2)));
        assert_eq!(s(-5).checked_add(s(5)), Some(SignedAmount::ZERO));
        assert!(!s(-5).checked_add(s(5)).expect("fits").is_negative());
        let max = SignedAmount::new(false, u128::MAX);
        assert_eq!(max.checked_add(s(1)), None, "beyond u128");
        assert_eq!(
            SignedAmount::new(true, u128::MAX).checked_add(s(-1)),
            None,
            "below −u128::MAX"
        );
        assert_eq!(
            max.checked_add(SignedAmount::new(true, u128::MAX)),
            Some(SignedAmount::ZERO)
        );
        assert_eq!(
            SignedAmount::new(true, 0),
            SignedAmount::ZERO,
            "no negative zero"
        );
    }

    #[test]
    fn change_and_text_round_trip() {
        let a = |u| Amount::from_base_units(u);
        assert_eq!(SignedAmount::change(a(10), a(3)), s(-7));
        assert_eq!(SignedAmount::change(a(3), a(10)), s(7));
        assert_eq!(
            SignedAmount::change(a(u128::MAX), a(0)),
            SignedAmount::new(true, u128::MAX)
        );
        for v in [
            SignedAmount::ZERO,
            s(-1),
            s(42),
            SignedAmount::new(true, u128::MAX),
        ] {
            assert_eq!(SignedAmount::parse(&v.to_string()), Some(v));
        }
        for bad in ["", "-", "1.5", "--1", "+1", " 1"] {
            assert_eq!(SignedAmount::parse(bad), None, "{bad:?}");
        }
        assert_eq!(SignedAmount::parse("-0"), Some(SignedAmount::ZERO));
        assert_eq!(s(-3).to_amount(), None);
        assert_eq!(s(3).to_amount(), Some(a(3)));
    }

    #[test]
    fn slots_are_the_ids_low_bits() {
        let id = TransactionId::from_ulid(ulid::Ulid::from(0x1234_5678_u128 | 0xABCD << 100));
        assert_eq!(slot_of(id), 8);
        assert!((0..200u128)
            .map(|n| slot_of(TransactionId::from_ulid(ulid::Ulid::from(n))))
            .all(|slot| slot < SLOTS));
    }
}
