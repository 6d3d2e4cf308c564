-- The tenant-wide read lists every asset the tenant has a wallet for (zero included), as it did
-- when it summed the wallets: a loose index scan over this index, one descent per asset, finds
-- them without reading the tenant's wallets. (An asset id never changes, so wallet balance
-- updates do not touch it.)
CREATE INDEX wallets_tenant_asset_idx ON wallets (tenant_id, environment, asset_id);
