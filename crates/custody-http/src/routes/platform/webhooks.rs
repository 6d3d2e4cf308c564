//! `/v1/webhooks/outbound[…]` and `/v1/events/{eventId}/redeliver`: the tenant's outbound
//! webhook endpoint (one per environment), its signing secret, test sends, the delivery log
//! and redelivery (docs/webhooks.md).

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::event::EventType;
use custody_core::id::EventId;
use custody_core::outbox::{DeliveryFilter, DeliveryRecord, DeliveryView};
use custody_core::services::{ConfigureEndpoint, ConfiguredEndpoint, Redelivered};
use custody_core::webhook::{subscribed_names, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::graph::AppState;
use crate::idempotency::{json_response, KeyRule, Mutation};
use crate::input::{json_body, no_query, path_id, query, PageParams};
use crate::routes::Endpoints;
use crate::wire::{self, List, Pagination};

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_configure_endpoint, configure_endpoint)
        .add(__path_get_endpoint, get_endpoint)
        .add(__path_delete_endpoint, delete_endpoint)
        .add(__path_rotate_secret, rotate_secret)
        .add(__path_send_test, send_test)
        .add(__path_list_deliveries, list_deliveries)
        .add(__path_redeliver_event, redeliver_event)
        .add(__path_redeliver_failed, redeliver_failed);
}

/// The tenant's webhook endpoint in this environment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"url": "https://hooks.example.com/custody", "signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "subscribedEventTypes": ["transaction.created", "transaction.status.updated"], "isConfigured": true, "status": "enabled", "disabledReason": null, "disabledAt": null, "previousSecretExpiresAt": null, "createdAt": "2026-12-06T09:00:00Z", "updatedAt": "2026-12-06T09:00:00Z"}))]
pub struct WebhookEndpointView {
    /// Where deliveries go; null when none is configured.
    pub url: Option<String>,
    /// `whsec_<base64>`: shown only in the response that generated it (first configuration, a
    /// new URL, a rotation); null otherwise, and never on `GET`.
    pub signing_secret: Option<String>,
    /// The event types delivered (every type when configured without a list).
    pub subscribed_event_types: Vec<String>,
    /// Whether an endpoint is configured.
    pub is_configured: bool,
    /// `enabled` or `disabled`; null when none is configured.
    #[schema(example = "enabled")]
    pub status: Option<String>,
    /// Why it was disabled: `endpoint_gone` (it answered 410) or `repeated_failure` (every
    /// attempt failed for 72 h). `PUT` the endpoint again to re-enable it.
    pub disabled_reason: Option<String>,
    /// When it was disabled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<String>,
    /// Until when the secret replaced by the last rotation still signs (both signatures are
    /// sent until then).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
    /// When it was first configured.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<String>,
    /// When it last changed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<String>,
}

impl WebhookEndpointView {
    fn of(endpoint: &WebhookEndpoint, secret: Option<&str>, now: OffsetDateTime) -> Self {
        WebhookEndpointView {
            url: Some(endpoint.url.as_str().to_owned()),
            signing_secret: secret.map(str::to_owned),
            subscribed_event_types: subscribed_names(endpoint.subscribed.as_ref())
                .into_iter()
                .map(str::to_owned)
                .collect(),
            is_configured: true,
            status: Some(endpoint.status.as_str().to_owned()),
            disabled_reason: endpoint.disabled_reason.clone(),
            disabled_at: endpoint.disabled_at.map(wire::timestamp),
            previous_secret_expires_at: endpoint
                .previous_secret
                .as_ref()
                .map(|(_, until)| *until)
                .filter(|until| *until > now)
                .map(wire::timestamp),
            created_at: Some(wire::timestamp(endpoint.created_at)),
            updated_at: Some(wire::timestamp(endpoint.updated_at)),
        }
    }

    fn configured(c: &ConfiguredEndpoint, now: OffsetDateTime) -> Self {
        Self::of(
            &c.endpoint,
            c.signing_secret.as_ref().map(|s| s.expose()),
            now,
        )
    }

    fn none() -> Self {
        WebhookEndpointView {
            url: None,
            signing_secret: None,
            subscribed_event_types: Vec::new(),
            is_configured: false,
            status: None,
            disabled_reason: None,
            disabled_at: None,
            previous_secret_expires_at: None,
            created_at: None,
            updated_at: None,
        }
    }
}

