//! The simulated chain: schedules, magic values and transaction hashes, as pure functions of
//! their inputs and the time. Nothing here keeps state, so a restart loses no progress: the
//! same question asked at the same instant always gets the same answer.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use custody_core::amount::Amount;
use custody_core::asset::{AddressFamily, AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::ports::{ProviderError, ProviderTransfer, VerifiedDeposit, WithdrawalRequest};
use custody_core::transaction::{Confirmations, TransactionStatus};
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;
use ulid::Ulid;

/// How one simulated network produces blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkTiming {
    /// Time between two blocks (one more confirmation each).
    pub block_time: Duration,
    /// Confirmations before a transaction is final.
    pub confirmations: u32,
}

impl NetworkTiming {
    /// A timing, checked: at least one confirmation, blocks at least 1 ms apart.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn new(block_time: Duration, confirmations: u32) -> Result<NetworkTiming, String> {
        if confirmations == 0 {
            return Err("confirmations must be at least 1".into());
        }
        if block_time < Duration::from_millis(1) {
            return Err("block time must be at least 1 ms".into());
        }
        Ok(NetworkTiming {
            block_time,
            confirmations,
        })
    }

    /// How long a transaction takes from its first block to finality.
    pub fn to_finality(self) -> Duration {
        self.block_time.saturating_mul(self.confirmations)
    }

    /// Confirmations seen `elapsed` after the transaction entered the chain, capped at the
    /// required number.
    fn seen(self, elapsed: Duration) -> u32 {
        let blocks = elapsed.as_millis() / self.block_time.as_millis().max(1);
        u32::try_from(blocks)
            .unwrap_or(u32::MAX)
            .min(self.confirmations)
    }
}

/// The simulated chain's timing: how long signing and broadcasting take, and each network's
/// blocks. The defaults complete a withdrawal within about 10 s on every network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// From hand-over (`PendingSignature`) to `Broadcasting`.
    pub signing: Duration,
    /// From `Broadcasting` to `Confirming` (0 confirmations).
    pub broadcasting: Duration,
    networks: BTreeMap<Network, NetworkTiming>,
    /// Where every hand-over is appended (one transaction id per line, synced), so a test can
    /// count hand-overs across processes and restarts: the chain itself keeps nothing.
    send_log: Option<std::path::PathBuf>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig::new(Duration::from_millis(2_000), Duration::from_millis(2_000))
    }
}

impl ChainConfig {
    /// A chain that signs and broadcasts in the given times, every network at its default
    /// timing ([`ChainConfig::set_network`] changes one).
    pub fn new(signing: Duration, broadcasting: Duration) -> ChainConfig {
        ChainConfig {
            signing,
            broadcasting,
            networks: Network::ALL
                .into_iter()
                .map(|n| (n, ChainConfig::default_timing(n)))
                .collect(),
            send_log: None,
        }
    }

    /// Appends every hand-over to the file at `path` (created if missing).
    #[must_use]
    pub fn with_send_log(mut self, path: std::path::PathBuf) -> ChainConfig {
        self.send_log = Some(path);
        self
    }

    /// The hand-over log's path, when set.
    pub fn send_log(&self) -> Option<&std::path::Path> {
        self.send_log.as_deref()
    }

    /// The default timing of `network` (documented in docs/platform.md).
    pub const fn default_timing(network: Network) -> NetworkTiming {
        let (block_ms, confirmations) = match network {
            Network::Ethereum => (1_000, 6),
            Network::Base | Network::Ink => (500, 10),
            Network::Solana => (400, 15),
            Network::Sui => (500, 6),
        };
        NetworkTiming {
            block_time: Duration::from_millis(block_ms),
            confirmations,
        }
    }

    /// The timing of `network`.
    pub fn network(&self, network: Network) -> NetworkTiming {
        self.networks
            .get(&network)
            .copied()
            .unwrap_or_else(|| ChainConfig::default_timing(network))
    }

    /// Replaces the timing of `network`.
    pub fn set_network(&mut self, network: Network, timing: NetworkTiming) {
        self.networks.insert(network, timing);
    }

    /// How long a normal withdrawal on `network` takes from hand-over to `Completed`.
    pub fn withdrawal_duration(&self, network: Network) -> Duration {
        self.signing
            .saturating_add(self.broadcasting)
            .saturating_add(self.network(network).to_finality())
    }
}

/// Amounts whose fractional part (in whole tokens) is exactly one of these drive the failure
/// paths, as card numbers do in a payment test mode. Documented in docs/platform.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// Any other amount: the happy path.
    None,
    /// `.13`: a withdrawal fails at `Broadcasting` (its held funds return); a deposit fails
    /// while confirming, halfway (its pending credit is reversed).
    Fails,
    /// `.14`: a withdrawal is refused at hand-over, provably unsent: `Failed` at once.
    RefusedAtHandover,
    /// `.15`: a withdrawal waits for a signature that never comes; the approval expires
    /// ([`SIGNATURE_EXPIRY`]) and it fails.
    AwaitsSignature,
    /// `.16`: the custodian times out on every hand-over during the first
    /// [`OUTAGE`] after the withdrawal was recorded (nothing is sent), then behaves normally.
    Outage,
}

