-- Issue 18: PostgreSQL drops the direct foreign key to `tenants` of its five hot tables
-- (wallets, deposit_addresses, transactions, events, idempotency_records) in the migration of
-- the same name. SQLite keeps them on purpose: dropping a constraint means rebuilding the table
-- (and every index and key pointing at it), and SQLite's check is an index lookup inside the
-- single writer transaction, with no row lock for concurrent requests to contend on (see
-- docs/storage.md). This file keeps both stores' migration histories alike.
SELECT 1;
