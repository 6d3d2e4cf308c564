-- Platform transfer between the runner's two funded wallets: the durable work in ONE
-- transaction. Key lookup, the single-use signature, idempotency record in flight, both wallets
-- locked, their vaults, both balances updated, the transaction, two ledger entries, three
-- events (transaction.created, two balance.updated), idempotency record completed.
-- Every value derived from (client, r) is computed once, by the key look-up (`\gset k_`: one
-- statement, no extra round trip), and then bound as a plain parameter, as custody binds its
-- own values (docs/performance.md, change 26). Ids are valid for custody's id parser (prefix +
-- 26 Crockford characters), so the running server's webhook worker reads these events as it
-- reads its own.
\set r random(1, 9000000000000000000)
\set low :r % 1099511627776
BEGIN;
SELECT id, tenant_id, environment, mode, scopes, allowed_ips, key_hash, 'pgt-' || :client_id || '-' || :r AS ref, 'tx_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || '4' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS tx, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'A' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev1, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'B' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev2, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'C' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev3 FROM api_keys WHERE key_hash = decode(:keyhash, 'hex') \gset k_
SELECT id, name, status, created_at FROM tenants WHERE id = :tenant;
INSERT INTO request_signatures (api_key_id, signature_digest, idempotency_key, used_at, expires_at) VALUES (:keyid, sha256(convert_to(:k_ref, 'UTF8')), :k_ref, now(), now() + interval '5 minutes');
INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at, owner_instance) VALUES ('sandbox', :tenant, :k_ref, decode('00', 'hex'), 'in_flight', now(), now() + interval '24 hours', NULL);
SELECT id, CAST(available AS TEXT), version FROM wallets WHERE environment = 'sandbox' AND tenant_id = :tenant AND id IN (:src, :dst) ORDER BY id FOR UPDATE;
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = :tenant AND id = :vault FOR SHARE;
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = :tenant AND id = :dvault FOR SHARE;
UPDATE wallets SET available = available - 1, version = version + 1, updated_at = now() WHERE id = :src AND environment = 'sandbox' AND tenant_id = :tenant;
UPDATE wallets SET available = available + 1, version = version + 1, updated_at = now() WHERE id = :dst AND environment = 'sandbox' AND tenant_id = :tenant;
INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, amount, source_wallet_id, destination_wallet_id, reference, history, version, created_at, updated_at) VALUES (:k_tx, 'sandbox', :tenant, 'transfer', 'completed', 'USDT_ETHEREUM', 1, :src, :dst, :k_ref, '[]', 1, now(), now());
INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, wallet_id, bucket, delta, created_at) VALUES ('sandbox', :k_tx, 'USDT_ETHEREUM', 'wallet', :src, 'available', -1, now());
INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, wallet_id, bucket, delta, created_at) VALUES ('sandbox', :k_tx, 'USDT_ETHEREUM', 'wallet', :dst, 'available', 1, now());
SELECT id, address FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = :src AND is_primary = TRUE;
SELECT id, address FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = :dst AND is_primary = TRUE;
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev1, 'sandbox', :tenant, 'transaction.created', 'transaction', :k_tx, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev2, 'sandbox', :tenant, 'balance.updated', 'wallet', :src, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev3, 'sandbox', :tenant, 'balance.updated', 'wallet', :dst, 1, :snap, NULL, now(), 'pending', 0, now());
UPDATE idempotency_records SET state = 'completed', response_status = 201, response_headers = '[["content-type", "application/json"]]', response_body = convert_to(:body, 'UTF8') WHERE environment = 'sandbox' AND tenant_id = :tenant AND key = :k_ref AND state = 'in_flight';
COMMIT;
