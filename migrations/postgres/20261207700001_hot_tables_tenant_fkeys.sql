-- Issue 18: every insert into a table with a foreign key to `tenants` takes a `FOR KEY SHARE`
-- lock on the tenant row and looks it up; a Connect mint paid that seven times on one hot row.
-- These five hot tables drop their direct key to `tenants`:
-- - wallets and deposit_addresses: the tenant is implied by their NOT NULL composite key to
--   their vault (and wallet), `(…, environment, tenant_id)`, whose own key to `tenants` stays;
-- - transactions: every transaction references a wallet of its tenant through its composite
--   wallet keys (a deposit its destination, a transfer both, a withdrawal its source);
-- - events and idempotency_records: written only by a service acting for the authenticated
--   caller's tenant, in the same transaction as the change they describe; tenants are never
--   deleted.
-- The key stays everywhere it is cheap (vaults, api_keys, address book, webhooks, …). SQLite
-- keeps every key: dropping one means rebuilding the table, and its check is an index lookup
-- inside the single writer, with no row lock to contend on (see docs/storage.md).
ALTER TABLE wallets DROP CONSTRAINT wallets_tenant_id_fkey;
ALTER TABLE deposit_addresses DROP CONSTRAINT deposit_addresses_tenant_id_fkey;
ALTER TABLE transactions DROP CONSTRAINT transactions_tenant_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_tenant_id_fkey;
ALTER TABLE idempotency_records DROP CONSTRAINT idempotency_records_tenant_id_fkey;
