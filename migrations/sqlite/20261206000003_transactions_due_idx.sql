-- The worker's claim: open transactions of an environment in due order (see the PostgreSQL
-- migration of the same name).
CREATE INDEX transactions_due_idx
    ON transactions (environment, COALESCE(next_poll_at, created_at), id)
    WHERE status IN ('submitted', 'pending_signature', 'broadcasting', 'confirming');
