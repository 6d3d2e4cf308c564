-- no-transaction
-- The tenant-wide read lists every asset the tenant has a wallet for (zero included), as it did
-- when it summed the wallets: a loose index scan over this index, one descent per asset, finds
-- them without reading the tenant's wallets. (An asset id never changes, so wallet balance
-- updates do not touch it.) Built concurrently, in a migration of its own, so a large `wallets`
-- table is not write-locked (every money movement waiting) while it builds (review).
CREATE INDEX CONCURRENTLY IF NOT EXISTS wallets_tenant_asset_idx
    ON wallets (tenant_id, environment, asset_id);
