-- Issue 12: the transaction worker, the review fixes and address-book cooling-off.
-- Expand only: every new column is nullable or has a default, the new table is unused by older
-- binaries, so the release before this one keeps working against this schema.

-- The worker's bookkeeping (scheduling, not domain state: writing it never bumps `version`).
-- `next_poll_at` null means "due since created_at"; a lease is (lease_owner, lease_until).
ALTER TABLE transactions ADD COLUMN next_poll_at timestamptz;
ALTER TABLE transactions ADD COLUMN lease_until timestamptz;
ALTER TABLE transactions ADD COLUMN lease_owner text;
ALTER TABLE transactions ADD COLUMN poll_attempts bigint NOT NULL DEFAULT 0;
-- Set when a withdrawal's outcome is unknown (a refused resend, a failed re-check on a resend):
-- the funds stay held and operators reconcile it (`custody admin withdrawals stuck`).
ALTER TABLE transactions ADD COLUMN reconciliation_reason text;
ALTER TABLE transactions ADD COLUMN reconciliation_at timestamptz;

-- Operator setting: new address-book entries become usable this many seconds after creation.
-- Null: at once.
ALTER TABLE tenants ADD COLUMN address_book_cooling_off_secs bigint
    CHECK (address_book_cooling_off_secs IS NULL OR address_book_cooling_off_secs >= 0);

-- When an entry becomes usable; null (rows written before this column) means created_at.
ALTER TABLE address_book_entries ADD COLUMN activates_at timestamptz;

-- Deposits the provider reported that no wallet may be credited with (the receiving address
-- belongs to an archived vault): kept with the provider's report, never lost, listed by
-- `custody admin deposits unattributed`. One row per provider reference; a repeated report
-- updates what the provider says now.
CREATE TABLE unattributed_deposits (
    environment             text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    provider_ref            text NOT NULL,
    tenant_id               text REFERENCES tenants (id),
    vault_id                text,
    deposit_address_id      text,
    asset_id                text NOT NULL,
    amount                  numeric(39, 0) NOT NULL CHECK (amount > 0),
    network                 text NOT NULL,
    address                 text NOT NULL,
    tx_hash                 text,
    status                  text NOT NULL,
    confirmations_seen      bigint,
    confirmations_required  bigint,
    reason                  text NOT NULL,
    first_seen_at           timestamptz NOT NULL,
    last_seen_at            timestamptz NOT NULL,
    CONSTRAINT unattributed_deposits_pkey PRIMARY KEY (environment, provider_ref)
);
CREATE INDEX unattributed_deposits_seen_idx ON unattributed_deposits (environment, first_seen_at);
