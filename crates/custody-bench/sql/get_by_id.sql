-- Authenticated GET /connect/v1/addresses/{id}: key lookup, tenant, and the address by id
-- (its queries, autocommit, as a read needs no transaction).
SELECT id, tenant_id, environment, mode, scopes, allowed_ips, key_hash FROM api_keys WHERE key_hash = decode(:keyhash, 'hex');
SELECT id, name, status, created_at FROM tenants WHERE id = :tenant;
SELECT id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at FROM deposit_addresses WHERE environment = 'sandbox' AND tenant_id = :tenant AND id = :address;
