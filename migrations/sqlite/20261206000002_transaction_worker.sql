-- Issue 12: the transaction worker, the review fixes and address-book cooling-off (see the
-- PostgreSQL migration of the same name). Expand only.

ALTER TABLE transactions ADD COLUMN next_poll_at INTEGER;
ALTER TABLE transactions ADD COLUMN lease_until INTEGER;
ALTER TABLE transactions ADD COLUMN lease_owner TEXT;
ALTER TABLE transactions ADD COLUMN poll_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN reconciliation_reason TEXT;
ALTER TABLE transactions ADD COLUMN reconciliation_at INTEGER;

ALTER TABLE tenants ADD COLUMN address_book_cooling_off_secs INTEGER
    CHECK (address_book_cooling_off_secs IS NULL OR address_book_cooling_off_secs >= 0);

ALTER TABLE address_book_entries ADD COLUMN activates_at INTEGER;

CREATE TABLE unattributed_deposits (
    environment             TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    provider_ref            TEXT NOT NULL,
    tenant_id               TEXT REFERENCES tenants (id),
    vault_id                TEXT,
    deposit_address_id      TEXT,
    asset_id                TEXT NOT NULL,
    amount                  TEXT NOT NULL CHECK (length(amount) BETWEEN 1 AND 39
                                AND amount NOT GLOB '*[^0-9]*' AND amount GLOB '[1-9]*'),
    network                 TEXT NOT NULL,
    address                 TEXT NOT NULL,
    tx_hash                 TEXT,
    status                  TEXT NOT NULL,
    confirmations_seen      INTEGER,
    confirmations_required  INTEGER,
    reason                  TEXT NOT NULL,
    first_seen_at           INTEGER NOT NULL,
    last_seen_at            INTEGER NOT NULL,
    CONSTRAINT unattributed_deposits_pkey PRIMARY KEY (environment, provider_ref)
) STRICT;
CREATE INDEX unattributed_deposits_seen_idx ON unattributed_deposits (environment, first_seen_at);
