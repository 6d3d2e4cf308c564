-- A vault's addresses (Connect `GET /connect/v1/addresses?external_ref=…`, a vault's wallets'
-- addresses) were found by walking the whole tenant's addresses in id order: linear in the
-- tenant's address count (4.6 s p99 at 10^6 addresses). This index makes it a range scan of
-- the vault's own rows, in the id order the cursor pages in.
CREATE INDEX deposit_addresses_vault_idx ON deposit_addresses (vault_id, id);
