CREATE INDEX grants_refresh_expires_at_idx ON grants (refresh_expires_at);
CREATE UNIQUE INDEX grants_refresh_hash_idx ON grants (refresh_hash);
DROP INDEX grants_refresh_legacy_idx;
ALTER TABLE grants DROP COLUMN refresh_legacy;
