-- no-transaction
-- The webhook claim's fair pick (`webhook_deliveries::due_tenants`): a skip scan over the
-- tenants with pending events, then one probe per tenant for its earliest due time. Without
-- it the pick reads every due pending event of the environment (`events_due_idx`) and groups
-- them by tenant, so a backlog of 10⁵ pending events made every claim read 10⁵ rows (issue
-- 18, the SQLite soak's write-ahead log). Built concurrently so a large `events` table is not
-- write-locked meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_tenant_due_idx
    ON events (environment, tenant_id, next_attempt_at) WHERE delivery_state = 'pending';