/// How long a `.15` withdrawal waits for its signature before failing.
pub const SIGNATURE_EXPIRY: Duration = Duration::from_secs(3_600);

/// How long a `.16` withdrawal's custodian stays unreachable.
pub const OUTAGE: Duration = Duration::from_secs(5);

impl Magic {
    /// The magic value of `amount` of an asset with `decimals`.
    pub fn of(amount: Amount, decimals: u8) -> Magic {
        if decimals < 2 {
            return Magic::None;
        }
        let Some(one) = 10u128.checked_pow(u32::from(decimals)) else {
            return Magic::None;
        };
        let cent = one / 100;
        let fraction = amount.base_units() % one;
        if fraction % cent != 0 {
            return Magic::None;
        }
        match fraction / cent {
            13 => Magic::Fails,
            14 => Magic::RefusedAtHandover,
            15 => Magic::AwaitsSignature,
            16 => Magic::Outage,
            _ => Magic::None,
        }
    }

    fn of_asset(amount: Amount, asset: AssetId) -> Magic {
        Magic::of(amount, asset.decimals())
    }
}

/// The failure reason of a `.13` withdrawal.
pub const BROADCAST_FAILURE: &str =
    "sandbox simulation: amounts ending in .13 fail at broadcast (magic value)";
/// The refusal of a `.14` withdrawal.
pub const HANDOVER_REFUSAL: &str =
    "sandbox simulation: amounts ending in .14 are refused at hand-over; nothing was sent (magic value)";
/// The failure reason of a `.15` withdrawal once its approval expired.
pub const SIGNATURE_EXPIRED: &str =
    "sandbox simulation: amounts ending in .15 are never signed; the approval expired (magic value)";
/// The outage a `.16` withdrawal meets during its first seconds.
pub const OUTAGE_MESSAGE: &str =
    "sandbox simulation: amounts ending in .16 time out for 5 s after they are recorded (magic value)";
/// The failure reason of a `.13` deposit.
pub const DEPOSIT_FAILURE: &str =
    "sandbox simulation: deposits ending in .13 fail while confirming (magic value)";

/// Time from `from` to `now`, zero when `now` is earlier.
fn elapsed(from: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - from).unwrap_or(Duration::ZERO)
}

/// The sandbox's reference for a withdrawal it was handed.
pub fn withdrawal_ref(request: &WithdrawalRequest) -> String {
    format!("sandbox-{}", request.transaction_id)
}

/// What the sandbox answers when `request` is handed over at `now`.
///
/// # Errors
/// `Rejected` for `.14` (nothing sent); `Unavailable` for `.16` during its outage.
pub fn submit(
    config: &ChainConfig,
    request: &WithdrawalRequest,
    now: OffsetDateTime,
) -> Result<ProviderTransfer, ProviderError> {
    match Magic::of_asset(request.amount, request.asset) {
        Magic::RefusedAtHandover => Err(ProviderError::Rejected(HANDOVER_REFUSAL.into())),
        Magic::Outage if elapsed(request.recorded_at, now) < OUTAGE => {
            Err(ProviderError::Unavailable(OUTAGE_MESSAGE.into()))
        }
        _ => withdrawal_status(config, request, now),
    }
}

/// A withdrawal's state at `now`, played from when it was recorded:
///
/// ```text
/// 0 ── PendingSignature ── signing ── Broadcasting ── broadcasting ── Confirming 0/N
///   ── +1 confirmation per block ── Completed N/N
/// ```
///
/// # Errors
/// `NotFound` for what the sandbox never accepted (`.14`; `.16` during its outage).
pub fn withdrawal_status(
    config: &ChainConfig,
    request: &WithdrawalRequest,
    now: OffsetDateTime,
) -> Result<ProviderTransfer, ProviderError> {
    let magic = Magic::of_asset(request.amount, request.asset);
    let age = elapsed(request.recorded_at, now);
    let network = request.asset.network();
    let timing = config.network(network);
    let at = |status, confirmations: Option<u32>, failure: Option<&str>| ProviderTransfer {
        provider_ref: withdrawal_ref(request),
        status,
        tx_hash: (status != TransactionStatus::PendingSignature)
            .then(|| tx_hash(network, &request.transaction_id.to_string())),
        failure_reason: failure.map(str::to_owned),
        confirmations: confirmations.map(|seen| Confirmations {
            seen,
            required: timing.confirmations,
        }),
        // The sandbox's failures are definite: nothing left the simulated wallet.
        outcome_ambiguous: false,
    };
    match magic {
        Magic::RefusedAtHandover => return Err(ProviderError::NotFound),
        Magic::Outage if age < OUTAGE => return Err(ProviderError::NotFound),
        Magic::AwaitsSignature if age < SIGNATURE_EXPIRY => {
            return Ok(at(TransactionStatus::PendingSignature, None, None))
        }
        Magic::AwaitsSignature => {
            let mut failed = at(TransactionStatus::Failed, None, Some(SIGNATURE_EXPIRED));
            failed.tx_hash = None;
            return Ok(failed);
        }
        Magic::None | Magic::Fails | Magic::Outage => {}
    }
    if age < config.signing {
        return Ok(at(TransactionStatus::PendingSignature, None, None));
    }
    let broadcast_at = config.signing.saturating_add(config.broadcasting);
    if age < broadcast_at {
        return Ok(at(TransactionStatus::Broadcasting, None, None));
    }
    if magic == Magic::Fails {
        return Ok(at(TransactionStatus::Failed, None, Some(BROADCAST_FAILURE)));
    }
    let seen = timing.seen(age.saturating_sub(broadcast_at));
    if seen >= timing.confirmations {
        Ok(at(TransactionStatus::Completed, Some(seen), None))
    } else {
        Ok(at(TransactionStatus::Confirming, Some(seen), None))
    }
}

