-- `GET /v1/transactions?status=…`: the tenant's transactions of one status in id order (see the
-- PostgreSQL migration of the same name).
CREATE INDEX transactions_status_list_idx ON transactions (tenant_id, environment, status, id);
