-- no-transaction
-- The webhook claim's fair pick asks, per tenant, whether any of its events is under a live
-- lease (`lease_until > now`): this answers it from the index alone, as a range on its last
-- column. It replaces `events_leased_idx` (environment, tenant_id), which the next migration
-- drops: on SQLite that one tied with `events_delivery_idx` and lost, and the check then read
-- every event of the tenant.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_lease_live_idx
    ON events (environment, tenant_id, lease_until) WHERE lease_until IS NOT NULL;
