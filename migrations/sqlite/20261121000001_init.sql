-- custody schema, SQLite. The same tables, columns, CHECK rules and unique rules as
-- `migrations/postgres/20261121000001_init.sql`; only the physical types differ:
--   ids and enums      TEXT (prefixed ULIDs: ordering by id is creation order)
--   timestamps         INTEGER, microseconds since the Unix epoch (numeric comparison/ordering)
--   amounts            TEXT, canonical base-unit decimal strings (a u128 does not fit INTEGER):
--                      digits only, no leading zero, at most 39 digits (ledger deltas: an
--                      optional leading '-', never zero)
--   JSON               TEXT holding JSON
--   booleans           INTEGER 0/1
--   bytes              BLOB
-- Every table is STRICT, so a value of the wrong type is refused instead of coerced.
--
-- Constraint names are part of the contract, but SQLite reports a violated unique rule by its
-- columns ("UNIQUE constraint failed: vaults.tenant_id, vaults.environment, ..."), not by name:
-- `custody-sqlite` maps each column list back to the PostgreSQL name written next to it here.
-- A new unique rule needs a new entry there (a test lists every unique index of this schema
-- and fails when one has no name).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,                              -- tenants_pkey
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'suspended')),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_assets (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    asset_id    TEXT NOT NULL,
    CONSTRAINT tenant_assets_pkey PRIMARY KEY (tenant_id, environment, asset_id)
) STRICT;

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY NOT NULL,                      -- api_keys_pkey
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    environment         TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    mode                TEXT NOT NULL CHECK (mode IN ('bearer', 'hmac', 'ed25519')),
    scopes              TEXT NOT NULL,           -- space-separated scope names
    allowed_ips         TEXT NOT NULL,           -- space-separated CIDRs; empty: anywhere
    key_hash            BLOB NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    key_hint            TEXT NOT NULL,
    ed25519_public_key  TEXT,
    hmac_secret_sealed  BLOB,                    -- AES-256-GCM under the master key
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER,
    revoked_at          INTEGER,
    replaced_by         TEXT REFERENCES api_keys (id),
    CHECK ((mode = 'hmac') = (hmac_secret_sealed IS NOT NULL)),
    CHECK ((mode = 'ed25519') = (ed25519_public_key IS NOT NULL))
) STRICT;
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id);

CREATE TABLE vaults (
    id           TEXT PRIMARY KEY NOT NULL,                             -- vaults_pkey
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    kind         TEXT NOT NULL CHECK (kind IN ('customer', 'treasury')),
    external_ref TEXT,
    name         TEXT NOT NULL,
    metadata     TEXT NOT NULL CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    status       TEXT NOT NULL CHECK (status IN ('active', 'frozen', 'archived')),
    version      INTEGER NOT NULL CHECK (version >= 0),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CONSTRAINT vaults_tenant_external_ref_key UNIQUE (tenant_id, environment, external_ref),
    CHECK (kind = 'customer' OR external_ref IS NULL),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT vaults_scope_key UNIQUE (id, environment, tenant_id)
) STRICT;
CREATE UNIQUE INDEX vaults_one_treasury_key ON vaults (tenant_id, environment) WHERE kind = 'treasury';
CREATE INDEX vaults_list_idx ON vaults (tenant_id, environment, id);

