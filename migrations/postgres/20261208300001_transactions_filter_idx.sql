-- no-transaction
-- `GET /v1/transactions?status=…` and `?kind=…` (TransactionStore::list): the tenant's
-- transactions of one status (or kind) in id order. Without these the plan walks the tenant's
-- `transactions_list_idx` and filters, so a rare status (`Failed`, none at all) reads every
-- transaction of the tenant before answering an empty page (issue 18, growth). Built
-- concurrently so a large `transactions` table is not write-locked meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_status_list_idx
    ON transactions (tenant_id, environment, status, id);
