-- Gatehouse's records on PostgreSQL. Credentials are stored only as SHA-256
-- digests (bytea, 32 bytes); times are timestamptz; ids are uuid except the
-- OAuth client_id, which is a string clients choose or are given.
--
-- Foreign keys cascade where deleting the parent must take its records with
-- it (a client's or user's codes, grants, tokens, consents, sessions), so a
-- delete is one statement and never leaves orphans. Every lookup on a
-- request's hot path has an index: primary keys for token hashes, client ids
-- and grant ids; secondary ones for email, resource URI, the family of a
-- refresh token, and the expiry columns the purger scans.

CREATE TABLE clients (
    id                      text        PRIMARY KEY,
    secret_hash             bytea       CHECK (octet_length(secret_hash) = 32),
    name                    text        NOT NULL,
    description             text        NOT NULL,
    redirect_uris           text[]      NOT NULL,
    allowed_scopes          text        NOT NULL,
    auth_method             text        NOT NULL,
    grant_types             text[]      NOT NULL,
    application_type        text        NOT NULL,
    origin                  text        NOT NULL,
    require_pkce            boolean     NOT NULL,
    registration_token_hash bytea       CHECK (octet_length(registration_token_hash) = 32),
    metadata                jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    metadata_expires_at     timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX clients_created_at_idx ON clients (created_at, id);

CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    email          text        NOT NULL,
    name           text        NOT NULL,
    role           text        NOT NULL,
    email_verified boolean     NOT NULL,
    password_hash  text        NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_admins_idx ON users (id) WHERE role = 'admin';

CREATE TABLE organizations (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    description text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE memberships (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- A code's grant_id names the grant its first redemption will create, so it
-- has no foreign key: the grant does not exist yet.
CREATE TABLE authorization_codes (
    hash         bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    client_id    text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri text,
    scope        text        NOT NULL,
    challenge    text,
    resource     text,
    grant_id     uuid        NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    spent        boolean     NOT NULL DEFAULT false
);
CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE grants (
    id         uuid        PRIMARY KEY,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      text        NOT NULL,
    resource   text,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_user_id_idx ON grants (user_id);

CREATE TABLE refresh_tokens (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    grant_id   uuid        NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    grace_used boolean     NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE denied_access_tokens (
    jti        uuid        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX denied_access_tokens_expires_at_idx ON denied_access_tokens (expires_at);

CREATE TABLE consents (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      text        NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id_idx ON consents (client_id);

CREATE TABLE sessions (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE signing_keys (
    kid                   text        PRIMARY KEY,
    encrypted_private_key bytea       NOT NULL,
    public_key            bytea       NOT NULL,
    created_at            timestamptz NOT NULL,
    retired_at            timestamptz
);

-- At most one row: the generated master key, when none is configured.
CREATE TABLE master_key (
    id  smallint PRIMARY KEY CHECK (id = 1),
    key bytea    NOT NULL
);

CREATE TABLE resources (
    id         uuid        PRIMARY KEY,
    uri        text        NOT NULL,
    name       text        NOT NULL,
    scopes     text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT resources_uri_key UNIQUE (uri)
);
CREATE INDEX resources_created_at_idx ON resources (created_at, id);
