-- no-transaction
-- Superseded by `events_lease_live_idx` (the previous migration).
DROP INDEX CONCURRENTLY IF EXISTS events_leased_idx;
