//! Routes, one module per dialect, plus health, the OpenAPI document and the providers'
//! inbound notifications.

pub mod accounts;
pub mod connect;
pub mod health;
pub mod platform;
pub mod webhooks;

use actix_web::web::ServiceConfig;

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    health::configure(cfg);
    connect::configure(cfg);
    platform::configure(cfg);
    accounts::configure(cfg);
    webhooks::configure(cfg);
}
