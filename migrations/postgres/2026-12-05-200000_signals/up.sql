-- Revocations, for resource servers that verify tokens themselves: every
-- token of the subject issued at or before `at` is revoked. Published as
-- Shared Signals events; dropped once every such token has expired. No
-- foreign keys: an entry outlives the user or client it names.
CREATE TABLE revocations (
    seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid        NOT NULL UNIQUE,
    at         timestamptz NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('grant', 'app', 'user', 'client')),
    grant_id   uuid,
    user_id    uuid,
    client_id  text,
    reason     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);
