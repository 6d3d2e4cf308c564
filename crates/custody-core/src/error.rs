//! The error every service returns, with a stable machine code and a kind.
//!
//! Why one enum for all use cases: every error ends up in the same envelope, and the HTTP
//! layer maps [`ErrorKind`] to status and type in one place, so a new variant cannot reach a
//! partner without a code. Port errors ([`StoreError`], [`ProviderError`]) are wrapped, never
//! leaked as driver types.

use std::fmt;

use crate::address_book::DestinationRefusal;
use crate::amount::{Amount, AmountError};
use crate::api_key::Scope;
use crate::asset::{AssetError, AssetId};
use crate::chain_address::ChainAddressError;
use crate::event::SnapshotError;
use crate::ledger::LedgerError;
use crate::ports::{ProviderError, StoreError};
use crate::state::TransitionError;
use crate::tenant::AccessDenied;
use crate::text::TextError;
use crate::vault::VaultRefusal;
use crate::wallet::BalanceError;

/// The kind of resource a not-found error is about, named in its message.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Tenant,
    ApiKey,
    Vault,
    /// A wallet (an account in the Accounts dialect).
    Wallet,
    Address,
    Transaction,
    AddressBookEntry,
    /// The tenant's outbound webhook endpoint.
    WebhookEndpoint,
    Event,
}

impl ResourceKind {
    /// Lowercase, human name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Tenant => "tenant",
            ResourceKind::ApiKey => "API key",
            ResourceKind::Vault => "vault",
            ResourceKind::Wallet => "wallet",
            ResourceKind::Address => "address",
            ResourceKind::Transaction => "transaction",
            ResourceKind::AddressBookEntry => "address-book entry",
            ResourceKind::WebhookEndpoint => "webhook endpoint",
            ResourceKind::Event => "event",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an error is rendered: the HTTP layer maps each kind to one status and error type.
/// Deliberately exhaustive: every edge must decide how to render each kind, so a new kind is a
/// compile error there rather than a silent default. New *errors* map onto these kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 422 `invalid_request_error`: well-formed but refused input, nothing changed.
    Unprocessable,
    /// 403 `authorization_error`.
    Forbidden,
    /// 404 `not_found_error`, also for another tenant's resources.
    NotFound,
    /// 409 `conflict_error`.
    Conflict,
    /// 502/503 `provider_error`, retryable.
    Provider,
    /// 503: our own store is unreachable, retryable.
    Unavailable,
    /// 500 `api_error`: a bug or a broken invariant.
    Internal,
}

