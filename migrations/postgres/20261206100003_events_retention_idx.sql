-- no-transaction
-- Retention: the purge deletes an environment's oldest events in batches, by creation time.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_retention_idx
    ON events (environment, created_at, id);
