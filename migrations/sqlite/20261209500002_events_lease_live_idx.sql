-- Whether a tenant has an event under a live lease, from the index alone (see the PostgreSQL
-- migration of the same name).
CREATE INDEX events_lease_live_idx
    ON events (environment, tenant_id, lease_until) WHERE lease_until IS NOT NULL;
