-- `GET /v1/events` in log order (see the PostgreSQL migration of the same name).
CREATE INDEX events_log_idx ON events (tenant_id, environment, log_xid, log_position, id);
