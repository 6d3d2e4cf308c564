-- Authenticated GET /connect/v1/addresses/{id} on SQLite: its three reads on a reader
-- connection (`query_only`, as custody's reader pool). `?1` tenant, `?2` the address id, `?5`
-- the key hash (numbered as in mint_full.sql).
SELECT id, tenant_id, environment, mode, scopes, key_hash FROM api_keys WHERE key_hash = ?5;
SELECT id, name, status, created_at FROM tenants WHERE id = ?1;
SELECT id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at FROM deposit_addresses WHERE environment = 'sandbox' AND tenant_id = ?1 AND id = ?2;
