-- A rotation rewrites only columns no index covers, so it touches no index
-- (issue 16; the PostgreSQL migration of the same name says more).
--
-- Tokens of the current form name their family, so they are found by the
-- grant's primary key and `refresh_hash` needs no index. Only a legacy
-- (opaque) current token must be found by its hash: it gets a column of
-- its own, cleared at its one rotation. The family's expiry slides with
-- every rotation, so it is not indexed either; the purge scans instead.
ALTER TABLE grants ADD COLUMN refresh_legacy BLOB
    CHECK (refresh_legacy IS NULL OR length(refresh_legacy) = 32);
UPDATE grants SET refresh_legacy = refresh_hash WHERE refresh_generation = 0;
CREATE UNIQUE INDEX grants_refresh_legacy_idx ON grants (refresh_legacy);
DROP INDEX grants_refresh_hash_idx;
DROP INDEX grants_refresh_expires_at_idx;
