//! # custody-http: the partner API and the composition root
//!
//! actix-web serving the three dialects of ARCHITECTURE §2 over one core:
//! [`routes::connect`] (snake_case, bearer keys), [`routes::platform`] (camelCase, HMAC),
//! [`routes::accounts`] (camelCase, Ed25519). Every handler follows the same order:
//! idempotency header → [authentication and the approval gate](auth) → body validation
//! ([`input`]) → [idempotency record](idempotency) → one core use case → response.
//!
//! [`startup`] is the only module that names concrete adapters; it builds the live and the
//! sandbox [service graphs](graph) and the server. [`error`] renders every failure in the one
//! envelope; [`middleware`] gives every request an id and a log line.
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod cli;
pub mod configuration;
pub mod error;
pub mod graph;
pub mod idempotency;
pub mod input;
pub mod middleware;
pub mod openapi;
pub mod prices;
pub mod providers;
pub mod routes;
pub mod startup;
pub mod system;
pub mod telemetry;
pub mod wire;
