-- The webhook claim's fair pick: the tenants with pending events, then each one's earliest due
-- time, in one index probe each (see the PostgreSQL migration of the same name).
CREATE INDEX events_tenant_due_idx
    ON events (environment, tenant_id, next_attempt_at) WHERE delivery_state = 'pending';
