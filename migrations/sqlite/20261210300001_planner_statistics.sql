-- Fixed planner statistics for SQLite (issue 18: the SQLite transfer anomaly).
--
-- Without statistics SQLite's planner guesses that an equality on any index's first column
-- matches about ten rows, so it cannot tell `environment = ?` (half of every table) or
-- `tenant_id = ?` (all of it, for a store with one large tenant) from `wallet_id = ?` (a
-- couple of rows). It picked `deposit_addresses_asset_idx (environment, …)` for a wallet's
-- primary address (every transfer reads two), and the tenant-wide list indexes for a
-- wallet's or a vault's transactions and addresses: reads that grew with the store (a
-- Platform transfer ran at 0.24 of its ceiling after the other scenarios' mints).
--
-- `ANALYZE` would measure the statistics, but on the data of the moment: a young store's
-- figures (ten addresses per tenant) mislead the planner once it has grown. SQLite lets the
-- application write `sqlite_stat1` itself (https://www.sqlite.org/fileformat2.html#stat1tab):
-- these rows describe the shape custody is built for, the same at any size: a million rows
-- per table (a thousand or fewer for tenants, keys, endpoints and instances, a tenth for a
-- partial index); one tenant may own all of them; two environments; a few assets, kinds,
-- statuses and networks; a wallet has about two addresses and ten transactions in each
-- direction, a vault about four wallets; ids, keys, hashes, references and timestamps are
-- unique. Each row is `rows  rows-per-value-of-the-first-column  …-of-the-first-two  …`.
--
-- Every index must have a row here (a test checks it): a migration that adds an index adds
-- its row too. Running `ANALYZE` by hand replaces these with measured figures, which is fine
-- on a grown store; `custody` itself never runs it.

-- Creates `sqlite_stat1` when it does not exist yet.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('address_book_entries', 'address_book_entries_active_address_key', '100000 100000 50000 10000 1'),
    ('address_book_entries', 'address_book_entries_list_idx', '1000000 1000000 500000 1'),
    ('address_book_entries', 'sqlite_autoindex_address_book_entries_1', '1000000 1'),
    ('address_book_entries', 'sqlite_autoindex_address_book_entries_2', '1000000 1 1 1'),
    ('api_keys', 'api_keys_tenant_idx', '10000 10000 1'),
    ('api_keys', 'sqlite_autoindex_api_keys_1', '10000 1'),
    ('api_keys', 'sqlite_autoindex_api_keys_2', '10000 1'),
    ('deposit_addresses', 'deposit_addresses_asset_idx', '1000000 500000 50000 1'),
    ('deposit_addresses', 'deposit_addresses_list_idx', '1000000 1000000 500000 1'),
    ('deposit_addresses', 'deposit_addresses_one_primary_key', '100000 1'),
    ('deposit_addresses', 'deposit_addresses_vault_idx', '1000000 4 1'),
    ('deposit_addresses', 'sqlite_autoindex_deposit_addresses_1', '1000000 1'),
    ('deposit_addresses', 'sqlite_autoindex_deposit_addresses_2', '1000000 200000 1'),
    ('deposit_addresses', 'sqlite_autoindex_deposit_addresses_3', '1000000 2 1'),
    ('deposit_addresses', 'sqlite_autoindex_deposit_addresses_4', '1000000 1 1 1'),
    ('ed25519_public_keys', 'sqlite_autoindex_ed25519_public_keys_1', '1000 1'),
    ('events', 'events_delivery_idx', '1000000 1000000 500000 250000 1'),
    ('events', 'events_due_idx', '100000 50000 1 1'),
    ('events', 'events_lease_live_idx', '100000 50000 50000 1'),
    ('events', 'events_list_idx', '1000000 1000000 500000 1'),
    ('events', 'events_log_idx', '1000000 1000000 500000 10 1 1'),
    ('events', 'events_retention_idx', '1000000 500000 1 1'),
    ('events', 'events_tenant_due_idx', '100000 50000 50000 1'),
    ('events', 'sqlite_autoindex_events_1', '1000000 1'),
    ('events', 'sqlite_autoindex_events_2', '1000000 1 1 1'),
    ('idempotency_records', 'idempotency_records_expiry_idx', '1000000 1'),
    ('idempotency_records', 'sqlite_autoindex_idempotency_records_1', '1000000 500000 500000 1'),
    ('instances', 'sqlite_autoindex_instances_1', '10 1'),
    ('ledger_entries', 'ledger_entries_transaction_idx', '1000000 3'),
    ('ledger_entries', 'ledger_entries_wallet_idx', '1000000 2 1'),
    ('request_signatures', 'request_signatures_expiry_idx', '1000000 1'),
    ('request_signatures', 'sqlite_autoindex_request_signatures_1', '1000000 100000 1'),
    ('tenant_assets', 'sqlite_autoindex_tenant_assets_1', '10000 10000 5000 1'),
    ('tenants', 'sqlite_autoindex_tenants_1', '1000 1'),
    ('transactions', 'sqlite_autoindex_transactions_1', '1000000 1'),
    ('transactions', 'sqlite_autoindex_transactions_2', '1000000 500000 125000 1'),
    ('transactions', 'sqlite_autoindex_transactions_3', '1000000 1 1 1'),
    ('transactions', 'sqlite_autoindex_transactions_4', '1000000 1 1'),
    ('transactions', 'transactions_destination_idx', '1000000 10 1'),
    ('transactions', 'transactions_due_idx', '100000 50000 1 1'),
    ('transactions', 'transactions_kind_list_idx', '1000000 1000000 500000 125000 1'),
    ('transactions', 'transactions_list_idx', '1000000 1000000 500000 1'),
    ('transactions', 'transactions_open_withdrawals_idx', '100000 50000 1'),
    ('transactions', 'transactions_source_idx', '1000000 10 1'),
    ('transactions', 'transactions_status_list_idx', '1000000 1000000 500000 62500 1'),
    ('unattributed_deposits', 'sqlite_autoindex_unattributed_deposits_1', '1000000 500000 1'),
    ('unattributed_deposits', 'unattributed_deposits_open_idx', '100000 50000 1'),
    ('unattributed_deposits', 'unattributed_deposits_seen_idx', '1000000 500000 1'),
    ('vaults', 'sqlite_autoindex_vaults_1', '1000000 1'),
    ('vaults', 'sqlite_autoindex_vaults_2', '1000000 1000000 500000 1'),
    ('vaults', 'sqlite_autoindex_vaults_3', '1000000 1 1 1'),
    ('vaults', 'vaults_list_idx', '1000000 1000000 500000 1'),
    ('vaults', 'vaults_one_treasury_key', '100000 100000 1'),
    ('wallets', 'sqlite_autoindex_wallets_1', '1000000 1'),
    ('wallets', 'sqlite_autoindex_wallets_2', '1000000 4 1'),
    ('wallets', 'sqlite_autoindex_wallets_3', '1000000 1 1 1'),
    ('wallets', 'sqlite_autoindex_wallets_4', '1000000 1 1'),
    ('wallets', 'wallets_list_idx', '1000000 1000000 500000 1'),
    ('wallets', 'wallets_tenant_asset_idx', '1000000 1000000 500000 50000'),
    ('webhook_delivery_attempts', 'sqlite_autoindex_webhook_delivery_attempts_1', '1000000 1'),
    ('webhook_delivery_attempts', 'webhook_delivery_attempts_event_idx', '1000000 2 1'),
    ('webhook_endpoints', 'sqlite_autoindex_webhook_endpoints_1', '1000 1'),
    ('webhook_endpoints', 'sqlite_autoindex_webhook_endpoints_2', '1000 500 1');
-- This connection loads the rows now (`ANALYZE` of a table without indexes reloads the
-- statistics and adds none). Other open connections load statistics with the schema: the
-- schema change below makes each reload it on its next statement.
ANALYZE sqlite_schema;
CREATE TABLE _custody_planner_statistics_reload (x INTEGER);
DROP TABLE _custody_planner_statistics_reload;
