//! Webhook delivery: the worker's use cases over the outbox.
//!
//! A pass [claims](WebhookDelivery::claim) due events fairly across tenants (a tenant with a
//! batch in flight is skipped, so one slow or dead receiver holds back only its own tenant),
//! then [delivers](WebhookDelivery::deliver) each claimed event: no endpoint, a disabled one or
//! an unsubscribed type ends the event as *skipped* (nothing sent); otherwise the URL is
//! vetted again on the addresses its name resolves to *now*, the request goes to the vetted
//! address (DNS rebinding cannot reach inside), signed with every live secret, and the attempt
//! is recorded with its outcome: 2xx delivered; `410` failed and the endpoint disabled;
//! anything else retried on [`RETRY_SCHEDULE`](crate::webhook::RETRY_SCHEDULE) (or after a
//! longer `Retry-After`) until [`MAX_ATTEMPTS`](crate::webhook::MAX_ATTEMPTS). An endpoint
//! whose attempts have all failed for [`DISABLE_AFTER_FAILING`] is disabled; disabling emits
//! `webhook_endpoint.disabled` in the same transaction.
//!
//! At least once: the claim's lease outlasts a batch (`per_tenant` × the timeout), so no
//! other worker takes an event while it is being sent; a worker that dies before recording
//! only delays the event until the lease ends, and the event is then sent again (receivers
//! deduplicate on `webhook-id`, the event id).

use std::net::SocketAddr;

use time::{Duration, OffsetDateTime};

use super::booking::emit;
use crate::environment::Environment;
use crate::error::Error;
use crate::event::{EventType, Subject};
use crate::id::{DeliveryId, WebhookEndpointId};
use crate::outbox::{AttemptOutcome, ClaimedEvent, DeliveryAttempt};
use crate::ports::{
    DynClock, DynEventRenderer, DynIdGenerator, DynOutboxStore, DynSecretSealer, DynUnitOfWork,
    DynWebhookEndpointStore, DynWebhookTransport, StoreError, WebhookRequest, WebhookResponse,
};
use crate::webhook::{
    check_address, next_attempt_at, signed_headers, DisabledReason, EndpointStatus, SigningSecret,
    Target, UrlRefusal, WebhookEndpoint, WebhookUrl, DELIVERY_TIMEOUT, DISABLE_AFTER_FAILING,
};

/// At most this many of a tenant's due events are skipped per statement once a full batch found
/// no enabled endpoint ([`OutboxStore::skip_due_without_endpoint`]): a bounded write, so
/// SQLite's single writer is not held for a whole backlog at once; a larger backlog goes over
/// the following passes (the full batch wakes the worker again).
///
/// [`OutboxStore::skip_due_without_endpoint`]: crate::ports::OutboxStore::skip_due_without_endpoint
pub const SKIP_DUE_LIMIT: u32 = 1_000;

/// How the worker claims and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Tenants served per claim.
    pub tenants_per_claim: u32,
    /// Events of one tenant per claim (sent one after another).
    pub per_tenant: u32,
    /// Only a 2xx within this counts (15 s).
    pub timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            tenants_per_claim: 16,
            per_tenant: 10,
            timeout: DELIVERY_TIMEOUT,
        }
    }
}

impl DeliverySettings {
    /// The claim's lease: the whole batch of a tenant at its timeout, plus a minute.
    pub fn lease(&self) -> Duration {
        self.timeout * i32::try_from(self.per_tenant.max(1)).unwrap_or(i32::MAX / 2)
            + Duration::minutes(1)
    }
}

/// What became of one claimed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Sent: the attempt as recorded, and what comes next.
    Attempted(DeliveryAttempt, AttemptOutcome),
    /// Not sent (no endpoint, disabled, unsubscribed).
    Skipped,
}

/// Why a URL cannot be sent to right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VetError {
    /// The policy refuses it (or what it resolves to).
    Refused(UrlRefusal),
    /// The name does not resolve.
    Unresolvable(String),
}

impl std::fmt::Display for VetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VetError::Refused(r) => write!(f, "refused: {}", r.message),
            VetError::Unresolvable(e) => write!(f, "does not resolve: {e}"),
        }
    }
}

