//! `/healthz` (the process is up), `/readyz` (the store answers) and `/openapi.json`.
//! None of them needs a key.

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::Endpoints;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_healthz, healthz)
        .add(__path_readyz, readyz)
        .add(__path_openapi, openapi);
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: answers while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "Operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    wire::json(StatusCode::OK, &Health { status: "ok" })
}

/// Readiness: answers 200 once the store answers a trivial query, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "Operations", responses(
    (status = 200, body = Health),
    (status = 503, body = crate::openapi::ErrorEnvelope),
))]
pub async fn readyz(state: Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.readiness.check().await {
        Ok(()) => Ok(wire::json(StatusCode::OK, &Health { status: "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable().with_message("the store is not reachable"))
        }
    }
}

/// The OpenAPI 3.1 document of this API (also committed as `docs/openapi.json`).
#[utoipa::path(get, path = "/openapi.json", tag = "Operations", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document_json())
}
