-- Passkeys (WebAuthn credentials): public keys only. `credential_id` is
-- the authenticator's id, unique across users because a sign-in with a
-- passkey alone finds the account by it; `credential` is the WebAuthn
-- library's JSON (public key, signature counter), opaque to SQL.
CREATE TABLE passkeys (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea       NOT NULL UNIQUE,
    name          text        NOT NULL,
    credential    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Passkey ceremonies in flight: each challenge is taken (deleted) by the
-- one answer checked against it, so it is answered at most once on any
-- instance; expired ones are dropped whenever a new one is stored.
CREATE TABLE passkey_challenges (
    id         uuid        PRIMARY KEY,
    purpose    text        NOT NULL CHECK (purpose IN ('register', 'second_factor', 'sign_in')),
    user_id    uuid        REFERENCES users (id) ON DELETE CASCADE,
    state      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);
