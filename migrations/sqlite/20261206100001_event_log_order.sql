-- Issue 13: the event log's order (see the PostgreSQL migration of the same name). Expand only.
--
-- SQLite has one writer: a write transaction runs alone from its first write to its commit, so
-- the order in which events are inserted is their commit order. `log_position` numbers them in
-- that order from a counter that never goes back (not MAX(rowid) + 1, which would restart after
-- the retention purge emptied the table and land new events behind a consumer's cursor).
-- `log_xid` is always 0 here; it exists so both stores share the log's statements.
-- Rows written before this migration keep (0, 0) and sort first, by id.

ALTER TABLE events ADD COLUMN log_xid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN log_position INTEGER NOT NULL DEFAULT 0;

CREATE TABLE event_log_sequence (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last  INTEGER NOT NULL CHECK (last >= 0)
) STRICT;
INSERT INTO event_log_sequence (id, last) VALUES (1, 0);

CREATE TRIGGER events_log_position AFTER INSERT ON events
BEGIN
    UPDATE event_log_sequence SET last = last + 1 WHERE id = 1;
    UPDATE events SET log_position = (SELECT last FROM event_log_sequence WHERE id = 1)
        WHERE rowid = NEW.rowid;
END;

-- Every committed event (a reader never sees another connection's uncommitted rows, and the
-- single writer commits in insertion order).
CREATE VIEW event_log AS
    SELECT id, environment, tenant_id, event_type, resource_type, resource_id, resource_version,
           snapshot, previous_attributes, created_at, log_xid, log_position
    FROM events;