/// The prefix of every simulated deposit's provider reference.
pub const DEPOSIT_REF_PREFIX: &str = "sbx_dep_";

/// A simulated deposit, as its provider reference spells it:
/// `sbx_dep_{ULID}_{base units}_{address}`, where the ULID's time is when the deposit was
/// first seen on the simulated chain. The reference carries everything the sandbox needs to
/// answer for the deposit later, so it keeps nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedDeposit {
    /// Unique per deposit; its time is when the deposit was seen.
    pub id: Ulid,
    pub asset: AssetId,
    pub amount: Amount,
    /// The receiving address.
    pub address: ChainAddress,
}

impl fmt::Display for SimulatedDeposit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{DEPOSIT_REF_PREFIX}{}_{}_{}",
            self.id,
            self.amount.base_units(),
            self.address
        )
    }
}

impl SimulatedDeposit {
    /// Reads a reference back (the asset is recorded beside it).
    ///
    /// # Errors
    /// `NotFound` for anything the sandbox did not issue.
    pub fn parse(provider_ref: &str, asset: AssetId) -> Result<SimulatedDeposit, ProviderError> {
        let rest = provider_ref
            .strip_prefix(DEPOSIT_REF_PREFIX)
            .ok_or(ProviderError::NotFound)?;
        let mut parts = rest.splitn(3, '_');
        let (Some(id), Some(units), Some(address)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ProviderError::NotFound);
        };
        let id = Ulid::from_string(id).map_err(|_| ProviderError::NotFound)?;
        let amount = Amount::parse_base_units(units).map_err(|_| ProviderError::NotFound)?;
        let address =
            ChainAddress::parse(asset.network(), address).map_err(|_| ProviderError::NotFound)?;
        Ok(SimulatedDeposit {
            id,
            asset,
            amount,
            address,
        })
    }

    /// When the deposit was seen on the simulated chain.
    pub fn seen_at(&self) -> OffsetDateTime {
        let ms = i128::from(self.id.timestamp_ms());
        OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Its state at `now`: `Confirming` n/N from when it was seen, one confirmation per block,
    /// `Completed` at N/N; a `.13` deposit fails halfway.
    pub fn status(&self, config: &ChainConfig, now: OffsetDateTime) -> VerifiedDeposit {
        let network = self.asset.network();
        let timing = config.network(network);
        let seen = timing.seen(elapsed(self.seen_at(), now));
        let status = if Magic::of_asset(self.amount, self.asset) == Magic::Fails
            && seen >= timing.confirmations.div_ceil(2)
        {
            TransactionStatus::Failed
        } else if seen >= timing.confirmations {
            TransactionStatus::Completed
        } else {
            TransactionStatus::Confirming
        };
        VerifiedDeposit {
            provider_ref: self.to_string(),
            asset: self.asset,
            amount: self.amount,
            address: self.address.clone(),
            tx_hash: Some(tx_hash(network, &self.id.to_string())),
            status,
            confirmations: Some(Confirmations {
                seen,
                required: timing.confirmations,
            }),
        }
    }
}

/// Milliseconds since the epoch (0 before it), as a ULID holds time.
pub fn unix_ms(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The deterministic transaction hash of `seed` (our transaction id for withdrawals, the
/// deposit's ULID for deposits), valid-looking for `network`: SHA-256 of
/// `"custody-sandbox/v1/tx\n{seed}"` as `0x` + 64 hex on EVM networks and in base58 on Sui (a
/// 32-byte digest); SHA-512 of the same input in base58 on Solana (a 64-byte signature).
pub fn tx_hash(network: Network, seed: &str) -> String {
    let input = format!("custody-sandbox/v1/tx\n{seed}");
    match network.address_family() {
        AddressFamily::Evm => format!("0x{}", hex::encode(Sha256::digest(input.as_bytes()))),
        AddressFamily::Solana => bs58::encode(Sha512::digest(input.as_bytes())).into_string(),
        AddressFamily::Sui => bs58::encode(Sha256::digest(input.as_bytes())).into_string(),
    }
}

#[cfg(test)]
mod tests;