CREATE TABLE wallets (
    id          TEXT PRIMARY KEY NOT NULL,                              -- wallets_pkey
    environment TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    vault_id    TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    label       TEXT,
    status      TEXT NOT NULL,
    available   TEXT NOT NULL CHECK (length(available) BETWEEN 1 AND 39
                    AND available NOT GLOB '*[^0-9]*' AND (available = '0' OR available NOT GLOB '0*')),
    pending     TEXT NOT NULL CHECK (length(pending) BETWEEN 1 AND 39
                    AND pending NOT GLOB '*[^0-9]*' AND (pending = '0' OR pending NOT GLOB '0*')),
    held        TEXT NOT NULL CHECK (length(held) BETWEEN 1 AND 39
                    AND held NOT GLOB '*[^0-9]*' AND (held = '0' OR held NOT GLOB '0*')),
    version     INTEGER NOT NULL CHECK (version >= 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT wallets_vault_asset_key UNIQUE (vault_id, asset_id),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT wallets_scope_key UNIQUE (id, environment, tenant_id),
    CONSTRAINT wallets_environment_key UNIQUE (id, environment),
    CONSTRAINT wallets_vault_fkey FOREIGN KEY (vault_id, environment, tenant_id) REFERENCES vaults (id, environment, tenant_id)
) STRICT;
CREATE INDEX wallets_list_idx ON wallets (tenant_id, environment, id);

CREATE TABLE deposit_addresses (
    id                  TEXT PRIMARY KEY NOT NULL,                      -- deposit_addresses_pkey
    environment         TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    vault_id            TEXT NOT NULL,
    wallet_id           TEXT NOT NULL,
    asset_id            TEXT NOT NULL,
    network             TEXT NOT NULL,
    address             TEXT NOT NULL,
    label               TEXT,
    is_primary          INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    derivation_index    INTEGER NOT NULL CHECK (derivation_index >= 0),
    provider            TEXT NOT NULL,
    provider_reference  TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    version             INTEGER NOT NULL CHECK (version >= 0),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    -- System-wide, across tenants and environments: every deposit is attributable.
    CONSTRAINT deposit_addresses_network_address_key UNIQUE (network, address),
    CONSTRAINT deposit_addresses_wallet_index_key UNIQUE (wallet_id, derivation_index),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT deposit_addresses_scope_key UNIQUE (id, environment, tenant_id),
    CONSTRAINT deposit_addresses_vault_fkey FOREIGN KEY (vault_id, environment, tenant_id) REFERENCES vaults (id, environment, tenant_id),
    CONSTRAINT deposit_addresses_wallet_fkey FOREIGN KEY (wallet_id, environment, tenant_id) REFERENCES wallets (id, environment, tenant_id)
) STRICT;
CREATE UNIQUE INDEX deposit_addresses_one_primary_key ON deposit_addresses (wallet_id) WHERE is_primary = 1;
CREATE INDEX deposit_addresses_list_idx ON deposit_addresses (tenant_id, environment, id);

CREATE TABLE address_book_entries (
    id           TEXT PRIMARY KEY NOT NULL,                             -- address_book_entries_pkey
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    network      TEXT NOT NULL,
    address      TEXT NOT NULL,
    label        TEXT NOT NULL,
    asset_id     TEXT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
    version      INTEGER NOT NULL CHECK (version >= 0),
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER,
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT address_book_entries_scope_key UNIQUE (id, environment, tenant_id)
) STRICT;
CREATE UNIQUE INDEX address_book_entries_active_address_key
    ON address_book_entries (tenant_id, environment, network, address) WHERE status = 'active';
CREATE INDEX address_book_entries_list_idx ON address_book_entries (tenant_id, environment, id);

CREATE TABLE transactions (
    id                      TEXT PRIMARY KEY NOT NULL,                  -- transactions_pkey
    environment             TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id               TEXT NOT NULL REFERENCES tenants (id),
    kind                    TEXT NOT NULL CHECK (kind IN ('deposit', 'transfer', 'withdrawal')),
    status                  TEXT NOT NULL,
    asset_id                TEXT NOT NULL,
    -- > 0: digits only, first digit not zero.
    amount                  TEXT NOT NULL CHECK (length(amount) BETWEEN 1 AND 39
                                AND amount NOT GLOB '*[^0-9]*' AND amount GLOB '[1-9]*'),
    source_wallet_id        TEXT,
    destination_wallet_id   TEXT,
    deposit_address_id      TEXT,
    address_book_entry_id   TEXT,
    destination_network     TEXT,
    destination_address     TEXT,
    provider_ref            TEXT,
    tx_hash                 TEXT,
    confirmations_seen      INTEGER,
    confirmations_required  INTEGER,
    reference               TEXT,
    failure_reason          TEXT,
    history                 TEXT NOT NULL CHECK (json_valid(history) AND json_type(history) = 'array'),
    version                 INTEGER NOT NULL CHECK (version >= 0),
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    -- What makes deposit crediting exactly-once.
    CONSTRAINT transactions_kind_provider_ref_key UNIQUE (environment, kind, provider_ref),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT transactions_scope_key UNIQUE (id, environment, tenant_id),
    CONSTRAINT transactions_environment_key UNIQUE (id, environment),
    CONSTRAINT transactions_source_wallet_fkey FOREIGN KEY (source_wallet_id, environment, tenant_id) REFERENCES wallets (id, environment, tenant_id),
    CONSTRAINT transactions_destination_wallet_fkey FOREIGN KEY (destination_wallet_id, environment, tenant_id) REFERENCES wallets (id, environment, tenant_id),
    CONSTRAINT transactions_deposit_address_fkey FOREIGN KEY (deposit_address_id, environment, tenant_id) REFERENCES deposit_addresses (id, environment, tenant_id),
    CONSTRAINT transactions_address_book_entry_fkey FOREIGN KEY (address_book_entry_id, environment, tenant_id) REFERENCES address_book_entries (id, environment, tenant_id)
) STRICT;
CREATE INDEX transactions_list_idx ON transactions (tenant_id, environment, id);
CREATE INDEX transactions_source_idx ON transactions (source_wallet_id, id);
CREATE INDEX transactions_destination_idx ON transactions (destination_wallet_id, id);
CREATE INDEX transactions_open_withdrawals_idx ON transactions (environment, id)
    WHERE kind = 'withdrawal' AND status IN ('submitted', 'pending_signature', 'broadcasting', 'confirming');

-- Append-only double entry. `seq` is the order written.
CREATE TABLE ledger_entries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    environment     TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    transaction_id  TEXT NOT NULL,
    asset_id        TEXT NOT NULL,
    account_kind    TEXT NOT NULL CHECK (account_kind IN ('wallet', 'external')),
    wallet_id       TEXT,
    bucket          TEXT CHECK (bucket IN ('available', 'pending', 'held')),
    -- <> 0: an optional '-', then digits, the first not zero (at most 39 digits).
    delta           TEXT NOT NULL CHECK (
                        (CASE WHEN delta GLOB '-*' THEN substr(delta, 2) ELSE delta END) GLOB '[1-9]*'
                        AND (CASE WHEN delta GLOB '-*' THEN substr(delta, 2) ELSE delta END) NOT GLOB '*[^0-9]*'
                        AND length(CASE WHEN delta GLOB '-*' THEN substr(delta, 2) ELSE delta END) <= 39),
    created_at      INTEGER NOT NULL,
    CHECK ((account_kind = 'wallet') = (wallet_id IS NOT NULL AND bucket IS NOT NULL)),
    CONSTRAINT ledger_entries_transaction_fkey FOREIGN KEY (transaction_id, environment) REFERENCES transactions (id, environment),
    CONSTRAINT ledger_entries_wallet_fkey FOREIGN KEY (wallet_id, environment) REFERENCES wallets (id, environment)
) STRICT;
CREATE INDEX ledger_entries_wallet_idx ON ledger_entries (wallet_id, seq);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

