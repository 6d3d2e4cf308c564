//! # custody-http: the partner API and the composition root
//!
//! actix-web serving the three dialects of ARCHITECTURE §2 over one core:
//! [`routes::connect`] (snake_case, bearer keys), [`routes::platform`] (camelCase, HMAC),
//! [`routes::accounts`] (camelCase, Ed25519), one file per resource. Every handler follows the
//! same order: idempotency header → [authentication and the approval gate](auth) → input
//! validation ([`input`]) → [idempotency record](idempotency) → one core use case → response.
//! Handlers hold services only ([`graph::ServiceGraph`]): every rule and scope check is in
//! `custody-core`.
//!
//! [`startup`] is the composition root, the only module that assembles concrete adapters (each
//! environment's services are composed by `custody-embed`, the facade an embedding service
//! uses too);
//! [`master_key`] and [`first_start`] are the two start-up chores it delegates. [`error`]
//! renders every failure in the one envelope; [`middleware`] gives every request an id and a
//! log line.
//!
//! Public items carry rustdoc where they state a contract; plain data fields whose name says
//! it all go undocumented (so `missing_docs` is not enforced here). OpenAPI schema types are
//! the exception: their doc comments are the published field descriptions.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod configuration;
pub mod error;
pub mod events;
pub mod first_start;
pub mod graph;
pub mod idempotency;
pub mod input;
pub mod limits;
pub mod master_key;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod providers;
pub mod rate_limit;
pub mod readiness;
pub mod reconcile;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod totals;
pub mod wire;
pub mod workers;

// Moved to the embedding facade (the composition both share); re-exported at their old paths.
pub use custody_embed::{prices, system, webhook_transport};
