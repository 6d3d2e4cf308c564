-- Issue 14: the suspense list (unattributed_deposits) keeps everything the provider said and
-- an operator's resolution (`custody admin deposits assign|return`). Expand only: new columns
-- are nullable or defaulted, so the release before this one keeps working against it.

-- Everything the provider said in its latest report, as JSON text (null: written before).
ALTER TABLE unattributed_deposits ADD COLUMN report text;
-- open until an operator assigns (credited, see transaction_id) or returns it.
ALTER TABLE unattributed_deposits ADD COLUMN state text NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'assigned', 'returned'));
-- The deposit transaction an assignment created.
ALTER TABLE unattributed_deposits ADD COLUMN transaction_id text;
-- The operator's audit (operator, evidence, at, txHash), as JSON text.
ALTER TABLE unattributed_deposits ADD COLUMN resolution text;
ALTER TABLE unattributed_deposits ADD COLUMN resolved_at timestamptz;

-- `deposits unattributed` lists the open ones first seen first.
CREATE INDEX unattributed_deposits_open_idx
    ON unattributed_deposits (environment, first_seen_at) WHERE state = 'open';
-- Rhino deposit reconciliation walks one asset's addresses in id order.
CREATE INDEX deposit_addresses_asset_idx ON deposit_addresses (environment, asset_id, id);
