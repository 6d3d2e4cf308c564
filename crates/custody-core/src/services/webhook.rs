//! Webhook endpoint management: configure, read, delete, rotate the secret, send a test event,
//! read the delivery log and redeliver. One endpoint per tenant and environment.
//!
//! Events committed while no endpoint is configured (or while it is disabled, or of a type it
//! does not subscribe to) are not delivered: the worker marks them `skipped`. They stay in the
//! event log (`GET /v1/events`), and `POST /v1/events/{id}/redeliver` sends one on request.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::webhook_delivery::{Delivered, VetError, WebhookDelivery};
use super::{commit_with, IdempotentWrite};
use crate::api_key::Scope;
use crate::caller::Caller;
use crate::environment::Environment;
use crate::error::{Error, ResourceKind};
use crate::event::{Event, EventType, Subject};
use crate::id::{EventId, WebhookEndpointId};
use crate::outbox::{ClaimedEvent, DeliveryFilter, DeliveryRecord};
use crate::page::{Page, PageRequest};
use crate::ports::{
    DynClock, DynIdGenerator, DynOutboxStore, DynSecretSealer, DynUnitOfWork,
    DynWebhookEndpointStore, StoreError, StoreTx,
};
use crate::webhook::{
    EndpointStatus, SigningSecret, WebhookEndpoint, WebhookUrl, ROTATION_OVERLAP,
};

/// What `PUT /v1/webhooks/outbound` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureEndpoint {
    /// The URL as the partner wrote it.
    pub url: String,
    /// `None`: every event type.
    pub subscribed: Option<BTreeSet<EventType>>,
}

/// An endpoint after a change, with its secret when the change generated one (shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfiguredEndpoint {
    /// The endpoint as stored.
    pub endpoint: WebhookEndpoint,
    /// The new secret, when one was generated (first configuration, a new URL, a rotation).
    pub signing_secret: Option<SigningSecret>,
}

/// How many events a bulk redelivery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redelivered {
    /// Events made pending again.
    pub count: u64,
}

/// Endpoint management use cases of one environment.
#[derive(Clone)]
pub struct WebhookService {
    environment: Environment,
    uow: DynUnitOfWork,
    endpoints: DynWebhookEndpointStore,
    outbox: DynOutboxStore,
    sealer: DynSecretSealer,
    delivery: WebhookDelivery,
    clock: DynClock,
    ids: DynIdGenerator,
}

