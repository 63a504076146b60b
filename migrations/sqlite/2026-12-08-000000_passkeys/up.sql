-- Passkeys (WebAuthn credentials): public keys only. `credential_id` is
-- the authenticator's id, unique across users because a sign-in with a
-- passkey alone finds the account by it; `credential` is the WebAuthn
-- library's JSON (public key, signature counter), opaque to SQL.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Passkey ceremonies in flight: each challenge is taken (deleted) by the
-- one answer checked against it, so it is answered at most once on any
-- instance; expired ones are dropped whenever a new one is stored.
CREATE TABLE passkey_challenges (
    id         TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('register', 'second_factor', 'sign_in')),
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);
