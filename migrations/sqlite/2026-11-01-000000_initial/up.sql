-- Gatehouse's records in an embedded SQLite file: the same tables, keys,
-- cascades and indexes as the PostgreSQL schema, in SQLite's types. STRICT
-- tables refuse a value of the wrong type instead of silently keeping it.
--
--   uuid   -> TEXT, hyphenated lower case (sorts like the bytes)
--   time   -> TEXT, UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ': fixed width, so text
--             order is time order and comparisons work in SQL
--   digest -> BLOB of 32 bytes
--   lists  -> TEXT holding a JSON array; metadata -> TEXT holding a JSON object
--   bool   -> INTEGER 0/1
--
-- Foreign keys are enforced only with PRAGMA foreign_keys = ON, which the
-- store sets on every connection it opens.

CREATE TABLE clients (
    id                      TEXT    NOT NULL PRIMARY KEY,
    secret_hash             BLOB    CHECK (length(secret_hash) = 32),
    name                    TEXT    NOT NULL,
    description             TEXT    NOT NULL,
    redirect_uris           TEXT    NOT NULL CHECK (json_type(redirect_uris) = 'array'),
    allowed_scopes          TEXT    NOT NULL,
    auth_method             TEXT    NOT NULL,
    grant_types             TEXT    NOT NULL CHECK (json_type(grant_types) = 'array'),
    application_type        TEXT    NOT NULL,
    origin                  TEXT    NOT NULL,
    require_pkce            INTEGER NOT NULL,
    registration_token_hash BLOB    CHECK (length(registration_token_hash) = 32),
    metadata                TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(metadata) = 'object'),
    metadata_expires_at     TEXT,
    created_at              TEXT    NOT NULL,
    updated_at              TEXT    NOT NULL
) STRICT;
CREATE INDEX clients_created_at_idx ON clients (created_at, id);

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    email_verified INTEGER NOT NULL,
    password_hash  TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
) STRICT;
CREATE INDEX users_created_at_idx ON users (created_at, id);
CREATE INDEX users_admins_idx ON users (id) WHERE role = 'admin';

CREATE TABLE organizations (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

-- A code's grant_id names the grant its first redemption will create, so it
-- has no foreign key: the grant does not exist yet.
CREATE TABLE authorization_codes (
    hash         BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    client_id    TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT,
    scope        TEXT    NOT NULL,
    challenge    TEXT,
    resource     TEXT,
    grant_id     TEXT    NOT NULL,
    issued_at    TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    spent        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX authorization_codes_client_id_idx ON authorization_codes (client_id);
CREATE INDEX authorization_codes_user_id_idx ON authorization_codes (user_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE grants (
    id         TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    resource   TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_user_id_idx ON grants (user_id);

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    grant_id   TEXT    NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    issued_at  TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    rotated_at TEXT,
    grace_used INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE denied_access_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX denied_access_tokens_expires_at_idx ON denied_access_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;
CREATE INDEX consents_client_id_idx ON consents (client_id);

CREATE TABLE sessions (
    hash       BLOB NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE signing_keys (
    kid                   TEXT NOT NULL PRIMARY KEY,
    encrypted_private_key BLOB NOT NULL,
    public_key            BLOB NOT NULL,
    created_at            TEXT NOT NULL,
    retired_at            TEXT
) STRICT;

-- At most one row: the generated master key, when none is configured.
CREATE TABLE master_key (
    id  INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    key BLOB    NOT NULL
) STRICT;

CREATE TABLE resources (
    id         TEXT NOT NULL PRIMARY KEY,
    uri        TEXT NOT NULL,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT resources_uri_key UNIQUE (uri)
) STRICT;
CREATE INDEX resources_created_at_idx ON resources (created_at, id);
