-- Issue 16 (auth): the replay cache of signed requests, the binding of Ed25519 public keys
-- to one tenant and environment, and the master key's check value. Expand only.

-- Each signed request is single-use within its timestamp window: one row per (key, SHA-256 of
-- what was signed) until the window has passed (`expires_at`), purged on the idempotency
-- purge schedule. A second insert of the same row is a replay.
CREATE TABLE request_signatures (
    api_key_id        text NOT NULL,
    signature_digest  bytea NOT NULL CHECK (octet_length(signature_digest) = 32),
    idempotency_key   text,
    used_at           timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    CONSTRAINT request_signatures_pkey PRIMARY KEY (api_key_id, signature_digest)
);
CREATE INDEX request_signatures_expiry_idx ON request_signatures (expires_at);

-- One Ed25519 public key (named by the base64 of its DER: the PEM without armour and
-- whitespace) belongs to one tenant and one environment: a sandbox signature can never
-- authenticate a live key. Keys minted before: the oldest key's tenant and environment win;
-- a key whose public key is bound elsewhere is refused at use.
CREATE TABLE ed25519_public_keys (
    public_key   text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    environment  text NOT NULL CHECK (environment IN ('live', 'sandbox'))
);
INSERT INTO ed25519_public_keys (public_key, tenant_id, environment)
SELECT DISTINCT ON (name) name, tenant_id, environment
FROM (
    SELECT replace(replace(replace(replace(replace(ed25519_public_key,
               '-----BEGIN PUBLIC KEY-----', ''), '-----END PUBLIC KEY-----', ''),
               chr(10), ''), chr(13), ''), ' ', '') AS name,
           tenant_id, environment, created_at, id
    FROM api_keys
    WHERE mode = 'ed25519'
) AS keys
ORDER BY name, created_at, id
ON CONFLICT (public_key) DO NOTHING;

-- The master key's check value: HMAC-SHA256 under the key of a fixed label, never the key. A
-- store opened with another key is refused at start, naming the fix.
CREATE TABLE master_key_check (
    id           integer PRIMARY KEY CHECK (id = 1),
    check_value  bytea NOT NULL,
    created_at   timestamptz NOT NULL
);
