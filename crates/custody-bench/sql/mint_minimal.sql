-- The minimal mint: the per-(user, asset) advisory lock and one insert-or-get of the address,
-- in one transaction (the far goal of issue 18). The address hangs off the runner's funded
-- wallet (:src in :vault), so no vault or wallet is created.
\set r random(1, 9000000000000000000)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended(:tenant || 'pgm-' || :client_id || '-' || :r, 0));
INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) VALUES ('ba_pgm' || :client_id || '_' || :r, 'sandbox', :tenant, :vault, :src, 'USDT_ETHEREUM', 'ethereum', '0xpgm' || :client_id || '_' || :r, NULL, false, :r, 'sandbox', NULL, 'active', 1, now(), now()) ON CONFLICT (network, address) DO NOTHING RETURNING id;
COMMIT;
