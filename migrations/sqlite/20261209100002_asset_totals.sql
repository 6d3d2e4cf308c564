-- Issue 18: the tenant-wide available balance per (tenant, environment, asset), maintained by
-- every balance change in the same transaction (see the PostgreSQL migration of the same name).
-- Amounts are decimal text, as everywhere on SQLite; a slot may be negative ('-' then digits).
-- At most 39 digits (u128::MAX has 39): the exact sums read 40 digits, so a longer slot would be
-- read back cut, silently wrong; the CHECK refuses it (the backfill then fails loudly: it would
-- take a tenant holding more than 10^38 base units of one asset).
CREATE TABLE asset_totals (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    environment TEXT NOT NULL CHECK (environment IN ('live', 'sandbox')),
    asset_id    TEXT NOT NULL,
    slot        INTEGER NOT NULL CHECK (slot >= 0 AND slot < 16),
    available   TEXT NOT NULL CHECK (length(ltrim(available, '-')) BETWEEN 1 AND 39
                    AND ltrim(available, '-') NOT GLOB '*[^0-9]*'
                    AND available NOT GLOB '--*'),
    CONSTRAINT asset_totals_pkey PRIMARY KEY (tenant_id, environment, asset_id, slot)
) WITHOUT ROWID;

-- Backfill, exactly, in SQL: SQLite's SUM of text would be a float, so each wallet's available
-- balance (at most 39 digits) is left-padded to 40 and cut into four parts of ten digits, each
-- part is summed as a 64-bit integer (exact; an "integer overflow" error rather than a rounded
-- number past 9.2 × 10^8 wallets of one asset), the carries are propagated from the lowest part
-- up, and the digits are printed back: the same arithmetic as custody-sql's exact_sum. Every
-- (tenant, environment, asset) with a wallet gets slot 0 (zero included).
INSERT INTO asset_totals (tenant_id, environment, asset_id, slot, available)
SELECT tenant_id, environment, asset_id, 0,
       CASE
           WHEN d3 > 0 THEN printf('%d%010d%010d%010d', d3, d2, d1, d0)
           WHEN d2 > 0 THEN printf('%d%010d%010d', d2, d1, d0)
           WHEN d1 > 0 THEN printf('%d%010d', d1, d0)
           ELSE printf('%d', d0)
       END
FROM (
    SELECT tenant_id, environment, asset_id,
           p0 % 10000000000 AS d0,
           (p1 + p0 / 10000000000) % 10000000000 AS d1,
           (p2 + (p1 + p0 / 10000000000) / 10000000000) % 10000000000 AS d2,
           p3 + (p2 + (p1 + p0 / 10000000000) / 10000000000) / 10000000000 AS d3
    FROM (
        SELECT tenant_id, environment, asset_id,
               SUM(CAST(substr(padded, 31, 10) AS INTEGER)) AS p0,
               SUM(CAST(substr(padded, 21, 10) AS INTEGER)) AS p1,
               SUM(CAST(substr(padded, 11, 10) AS INTEGER)) AS p2,
               SUM(CAST(substr(padded, 1, 10) AS INTEGER)) AS p3
        FROM (
            SELECT tenant_id, environment, asset_id,
                   substr('0000000000000000000000000000000000000000' || available, -40, 40)
                       AS padded
            FROM wallets
        )
        GROUP BY tenant_id, environment, asset_id
    )
);
