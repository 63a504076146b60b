-- Second factors: one authenticator app (TOTP, RFC 6238) per user, its
-- secret sealed with the master key (a code is computed from it, so it
-- cannot be hashed), and `last_step`, the last time step a code was
-- accepted for, so no code is accepted twice. Recovery codes are stored
-- as SHA-256 hashes and spent once.
CREATE TABLE totp_factors (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    confirmed     INTEGER NOT NULL,
    last_step     INTEGER NOT NULL,
    created_at    TEXT    NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    used_at    TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, hash)
) STRICT;
