-- Second factors: one authenticator app (TOTP, RFC 6238) per user, its
-- secret sealed with the master key (a code is computed from it, so it
-- cannot be hashed), and `last_step`, the last time step a code was
-- accepted for, so no code is accepted twice. Recovery codes are stored
-- as SHA-256 hashes and spent once.
CREATE TABLE totp_factors (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret bytea       NOT NULL,
    confirmed     boolean     NOT NULL,
    last_step     bigint      NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       bytea       NOT NULL CHECK (octet_length(hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, hash)
);
