-- Back to a row per token: each family's current token returns to
-- `refresh_tokens` (tokens of the new form keep their hash, but the old
-- code cannot tell their reuse apart from other tokens' any more).
INSERT INTO refresh_tokens (hash, grant_id, issued_at, expires_at, rotated_at, grace_used)
SELECT refresh_hash, id, refresh_issued_at, refresh_expires_at, NULL, 0
FROM grants WHERE refresh_hash IS NOT NULL AND refresh_issued_at IS NOT NULL;
DROP INDEX grants_refresh_expires_at_idx;
DROP INDEX grants_refresh_hash_idx;
ALTER TABLE grants DROP COLUMN refresh_grace_used;
ALTER TABLE grants DROP COLUMN refresh_rotated_at;
ALTER TABLE grants DROP COLUMN refresh_previous;
ALTER TABLE grants DROP COLUMN refresh_expires_at;
ALTER TABLE grants DROP COLUMN refresh_issued_at;
ALTER TABLE grants DROP COLUMN refresh_hash;
ALTER TABLE grants DROP COLUMN refresh_generation;
