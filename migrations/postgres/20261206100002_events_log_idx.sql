-- no-transaction
-- `GET /v1/events`: a tenant's events of one environment in log order. Built concurrently so a
-- large `events` table is not write-locked meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_log_idx
    ON events (tenant_id, environment, log_xid, log_position, id);
