-- Connect mint for a new user: the durable work, in ONE transaction (the ceiling of issue 18).
-- Key lookup, tenant and its assets, idempotency record in flight, the per-(user, asset)
-- advisory lock, vault (look-up + insert), wallet, primary address (look-ups + insert), three
-- events, idempotency record completed. Variables come from the runner (-D).
\set r random(1, 9000000000000000000)
BEGIN;
SELECT id, tenant_id, environment, mode, scopes, allowed_ips, key_hash FROM api_keys WHERE key_hash = decode(:keyhash, 'hex');
SELECT id, name, status, created_at FROM tenants WHERE id = :tenant;
SELECT ta.asset_id FROM tenants t LEFT JOIN tenant_assets ta ON ta.tenant_id = t.id AND ta.environment = 'sandbox' WHERE t.id = :tenant ORDER BY ta.asset_id;
INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at, owner_instance) VALUES ('sandbox', :tenant, 'pgb-' || :client_id || '-' || :r, decode('00', 'hex'), 'in_flight', now(), now() + interval '24 hours', NULL);
SELECT pg_advisory_xact_lock(hashtextextended(:tenant || 'pgb-' || :client_id || '-' || :r, 0));
SELECT id FROM vaults WHERE environment = 'sandbox' AND tenant_id = :tenant AND external_ref = 'pgb-' || :client_id || '-' || :r;
INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, status, version, created_at, updated_at) VALUES ('vlt_pgb' || :client_id || '_' || :r, 'sandbox', :tenant, 'customer', 'pgb-' || :client_id || '-' || :r, 'pgbench', '{}', 'active', 1, now(), now());
SELECT id FROM wallets WHERE environment = 'sandbox' AND vault_id = 'vlt_pgb' || :client_id || '_' || :r AND asset_id = 'USDT_ETHEREUM';
INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, available, pending, held, version, created_at, updated_at) VALUES ('acc_pgb' || :client_id || '_' || :r, 'sandbox', :tenant, 'vlt_pgb' || :client_id || '_' || :r, 'USDT_ETHEREUM', NULL, 'active', 0, 0, 0, 1, now(), now());
SELECT id FROM deposit_addresses WHERE environment = 'sandbox' AND wallet_id = 'acc_pgb' || :client_id || '_' || :r AND is_primary;
INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) VALUES ('ba_pgb' || :client_id || '_' || :r, 'sandbox', :tenant, 'vlt_pgb' || :client_id || '_' || :r, 'acc_pgb' || :client_id || '_' || :r, 'USDT_ETHEREUM', 'ethereum', '0xpgb' || :client_id || '_' || :r, NULL, true, 0, 'sandbox', NULL, 'active', 1, now(), now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES ('evt_pgb' || :client_id || '_' || :r || 'a', 'sandbox', :tenant, 'vault.created', 'vault', 'vlt_pgb' || :client_id || '_' || :r, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES ('evt_pgb' || :client_id || '_' || :r || 'b', 'sandbox', :tenant, 'wallet.created', 'wallet', 'acc_pgb' || :client_id || '_' || :r, 1, :snap, NULL, now(), 'pending', 0, now());
INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, previous_attributes, created_at, delivery_state, attempts, next_attempt_at) VALUES ('evt_pgb' || :client_id || '_' || :r || 'c', 'sandbox', :tenant, 'address.created', 'address', 'ba_pgb' || :client_id || '_' || :r, 1, :snap, NULL, now(), 'pending', 0, now());
UPDATE idempotency_records SET state = 'completed', response_status = 201, response_headers = '[["content-type", "application/json"]]', response_body = convert_to(:body, 'UTF8') WHERE environment = 'sandbox' AND tenant_id = :tenant AND key = 'pgb-' || :client_id || '-' || :r AND state = 'in_flight';
COMMIT;
