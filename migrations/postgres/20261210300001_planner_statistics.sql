-- SQLite's migration of this number writes fixed planner statistics (see its header).
-- PostgreSQL measures its own (autovacuum's ANALYZE) and needs nothing: kept so both stores'
-- migrations keep the same numbers.
SELECT 1;
