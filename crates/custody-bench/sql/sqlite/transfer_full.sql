-- Platform transfer between the runner's two funded wallets on SQLite: the durable work in ONE
-- `BEGIN IMMEDIATE` transaction on the single writer (custody's settings). Parameters as in
-- mint_full.sql, plus ?7 source wallet, ?8 destination wallet, ?10 source vault, ?11
-- destination vault, ?12 the Platform key's id. Amounts are decimal TEXT, as custody stores them.
SELECT id, tenant_id, environment, mode, scopes, key_hash FROM api_keys WHERE key_hash = ?5;
SELECT id, name, status, created_at FROM tenants WHERE id = ?1;
INSERT INTO request_signatures (api_key_id, signature_digest, idempotency_key, used_at, expires_at) VALUES (?12, randomblob(32), 'sqt-' || ?2, ?6, ?6 + 300000000);
INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at) VALUES ('sandbox', ?1, 'sqt-' || ?2, x'00', 'in_flight', ?6, ?6 + 86400000000);
SELECT id, available, held, version FROM wallets WHERE environment = 'sandbox' AND tenant_id = ?1 AND id IN (?7, ?8) ORDER BY id;
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = ?1 AND id = ?10;
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = ?1 AND id = ?11;
UPDATE wallets SET available = CAST(CAST(available AS INTEGER) - 1 AS TEXT), version = version + 1, updated_at = ?6 WHERE id = ?7 AND environment = 'sandbox' AND tenant_id = ?1;
UPDATE wallets SET available = CAST(CAST(available AS INTEGER) + 1 AS TEXT), version = version + 1, updated_at = ?6 WHERE id = ?8 AND environment = 'sandbox' AND tenant_id = ?1;
INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, amount, source_wallet_id, destination_wallet_id, reference, history, version, created_at, updated_at) VALUES ('tx_sqt' || ?2, 'sandbox', ?1, 'transfer', 'completed', 'USDT_ETHEREUM', '1', ?7, ?8, 'sqt-' || ?2, '[]', 1, ?6, ?6);
INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, wallet_id, bucket, delta, created_at) VALUES ('sandbox', 'tx_sqt' || ?2, 'USDT_ETHEREUM', 'wallet', ?7, 'available', '-1', ?6);
INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, wallet_id, bucket, delta, created_at) VALUES ('sandbox', 'tx_sqt' || ?2, 'USDT_ETHEREUM', 'wallet', ?8, 'available', '1', ?6);
SELECT id, address FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = ?7 AND is_primary = 1;
SELECT id, address FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = ?8 AND is_primary = 1;
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqt' || ?2 || 'a', 'sandbox', ?1, 'transaction.created', 'transaction', 'tx_sqt' || ?2, 1, ?3, ?6, ?6);
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqt' || ?2 || 'b', 'sandbox', ?1, 'balance.updated', 'wallet', ?7, 1, ?3, ?6, ?6);
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqt' || ?2 || 'c', 'sandbox', ?1, 'balance.updated', 'wallet', ?8, 1, ?3, ?6, ?6);
UPDATE idempotency_records SET state = 'completed', response_status = 201, response_headers = '[["content-type","application/json"]]', response_body = CAST(?4 AS BLOB) WHERE environment = 'sandbox' AND tenant_id = ?1 AND key = 'sqt-' || ?2 AND state = 'in_flight';
