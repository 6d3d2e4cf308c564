-- `GET /v1/transactions?kind=…`: see 20261208300001.
CREATE INDEX transactions_kind_list_idx ON transactions (tenant_id, environment, kind, id);