/// A service error: one stable [`code`](Error::code) per case (the code partners see,
/// docs/errors-and-conventions.md) and a [`kind`](Error::kind) that decides how it is rendered.
/// Non-exhaustive: match the cases you handle and keep a `_` arm.
///
/// ```
/// use custody_core::amount::Amount;
/// use custody_core::error::{Error, ErrorKind};
///
/// let e = Error::InsufficientFunds {
///     available: Amount::from_base_units(10),
///     requested: Amount::from_base_units(25),
/// };
/// assert_eq!(e.code(), "insufficient_funds");
/// assert_eq!(e.kind(), ErrorKind::Unprocessable);
/// match e {
///     Error::InsufficientFunds { available, .. } => assert_eq!(available.base_units(), 10),
///     _ => unreachable!(),
/// }
/// ```
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field failed validation (422).
    #[error("{message}")]
    InvalidField {
        /// The request field, as the partner named it where known (e.g. `amount`).
        field: &'static str,
        /// Stable code (e.g. `amount_too_many_decimals`).
        code: &'static str,
        message: String,
    },
    /// A rule refused the request (422), e.g. transferring to the same wallet.
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        message: String,
    },
    /// The asset exists but the tenant has not enabled it in this environment (422).
    #[error("asset {0} is not enabled for this tenant")]
    AssetNotEnabled(AssetId),
    /// Not enough available funds (422).
    #[error("insufficient funds: available {available}, requested {requested} (base units)")]
    InsufficientFunds {
        /// What the wallet had available.
        available: Amount,
        requested: Amount,
    },
    /// The vault refuses the operation (422).
    #[error(transparent)]
    Vault(#[from] VaultRefusal),
    /// The destination refuses the asset (422).
    #[error(transparent)]
    Destination(#[from] DestinationRefusal),
    /// The API key lacks a scope (403). For a scope only signed keys may hold, the message
    /// says so: a bearer key never carries one (minted before the rule, it is refused at use).
    #[error(
        "this API key lacks the `{}` scope{}",
        .0.as_str(),
        if .0.requires_signed_key() {
            " (only HMAC and Ed25519 keys may hold it: bearer keys never move money)"
        } else {
            ""
        }
    )]
    MissingScope(Scope),
    /// The tenant may not use this environment (403).
    #[error(transparent)]
    Access(#[from] AccessDenied),
    /// No such resource for this tenant (404).
    #[error("{0} not found")]
    NotFound(ResourceKind),
    /// An illegal status change (409).
    #[error("cannot move this {machine} from {from} to {to}")]
    InvalidTransition {
        machine: &'static str,
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// A uniqueness rule refused the request (409), e.g. a vault `externalId` already used.
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        message: String,
    },
    /// This request's reservation of its `Idempotency-Key` was taken over by a later request
    /// with the same key before the change committed (this one outlived
    /// [`IN_FLIGHT_LEASE`](crate::idempotency::IN_FLIGHT_LEASE), or its instance stopped
    /// heartbeating): nothing was recorded (a call already made to a custody provider stays
    /// made, as on any rollback; 409 `idempotency_key_in_flight`, retryable; the retry is
    /// answered as the request that holds the key decides).
    #[error(
        "another request with this Idempotency-Key took over while this one was running; \
         nothing was recorded: retry shortly to receive its outcome"
    )]
    IdempotencyKeyTakenOver,
    /// The custody provider failed (502/503); nothing was changed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(StoreError),
    /// An invariant broke: a bug, reported as 500 and logged with its cause.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A field error from any of the domain's value parsers.
    pub fn field(field: &'static str, code: &'static str, message: impl fmt::Display) -> Error {
        Error::InvalidField {
            field,
            code,
            message: message.to_string(),
        }
    }

    /// The stable machine code shown to partners.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidField { code, .. }
            | Error::Refused { code, .. }
            | Error::Conflict { code, .. } => code,
            Error::AssetNotEnabled(_) => "asset_not_enabled",
            Error::InsufficientFunds { .. } => "insufficient_funds",
            Error::Vault(refusal) => refusal.code(),
            Error::Destination(refusal) => refusal.code(),
            Error::MissingScope(_) => "missing_scope",
            Error::Access(denied) => denied.code(),
            Error::NotFound(_) => "resource_not_found",
            Error::InvalidTransition { .. } => "invalid_state_transition",
            Error::IdempotencyKeyTakenOver => "idempotency_key_in_flight",
            Error::Provider(e) => e.code(),
            Error::Store(StoreError::NotFound) => "resource_not_found",
            Error::Store(StoreError::Conflict { .. }) => "conflict",
            Error::Store(StoreError::Unavailable(_)) => "service_unavailable",
            Error::Store(StoreError::Internal(_)) | Error::Internal(_) => "internal_error",
        }
    }

    /// How the error is rendered.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidField { .. }
            | Error::Refused { .. }
            | Error::AssetNotEnabled(_)
            | Error::InsufficientFunds { .. }
            | Error::Vault(_)
            | Error::Destination(_) => ErrorKind::Unprocessable,
            Error::MissingScope(_) | Error::Access(_) => ErrorKind::Forbidden,
            Error::NotFound(_) | Error::Store(StoreError::NotFound) => ErrorKind::NotFound,
            Error::InvalidTransition { .. }
            | Error::IdempotencyKeyTakenOver
            | Error::Conflict { .. }
            | Error::Store(StoreError::Conflict { .. }) => ErrorKind::Conflict,
            Error::Provider(_) => ErrorKind::Provider,
            Error::Store(StoreError::Unavailable(_)) => ErrorKind::Unavailable,
            Error::Store(StoreError::Internal(_)) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Provider(e) => e.is_retryable(),
            Error::Store(StoreError::Unavailable(_)) | Error::IdempotencyKeyTakenOver => true,
            _ => false,
        }
    }

    /// Translates a store error seen while reading one resource: not-found names the resource.
    pub(crate) fn from_store(kind: ResourceKind) -> impl FnOnce(StoreError) -> Error {
        move |e| match e {
            StoreError::NotFound => Error::NotFound(kind),
            other => Error::Store(other),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl<S: fmt::Display + fmt::Debug> From<TransitionError<S>> for Error {
    fn from(e: TransitionError<S>) -> Self {
        Error::InvalidTransition {
            machine: e.machine,
            from: e.from.to_string(),
            to: e.to.to_string(),
        }
    }
}

impl From<SnapshotError> for Error {
    fn from(e: SnapshotError) -> Self {
        Error::Internal(e.to_string())
    }
}

impl From<LedgerError> for Error {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Balance(BalanceError::Insufficient {
                balance, requested, ..
            }) => Error::InsufficientFunds {
                available: balance,
                requested,
            },
            LedgerError::AmountTooLarge | LedgerError::Balance(BalanceError::Overflow) => {
                Error::field("amount", "amount_overflow", "amount is too large")
            }
            LedgerError::UnknownWallet(w) => Error::Internal(format!(
                "ledger posting for wallet {w} outside the unit of work"
            )),
        }
    }
}

impl From<AmountError> for Error {
    fn from(e: AmountError) -> Self {
        Error::field("amount", e.code(), e)
    }
}

impl From<TextError> for Error {
    fn from(e: TextError) -> Self {
        let field = match &e {
            TextError::Empty { field }
            | TextError::TooLong { field, .. }
            | TextError::ControlCharacter { field }
            | TextError::InvisibleCharacter { field } => field,
            TextError::MetadataKey(_) | TextError::MetadataTooManyKeys => "metadata",
        };
        Error::field(field, "invalid_text", e)
    }
}

/// Asset errors need the field name of the dialect (`asset`, `network`, `chain`, `assetId`), so
/// they are converted explicitly with [`asset_error`].
pub fn asset_error(field: &'static str, e: AssetError) -> Error {
    let code = match e {
        AssetError::InvalidCode { .. } => "invalid_code",
        AssetError::UnknownSymbol(_) => "unsupported_asset",
        AssetError::UnknownNetwork(_) => "unsupported_network",
        AssetError::UnsupportedPair { .. } => "unsupported_asset_network",
        AssetError::MalformedId(_) => "invalid_asset_id",
    };
    Error::field(field, code, e)
}

/// Address errors name the field the partner used (`address`, `destinationAddress`).
pub(crate) fn address_error(field: &'static str, e: ChainAddressError) -> Error {
    Error::field(field, e.code(), e)
}

#[cfg(test)]
mod tests;
