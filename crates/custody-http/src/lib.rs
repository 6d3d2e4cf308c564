//! # custody-http: the partner API and the composition root
//!
//! This crate will hold the actix-web server (issue "Partner API"): the three API dialects
//! (Connect, Platform, Accounts), authentication (bearer, HMAC, Ed25519), idempotency, the error
//! envelope, and `startup.rs`, the one place where concrete adapters meet. At start-up it builds
//! two service graphs, live (store bound to `live` + the BitGo/Rhino router) and sandbox (store
//! bound to `sandbox` + `custody-sandbox`); the API key picks one per request.
//!
//! Today it only provides the `custody` binary's entry point, which says plainly that the server
//! is not built yet.
