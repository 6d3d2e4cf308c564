-- Connect mint for a new user: the durable work, in ONE transaction (the ceiling of issue 18).
-- Key lookup, tenant and its assets, idempotency record in flight, the per-(user, asset)
-- advisory lock, vault (look-up + insert), wallet, primary address (look-ups + insert), three
-- events, idempotency record completed. Variables come from the runner (-D).
-- Every value derived from (client, r) is computed once, by the key look-up (`\gset k_`: one
-- statement, no extra round trip), and then bound as a plain parameter, as custody binds its
-- own values (docs/performance.md, change 26). Ids are valid for custody's id parser (prefix +
-- 26 Crockford characters), so the running server's webhook worker reads these events as it
-- reads its own.
\set r random(1, 9000000000000000000)
\set low :r % 1099511627776
BEGIN;
SELECT id, tenant_id, environment, mode, scopes, allowed_ips, key_hash, 'pgb-' || :client_id || '-' || :r AS ref, '0xpgb' || :client_id || '_' || :r AS addr, 'vlt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || '1' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS vault, 'acc_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || '2' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS wallet, 'ba_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || '3' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS address, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'A' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev1, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'B' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev2, 'evt_' || upper(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || lpad(to_hex(CAST(:client_id AS int)), 3, '0') || 'C' || lpad(to_hex(CAST(:low AS bigint)), 10, '0')) AS ev3 FROM api_keys WHERE key_hash = decode(:keyhash, 'hex') \gset k_
SELECT id, name, status, created_at FROM tenants WHERE id = :tenant;
SELECT ta.asset_id FROM tenants t LEFT JOIN tenant_assets ta ON ta.tenant_id = t.id AND ta.environment = 'sandbox' WHERE t.id = :tenant ORDER BY ta.asset_id;
INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at, owner_instance) VALUES ('sandbox', :tenant, :k_ref, decode('00', 'hex'), 'in_flight', now(), now() + interval '24 hours', NULL);
SELECT pg_advisory_xact_lock(hashtextextended(:tenant || :k_ref, 0));
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = :tenant AND external_ref = :k_ref;
INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, status, version, created_at, updated_at) VALUES (:k_vault, 'sandbox', :tenant, 'customer', :k_ref, 'pgbench', '{}', 'active', 1, now(), now());
SELECT id FROM wallets WHERE environment = 'sandbox' AND vault_id = :k_vault AND asset_id = 'USDT_ETHEREUM';
INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, available, pending, held, version, created_at, updated_at) VALUES (:k_wallet, 'sandbox', :tenant, :k_vault, 'USDT_ETHEREUM', NULL, 'active', 0, 0, 0, 1, now(), now());
SELECT id FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = :k_wallet AND is_primary;
INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) VALUES (:k_address, 'sandbox', :tenant, :k_vault, :k_wallet, 'USDT_ETHEREUM', 'ethereum', :k_addr, NULL, true, 0, 'sandbox', NULL, 'active', 1, now(), now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev1, 'sandbox', :tenant, 'vault.created', 'vault', :k_vault, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev2, 'sandbox', :tenant, 'wallet.created', 'wallet', :k_wallet, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES (:k_ev3, 'sandbox', :tenant, 'address.created', 'address', :k_address, 1, :snap, NULL, now(), 'pending', 0, now());
UPDATE idempotency_records SET state = 'completed', response_status = 201, response_headers = '[["content-type", "application/json"]]', response_body = convert_to(:body, 'UTF8') WHERE environment = 'sandbox' AND tenant_id = :tenant AND key = :k_ref AND state = 'in_flight';
COMMIT;