/// Body of `PUT /v1/webhooks/outbound`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"url": "https://hooks.example.com/custody", "subscribedEventTypes": ["transaction.created", "transaction.status.updated"]}))]
pub struct ConfigureWebhookRequest {
    /// Live: `https` on a publicly reachable host. Sandbox: also `http://localhost:…` (or
    /// another loopback address) for a local receiver. At most 2048 characters.
    pub url: String,
    /// The event types to deliver; omitted or null: every type.
    pub subscribed_event_types: Option<Vec<String>>,
}

fn event_types(raw: Vec<String>, field: &'static str) -> Result<BTreeSet<EventType>, ApiError> {
    raw.iter()
        .map(|name| {
            EventType::parse(name)
                .filter(|t| *t != EventType::WebhookTest)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        field,
                        "invalid_event_type",
                        format!("`{name}` is not an event type (docs/events.md lists them)"),
                    )
                })
        })
        .collect()
}

/// Configure the webhook endpoint.
#[utoipa::path(put, path = "/v1/webhooks/outbound", tag = "Platform",
    request_body(content = ConfigureWebhookRequest),
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, description = "The endpoint; `signingSecret` set when this call generated it (first configuration or a new URL), null on the same URL again", body = WebhookEndpointView),
        (status = 409, description = "`webhook_endpoint_conflict`: configured concurrently; or an idempotency conflict", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`invalid_webhook_url`, `webhook_url_forbidden` (not https in live, or a loopback, private, link-local or metadata address), `webhook_url_unresolvable`, `invalid_event_type`, `invalid_event_types`", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn configure_endpoint(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    no_query(&req)?;
    let input: ConfigureWebhookRequest = json_body(&req, &body)?;
    let subscribed = input
        .subscribed_event_types
        .map(|raw| event_types(raw, "subscribedEventTypes"))
        .transpose()?;
    let request = ConfigureEndpoint {
        url: input.url,
        subscribed,
    };
    let now = state.clock.now();
    let respond = move |c: &ConfiguredEndpoint| {
        json_response(StatusCode::OK, &WebhookEndpointView::configured(c, now))
    };
    mutation
        .run(respond, async move |auth, write| {
            auth.graph
                .webhooks
                .configure(&auth.caller, request, write)
                .await
        })
        .await
}

/// Read the webhook endpoint (never its secret).
#[utoipa::path(get, path = "/v1/webhooks/outbound", tag = "Platform",
    responses((status = 200, description = "The endpoint, or `isConfigured: false`", body = WebhookEndpointView)),
    security(("hmac" = ["webhooks:read"])))]
pub async fn get_endpoint(
    state: Data<AppState>,
    req: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    no_query(&req)?;
    let view = match auth.graph.webhooks.get(&auth.caller).await? {
        Some(e) => WebhookEndpointView::of(&e, None, state.clock.now()),
        None => WebhookEndpointView::none(),
    };
    Ok(wire::json(StatusCode::OK, &view))
}

/// Remove the webhook endpoint: nothing is delivered until one is configured again.
#[utoipa::path(delete, path = "/v1/webhooks/outbound", tag = "Platform",
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, description = "`isConfigured: false`", body = WebhookEndpointView),
        (status = 404, description = "No endpoint is configured", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn delete_endpoint(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    no_query(&req)?;
    let respond = |_: &WebhookEndpoint| json_response(StatusCode::OK, &WebhookEndpointView::none());
    mutation
        .run(respond, async move |auth, write| {
            auth.graph.webhooks.delete(&auth.caller, write).await
        })
        .await
}

/// Rotate the signing secret: the new one is returned once; the old one keeps signing for
/// 24 h (deliveries carry both signatures meanwhile).
#[utoipa::path(post, path = "/v1/webhooks/outbound/rotate-secret", tag = "Platform",
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, description = "The endpoint with its new `signingSecret`", body = WebhookEndpointView),
        (status = 404, description = "No endpoint is configured", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn rotate_secret(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    no_query(&req)?;
    let now = state.clock.now();
    let respond = move |c: &ConfiguredEndpoint| {
        json_response(StatusCode::OK, &WebhookEndpointView::configured(c, now))
    };
    mutation
        .run(respond, async move |auth, write| {
            auth.graph.webhooks.rotate_secret(&auth.caller, write).await
        })
        .await
}

/// One attempt to deliver an event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptView {
    /// `whd_…`
    pub id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When the request was sent.
    #[schema(value_type = String, format = DateTime)]
    pub attempted_at: String,
    /// Where it was sent.
    pub url: String,
    /// The receiver's HTTP status; null when it did not answer in time.
    pub http_status: Option<u16>,
    /// How long the attempt took, in milliseconds.
    pub latency_ms: u32,
    /// Why it did not count (timeout, connection refused, `HTTP 500`, a refused address);
    /// null when delivered.
    pub error: Option<String>,
}

