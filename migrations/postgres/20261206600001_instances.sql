-- Issue 14: prompt release of a dead instance's idempotency reservations. Every `custody serve`
-- process registers itself and heartbeats; a reservation names the instance that made it, and
-- one whose instance has gone silent may be taken by the partner's retry at once instead of
-- after the 5-minute lease. Expand only: existing reservations have no owner (lease only).

CREATE TABLE instances (
    id            text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
    started_at    timestamptz NOT NULL,
    heartbeat_at  timestamptz NOT NULL,
    CONSTRAINT instances_pkey PRIMARY KEY (id)
);

ALTER TABLE idempotency_records ADD COLUMN owner_instance text;
