-- Issue 13: the event log's order, which a late commit can never land behind.
-- Expand only: both columns have a default, the view and the sequence are unused by older
-- binaries, and the old INSERT (which names neither column) fills them in.
--
-- Event ids are ULIDs drawn inside the writing transaction, so a transaction that draws its id
-- first but commits last would sort behind a cursor a consumer already holds. Instead the log is
-- ordered by (log_xid, log_position, id): the writing transaction's id (`pg_current_xact_id()`)
-- and a sequence value drawn at insert. The `event_log` view exposes only events whose
-- transaction id is below the oldest transaction still running (`pg_snapshot_xmin`), so every
-- transaction that could still commit an event sorts after everything a reader has seen.
-- Rows written before this migration keep (0, 0) and sort first, by id.

CREATE SEQUENCE events_log_position_seq AS bigint;

-- Constant defaults first (no table rewrite: old rows read 0), then the volatile ones for new rows.
ALTER TABLE events ADD COLUMN log_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN log_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE events ADD COLUMN log_position bigint NOT NULL DEFAULT 0;
ALTER TABLE events ALTER COLUMN log_position SET DEFAULT nextval('events_log_position_seq');
ALTER SEQUENCE events_log_position_seq OWNED BY events.log_position;

-- What `GET /v1/events` may show: events of finished transactions below every running one.
-- (SQLite, with its single writer, shows every committed event: its view has no condition.)
CREATE VIEW event_log AS
    SELECT id, environment, tenant_id, event_type, resource_type, resource_id, resource_version,
           snapshot, previous_attributes, created_at, log_xid, log_position
    FROM events
    WHERE log_xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
