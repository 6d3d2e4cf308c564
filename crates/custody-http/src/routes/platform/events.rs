//! `/v1/events[/{eventId}]`: the event log, to catch up after downtime or instead of webhooks
//! (docs/events.md). Scope `webhooks:read` (it reads what webhooks deliver).

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use custody_core::event::{EventLogQuery, EventType, LogPosition};
use custody_core::id::EventId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::events::{render_event, EventSchema};
use crate::input::{no_query, path_id, query};
use crate::routes::Endpoints;
use crate::wire;

pub(super) fn endpoints(api: &mut Endpoints) {
    api.add(__path_list_events, list_events)
        .add(__path_get_event, get_event);
}

/// Query of `GET /v1/events`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// A `pagination.nextCursor` from an earlier page: the page starts after it. Absent: the
    /// oldest event still kept.
    pub after: Option<String>,
    /// Comma-separated event types (`transaction.status.updated,balance.updated`): only these.
    pub types: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

/// Where to read on from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLogPagination {
    /// More events are available right now: read again with `nextCursor` at once.
    pub has_more: bool,
    /// Always set once you have a position: the cursor after the last event returned (your
    /// `after` when the page is empty). Keep it and pass it as `after` next time; an event
    /// committed later is always after it. Null only when the log has given you nothing yet.
    #[schema(example = "cur_0000000000000f3a00000000000004d201JFX0R8M2Q6C1V9W3E5T7Y4KE")]
    pub next_cursor: Option<String>,
}

/// A page of the event log, in log order.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Oldest first, in the log's order (commit order: see docs/events.md).
    pub items: Vec<EventSchema>,
    /// Where to read on from.
    pub pagination: EventLogPagination,
}

#[derive(Serialize)]
struct EventPage {
    items: Vec<Value>,
    pagination: EventLogPagination,
}

fn parse_query(q: ListEventsQuery) -> Result<EventLogQuery, ApiError> {
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "limit",
                    "invalid_limit",
                    "`limit` must be an integer between 1 and 200",
                )
            })?,
    };
    let after = q
        .after
        .as_deref()
        .map(|raw| {
            LogPosition::parse_cursor(raw).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "after",
                    "invalid_cursor",
                    "`after` must be a `pagination.nextCursor` of this endpoint (`cur_…`)",
                )
            })
        })
        .transpose()?;
    let mut types = Vec::new();
    if let Some(raw) = q.types.as_deref() {
        for name in raw.split(',') {
            let t = EventType::parse(name.trim()).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "types",
                    "invalid_event_type",
                    format!(
                        "`types`: unknown event type `{name}` (one of {})",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                )
            })?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    Ok(EventLogQuery {
        after,
        types,
        limit,
    })
}

/// Read the event log: your events in commit order, from a cursor that never skips an event.
#[utoipa::path(get, path = "/v1/events", tag = "Platform", params(ListEventsQuery),
    responses((status = 200, body = EventList), (status = 400, body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["webhooks:read"])))]
pub async fn list_events(req: HttpRequest, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let q = parse_query(query(&req)?)?;
    let page = auth.graph.events.log(&auth.caller, &q).await?;
    let next = page.items.last().map(|l| l.position).or(q.after);
    let items = page
        .items
        .iter()
        .map(|l| render_event(&l.event))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::from(custody_core::error::Error::Internal(e.to_string())))?;
    Ok(wire::json(
        StatusCode::OK,
        &EventPage {
            items,
            pagination: EventLogPagination {
                has_more: page.has_more,
                next_cursor: next.map(|p| p.cursor()),
            },
        },
    ))
}

/// Read one event.
#[utoipa::path(get, path = "/v1/events/{eventId}", tag = "Platform",
    params(("eventId" = String, Path, description = "`evt_…`")),
    responses((status = 200, body = EventSchema), (status = 400, body = crate::openapi::ErrorEnvelope), (status = 404, description = "No such event (or older than the retention period)", body = crate::openapi::ErrorEnvelope)),
    security(("hmac" = ["webhooks:read"])))]
pub async fn get_event(
    req: HttpRequest,
    path: web::Path<String>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "eventId", "invalid_event_id", EventId::parse)?;
    no_query(&req)?;
    let event = auth.graph.events.get(&auth.caller, id).await?;
    let body = render_event(&event)
        .map_err(|e| ApiError::from(custody_core::error::Error::Internal(e.to_string())))?;
    Ok(wire::json(StatusCode::OK, &body))
}