CREATE TRIGGER ledger_entries_no_update
    BEFORE UPDATE ON ledger_entries
    BEGIN
        SELECT RAISE(ABORT, 'ledger_entries is append-only');
    END;
CREATE TRIGGER ledger_entries_no_delete
    BEFORE DELETE ON ledger_entries
    BEGIN
        SELECT RAISE(ABORT, 'ledger_entries is append-only');
    END;

-- The event log and outbox in one table: written with the change, then delivered.
CREATE TABLE events (
    id                   TEXT PRIMARY KEY NOT NULL,                     -- events_pkey
    environment          TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    event_type           TEXT NOT NULL,
    resource_type        TEXT NOT NULL,
    resource_id          TEXT NOT NULL,
    resource_version     INTEGER NOT NULL,
    snapshot             TEXT NOT NULL CHECK (json_valid(snapshot)),
    previous_attributes  TEXT CHECK (previous_attributes IS NULL OR json_valid(previous_attributes)),
    created_at           INTEGER NOT NULL,
    delivery_state       TEXT NOT NULL DEFAULT 'pending' CHECK (delivery_state IN ('pending', 'delivered', 'failed')),
    attempts             INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at      INTEGER,
    lease_until          INTEGER,
    delivered_at         INTEGER,
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT events_scope_key UNIQUE (id, environment, tenant_id)
) STRICT;
CREATE INDEX events_list_idx ON events (tenant_id, environment, id);
CREATE INDEX events_due_idx ON events (environment, next_attempt_at, id) WHERE delivery_state = 'pending';

CREATE TABLE webhook_delivery_attempts (
    id               TEXT PRIMARY KEY NOT NULL,                         -- webhook_delivery_attempts_pkey
    environment      TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    event_id         TEXT NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    attempted_at     INTEGER NOT NULL,
    url              TEXT NOT NULL,
    response_status  INTEGER,
    error            TEXT,
    duration_ms      INTEGER NOT NULL CHECK (duration_ms >= 0),
    CONSTRAINT webhook_delivery_attempts_event_fkey FOREIGN KEY (event_id, environment, tenant_id) REFERENCES events (id, environment, tenant_id)
) STRICT;
CREATE INDEX webhook_delivery_attempts_event_idx ON webhook_delivery_attempts (event_id, attempt);

CREATE TABLE idempotency_records (
    environment       TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    key               TEXT NOT NULL,
    fingerprint       BLOB NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status   INTEGER,
    response_headers  TEXT CHECK (response_headers IS NULL OR json_valid(response_headers)),
    response_body     BLOB,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (environment, tenant_id, key),
    CHECK ((state = 'completed') = (response_status IS NOT NULL))
) STRICT;
CREATE INDEX idempotency_records_expiry_idx ON idempotency_records (expires_at);
