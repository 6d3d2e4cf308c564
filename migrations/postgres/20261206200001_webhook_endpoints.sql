-- Issue 13 (delivery): each tenant's outbound webhook endpoint, one per environment, and the
-- index the delivery worker's per-tenant fairness needs. Expand only.

CREATE TABLE webhook_endpoints (
    id                          text PRIMARY KEY,
    environment                 text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id                   text NOT NULL REFERENCES tenants (id),
    url                         text NOT NULL,
    -- Space-separated event type names; NULL: every type.
    subscribed_event_types      text,
    -- AES-256-GCM under the master key, bound to the endpoint id (custody-sql seal.rs).
    secret_sealed               bytea NOT NULL,
    -- The secret before the last rotation, still signing until previous_secret_expires_at.
    previous_secret_sealed      bytea,
    previous_secret_expires_at  timestamptz,
    status                      text NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason             text,
    disabled_at                 timestamptz,
    -- The first failed attempt since the last 2xx (NULL while deliveries succeed).
    failing_since               timestamptz,
    version                     bigint NOT NULL CHECK (version >= 1),
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CONSTRAINT webhook_endpoints_tenant_key UNIQUE (environment, tenant_id),
    CHECK ((status = 'disabled') = (disabled_reason IS NOT NULL)),
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);

-- Tenants with an event under a live lease (one delivery batch in flight per tenant).
CREATE INDEX events_leased_idx ON events (environment, tenant_id) WHERE lease_until IS NOT NULL;
-- The delivery log filtered by state.
CREATE INDEX events_delivery_idx ON events (tenant_id, environment, delivery_state, id);
