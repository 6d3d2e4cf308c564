-- Issue 14: the suspense list keeps the provider's report and an operator's resolution (see
-- the PostgreSQL migration of the same name). Expand only.

ALTER TABLE unattributed_deposits ADD COLUMN report TEXT;
ALTER TABLE unattributed_deposits ADD COLUMN state TEXT NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'assigned', 'returned'));
ALTER TABLE unattributed_deposits ADD COLUMN transaction_id TEXT;
ALTER TABLE unattributed_deposits ADD COLUMN resolution TEXT;
ALTER TABLE unattributed_deposits ADD COLUMN resolved_at INTEGER;

CREATE INDEX unattributed_deposits_open_idx
    ON unattributed_deposits (environment, first_seen_at) WHERE state = 'open';
CREATE INDEX deposit_addresses_asset_idx ON deposit_addresses (environment, asset_id, id);
