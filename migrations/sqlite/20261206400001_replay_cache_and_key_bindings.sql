-- Issue 16 (auth): the replay cache of signed requests, the binding of Ed25519 public keys
-- to one tenant and environment, and the master key's check value (see the PostgreSQL
-- migration of the same name). Expand only.

CREATE TABLE request_signatures (
    api_key_id        TEXT NOT NULL,
    signature_digest  BLOB NOT NULL CHECK (length(signature_digest) = 32),
    idempotency_key   TEXT,
    used_at           INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    CONSTRAINT request_signatures_pkey PRIMARY KEY (api_key_id, signature_digest)
) STRICT;
CREATE INDEX request_signatures_expiry_idx ON request_signatures (expires_at);

CREATE TABLE ed25519_public_keys (
    public_key   TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    environment  TEXT NOT NULL CHECK (environment IN ('live', 'sandbox'))
) STRICT;
INSERT INTO ed25519_public_keys (public_key, tenant_id, environment)
SELECT replace(replace(replace(replace(replace(ed25519_public_key,
           '-----BEGIN PUBLIC KEY-----', ''), '-----END PUBLIC KEY-----', ''),
           char(10), ''), char(13), ''), ' ', ''),
       tenant_id, environment
FROM api_keys
WHERE mode = 'ed25519'
ORDER BY created_at, id
ON CONFLICT (public_key) DO NOTHING;

CREATE TABLE master_key_check (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    check_value  BLOB NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
