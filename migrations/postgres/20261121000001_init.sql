-- custody schema, PostgreSQL. Ids are prefixed ULIDs stored as text: ordering by id is
-- creation order, which is what cursor pagination relies on. Every environment-scoped table
-- carries `environment`, and every query of an environment-bound store handle filters on it.
-- Amounts are base units in NUMERIC(39,0) (a u128 fits); timestamps are timestamptz
-- (microseconds). Constraint names are part of the contract: the adapter maps them to
-- StoreError::Conflict { constraint }.

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'approved', 'suspended')),
    created_at  timestamptz NOT NULL
);

CREATE TABLE tenant_assets (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    environment text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    asset_id    text NOT NULL,
    CONSTRAINT tenant_assets_pkey PRIMARY KEY (tenant_id, environment, asset_id)
);

CREATE TABLE api_keys (
    id                  text PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants (id),
    environment         text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    mode                text NOT NULL CHECK (mode IN ('bearer', 'hmac', 'ed25519')),
    scopes              text NOT NULL,           -- space-separated scope names
    allowed_ips         text NOT NULL,           -- space-separated CIDRs; empty: anywhere
    key_hash            bytea NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    key_hint            text NOT NULL,
    ed25519_public_key  text,
    hmac_secret_sealed  bytea,                   -- AES-256-GCM under the master key
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz,
    revoked_at          timestamptz,
    replaced_by         text REFERENCES api_keys (id),
    CHECK ((mode = 'hmac') = (hmac_secret_sealed IS NOT NULL)),
    CHECK ((mode = 'ed25519') = (ed25519_public_key IS NOT NULL))
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id);

CREATE TABLE vaults (
    id           text PRIMARY KEY,
    environment  text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id    text NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL CHECK (kind IN ('customer', 'treasury')),
    external_ref text,
    name         text NOT NULL,
    metadata     jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('active', 'frozen', 'archived')),
    version      bigint NOT NULL CHECK (version >= 0),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT vaults_tenant_external_ref_key UNIQUE (tenant_id, environment, external_ref),
    CHECK (kind = 'customer' OR external_ref IS NULL),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT vaults_scope_key UNIQUE (id, environment, tenant_id)
);
CREATE UNIQUE INDEX vaults_one_treasury_key ON vaults (tenant_id, environment) WHERE kind = 'treasury';
CREATE INDEX vaults_list_idx ON vaults (tenant_id, environment, id);