/// One event's delivery, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"eventId": "evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC", "eventType": "webhook.test", "createdAt": "2026-12-06T09:00:00Z", "status": "delivered", "attemptCount": 1, "nextAttemptAt": null, "deliveredAt": "2026-12-06T09:00:00Z", "attempts": [{"id": "whd_01JFX0Q4ZK8D4W7T9YB3N5R2MD", "attempt": 1, "attemptedAt": "2026-12-06T09:00:00Z", "url": "https://hooks.example.com/custody", "httpStatus": 200, "latencyMs": 84, "error": null}]}))]
pub struct WebhookDeliveryView {
    /// `evt_…`: also the `webhook-id` header of every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// When the event was committed.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    /// `pending`, `delivered`, `failed` (attempted, then given up) or `skipped` (never sent:
    /// no endpoint, a disabled one, or a type it does not subscribe to).
    #[schema(example = "delivered")]
    pub status: String,
    /// Attempts so far.
    pub attempt_count: u32,
    /// When a pending delivery is tried next.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// When a receiver first answered 2xx.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<WebhookAttemptView>,
}

impl WebhookDeliveryView {
    fn of(record: &DeliveryRecord) -> Self {
        WebhookDeliveryView {
            event_id: record.event.id.to_string(),
            event_type: record.event.event_type.as_str().to_owned(),
            created_at: wire::timestamp(record.event.created_at),
            status: DeliveryView::of(&record.status).as_str().to_owned(),
            attempt_count: record.status.attempts,
            next_attempt_at: record.status.next_attempt_at.map(wire::timestamp),
            delivered_at: record.status.delivered_at.map(wire::timestamp),
            attempts: record
                .attempts
                .iter()
                .map(|a| WebhookAttemptView {
                    id: a.id.to_string(),
                    attempt: a.attempt,
                    attempted_at: wire::timestamp(a.attempted_at),
                    url: a.url.clone(),
                    http_status: a.response_status,
                    latency_ms: a.duration_ms,
                    error: a.error.clone(),
                })
                .collect(),
        }
    }
}

/// Send a `webhook.test` event to the endpoint now and answer with its delivery.
#[utoipa::path(post, path = "/v1/webhooks/outbound/test", tag = "Platform",
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 200, description = "The test event's delivery after its first attempt (`delivered`, or `pending` with the error and the next attempt)", body = WebhookDeliveryView),
        (status = 404, description = "No endpoint is configured", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn send_test(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    no_query(&req)?;
    let respond = |r: &DeliveryRecord| json_response(StatusCode::OK, &WebhookDeliveryView::of(r));
    mutation
        .run(respond, async move |auth, write| {
            auth.graph.webhooks.send_test(&auth.caller, write).await
        })
        .await
}

/// Query of `GET /v1/webhooks/outbound/deliveries`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListDeliveriesQuery {
    /// Only this event's delivery.
    pub event_id: Option<String>,
    /// Only events of this type.
    #[param(example = "transaction.status.updated")]
    pub event_type: Option<String>,
    /// `pending`, `delivered`, `failed` or `skipped`.
    #[param(example = "failed")]
    pub status: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// An event id: the page starts after it.
    #[serde(rename = "starting_after")]
    #[param(rename = "starting_after")]
    pub starting_after: Option<String>,
    /// An event id: the page ends before it.
    #[serde(rename = "ending_before")]
    #[param(rename = "ending_before")]
    pub ending_before: Option<String>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryList {
    /// Ascending by event id.
    pub items: Vec<WebhookDeliveryView>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// List deliveries: every event with its delivery status and attempts (time, HTTP status,
/// latency, error), filtered by event, type and status.
#[utoipa::path(get, path = "/v1/webhooks/outbound/deliveries", tag = "Platform",
    params(ListDeliveriesQuery),
    responses((status = 200, body = WebhookDeliveryList), (status = 400, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["webhooks:read"])))]
