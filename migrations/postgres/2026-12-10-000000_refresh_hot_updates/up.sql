-- A rotation rewrites only columns no index covers, so PostgreSQL can make
-- it a heap-only (HOT) update: the new row version goes on the same page
-- and no index gets an entry per rotation (issue 16).
--
-- Tokens of the current form name their family, so they are found by the
-- grant's primary key and `refresh_hash` needs no index. Only a legacy
-- (opaque) current token must be found by its hash: it gets a column of
-- its own, cleared at its one rotation. The family's expiry slides with
-- every rotation, so it is not indexed either; the purge, which runs in
-- the background, scans for expired families instead.
ALTER TABLE grants ADD COLUMN refresh_legacy bytea
    CHECK (refresh_legacy IS NULL OR octet_length(refresh_legacy) = 32);
UPDATE grants SET refresh_legacy = refresh_hash WHERE refresh_generation = 0;
CREATE UNIQUE INDEX grants_refresh_legacy_idx ON grants (refresh_legacy);
DROP INDEX grants_refresh_hash_idx;
DROP INDEX grants_refresh_expires_at_idx;
-- Room on each page for the next version of its rows, which is what keeps
-- an update heap-only.
ALTER TABLE grants SET (fillfactor = 80);
