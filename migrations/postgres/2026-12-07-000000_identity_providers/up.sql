-- Upstream identity providers ("Sign in with …") and the identities users
-- linked through them. A link is keyed by the upstream's (issuer, subject):
-- an email can be reassigned upstream, a subject cannot. The client secret
-- is sealed with the master key (AES-256-GCM), since it is sent upstream
-- and so cannot be hashed.
CREATE TABLE identity_providers (
    id                     uuid        PRIMARY KEY,
    name                   text        NOT NULL UNIQUE,
    display_name           text        NOT NULL,
    kind                   text        NOT NULL CHECK (kind IN ('oidc', 'github')),
    issuer                 text        NOT NULL,
    client_id              text        NOT NULL,
    sealed_secret          bytea       NOT NULL,
    scopes                 text        NOT NULL,
    create_users           boolean     NOT NULL,
    link_by_verified_email boolean     NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);

CREATE TABLE linked_identities (
    issuer       text        NOT NULL,
    subject      text        NOT NULL,
    provider_id  uuid        NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        text,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX linked_identities_user_id_idx ON linked_identities (user_id);
CREATE INDEX linked_identities_provider_id_idx ON linked_identities (provider_id);