pub async fn list_deliveries(
    req: HttpRequest,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let q: ListDeliveriesQuery = query(&req)?;
    let page = PageParams {
        limit: q.limit,
        starting_after: q.starting_after,
        ending_before: q.ending_before,
    }
    .to_request(EventId::parse, EventId::ulid)?;
    let event = q
        .event_id
        .as_deref()
        .map(|raw| {
            EventId::parse(raw).map_err(|e| {
                ApiError::invalid_parameter(
                    "eventId",
                    "invalid_event_id",
                    format!("`eventId`: {e}"),
                )
            })
        })
        .transpose()?;
    let event_type = q
        .event_type
        .as_deref()
        .map(|raw| {
            EventType::parse(raw).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "eventType",
                    "invalid_event_type",
                    format!("`{raw}` is not an event type"),
                )
            })
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|raw| {
            DeliveryView::parse(raw).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "status",
                    "invalid_status",
                    "`status` must be one of pending, delivered, failed, skipped",
                )
            })
        })
        .transpose()?;
    let filter = DeliveryFilter {
        event,
        event_type,
        status,
    };
    let result = auth
        .graph
        .webhooks
        .deliveries(&auth.caller, filter, page)
        .await?;
    let items: Vec<WebhookDeliveryView> =
        result.items.iter().map(WebhookDeliveryView::of).collect();
    Ok(wire::json(
        StatusCode::OK,
        &List::page(items, result.has_more, Some(&page), |d| d.event_id.clone()),
    ))
}

/// A redelivery queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"eventId": "evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC", "status": "pending"}))]
pub struct RedeliveryView {
    /// The event queued.
    pub event_id: String,
    /// Always `pending`: the worker sends it within a second or two.
    pub status: String,
}

/// Send one event again (whatever its delivery status), now.
#[utoipa::path(post, path = "/v1/events/{eventId}/redeliver", tag = "Platform",
    params(("eventId" = String, Path, description = "`evt_…`"), ("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 202, description = "Queued", body = RedeliveryView),
        (status = 404, body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn redeliver_event(
    state: Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    let event = path_id(&path, "eventId", "invalid_event_id", EventId::parse)?;
    no_query(&req)?;
    let respond = |id: &EventId| {
        json_response(
            StatusCode::ACCEPTED,
            &RedeliveryView {
                event_id: id.to_string(),
                status: "pending".into(),
            },
        )
    };
    mutation
        .run(respond, async move |auth, write| {
            auth.graph
                .webhooks
                .redeliver(&auth.caller, event, write)
                .await
        })
        .await
}

/// Body of `POST /v1/webhooks/outbound/redeliver-failed`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"since": "2026-12-05T00:00:00Z"}))]
pub struct RedeliverFailedRequest {
    /// RFC 3339: events created at or after this whose delivery failed are sent again.
    #[schema(format = DateTime)]
    pub since: String,
}

/// How many events were queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"count": 12}))]
pub struct RedeliverFailedView {
    /// Events queued for delivery again.
    pub count: u64,
}

/// After an outage: send again every event since `since` whose delivery failed.
#[utoipa::path(post, path = "/v1/webhooks/outbound/redeliver-failed", tag = "Platform",
    request_body(content = RedeliverFailedRequest),
    params(("Idempotency-Key" = Option<String>, Header, description = "Honoured when sent")),
    responses(
        (status = 202, description = "Queued", body = RedeliverFailedView),
        (status = 422, description = "`invalid_since`: not RFC 3339, or in the future", body = crate::openapi::ErrorEnvelope),
    ),
    security(("hmac" = ["webhooks:write"])))]
pub async fn redeliver_failed(
    state: Data<AppState>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mutation =
        Mutation::begin(&state, &req, &body, KeyRule::Optional, Scope::WebhooksWrite).await?;
    no_query(&req)?;
    let input: RedeliverFailedRequest = json_body(&req, &body)?;
    let since = OffsetDateTime::parse(&input.since, &Rfc3339).map_err(|_| {
        ApiError::invalid_field(
            "since",
            "invalid_since",
            "`since` must be an RFC 3339 time, e.g. 2026-12-05T00:00:00Z",
        )
    })?;
    let respond = |r: &Redelivered| {
        json_response(
            StatusCode::ACCEPTED,
            &RedeliverFailedView { count: r.count },
        )
    };
    mutation
        .run(respond, async move |auth, write| {
            auth.graph
                .webhooks
                .redeliver_failed(&auth.caller, since, write)
                .await
        })
        .await
}
