#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`Client`], [`Credentials`], [`RetryPolicy`]: configuration, signing, retries.
//! - [`connect`], [`platform`], [`accounts`]: the three dialects' calls and wire types.
//! - [`pagination`]: pages and streams over every list.
//! - [`events`]: the event envelope; [`webhook`]: verifying deliveries.
//! - [`Error`] / [`ApiError`]: the error envelope, typed.

pub mod accounts;
mod client;
pub mod connect;
mod error;
pub mod events;
pub mod pagination;
pub mod platform;
mod retry;
pub mod signing;
mod types;
pub mod webhook;

pub use client::{Client, ClientBuilder, RawResponse, Request};
pub use error::{ApiError, Error, FieldError, SignatureDebug};
pub use events::{Event, EventData, EventType, ResourceType};
pub use pagination::{ListParams, Page, Pagination};
pub use retry::{new_idempotency_key, RetryPolicy};
pub use signing::Credentials;
pub use types::{Amount, AmountError};

/// The HTTP method type of [`Request::new`] (reqwest's).
pub use reqwest::Method;

/// The wall clock. A client signs requests and judges webhook timestamps against real time;
/// there is no Clock port on this side of the API (the `*_at` functions take the time as an
/// argument for tests).
#[allow(
    clippy::disallowed_methods,
    reason = "the client's one read of the wall clock"
)]
pub(crate) fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
