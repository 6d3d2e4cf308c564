-- no-transaction
-- The worker's claim (`TransactionTx::claim_due`): open transactions of an environment in due
-- order. Built concurrently so a large `transactions` table is not write-locked meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_due_idx
    ON transactions (environment, (COALESCE(next_poll_at, created_at)), id)
    WHERE status IN ('submitted', 'pending_signature', 'broadcasting', 'confirming');
