-- Refresh families in O(1) per grant (issue 16). A grant keeps its
-- current refresh token's hash, the previous one's (the only token a grace
-- replay may use), and the generation: tokens now carry their family and
-- generation under a MAC, so an older token is recognised as reuse without
-- a row per rotation. Rotation is one conditional UPDATE of this row.
--
-- Tokens issued before (the legacy form, opaque) keep working: each
-- family's current token moves here as generation 0 and rotates into the
-- new form on its next use. `refresh_tokens` keeps only rotated legacy
-- tokens, for reuse detection, until they expire; nothing new is added to
-- it except a legacy token at its one rotation. One transaction: no
-- half-state.
ALTER TABLE grants ADD COLUMN refresh_generation bigint;
ALTER TABLE grants ADD COLUMN refresh_hash bytea CHECK (refresh_hash IS NULL OR octet_length(refresh_hash) = 32);
ALTER TABLE grants ADD COLUMN refresh_issued_at timestamptz;
ALTER TABLE grants ADD COLUMN refresh_expires_at timestamptz;
ALTER TABLE grants ADD COLUMN refresh_previous bytea;
ALTER TABLE grants ADD COLUMN refresh_rotated_at timestamptz;
ALTER TABLE grants ADD COLUMN refresh_grace_used boolean NOT NULL DEFAULT false;

UPDATE grants SET refresh_hash = (
    SELECT r.hash FROM refresh_tokens r
    WHERE r.grant_id = grants.id AND r.rotated_at IS NULL
    ORDER BY r.issued_at DESC LIMIT 1
) WHERE revoked_at IS NULL;

UPDATE grants SET
    refresh_generation = 0,
    refresh_issued_at = (SELECT r.issued_at FROM refresh_tokens r WHERE r.hash = grants.refresh_hash),
    refresh_expires_at = (SELECT r.expires_at FROM refresh_tokens r WHERE r.hash = grants.refresh_hash),
    refresh_previous = (SELECT r.hash FROM refresh_tokens r WHERE r.replaced_by = grants.refresh_hash ORDER BY r.rotated_at DESC LIMIT 1),
    refresh_rotated_at = (SELECT r.rotated_at FROM refresh_tokens r WHERE r.replaced_by = grants.refresh_hash ORDER BY r.rotated_at DESC LIMIT 1),
    refresh_grace_used = COALESCE(
        (SELECT r.grace_used FROM refresh_tokens r WHERE r.replaced_by = grants.refresh_hash ORDER BY r.rotated_at DESC LIMIT 1), false)
WHERE refresh_hash IS NOT NULL;

DELETE FROM refresh_tokens WHERE hash IN (SELECT refresh_hash FROM grants WHERE refresh_hash IS NOT NULL);

CREATE UNIQUE INDEX grants_refresh_hash_idx ON grants (refresh_hash);
CREATE INDEX grants_refresh_expires_at_idx ON grants (refresh_expires_at);