/// The delivery worker's use cases in one environment.
#[derive(Clone)]
pub struct WebhookDelivery {
    environment: Environment,
    uow: DynUnitOfWork,
    outbox: DynOutboxStore,
    endpoints: DynWebhookEndpointStore,
    sealer: DynSecretSealer,
    transport: DynWebhookTransport,
    renderer: DynEventRenderer,
    /// Renders the endpoint's own events (`webhook_endpoint.disabled`).
    pub(crate) snapshots: crate::event::DynSnapshotRenderer,
    clock: DynClock,
    ids: DynIdGenerator,
    settings: DeliverySettings,
}

impl WebhookDelivery {
    /// Wires the worker.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.snapshots.as_ref(),
        }
    }

    /// Builds the delivery worker of one environment.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        environment: Environment,
        uow: DynUnitOfWork,
        outbox: DynOutboxStore,
        endpoints: DynWebhookEndpointStore,
        sealer: DynSecretSealer,
        transport: DynWebhookTransport,
        renderer: DynEventRenderer,
        snapshots: crate::event::DynSnapshotRenderer,
        clock: DynClock,
        ids: DynIdGenerator,
        settings: DeliverySettings,
    ) -> WebhookDelivery {
        WebhookDelivery {
            environment,
            uow,
            outbox,
            endpoints,
            sealer,
            transport,
            renderer,
            snapshots,
            clock,
            ids,
            settings,
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> DeliverySettings {
        self.settings
    }

    /// Claims due events of up to `tenants` tenants (see [`OutboxStore::claim_fair`]).
    ///
    /// [`OutboxStore::claim_fair`]: crate::ports::OutboxStore::claim_fair
    ///
    /// # Errors
    /// Store trouble.
    pub async fn claim(&self, tenants: u32) -> Result<Vec<ClaimedEvent>, Error> {
        Ok(self
            .outbox
            .claim_fair(
                self.clock.now(),
                self.settings.lease(),
                tenants.max(1),
                self.settings.per_tenant.max(1),
            )
            .await?)
    }

    /// One pass without concurrency: claim, then deliver everything claimed in turn. The
    /// worker in `custody serve` delivers each tenant's batch in its own task instead.
    ///
    /// # Errors
    /// Store trouble while claiming; an event whose delivery failed to record is left to its
    /// lease.
    pub async fn run_once(&self) -> Result<Vec<Delivered>, Error> {
        let claimed = self.claim(self.settings.tenants_per_claim).await?;
        let mut out = Vec::with_capacity(claimed.len());
        for batch in claimed.chunk_by(|a, b| a.event.tenant_id == b.event.tenant_id) {
            out.extend(self.deliver_batch(batch).await?);
        }
        Ok(out)
    }

    /// Delivers one tenant's claimed batch in order, like [`deliver`](Self::deliver) on each
    /// event, except that the events with nothing to send (no endpoint, a disabled one, an
    /// unsubscribed type, as the endpoint stands when the batch starts) are skipped together
    /// in one write ([`OutboxStore::skip_many`]) instead of one each. The others are then
    /// delivered one after another, each reading the endpoint again (an endpoint disabled by
    /// one of them skips the rest). Returns what became of each event, in batch order.
    ///
    /// A full batch (`per_tenant` events) that found no endpoint, or a disabled one, also skips
    /// up to 1,000 (`SKIP_DUE_LIMIT`) more of the tenant's due events in one write
    /// ([`OutboxStore::skip_due_without_endpoint`]), which they would meet anyway when claimed.
    ///
    /// [`OutboxStore::skip_many`]: crate::ports::OutboxStore::skip_many
    /// [`OutboxStore::skip_due_without_endpoint`]: crate::ports::OutboxStore::skip_due_without_endpoint
    ///
    /// # Errors
    /// Store trouble (the events not yet recorded are retried when their lease ends); a batch
    /// spanning several tenants is an internal error.
    pub async fn deliver_batch(&self, batch: &[ClaimedEvent]) -> Result<Vec<Delivered>, Error> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let tenant = first.event.tenant_id;
        if batch.iter().any(|c| c.event.tenant_id != tenant) {
            return Err(Error::Internal(
                "a delivery batch spans several tenants".into(),
            ));
        }
        let endpoint = match self.endpoints.get(tenant).await {
            Ok(endpoint) => Some(endpoint),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let sendable = |claimed: &ClaimedEvent| {
            endpoint.as_ref().is_some_and(|e| {
                e.status == EndpointStatus::Enabled && e.subscribes_to(claimed.event.event_type)
            })
        };
        let skipped: Vec<_> = batch
            .iter()
            .filter(|c| !sendable(c))
            .map(|c| c.event.id)
            .collect();
        if !skipped.is_empty() {
            self.outbox.skip_many(tenant, &skipped).await?;
        }
        let nowhere = endpoint
            .as_ref()
            .is_none_or(|e| e.status != EndpointStatus::Enabled);
        if nowhere && batch.len() >= usize::try_from(self.settings.per_tenant).unwrap_or(usize::MAX)
        {
            // A full batch and nowhere to send: the rest of the tenant's backlog goes in bulk
            // writes rather than a claim and a skip per batch (issue 18). The store reads the
            // endpoint again in that statement, so one configured meanwhile loses nothing.
            self.outbox
                .skip_due_without_endpoint(tenant, self.clock.now(), SKIP_DUE_LIMIT)
                .await?;
        }
        let mut out = Vec::with_capacity(batch.len());
        for claimed in batch {
            out.push(if sendable(claimed) {
                self.deliver(claimed).await?
            } else {
                Delivered::Skipped
            });
        }
        Ok(out)
    }

    /// Delivers one claimed event (module doc).
    ///
    /// # Errors
    /// Store trouble (the event is then retried when its lease ends).
    pub async fn deliver(&self, claimed: &ClaimedEvent) -> Result<Delivered, Error> {
        let event = &claimed.event;
        let endpoint = match self.endpoints.get(event.tenant_id).await {
            Ok(endpoint) => Some(endpoint),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let endpoint = match endpoint {
            Some(e) if e.status == EndpointStatus::Enabled && e.subscribes_to(event.event_type) => {
                e
            }
            _ => {
                self.outbox.skip(event.tenant_id, event.id).await?;
                return Ok(Delivered::Skipped);
            }
        };
        self.attempt(&endpoint, claimed).await
    }

    /// Sends one attempt of `claimed` to `endpoint` and records it (used by the test delivery
    /// too, which goes to a disabled endpoint as well).
    ///
    /// # Errors
    /// Store trouble.
    pub async fn attempt(
        &self,
        endpoint: &WebhookEndpoint,
        claimed: &ClaimedEvent,
    ) -> Result<Delivered, Error> {
        let event = &claimed.event;
        let started = self.clock.now();
        let response = match self.request(endpoint, claimed, started).await {
            Ok(request) => self.transport.send(request).await,
            Err(refused) => WebhookResponse {
                status: None,
                retry_after: None,
                error: Some(refused),
                duration_ms: 0,
            },
        };
        let now = self.clock.now();
        let made = claimed.attempts.saturating_add(1);
        let ok = response.status.is_some_and(|s| (200..300).contains(&s));
        let gone = response.status == Some(410);
        let error = match (&response.error, response.status) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(s)) if (300..400).contains(&s) => {
                Some(format!("HTTP {s}: redirects are not followed"))
            }
            (None, Some(s)) if !ok => Some(format!("HTTP {s}")),
            (None, None) if !ok => Some("no response".to_owned()),
            _ => None,
        };
        let outcome = if ok {
            AttemptOutcome::Delivered
        } else if gone {
            AttemptOutcome::GiveUp
        } else {
            match next_attempt_at(event.id, made, now, response.retry_after) {
                Some(at) => AttemptOutcome::RetryAt(at),
                None => AttemptOutcome::GiveUp,
            }
        };
        let attempt = DeliveryAttempt {
            id: DeliveryId::from_ulid(self.ids.ulid()),
            event_id: event.id,
            tenant_id: event.tenant_id,
            attempt: made,
            attempted_at: started,
            url: endpoint.url.as_str().to_owned(),
            response_status: response.status,
            error,
            duration_ms: response.duration_ms,
        };
        self.outbox.record_attempt(&attempt, outcome).await?;
        let health = if ok {
            Health::Succeeded
        } else if gone {
            Health::Gone
        } else {
            Health::Failed
        };
        self.note_health(endpoint.id, endpoint.tenant_id, health, now)
            .await?;
        Ok(Delivered::Attempted(attempt, outcome))
    }

    /// The signed request, or why it may not be sent.
    async fn request(
        &self,
        endpoint: &WebhookEndpoint,
        claimed: &ClaimedEvent,
        now: OffsetDateTime,
    ) -> Result<WebhookRequest, String> {
        let addr = self.vet(&endpoint.url).await.map_err(|e| e.to_string())?;
        let body = self
            .renderer
            .render(&claimed.event)
            .map_err(|e| format!("the event could not be rendered: {e}"))?;
        let secrets = self.secrets(endpoint, now).map_err(|e| e.to_string())?;
        let headers = signed_headers(&secrets, claimed.event.id, now.unix_timestamp(), &body);
        Ok(WebhookRequest {
            url: endpoint.url.as_str().to_owned(),
            addr,
            headers,
            body,
            timeout: self.settings.timeout,
        })
    }

    /// The live secrets, newest first.
    fn secrets(
        &self,
        endpoint: &WebhookEndpoint,
        now: OffsetDateTime,
    ) -> Result<Vec<SigningSecret>, Error> {
        let context = endpoint.id.to_string();
        let open = |sealed: &[u8]| -> Result<SigningSecret, Error> {
            let secret = self.sealer.open(sealed, context.as_bytes())?;
            std::str::from_utf8(secret.expose())
                .ok()
                .and_then(SigningSecret::parse)
                .ok_or_else(|| Error::Internal("a stored signing secret is malformed".into()))
        };
        let mut secrets = vec![open(&endpoint.secret_sealed)?];
        if let Some(previous) = endpoint.previous_secret_at(now) {
            secrets.push(open(previous)?);
        }
        Ok(secrets)
    }

    /// Resolves the URL's host now and checks every address it resolves to; the address to
    /// connect to.
    ///
    /// # Errors
    /// [`VetError`].
    pub(crate) async fn vet(&self, url: &WebhookUrl) -> Result<SocketAddr, VetError> {
        let target = url.target().ok_or_else(|| {
            VetError::Refused(UrlRefusal {
                code: "invalid_webhook_url",
                message: "the URL has no host".into(),
            })
        })?;
        let (ips, port) = match target {
            Target::Ip(ip, port) => (vec![ip], port),
            Target::Name(name, port) => (
                self.transport
                    .resolve(&name, port)
                    .await
                    .map_err(VetError::Unresolvable)?,
                port,
            ),
        };
        if ips.is_empty() {
            return Err(VetError::Unresolvable("no address".into()));
        }
        // Every address must pass: a name resolving to one public and one private address
        // is refused rather than raced.
        for ip in &ips {
            check_address(*ip, self.environment).map_err(VetError::Refused)?;
        }
        Ok(SocketAddr::new(ips[0], port))
    }

    /// Tracks whether the endpoint is failing, and disables it on `410` or after
    /// [`DISABLE_AFTER_FAILING`] of failures; disabling emits `webhook_endpoint.disabled`.
    async fn note_health(
        &self,
        id: WebhookEndpointId,
        tenant: crate::id::TenantId,
        health: Health,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let mut tx = self.uow.begin().await?;
        let mut endpoint = match tx.lock_webhook_endpoint(tenant).await {
            Ok(e) if e.id == id => e,
            // Deleted or replaced meanwhile: nothing to track.
            Ok(_) | Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let disable = match health {
            Health::Succeeded => {
                if endpoint.failing_since.is_none() {
                    return Ok(());
                }
                endpoint.failing_since = None;
                None
            }
            Health::Gone => Some(DisabledReason::Gone),
            Health::Failed => match endpoint.failing_since {
                None => {
                    endpoint.failing_since = Some(now);
                    None
                }
                Some(since) if now - since >= DISABLE_AFTER_FAILING => {
                    Some(DisabledReason::RepeatedFailure)
                }
                Some(_) => return Ok(()),
            },
        };
        if endpoint.failing_since.is_none() && matches!(health, Health::Gone) {
            endpoint.failing_since = Some(now);
        }
        if let Some(reason) = disable {
            if endpoint.status == EndpointStatus::Disabled {
                return Ok(());
            }
            let before = endpoint.snapshot();
            endpoint.status = EndpointStatus::Disabled;
            endpoint.disabled_reason = Some(reason.as_str().to_owned());
            endpoint.disabled_at = Some(now);
            endpoint.version += 1;
            endpoint.updated_at = now;
            tx.update_webhook_endpoint(&endpoint).await?;
            emit(
                tx.as_mut(),
                self.events(),
                tenant,
                EventType::WebhookEndpointDisabled,
                Subject::WebhookEndpoint(&endpoint.snapshot()),
                Some(Subject::WebhookEndpoint(&before)),
                now,
            )
            .await?;
        } else {
            tx.update_webhook_endpoint(&endpoint).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Succeeded,
    Gone,
    Failed,
}

#[cfg(test)]
mod tests;
