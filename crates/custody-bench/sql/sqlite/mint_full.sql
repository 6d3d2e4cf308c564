-- Connect mint for a new user on SQLite: the durable work of one request, run by the runner in
-- ONE `BEGIN IMMEDIATE` transaction on the single writer connection (as custody's SQLite store
-- writes), `synchronous=FULL`, WAL, foreign keys on. `?1` tenant, `?2` a unique suffix, `?3` the
-- event snapshot, `?4` the stored response body, `?5` the key hash, `?6` now (µs).
SELECT id, tenant_id, environment, mode, scopes, key_hash FROM api_keys WHERE key_hash = ?5;
SELECT id, name, status, created_at FROM tenants WHERE id = ?1;
SELECT ta.asset_id FROM tenants t LEFT JOIN tenant_assets ta ON ta.tenant_id = t.id AND ta.environment = 'sandbox' WHERE t.id = ?1 ORDER BY ta.asset_id;
INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at) VALUES ('sandbox', ?1, 'sqb-' || ?2, x'00', 'in_flight', ?6, ?6 + 86400000000);
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = ?1 AND external_ref = 'sqb-' || ?2;
INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, status, version, created_at, updated_at) VALUES ('vlt_sqb' || ?2, 'sandbox', ?1, 'customer', 'sqb-' || ?2, 'bench', '{}', 'active', 1, ?6, ?6);
SELECT id FROM wallets WHERE environment = 'sandbox' AND vault_id = 'vlt_sqb' || ?2 AND asset_id = 'USDT_ETHEREUM';
INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, available, pending, held, version, created_at, updated_at) VALUES ('acc_sqb' || ?2, 'sandbox', ?1, 'vlt_sqb' || ?2, 'USDT_ETHEREUM', NULL, 'active', '0', '0', '0', 1, ?6, ?6);
SELECT id FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = 'acc_sqb' || ?2 AND is_primary = 1;
INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) VALUES ('ba_sqb' || ?2, 'sandbox', ?1, 'vlt_sqb' || ?2, 'acc_sqb' || ?2, 'USDT_ETHEREUM', 'ethereum', '0xsqb' || ?2, NULL, 1, 0, 'sandbox', NULL, 'active', 1, ?6, ?6);
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqb' || ?2 || 'a', 'sandbox', ?1, 'vault.created', 'vault', 'vlt_sqb' || ?2, 1, ?3, ?6, ?6);
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqb' || ?2 || 'b', 'sandbox', ?1, 'wallet.created', 'wallet', 'acc_sqb' || ?2, 1, ?3, ?6, ?6);
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, next_attempt_at) VALUES ('evt_sqb' || ?2 || 'c', 'sandbox', ?1, 'address.created', 'address', 'ba_sqb' || ?2, 1, ?3, ?6, ?6);
UPDATE idempotency_records SET state = 'completed', response_status = 201, response_headers = '[["content-type","application/json"]]', response_body = CAST(?4 AS BLOB) WHERE environment = 'sandbox' AND tenant_id = ?1 AND key = 'sqb-' || ?2 AND state = 'in_flight';
