//! HTTP integration tests: the real app over a real store, driven as a partner would.
//! One binary (faster to link); one module per concern.
// Scenarios are `async fn(Engine)` run by `on_both_stores!`, not `#[test]` functions, so the
// test-only allowance of clippy.toml does not reach them: a failed expectation is the test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;
mod smoke;

mod boundary;
mod connect;
mod contract;
mod convergence;
mod housekeeping;
mod idempotency;
mod limits;
mod live;

mod accounts;
mod auth;
mod auth_cache;
mod auth_hardening;
mod errors;
mod idempotency_cache;
mod platform;
mod readiness;
