-- Retention: the purge deletes an environment's oldest events in batches, by creation time.
CREATE INDEX events_retention_idx ON events (environment, created_at, id);
