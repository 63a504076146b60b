-- Security hardening (issue 10).
--
-- users.sign_in_epoch: bumped by a password change; platform tokens carry
-- the epoch they were issued in, and older ones are refused.
ALTER TABLE users ADD COLUMN sign_in_epoch integer NOT NULL DEFAULT 0;

-- refresh_tokens.replaced_by: the token a rotation issued, so only the
-- just-rotated token (whose successor is still current) may be replayed
-- inside the grace window.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by bytea CHECK (octet_length(replaced_by) = 32);

-- Invitations to organizations: nobody becomes a member without accepting.
CREATE TABLE invitations (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL,
    invited_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX invitations_user_id_idx ON invitations (user_id);
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
