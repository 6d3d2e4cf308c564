//! Ledger properties, through the public API only.
//!
//! Random sequences of deposits, transfers and withdrawals over a handful of wallets of one
//! asset are driven through the real rules: [`Transaction::new`] and [`Transaction::advance`]
//! (the state machine decides which steps happen), [`Transaction::ledger_effect`] (which money
//! movement each status causes), [`Movement::postings`] and [`ledger::apply`]. After every step
//! the model checks that
//!
//! - a movement is refused exactly when its debited bucket holds less than the amount, and a
//!   refused movement leaves every balance as it was (buckets are unsigned, so "never negative"
//!   means "every overdraft is refused and nothing else is");
//! - every applied movement's postings sum to zero and change exactly the buckets they name;
//! - money is conserved: the sum of every wallet's `available + pending + held` equals deposits
//!   detected − deposits failed − withdrawals completed;
//! - `pending` is exactly the open deposits and `held` exactly the open withdrawals, per wallet;
//!
//! and at the end that replaying the recorded ledger entries rebuilds every wallet's balances.

use std::collections::BTreeMap;

use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::id::{TenantId, TransactionId, WalletId};
use custody_core::ledger::{self, sums_to_zero, Account, LedgerEntry, LedgerError, Movement};
use custody_core::transaction::{NewTransaction, Transaction, TransactionKind, TransactionStatus};
use custody_core::wallet::{BalanceError, Balances, Bucket};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;
use ulid::Ulid;

type TestResult<T = ()> = Result<T, TestCaseError>;

/// One thing that can happen to the book.
#[derive(Debug, Clone)]
enum Op {
    /// A deposit into a wallet is seen on-chain (`Confirming`, credits pending).
    DetectDeposit { wallet: Index, amount: u128 },
    /// An open deposit is reported `Completed`, `Failed` or (always refused) `Cancelled`.
    SettleDeposit {
        pick: Index,
        outcome: TransactionStatus,
    },
    /// An internal transfer between two different wallets.
    Transfer {
        from: Index,
        to: Index,
        amount: u128,
    },
    /// A withdrawal is submitted (holds available funds).
    SubmitWithdrawal { wallet: Index, amount: u128 },
    /// An open withdrawal takes its next main-line step (PendingSignature … Completed).
    AdvanceWithdrawal { pick: Index },
    /// An open withdrawal is moved straight to `to`; the state machine may refuse.
    MoveWithdrawal { pick: Index, to: TransactionStatus },
}

fn op() -> impl Strategy<Value = Op> {
    let amount = 1u128..=1_500;
    let outcome = prop_oneof![
        4 => Just(TransactionStatus::Completed),
        2 => Just(TransactionStatus::Failed),
        1 => Just(TransactionStatus::Cancelled),
    ];
    let target = prop_oneof![
        Just(TransactionStatus::Completed),
        Just(TransactionStatus::Failed),
        Just(TransactionStatus::Cancelled),
        Just(TransactionStatus::Confirming),
        Just(TransactionStatus::Broadcasting),
    ];
    prop_oneof![
        4 => (any::<Index>(), 1u128..=1_000)
            .prop_map(|(wallet, amount)| Op::DetectDeposit { wallet, amount }),
        3 => (any::<Index>(), outcome).prop_map(|(pick, outcome)| Op::SettleDeposit { pick, outcome }),
        3 => (any::<Index>(), any::<Index>(), amount.clone())
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        3 => (any::<Index>(), amount)
            .prop_map(|(wallet, amount)| Op::SubmitWithdrawal { wallet, amount }),
        5 => any::<Index>().prop_map(|pick| Op::AdvanceWithdrawal { pick }),
        2 => (any::<Index>(), target).prop_map(|(pick, to)| Op::MoveWithdrawal { pick, to }),
    ]
}

fn asset() -> AssetId {
    AssetId::from_codes("USDT", "ethereum").unwrap_or_else(|e| panic!("catalogue asset: {e}"))
}

fn tenant() -> TenantId {
    TenantId::from_ulid(Ulid::from_parts(1, 1))
}

fn wallet_ids(n: usize) -> Vec<WalletId> {
    (0..n)
        .map(|i| WalletId::from_ulid(Ulid::from_parts(2, i as u128 + 1)))
        .collect()
}

/// The next main-line status, if any.
fn next_step(status: TransactionStatus) -> Option<TransactionStatus> {
    use TransactionStatus::*;
    match status {
        Submitted => Some(PendingSignature),
        PendingSignature => Some(Broadcasting),
        Broadcasting => Some(Confirming),
        Confirming => Some(Completed),
        Completed | Failed | Cancelled => None,
    }
}