CREATE TABLE wallets (
    id          text PRIMARY KEY,
    environment text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    vault_id    text NOT NULL,
    asset_id    text NOT NULL,
    label       text,
    status      text NOT NULL,
    available   numeric(39, 0) NOT NULL CHECK (available >= 0),
    pending     numeric(39, 0) NOT NULL CHECK (pending >= 0),
    held        numeric(39, 0) NOT NULL CHECK (held >= 0),
    version     bigint NOT NULL CHECK (version >= 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT wallets_vault_asset_key UNIQUE (vault_id, asset_id),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT wallets_scope_key UNIQUE (id, environment, tenant_id),
    CONSTRAINT wallets_environment_key UNIQUE (id, environment),
    CONSTRAINT wallets_vault_fkey FOREIGN KEY (vault_id, environment, tenant_id) REFERENCES vaults (id, environment, tenant_id)
);
CREATE INDEX wallets_list_idx ON wallets (tenant_id, environment, id);

CREATE TABLE deposit_addresses (
    id                  text PRIMARY KEY,
    environment         text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id           text NOT NULL REFERENCES tenants (id),
    vault_id            text NOT NULL,
    wallet_id           text NOT NULL,
    asset_id            text NOT NULL,
    network             text NOT NULL,
    address             text NOT NULL,
    label               text,
    is_primary          boolean NOT NULL,
    derivation_index    bigint NOT NULL CHECK (derivation_index >= 0),
    provider            text NOT NULL,
    provider_reference  text,
    status              text NOT NULL CHECK (status IN ('active', 'suspended')),
    version             bigint NOT NULL CHECK (version >= 0),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    -- System-wide, across tenants and environments: every deposit is attributable.
    CONSTRAINT deposit_addresses_network_address_key UNIQUE (network, address),
    CONSTRAINT deposit_addresses_wallet_index_key UNIQUE (wallet_id, derivation_index),
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT deposit_addresses_scope_key UNIQUE (id, environment, tenant_id),
    CONSTRAINT deposit_addresses_vault_fkey FOREIGN KEY (vault_id, environment, tenant_id) REFERENCES vaults (id, environment, tenant_id),
    CONSTRAINT deposit_addresses_wallet_fkey FOREIGN KEY (wallet_id, environment, tenant_id) REFERENCES wallets (id, environment, tenant_id)
);
CREATE UNIQUE INDEX deposit_addresses_one_primary_key ON deposit_addresses (wallet_id) WHERE is_primary;
CREATE INDEX deposit_addresses_list_idx ON deposit_addresses (tenant_id, environment, id);

CREATE TABLE address_book_entries (
    id           text PRIMARY KEY,
    environment  text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id    text NOT NULL REFERENCES tenants (id),
    network      text NOT NULL,
    address      text NOT NULL,
    label        text NOT NULL,
    asset_id     text,
    status       text NOT NULL CHECK (status IN ('active', 'deleted')),
    version      bigint NOT NULL CHECK (version >= 0),
    created_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT address_book_entries_scope_key UNIQUE (id, environment, tenant_id)
);
CREATE UNIQUE INDEX address_book_entries_active_address_key
    ON address_book_entries (tenant_id, environment, network, address) WHERE status = 'active';
CREATE INDEX address_book_entries_list_idx ON address_book_entries (tenant_id, environment, id);

CREATE TABLE transactions (
    id                      text PRIMARY KEY,
    environment             text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id               text NOT NULL REFERENCES tenants (id),
    kind                    text NOT NULL CHECK (kind IN ('deposit', 'transfer', 'withdrawal')),
    status                  text NOT NULL,
    asset_id                text NOT NULL,
    amount                  numeric(39, 0) NOT NULL CHECK (amount > 0),
    source_wallet_id        text,
    destination_wallet_id   text,
    deposit_address_id      text,
    address_book_entry_id   text,
    destination_network     text,
    destination_address     text,
    provider_ref            text,
    tx_hash                 text,
    confirmations_seen      bigint,
    confirmations_required  bigint,
    reference               text,
    failure_reason          text,
    history                 jsonb NOT NULL,
    version                 bigint NOT NULL CHECK (version >= 0),
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
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
);
CREATE INDEX transactions_list_idx ON transactions (tenant_id, environment, id);
CREATE INDEX transactions_source_idx ON transactions (source_wallet_id, id);
CREATE INDEX transactions_destination_idx ON transactions (destination_wallet_id, id);
CREATE INDEX transactions_open_withdrawals_idx ON transactions (environment, id)
    WHERE kind = 'withdrawal' AND status IN ('submitted', 'pending_signature', 'broadcasting', 'confirming');

-- Append-only double entry. `seq` is the order written.
CREATE TABLE ledger_entries (
    seq             bigserial PRIMARY KEY,
    environment     text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    transaction_id  text NOT NULL,
    asset_id        text NOT NULL,
    account_kind    text NOT NULL CHECK (account_kind IN ('wallet', 'external')),
    wallet_id       text,
    bucket          text CHECK (bucket IN ('available', 'pending', 'held')),
    delta           numeric(39, 0) NOT NULL CHECK (delta <> 0),
    created_at      timestamptz NOT NULL,
    CHECK ((account_kind = 'wallet') = (wallet_id IS NOT NULL AND bucket IS NOT NULL)),
    CONSTRAINT ledger_entries_transaction_fkey FOREIGN KEY (transaction_id, environment) REFERENCES transactions (id, environment),
    CONSTRAINT ledger_entries_wallet_fkey FOREIGN KEY (wallet_id, environment) REFERENCES wallets (id, environment)
);
CREATE INDEX ledger_entries_wallet_idx ON ledger_entries (wallet_id, seq);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER ledger_entries_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

-- The event log and outbox in one table: written with the change, then delivered.
CREATE TABLE events (
    id                   text PRIMARY KEY,
    environment          text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id            text NOT NULL REFERENCES tenants (id),
    event_type           text NOT NULL,
    resource_type        text NOT NULL,
    resource_id          text NOT NULL,
    resource_version     bigint NOT NULL,
    snapshot             jsonb NOT NULL,
    previous_attributes  jsonb,
    created_at           timestamptz NOT NULL,
    delivery_state       text NOT NULL DEFAULT 'pending' CHECK (delivery_state IN ('pending', 'delivered', 'failed')),
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at      timestamptz,
    lease_until          timestamptz,
    delivered_at         timestamptz,
    -- Children reference (id, environment[, tenant_id]) so a row can never point at another
    -- environment's or tenant's parent.
    CONSTRAINT events_scope_key UNIQUE (id, environment, tenant_id)
);
CREATE INDEX events_list_idx ON events (tenant_id, environment, id);
CREATE INDEX events_due_idx ON events (environment, next_attempt_at, id) WHERE delivery_state = 'pending';

CREATE TABLE webhook_delivery_attempts (
    id               text PRIMARY KEY,
    environment      text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    event_id         text NOT NULL,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    attempt          integer NOT NULL CHECK (attempt >= 1),
    attempted_at     timestamptz NOT NULL,
    url              text NOT NULL,
    response_status  integer,
    error            text,
    duration_ms      bigint NOT NULL CHECK (duration_ms >= 0),
    CONSTRAINT webhook_delivery_attempts_event_fkey FOREIGN KEY (event_id, environment, tenant_id) REFERENCES events (id, environment, tenant_id)
);
CREATE INDEX webhook_delivery_attempts_event_idx ON webhook_delivery_attempts (event_id, attempt);

CREATE TABLE idempotency_records (
    environment       text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    tenant_id         text NOT NULL REFERENCES tenants (id),
    key               text NOT NULL,
    fingerprint       bytea NOT NULL,
    state             text NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status   integer,
    response_headers  jsonb,
    response_body     bytea,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (environment, tenant_id, key),
    CHECK ((state = 'completed') = (response_status IS NOT NULL))
);
CREATE INDEX idempotency_records_expiry_idx ON idempotency_records (expires_at);
