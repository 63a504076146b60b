-- Upstream identity providers ("Sign in with …") and the identities users
-- linked through them. A link is keyed by the upstream's (issuer, subject):
-- an email can be reassigned upstream, a subject cannot. The client secret
-- is sealed with the master key (AES-256-GCM), since it is sent upstream
-- and so cannot be hashed.
CREATE TABLE identity_providers (
    id                     TEXT    PRIMARY KEY,
    name                   TEXT    NOT NULL UNIQUE,
    display_name           TEXT    NOT NULL,
    kind                   TEXT    NOT NULL CHECK (kind IN ('oidc', 'github')),
    issuer                 TEXT    NOT NULL,
    client_id              TEXT    NOT NULL,
    sealed_secret          BLOB    NOT NULL,
    scopes                 TEXT    NOT NULL,
    create_users           INTEGER NOT NULL,
    link_by_verified_email INTEGER NOT NULL,
    created_at             TEXT    NOT NULL,
    updated_at             TEXT    NOT NULL
) STRICT;

CREATE TABLE linked_identities (
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    provider_id  TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        TEXT,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
) STRICT;
CREATE INDEX linked_identities_user_id_idx ON linked_identities (user_id);
CREATE INDEX linked_identities_provider_id_idx ON linked_identities (provider_id);