fn total(balances: &Balances) -> TestResult<u128> {
    balances
        .total()
        .map(Amount::base_units)
        .ok_or_else(|| TestCaseError::fail("balance total overflowed"))
}

/// The materialised balances, the ledger and the open transactions of one asset.
struct Book {
    wallets: Vec<WalletId>,
    balances: BTreeMap<WalletId, Balances>,
    entries: Vec<LedgerEntry>,
    open_deposits: Vec<Transaction>,
    open_withdrawals: Vec<Transaction>,
    detected: u128,
    failed: u128,
    withdrawn: u128,
    next_id: u128,
    now: OffsetDateTime,
}

impl Book {
    fn new(n: usize) -> Book {
        let wallets = wallet_ids(n);
        Book {
            balances: wallets.iter().map(|w| (*w, Balances::default())).collect(),
            wallets,
            entries: Vec::new(),
            open_deposits: Vec::new(),
            open_withdrawals: Vec::new(),
            detected: 0,
            failed: 0,
            withdrawn: 0,
            next_id: 0,
            now: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn wallet(&self, index: &Index) -> WalletId {
        self.wallets[index.index(self.wallets.len())]
    }

    fn new_transaction(
        &mut self,
        kind: TransactionKind,
        source: Option<WalletId>,
        destination: Option<WalletId>,
        amount: u128,
    ) -> Transaction {
        self.next_id += 1;
        Transaction::new(
            NewTransaction {
                id: TransactionId::from_ulid(Ulid::from_parts(3, self.next_id)),
                tenant_id: tenant(),
                kind,
                asset: asset(),
                amount: Amount::from_base_units(amount),
                source_wallet_id: source,
                destination_wallet_id: destination,
                reference: None,
            },
            self.now,
        )
    }

    /// Books `movement` of `transaction`, checking the refusal rule and the postings.
    fn book(&mut self, transaction: &Transaction, movement: Movement) -> TestResult<bool> {
        let postings = movement
            .postings()
            .map_err(|e| TestCaseError::fail(format!("{movement:?}: {e}")))?;
        prop_assert!(sums_to_zero(&postings), "{:?}", postings);
        prop_assert_eq!(postings.iter().map(|p| p.delta).sum::<i128>(), 0);

        // What the model expects: refused iff a debited wallet bucket holds less than asked.
        let mut covered = true;
        for p in &postings {
            if let (Account::Wallet { wallet_id, bucket }, true) = (p.account, p.delta < 0) {
                let has = self.balances[&wallet_id].get(bucket).base_units();
                covered &= has >= p.delta.unsigned_abs();
            }
        }

        let before = self.balances.clone();
        match ledger::apply(&mut self.balances, &postings) {
            Ok(()) => {
                prop_assert!(covered, "{:?} overdrew {:?}", movement, before);
                // Exactly the named buckets changed, by exactly their deltas.
                let mut expected = before;
                for p in &postings {
                    if let Account::Wallet { wallet_id, bucket } = p.account {
                        let b = expected
                            .get_mut(&wallet_id)
                            .ok_or_else(|| TestCaseError::fail("posting to unknown wallet"))?;
                        b.apply(bucket, p.delta)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                }
                prop_assert_eq!(&expected, &self.balances);
                self.entries.extend(LedgerEntry::for_postings(
                    transaction.id,
                    transaction.asset,
                    &postings,
                    self.now,
                ));
                Ok(true)
            }
            Err(e) => {
                prop_assert!(
                    !covered,
                    "{:?} refused with funds available: {}",
                    movement,
                    e
                );
                prop_assert!(
                    matches!(e, LedgerError::Balance(BalanceError::Insufficient { .. })),
                    "{}",
                    e
                );
                prop_assert_eq!(&before, &self.balances, "a refusal must change nothing");
                Ok(false)
            }
        }
    }

    /// Creates a transaction and books its initial effect; `Some` when it was accepted.
    fn create(&mut self, transaction: Transaction) -> TestResult<Option<Transaction>> {
        let movement = transaction
            .ledger_effect(transaction.status)
            .ok_or_else(|| TestCaseError::fail("a new transaction must move money"))?;
        Ok(self.book(&transaction, movement)?.then_some(transaction))
    }

    /// Moves an open transaction to `to` if the state machine allows it, booking the effect.
    /// Returns whether the step happened.
    fn advance(
        &mut self,
        mut transaction: Transaction,
        to: TransactionStatus,
    ) -> TestResult<(Transaction, bool)> {
        let before = transaction.clone();
        if transaction.advance(to, self.now).is_err() {
            prop_assert_eq!(&before, &transaction, "a refused step must change nothing");
            return Ok((transaction, false));
        }
        if let Some(movement) = transaction.ledger_effect(to) {
            // The funds a later step moves were reserved when the transaction was created.
            let booked = self.book(&transaction, movement)?;
            prop_assert!(booked, "{:?} of {:?} was refused", movement, before);
        }
        let amount = transaction.amount.base_units();
        match (transaction.kind, to) {
            (TransactionKind::Deposit, TransactionStatus::Failed) => self.failed += amount,
            (TransactionKind::Withdrawal, TransactionStatus::Completed) => self.withdrawn += amount,
            _ => {}
        }
        Ok((transaction, true))
    }

    fn run(&mut self, op: &Op) -> TestResult {
        self.now += time::Duration::seconds(1);
        match op {
            Op::DetectDeposit { wallet, amount } => {
                let t = self.new_transaction(
                    TransactionKind::Deposit,
                    None,
                    Some(self.wallet(wallet)),
                    *amount,
                );
                prop_assert_eq!(t.status, TransactionStatus::Confirming);
                let Some(t) = self.create(t)? else {
                    return Err(TestCaseError::fail(
                        "crediting pending can never be refused",
                    ));
                };
                self.detected += amount;
                self.open_deposits.push(t);
            }
            Op::SettleDeposit { pick, outcome } => {
                if self.open_deposits.is_empty() {
                    return Ok(());
                }
                let i = pick.index(self.open_deposits.len());
                let t = self.open_deposits.remove(i);
                let (t, stepped) = self.advance(t, *outcome)?;
                // Deposits are Confirming until settled: completion and failure are legal,
                // cancellation never is.
                prop_assert_eq!(stepped, *outcome != TransactionStatus::Cancelled);
                if !t.status.is_terminal() {
                    self.open_deposits.insert(i, t);
                }
            }
            Op::Transfer { from, to, amount } => {
                let n = self.wallets.len();
                let from_i = from.index(n);
                let to_i = (from_i + 1 + to.index(n - 1)) % n;
                let t = self.new_transaction(
                    TransactionKind::Transfer,
                    Some(self.wallets[from_i]),
                    Some(self.wallets[to_i]),
                    *amount,
                );
                prop_assert_eq!(t.status, TransactionStatus::Completed);
                let before: u128 = self.sum_totals()?;
                self.create(t)?;
                prop_assert_eq!(before, self.sum_totals()?, "a transfer changed the total");
            }
            Op::SubmitWithdrawal { wallet, amount } => {
                let t = self.new_transaction(
                    TransactionKind::Withdrawal,
                    Some(self.wallet(wallet)),
                    None,
                    *amount,
                );
                prop_assert_eq!(t.status, TransactionStatus::Submitted);
                if let Some(t) = self.create(t)? {
                    self.open_withdrawals.push(t);
                }
            }
            Op::AdvanceWithdrawal { pick } => {
                self.move_withdrawal(pick, None)?;
            }
            Op::MoveWithdrawal { pick, to } => {
                self.move_withdrawal(pick, Some(*to))?;
            }
        }
        Ok(())
    }

    /// Moves an open withdrawal to `to`, or to its next main-line step when `None`.
    fn move_withdrawal(&mut self, pick: &Index, to: Option<TransactionStatus>) -> TestResult {
        use TransactionStatus::*;
        if self.open_withdrawals.is_empty() {
            return Ok(());
        }
        let i = pick.index(self.open_withdrawals.len());
        let t = self.open_withdrawals.remove(i);
        let from = t.status;
        let to = match to.or_else(|| next_step(from)) {
            Some(to) => to,
            None => return Err(TestCaseError::fail("an open withdrawal is never terminal")),
        };
        let (t, stepped) = self.advance(t, to)?;
        let legal = match to {
            Cancelled => matches!(from, Submitted | PendingSignature),
            Failed => true,
            _ => next_step(from) == Some(to),
        };
        prop_assert_eq!(stepped, legal, "{} -> {}", from, to);
        if !t.status.is_terminal() {
            self.open_withdrawals.insert(i, t);
        }
        Ok(())
    }

    fn sum_totals(&self) -> TestResult<u128> {
        self.balances.values().try_fold(0u128, |acc, b| {
            acc.checked_add(total(b)?)
                .ok_or_else(|| TestCaseError::fail("sum overflowed"))
        })
    }

    /// The invariants that hold between any two operations.
    fn check(&self) -> TestResult {
        prop_assert!(self.detected >= self.failed + self.withdrawn);
        prop_assert_eq!(
            self.sum_totals()?,
            self.detected - self.failed - self.withdrawn,
            "money appeared or vanished"
        );
        for wallet in &self.wallets {
            let b = &self.balances[wallet];
            let pending: u128 = self
                .open_deposits
                .iter()
                .filter(|t| t.destination_wallet_id == Some(*wallet))
                .map(|t| t.amount.base_units())
                .sum();
            let held: u128 = self
                .open_withdrawals
                .iter()
                .filter(|t| t.source_wallet_id == Some(*wallet))
                .map(|t| t.amount.base_units())
                .sum();
            prop_assert_eq!(b.pending.base_units(), pending, "pending of {}", wallet);
            prop_assert_eq!(b.held.base_units(), held, "held of {}", wallet);
        }
        Ok(())
    }

    /// The materialised balances equal the ledger replayed, for every wallet.
    fn reconcile(&self) -> TestResult {
        for wallet in &self.wallets {
            let replayed = ledger::replay(*wallet, &self.entries)
                .map_err(|e| TestCaseError::fail(format!("replay of {wallet}: {e}")))?;
            prop_assert_eq!(&replayed, &self.balances[wallet], "wallet {}", wallet);
        }
        let all: Vec<_> = self.entries.iter().map(|e| e.posting).collect();
        prop_assert!(sums_to_zero(&all), "the whole ledger must balance");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn balances_follow_the_ledger_and_money_is_conserved(
        n in 3usize..=6,
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut book = Book::new(n);
        for op in &ops {
            book.run(op)?;
            book.check()?;
        }
        book.reconcile()?;
    }

    #[test]
    fn a_transfer_never_changes_the_total(
        start in prop::collection::vec((0u128..1_000, 0u128..1_000, 0u128..1_000), 2..=6),
        from in any::<Index>(),
        to in any::<Index>(),
        amount in 1u128..2_000,
    ) {
        let wallets = wallet_ids(start.len());
        let mut balances: BTreeMap<WalletId, Balances> = wallets
            .iter()
            .zip(&start)
            .map(|(w, (a, p, h))| {
                (*w, Balances {
                    available: Amount::from_base_units(*a),
                    pending: Amount::from_base_units(*p),
                    held: Amount::from_base_units(*h),
                })
            })
            .collect();
        let n = wallets.len();
        let from_i = from.index(n);
        let to_i = (from_i + 1 + to.index(n - 1)) % n;
        let (source, destination) = (wallets[from_i], wallets[to_i]);
        let transfer = Transaction::new(
            NewTransaction {
                id: TransactionId::from_ulid(Ulid::from_parts(3, 1)),
                tenant_id: tenant(),
                kind: TransactionKind::Transfer,
                asset: asset(),
                amount: Amount::from_base_units(amount),
                source_wallet_id: Some(source),
                destination_wallet_id: Some(destination),
                reference: None,
            },
            OffsetDateTime::UNIX_EPOCH,
        );
        let movement = transfer
            .ledger_effect(transfer.status)
            .ok_or_else(|| TestCaseError::fail("a transfer moves money"))?;
        let postings = movement.postings().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(sums_to_zero(&postings));

        let before = balances.clone();
        let sum = |b: &BTreeMap<WalletId, Balances>| -> TestResult<u128> {
            b.values().try_fold(0u128, |acc, x| Ok(acc + total(x)?))
        };
        let result = ledger::apply(&mut balances, &postings);
        prop_assert_eq!(sum(&before)?, sum(&balances)?);
        prop_assert_eq!(result.is_ok(), before[&source].available.base_units() >= amount);
        for w in &wallets {
            // Only `available` of the two wallets can change; pending and held never do.
            prop_assert_eq!(before[w].pending, balances[w].pending);
            prop_assert_eq!(before[w].held, balances[w].held);
            let delta = balances[w].available.base_units() as i128
                - before[w].available.base_units() as i128;
            let expected = match (result.is_ok(), *w == source, *w == destination) {
                (true, true, _) => -(amount as i128),
                (true, _, true) => amount as i128,
                _ => 0,
            };
            prop_assert_eq!(delta, expected, "wallet {}", w);
        }
        // Whatever happened to the balances, the bucket the transfer debits is `available`.
        let debited = Account::Wallet { wallet_id: source, bucket: Bucket::Available };
        prop_assert!(postings.iter().any(|p| p.delta < 0 && p.account == debited));
    }
}
