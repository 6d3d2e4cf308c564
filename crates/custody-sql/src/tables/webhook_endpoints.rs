//! `webhook_endpoints`: each tenant's outbound endpoint, one per environment. Secrets arrive
//! sealed (core seals them through the [`SecretSealer`](custody_core::ports::SecretSealer)
//! port, implemented by [`MasterKey`](crate::seal::MasterKey)) and are stored as they come.

use std::collections::BTreeSet;

use async_trait::async_trait;
use custody_core::environment::Environment;
use custody_core::event::EventType;
use custody_core::id::{TenantId, WebhookEndpointId};
use custody_core::ports::{StoreError, WebhookEndpointStore, WebhookTx};
use custody_core::webhook::{EndpointStatus, WebhookEndpoint, WebhookUrl};

use super::{int, scoped};
use crate::codec::Columns;
use crate::errors::corrupt;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, url, subscribed_event_types, \
     secret_sealed, previous_secret_sealed, previous_secret_expires_at, status, \
     disabled_reason, disabled_at, failing_since, version, created_at, updated_at";

pub fn get(tenant: TenantId) -> Statement {
    scoped(COLUMNS, "webhook_endpoints", tenant)
}

/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(endpoint: &WebhookEndpoint) -> Result<Statement, StoreError> {
    changes(
        Statement::new(
            "INSERT INTO webhook_endpoints (id, environment, tenant_id, url, \
             subscribed_event_types, secret_sealed, previous_secret_sealed, \
             previous_secret_expires_at, status, disabled_reason, disabled_at, failing_since, \
             version, created_at, updated_at) \
             VALUES (:id, :environment, :tenant, :url, :subscribed, :secret, :previous, \
             :previous_until, :status, :disabled_reason, :disabled_at, :failing_since, \
             :version, :created_at, :updated_at)",
        )
        .bind("created_at", endpoint.created_at),
        endpoint,
    )
}

/// Writes every mutable column over the row with the same id.
///
/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn update(endpoint: &WebhookEndpoint) -> Result<Statement, StoreError> {
    changes(
        Statement::new(
            "UPDATE webhook_endpoints SET url = :url, subscribed_event_types = :subscribed, \
             secret_sealed = :secret, previous_secret_sealed = :previous, \
             previous_secret_expires_at = :previous_until, status = :status, \
             disabled_reason = :disabled_reason, disabled_at = :disabled_at, \
             failing_since = :failing_since, version = :version, updated_at = :updated_at \
             WHERE id = :id AND environment = :environment AND tenant_id = :tenant",
        ),
        endpoint,
    )
}

pub fn delete(tenant: TenantId) -> Statement {
    Statement::new(
        "DELETE FROM webhook_endpoints WHERE environment = :environment AND tenant_id = :tenant",
    )
    .bind("tenant", tenant.to_string())
}

fn changes(stmt: Statement, e: &WebhookEndpoint) -> Result<Statement, StoreError> {
    let (previous, previous_until) = match &e.previous_secret {
        Some((sealed, until)) => (Some(sealed.clone()), Some(*until)),
        None => (None, None),
    };
    Ok(stmt
        .bind("id", e.id.to_string())
        .bind("tenant", e.tenant_id.to_string())
        .bind("url", e.url.as_str())
        .bind("subscribed", subscribed_text(e.subscribed.as_ref()))
        .bind("secret", e.secret_sealed.clone())
        .bind("previous", previous)
        .bind("previous_until", previous_until)
        .bind("status", e.status.as_str())
        .bind("disabled_reason", e.disabled_reason.clone())
        .bind("disabled_at", e.disabled_at)
        .bind("failing_since", e.failing_since)
        .bind("version", int(e.version, "version")?)
        .bind("updated_at", e.updated_at))
}

/// Space-separated type names; `None` for every type.
fn subscribed_text(types: Option<&BTreeSet<EventType>>) -> Option<String> {
    types.map(|t| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" "))
}

/// A `webhook_endpoints` row.
///
/// # Errors
/// `Internal` for a row that does not decode.
pub fn endpoint(row: &impl Columns) -> Result<WebhookEndpoint, StoreError> {
    let env: Environment = crate::codec::environment(row)?;
    let url_raw = row.text("url")?;
    // Stored URLs passed the policy when configured; the environment's rules are applied
    // again at every delivery, on resolved addresses.
    let url = WebhookUrl::parse(&url_raw, env).map_err(|_| corrupt("url"))?;
    let subscribed = row
        .opt_text("subscribed_event_types")?
        .map(|raw| {
            raw.split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| EventType::parse(s).ok_or_else(|| corrupt("subscribed_event_types")))
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()?;
    let previous_secret = match (
        row.opt_bytes("previous_secret_sealed")?,
        row.opt_time("previous_secret_expires_at")?,
    ) {
        (Some(sealed), Some(until)) => Some((sealed, until)),
        _ => None,
    };
    let status_raw = row.text("status")?;
    Ok(WebhookEndpoint {
        id: row
            .text("id")?
            .parse::<WebhookEndpointId>()
            .map_err(|_| corrupt("id"))?,
        tenant_id: row
            .text("tenant_id")?
            .parse::<TenantId>()
            .map_err(|_| corrupt("tenant_id"))?,
        url,
        subscribed,
        secret_sealed: row.bytes("secret_sealed")?,
        previous_secret,
        status: EndpointStatus::parse(&status_raw).ok_or_else(|| corrupt("status"))?,
        disabled_reason: row.opt_text("disabled_reason")?,
        disabled_at: row.opt_time("disabled_at")?,
        failing_since: row.opt_time("failing_since")?,
        version: u64::try_from(row.int("version")?).map_err(|_| corrupt("version"))?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

#[async_trait]
impl<T: Transaction> WebhookTx for SqlTx<T> {
    async fn lock_webhook_endpoint(
        &mut self,
        tenant: TenantId,
    ) -> Result<WebhookEndpoint, StoreError> {
        self.one(get(tenant).lock(Lock::Update), endpoint).await
    }

    async fn insert_webhook_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError> {
        self.execute(insert(endpoint)?).await
    }

    async fn update_webhook_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> Result<(), StoreError> {
        if self.changed(update(endpoint)?).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_webhook_endpoint(&mut self, tenant: TenantId) -> Result<(), StoreError> {
        if self.changed(delete(tenant)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn redeliver_event(
        &mut self,
        tenant: TenantId,
        event: custody_core::id::EventId,
        now: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Events appended earlier in this transaction are written before these rows are read.
        self.flush_events().await?;
        if self
            .changed(super::events::redeliver(tenant, event, now))
            .await?
            == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn redeliver_failed_events(
        &mut self,
        tenant: TenantId,
        since: time::OffsetDateTime,
        now: time::OffsetDateTime,
    ) -> Result<u64, StoreError> {
        // Events appended earlier in this transaction are written before these rows are read.
        self.flush_events().await?;
        self.changed(super::webhook_deliveries::redeliver_failed(
            tenant, since, now,
        ))
        .await
    }

    async fn lease_event(
        &mut self,
        tenant: TenantId,
        event: custody_core::id::EventId,
        until: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Events appended earlier in this transaction are written before these rows are read.
        self.flush_events().await?;
        if self
            .changed(super::webhook_deliveries::lease_one(tenant, event, until))
            .await?
            == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Database> WebhookEndpointStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId) -> Result<WebhookEndpoint, StoreError> {
        store::one(&self.0, get(tenant), endpoint).await
    }
}
