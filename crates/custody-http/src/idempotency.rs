//! Idempotency at the edge (ARCHITECTURE §6). The rules live in
//! [`custody_core::idempotency`]; this module applies them in the order the spec fixes. A
//! mutating handler is three steps:
//!
//! ```text
//! let mutation = Mutation::begin(&state, &req, &body, KeyRule::Required, Scope::…).await?;
//! let input = /* parse and validate the body */;
//! mutation.run(respond, async move |auth, write| /* one core use case */).await
//! ```
//!
//! 1. [`Mutation::begin`] parses `Idempotency-Key` (400 when missing where required or
//!    malformed), then authenticates (401) and applies the approval gate (403);
//! 2. the handler validates the body (400/415/422): nothing has been stored yet;
//! 3. [`Mutation::run`] reserves the key for this request's fingerprint, or answers at once:
//!    the stored response replayed byte for byte with `Idempotency-Replayed: true`, 409
//!    `idempotency_conflict` for a different request, 409 `idempotency_key_in_flight` with
//!    `Retry-After` while the first is still running;
//! 4. the use case writes the rendered response with its change in one database transaction
//!    (the [`IdempotentWrite`] it is handed); `run` answers with exactly those bytes, or, when
//!    the use case failed, releases the key so the partner may retry. An error response is
//!    never stored: only a committed change has a response worth replaying.
//!
//! Completion and release name this request's reservation (its
//! [`ReservationToken`]), not just the key. If the request ran so long that a later request
//! with the same key took the key over (below), its completion matches nothing: the use case
//! fails with [`Error::IdempotencyKeyTakenOver`] and commits nothing, the answer is 409
//! `idempotency_key_in_flight` with `Retry-After` (a retry is answered as the request now
//! holding the key decides), and its release leaves the successor's reservation alone.
//!
//! A request abandoned mid-flight (the client hung up and actix dropped the handler) releases
//! its key from a background task; if the change had committed, its record is already
//! complete and the release leaves it alone. A reservation left behind by a process that died
//! is taken over by the next reservation of its key once its instance has stopped heartbeating
//! ([`HEARTBEAT_TIMEOUT`](custody_core::instance::HEARTBEAT_TIMEOUT), seconds), or at the
//! latest once it is older than [`IN_FLIGHT_LEASE`](custody_core::idempotency::IN_FLIGHT_LEASE).

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use custody_core::api_key::Scope;
use custody_core::error::Error;
use custody_core::id::TenantId;
use custody_core::idempotency::{
    Decision, Fingerprint, IdempotencyKey, IdempotencyKeyError, ReservationToken, StoredResponse,
    RETENTION,
};
use custody_core::instance::InstanceId;
use custody_core::ports::{DynClock, DynIdempotencyStore, Reservation};
use custody_core::services::IdempotentWrite;
use custody_embed::IdempotencyCacheSettings;
use serde::{Deserialize, Serialize};

use crate::auth::{authenticate, path_and_query, Authenticated};
use crate::error::ApiError;
use crate::graph::AppState;

/// `[idempotency]`: the idempotency cache (docs/operations.md). A completed record is immutable until
/// it expires, so a replay of it is answered from memory, exactly, without reading the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencySettings {
    /// The most bytes of stored responses held per environment (0: no cache).
    pub cache_bytes: usize,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        IdempotencySettings {
            cache_bytes: 8 * 1024 * 1024,
        }
    }
}

impl IdempotencySettings {
    /// The composition's form.
    pub const fn cache(&self) -> IdempotencyCacheSettings {
        IdempotencyCacheSettings {
            max_bytes: self.cache_bytes,
        }
    }
}

/// `Idempotency-Replayed: true` marks a replayed response.
pub const IDEMPOTENCY_REPLAYED: HeaderName = HeaderName::from_static("idempotency-replayed");

/// Whether an endpoint requires the header or merely honours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// Connect and Accounts mutations, transfers and withdrawals.
    Required,
    /// Every other mutating call.
    Optional,
}

/// A mutating request that has passed the header check, authentication and the gate.
pub struct Mutation {
    auth: Authenticated,
    clock: DynClock,
    /// This process, named on the reservation so a retry may take it once the process dies.
    instance: Option<InstanceId>,
    key: Option<IdempotencyKey>,
    fingerprint: Fingerprint,
}

/// The outcome of [`Mutation::reserve`].
enum Proceed {
    /// Run the request.
    Run(Reserved),
    /// Answer with this (a replay); the request does not run again.
    Answer(HttpResponse),
}

