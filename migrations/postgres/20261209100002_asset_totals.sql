-- Issue 18: the tenant-wide available balance per (tenant, environment, asset), maintained by
-- every balance change in the same transaction (custody_core::totals), so that the tenant-wide
-- `GET /connect/v1/balances` reads a few rows instead of every wallet of the tenant.
--
-- Striped: a movement adds its change of `available` to one of 16 slots (its transaction id's
-- low bits), so one tenant's concurrent movements rarely queue on one row; a read sums the
-- slots. A slot may be negative (credited through one slot, spent through another): only the
-- sum per (tenant, environment, asset) is a balance, so there is no CHECK (available >= 0).
-- `numeric` without a precision: a slot is whatever its changes add up to.
--
-- No foreign key to `tenants`: like the other hot tables (20261207700001), a key here would take
-- a FOR KEY SHARE lock on the tenant row in every money movement; rows are only written by
-- booking, for the wallets' own tenant.
CREATE TABLE asset_totals (
    tenant_id   text NOT NULL,
    environment text NOT NULL CHECK (environment IN ('live', 'sandbox')),
    asset_id    text NOT NULL,
    slot        smallint NOT NULL CHECK (slot >= 0 AND slot < 16),
    available   numeric NOT NULL CHECK (available = trunc(available)),
    CONSTRAINT asset_totals_pkey PRIMARY KEY (tenant_id, environment, asset_id, slot)
);

-- Backfill, exactly (`numeric` sums are exact): every (tenant, environment, asset) with a wallet
-- gets slot 0 = the sum of its wallets' available balances (zero included).
INSERT INTO asset_totals (tenant_id, environment, asset_id, slot, available)
SELECT tenant_id, environment, asset_id, 0, SUM(available)
FROM wallets
GROUP BY tenant_id, environment, asset_id;