impl WebhookService {
    /// Wires the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        environment: Environment,
        uow: DynUnitOfWork,
        endpoints: DynWebhookEndpointStore,
        outbox: DynOutboxStore,
        sealer: DynSecretSealer,
        delivery: WebhookDelivery,
        clock: DynClock,
        ids: DynIdGenerator,
    ) -> WebhookService {
        WebhookService {
            environment,
            uow,
            endpoints,
            outbox,
            sealer,
            delivery,
            clock,
            ids,
        }
    }

    /// Begins a unit of work and locks the caller's endpoint in it.
    ///
    /// # Errors
    /// `NotFound(WebhookEndpoint)` when the tenant has none; store errors.
    async fn lock_endpoint(
        &self,
        caller: &Caller,
    ) -> Result<(Box<dyn StoreTx>, WebhookEndpoint), Error> {
        let mut tx = self.uow.begin().await?;
        let endpoint = tx
            .lock_webhook_endpoint(caller.tenant_id)
            .await
            .map_err(Error::from_store(ResourceKind::WebhookEndpoint))?;
        Ok((tx, endpoint))
    }

    /// A fresh secret, sealed for the endpoint.
    fn new_secret(&self, id: WebhookEndpointId) -> Result<(SigningSecret, Vec<u8>), Error> {
        let secret = SigningSecret::from_bytes(&self.ids.secret_bytes());
        let sealed = self
            .sealer
            .seal(secret.expose().as_bytes(), id.to_string().as_bytes())?;
        Ok((secret, sealed))
    }

    /// Configures the endpoint. The URL must pass the policy for this environment, on the
    /// addresses it resolves to now. The first configuration and a new URL generate a secret
    /// (returned once); the same URL again keeps the secret (none returned), takes the new
    /// subscription and re-enables a disabled endpoint.
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `InvalidField(url)` with `invalid_webhook_url`,
    /// `webhook_url_forbidden` or `webhook_url_unresolvable`; `InvalidField(subscribedEventTypes)`.
    pub async fn configure(
        &self,
        caller: &Caller,
        request: ConfigureEndpoint,
        idempotency: Option<IdempotentWrite<'_, ConfiguredEndpoint>>,
    ) -> Result<ConfiguredEndpoint, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let url = WebhookUrl::parse(&request.url, self.environment)
            .map_err(|r| Error::field("url", r.code, r.message))?;
        if let Some(types) = &request.subscribed {
            if types.is_empty() {
                return Err(Error::field(
                    "subscribedEventTypes",
                    "invalid_event_types",
                    "`subscribedEventTypes` must name at least one type, or be omitted for all",
                ));
            }
        }
        self.delivery.vet(&url).await.map_err(|e| match e {
            VetError::Refused(r) => Error::field("url", r.code, r.message),
            VetError::Unresolvable(e) => Error::field(
                "url",
                "webhook_url_unresolvable",
                format!("`url`'s host does not resolve: {e}"),
            ),
        })?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let existing = match tx.lock_webhook_endpoint(caller.tenant_id).await {
            Ok(e) => Some(e),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let configured = match existing {
            None => {
                let id = WebhookEndpointId::from_ulid(self.ids.ulid());
                let (secret, sealed) = self.new_secret(id)?;
                let endpoint = WebhookEndpoint {
                    id,
                    tenant_id: caller.tenant_id,
                    url,
                    subscribed: request.subscribed,
                    secret_sealed: sealed,
                    previous_secret: None,
                    status: EndpointStatus::Enabled,
                    disabled_reason: None,
                    disabled_at: None,
                    failing_since: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_webhook_endpoint(&endpoint)
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict { .. } => Error::Conflict {
                            code: "webhook_endpoint_conflict",
                            message: "the endpoint was configured by a concurrent request; \
                                      retry"
                                .into(),
                        },
                        other => other.into(),
                    })?;
                ConfiguredEndpoint {
                    endpoint,
                    signing_secret: Some(secret),
                }
            }
            Some(mut endpoint) => {
                let new_url = endpoint.url != url;
                let signing_secret = if new_url {
                    let (secret, sealed) = self.new_secret(endpoint.id)?;
                    endpoint.secret_sealed = sealed;
                    endpoint.previous_secret = None;
                    endpoint.url = url;
                    Some(secret)
                } else {
                    None
                };
                endpoint.subscribed = request.subscribed;
                endpoint.status = EndpointStatus::Enabled;
                endpoint.disabled_reason = None;
                endpoint.disabled_at = None;
                endpoint.failing_since = None;
                endpoint.version += 1;
                endpoint.updated_at = now;
                tx.update_webhook_endpoint(&endpoint).await?;
                ConfiguredEndpoint {
                    endpoint,
                    signing_secret,
                }
            }
        };
        commit_with(tx, caller.tenant_id, idempotency, &configured).await?;
        Ok(configured)
    }

    /// The endpoint, if one is configured.
    ///
    /// # Errors
    /// `MissingScope(webhooks:read)`; store trouble.
    pub async fn get(&self, caller: &Caller) -> Result<Option<WebhookEndpoint>, Error> {
        caller.require(Scope::WebhooksRead)?;
        match self.endpoints.get(caller.tenant_id).await {
            Ok(e) => Ok(Some(e)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the endpoint: nothing is delivered until one is configured again (with a new
    /// secret).
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `NotFound(webhook endpoint)`.
    pub async fn delete(
        &self,
        caller: &Caller,
        idempotency: Option<IdempotentWrite<'_, WebhookEndpoint>>,
    ) -> Result<WebhookEndpoint, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let (mut tx, endpoint) = self.lock_endpoint(caller).await?;
        tx.delete_webhook_endpoint(caller.tenant_id).await?;
        commit_with(tx, caller.tenant_id, idempotency, &endpoint).await?;
        Ok(endpoint)
    }

    /// A new secret; the one it replaces keeps signing for [`ROTATION_OVERLAP`] (deliveries
    /// carry both signatures meanwhile). A secret still overlapping from an earlier rotation
    /// stops signing now.
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `NotFound(webhook endpoint)`.
    pub async fn rotate_secret(
        &self,
        caller: &Caller,
        idempotency: Option<IdempotentWrite<'_, ConfiguredEndpoint>>,
    ) -> Result<ConfiguredEndpoint, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let now = self.clock.now();
        let (mut tx, mut endpoint) = self.lock_endpoint(caller).await?;
        let (secret, sealed) = self.new_secret(endpoint.id)?;
        let until = now
            .checked_add(ROTATION_OVERLAP)
            .ok_or_else(|| Error::Internal("rotation overlap overflows".into()))?;
        let old = std::mem::replace(&mut endpoint.secret_sealed, sealed);
        endpoint.previous_secret = Some((old, until));
        endpoint.version += 1;
        endpoint.updated_at = now;
        tx.update_webhook_endpoint(&endpoint).await?;
        let configured = ConfiguredEndpoint {
            endpoint,
            signing_secret: Some(secret),
        };
        commit_with(tx, caller.tenant_id, idempotency, &configured).await?;
        Ok(configured)
    }

    /// Writes a `webhook.test` event and sends it now (even to a disabled endpoint), answering
    /// with its delivery. The event is leased when written, so no worker sends it as well; a
    /// failed test is retried on the schedule like any event.
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `NotFound(webhook endpoint)`.
    pub async fn send_test(
        &self,
        caller: &Caller,
        idempotency: Option<IdempotentWrite<'_, DeliveryRecord>>,
    ) -> Result<DeliveryRecord, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let now = self.clock.now();
        let lease_until = now
            .checked_add(self.delivery.settings().lease())
            .ok_or_else(|| Error::Internal("lease overflows".into()))?;
        let (mut tx, endpoint) = self.lock_endpoint(caller).await?;
        let event_id = EventId::from_ulid(self.ids.ulid());
        let event = Event::new(
            event_id,
            caller.tenant_id,
            EventType::WebhookTest,
            Subject::WebhookEndpoint(&endpoint.snapshot()),
            None,
            now,
            self.delivery.snapshots.as_ref(),
        )?;
        tx.append_event(&event).await?;
        tx.lease_event(caller.tenant_id, event_id, lease_until)
            .await?;
        tx.commit().await?;
        let claimed = ClaimedEvent {
            event,
            attempts: 0,
            lease_until,
        };
        match self.delivery.attempt(&endpoint, &claimed).await? {
            Delivered::Attempted(..) | Delivered::Skipped => {}
        }
        let record = self.delivery_of(caller, event_id).await?;
        // The stored response is the delivery, so it is written after the send.
        commit_with(
            self.uow.begin().await?,
            caller.tenant_id,
            idempotency,
            &record,
        )
        .await?;
        Ok(record)
    }

    async fn delivery_of(&self, caller: &Caller, event: EventId) -> Result<DeliveryRecord, Error> {
        let filter = DeliveryFilter {
            event: Some(event),
            ..DeliveryFilter::default()
        };
        self.outbox
            .deliveries(caller.tenant_id, filter, PageRequest::default())
            .await?
            .items
            .into_iter()
            .next()
            .ok_or(Error::NotFound(ResourceKind::Event))
    }

    /// The delivery log.
    ///
    /// # Errors
    /// `MissingScope(webhooks:read)`; store trouble.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<DeliveryRecord>, Error> {
        caller.require(Scope::WebhooksRead)?;
        Ok(self
            .outbox
            .deliveries(caller.tenant_id, filter, page)
            .await?)
    }

    /// Queues one event for delivery again, now, whatever its state (its log is kept).
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `NotFound(event)`.
    pub async fn redeliver(
        &self,
        caller: &Caller,
        event: EventId,
        idempotency: Option<IdempotentWrite<'_, EventId>>,
    ) -> Result<EventId, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        tx.redeliver_event(caller.tenant_id, event, now)
            .await
            .map_err(Error::from_store(ResourceKind::Event))?;
        commit_with(tx, caller.tenant_id, idempotency, &event).await?;
        Ok(event)
    }

    /// Queues every event created since `since` whose delivery failed (after at least one
    /// attempt), for after an outage.
    ///
    /// # Errors
    /// `MissingScope(webhooks:write)`; `InvalidField(since)` in the future.
    pub async fn redeliver_failed(
        &self,
        caller: &Caller,
        since: OffsetDateTime,
        idempotency: Option<IdempotentWrite<'_, Redelivered>>,
    ) -> Result<Redelivered, Error> {
        caller.require(Scope::WebhooksWrite)?;
        let now = self.clock.now();
        if since > now {
            return Err(Error::field(
                "since",
                "invalid_since",
                "`since` must not be in the future",
            ));
        }
        let mut tx = self.uow.begin().await?;
        let count = tx
            .redeliver_failed_events(caller.tenant_id, since, now)
            .await?;
        let result = Redelivered { count };
        commit_with(tx, caller.tenant_id, idempotency, &result).await?;
        Ok(result)
    }
}