/// A reserved key (or no key): the licence to run the request once.
struct Reserved {
    held: Option<Held>,
}

struct Held {
    store: DynIdempotencyStore,
    tenant: TenantId,
    key: IdempotencyKey,
    /// This request's reservation: completion and release name it, so once another request
    /// has taken the key over this one can touch neither its record nor its reservation.
    token: ReservationToken,
    finished: bool,
}

impl Mutation {
    /// Step 1 of the module doc: header, then authentication, the approval gate and the
    /// endpoint's scope.
    ///
    /// # Errors
    /// 400 `idempotency_key_required` / `invalid_idempotency_key`; then as
    /// [`authenticate`].
    pub async fn begin(
        state: &AppState,
        req: &HttpRequest,
        body: &[u8],
        rule: KeyRule,
        scope: Scope,
    ) -> Result<Mutation, ApiError> {
        let key = Self::key(req, rule)?;
        let auth = authenticate(state, req, body).await?;
        Self::authorised(state, req, body, key, auth, scope)
    }

    /// As [`begin`](Mutation::begin), with `gate` judging the authenticated caller before
    /// anything else is (the header, the scope): for a path that must answer 404 to a caller
    /// it does not exist for, whatever else is wrong with the request. Authenticates once.
    ///
    /// # Errors
    /// As [`begin`](Mutation::begin), after `gate`'s.
    pub async fn begin_gated(
        state: &AppState,
        req: &HttpRequest,
        body: &[u8],
        rule: KeyRule,
        scope: Scope,
        gate: impl FnOnce(&Authenticated) -> Result<(), ApiError>,
    ) -> Result<Mutation, ApiError> {
        let auth = authenticate(state, req, body).await?;
        gate(&auth)?;
        let key = Self::key(req, rule)?;
        Self::authorised(state, req, body, key, auth, scope)
    }

    /// The `Idempotency-Key` header, parsed.
    fn key(req: &HttpRequest, rule: KeyRule) -> Result<Option<IdempotencyKey>, ApiError> {
        match req.headers().get("idempotency-key") {
            Some(raw) => Ok(Some(IdempotencyKey::parse(raw.as_bytes())?)),
            None if rule == KeyRule::Required => Err(IdempotencyKeyError::Missing.into()),
            None => Ok(None),
        }
    }

    /// The scope check, and the mutation.
    fn authorised(
        state: &AppState,
        req: &HttpRequest,
        body: &[u8],
        key: Option<IdempotencyKey>,
        auth: Authenticated,
        scope: Scope,
    ) -> Result<Mutation, ApiError> {
        // The endpoint's scope is checked here as well as in the use case: a replay answers
        // from the record without running the use case, and must not hand a key without the
        // scope what another key of the tenant created.
        auth.caller.require(scope)?;
        let fingerprint = Fingerprint::of(req.method().as_str(), path_and_query(req), body);
        Ok(Mutation {
            auth,
            clock: state.clock.clone(),
            instance: state.instance.clone(),
            key,
            fingerprint,
        })
    }

