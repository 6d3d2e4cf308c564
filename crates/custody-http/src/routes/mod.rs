//! Routes, one module per dialect, plus health and the OpenAPI document.

pub mod accounts;
pub mod connect;
pub mod health;
pub mod platform;

use actix_web::web::ServiceConfig;

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    connect::configure(cfg);
    platform::configure(cfg);
    accounts::configure(cfg);
}
