-- no-transaction
-- `GET /v1/transactions?kind=…`: see 20261208300001 (one index per file: CONCURRENTLY runs
-- outside a transaction, one statement at a time).
CREATE INDEX CONCURRENTLY IF NOT EXISTS transactions_kind_list_idx
    ON transactions (tenant_id, environment, kind, id);
