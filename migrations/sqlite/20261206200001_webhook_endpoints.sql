-- Issue 13 (delivery): each tenant's outbound webhook endpoint, one per environment, and the
-- index the delivery worker's per-tenant fairness needs (see the PostgreSQL migration of the
-- same name). Expand only.

CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY NOT NULL,               -- webhook_endpoints_pkey
    environment                 TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id                   TEXT NOT NULL REFERENCES tenants (id),
    url                         TEXT NOT NULL,
    subscribed_event_types      TEXT,
    secret_sealed               BLOB NOT NULL,
    previous_secret_sealed      BLOB,
    previous_secret_expires_at  INTEGER,
    status                      TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason             TEXT,
    disabled_at                 INTEGER,
    failing_since               INTEGER,
    version                     INTEGER NOT NULL CHECK (version >= 1),
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    CONSTRAINT webhook_endpoints_tenant_key UNIQUE (environment, tenant_id),
    CHECK ((status = 'disabled') = (disabled_reason IS NOT NULL)),
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
) STRICT;

CREATE INDEX events_leased_idx ON events (environment, tenant_id) WHERE lease_until IS NOT NULL;
CREATE INDEX events_delivery_idx ON events (tenant_id, environment, delivery_state, id);