    /// Steps 3 and 4: reserve the key (or answer from its record), run the use case once with
    /// what it must write in its transaction, and answer with what it committed. `respond`
    /// renders the use case's result; the same bytes are stored for replay.
    ///
    /// # Errors
    /// 409 `idempotency_conflict`; 409 `idempotency_key_in_flight`; 503 store trouble; the use
    /// case's error, rendered (after the key is released).
    pub async fn run<T>(
        self,
        respond: impl Fn(&T) -> StoredResponse + Send + Sync,
        call: impl AsyncFnOnce(&Authenticated, Option<IdempotentWrite<'_, T>>) -> Result<T, Error>,
    ) -> Result<HttpResponse, ApiError> {
        let reserved = match self.reserve().await? {
            Proceed::Answer(response) => return Ok(response),
            Proceed::Run(reserved) => reserved,
        };
        let respond: &(dyn Fn(&T) -> StoredResponse + Send + Sync) = &respond;
        let result = call(&self.auth, reserved.write(respond)).await;
        reserved.finish(result, respond).await
    }

    /// Step 3: reserve the key, or answer from its record.
    async fn reserve(&self) -> Result<Proceed, ApiError> {
        let Some(key) = &self.key else {
            return Ok(Proceed::Run(Reserved { held: None }));
        };
        let store = self.auth.graph.idempotency.clone();
        let tenant = self.auth.caller.tenant_id;
        let now = self.clock.now();
        // An in-flight record left by a dead process (its instance stopped heartbeating, or
        // past the lease) is taken over by this reservation, atomically in the store.
        let reservation = store
            .reserve(
                tenant,
                key,
                &self.fingerprint,
                now,
                now + RETENTION,
                self.instance.clone(),
            )
            .await
            .map_err(Error::from)?;
        match reservation {
            Reservation::Reserved(token) => Ok(Proceed::Run(Reserved {
                held: Some(Held {
                    store,
                    tenant,
                    key: key.clone(),
                    token,
                    finished: false,
                }),
            })),
            Reservation::Existing(record) => match record.decide(&self.fingerprint) {
                Decision::Replay(stored) => {
                    crate::metrics::record_replay(self.auth.caller.environment);
                    let mut response = to_http(&stored);
                    response
                        .headers_mut()
                        .insert(IDEMPOTENCY_REPLAYED, HeaderValue::from_static("true"));
                    Ok(Proceed::Answer(response))
                }
                Decision::Conflict => {
                    crate::metrics::record_conflict(
                        self.auth.caller.environment,
                        "different_request",
                    );
                    Err(ApiError::idempotency_conflict())
                }
                Decision::InFlight { retry_after_secs } => {
                    crate::metrics::record_conflict(self.auth.caller.environment, "in_flight");
                    Err(ApiError::idempotency_in_flight(retry_after_secs))
                }
            },
        }
    }
}

impl Reserved {
    /// What the service writes in its transaction: the key and the renderer. `None` without
    /// a key.
    fn write<'a, T>(
        &'a self,
        respond: &'a (dyn Fn(&T) -> StoredResponse + Send + Sync),
    ) -> Option<IdempotentWrite<'a, T>> {
        self.held.as_ref().map(|held| IdempotentWrite {
            key: &held.key,
            reservation: &held.token,
            respond,
        })
    }

    /// Step 4: the response the service committed, or the error after releasing the key.
    async fn finish<T>(
        mut self,
        result: Result<T, Error>,
        respond: &(dyn Fn(&T) -> StoredResponse + Send + Sync),
    ) -> Result<HttpResponse, ApiError> {
        match result {
            Ok(value) => {
                if let Some(held) = &mut self.held {
                    held.finished = true;
                }
                Ok(to_http(&respond(&value)))
            }
            Err(e) => {
                if let Some(held) = &mut self.held {
                    match held
                        .store
                        .release(held.tenant, &held.key, &held.token)
                        .await
                    {
                        // Only now: dropped during the release, `Drop` releases it instead.
                        Ok(()) => held.finished = true,
                        Err(release) => {
                            tracing::warn!(error = %release, "could not release an idempotency key");
                        }
                    }
                }
                Err(e.into())
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The handler was dropped mid-request: free the key unless the change committed.
        let store = self.store.clone();
        let tenant = self.tenant;
        let key = self.key.clone();
        let token = self.token.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.release(tenant, &key, &token).await {
                    tracing::warn!(error = %e, "could not release an abandoned idempotency key");
                }
            });
        }
    }
}

/// 201 when the call created the resource, 200 when it answered with the one that existed.
pub const fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// A JSON response as it will be stored and replayed.
pub fn json_response<B: Serialize>(status: StatusCode, body: &B) -> StoredResponse {
    let body = serde_json::to_vec(body).unwrap_or_else(|e| {
        tracing::error!(error = %e, "response did not serialise");
        b"{}".to_vec()
    });
    StoredResponse {
        status: status.as_u16(),
        headers: vec![(
            CONTENT_TYPE.as_str().to_owned(),
            "application/json".to_owned(),
        )],
        body,
    }
}

/// Builds the HTTP response from a stored one, byte for byte.
pub fn to_http(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.append_header((name, value));
        }
    }
    response.body(stored.body.clone())
}

#[cfg(test)]
mod tests {
    use config::{Config, File, FileFormat};

    use super::*;

    fn parse(toml: &str) -> Result<IdempotencySettings, config::ConfigError> {
        Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()?
            .try_deserialize()
    }

    #[test]
    fn the_cache_is_on_by_default_bounded_and_can_be_turned_off() {
        let default = IdempotencySettings::default();
        assert_eq!(default.cache().max_bytes, 8 * 1024 * 1024);
        assert!(default.cache().enabled());
        assert_eq!(parse("").unwrap(), default);
        let off = parse("cache_bytes = 0").unwrap();
        assert!(!off.cache().enabled());
        assert!(
            parse("cache_byte = 1").is_err(),
            "a misspelt key is refused"
        );
    }
}
