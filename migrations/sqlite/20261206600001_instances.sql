-- Issue 14: prompt release of a dead instance's idempotency reservations (see the PostgreSQL
-- migration of the same name). Expand only.

CREATE TABLE instances (
    id            TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    CONSTRAINT instances_pkey PRIMARY KEY (id)
) STRICT;

ALTER TABLE idempotency_records ADD COLUMN owner_instance TEXT;
