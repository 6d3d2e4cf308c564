-- A vault's addresses were found by walking the whole tenant's addresses in id order; this
-- index makes it a range scan of the vault's own rows, in cursor order (see the PostgreSQL
-- migration of the same name).
CREATE INDEX deposit_addresses_vault_idx ON deposit_addresses (vault_id, id);
