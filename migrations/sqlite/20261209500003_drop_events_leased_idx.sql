-- Superseded by `events_lease_live_idx` (the previous migration).
DROP INDEX IF EXISTS events_leased_idx;
