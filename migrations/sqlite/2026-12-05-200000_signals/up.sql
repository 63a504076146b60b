-- Revocations, for resource servers that verify tokens themselves: every
-- token of the subject issued at or before `at` is revoked. Published as
-- Shared Signals events; dropped once every such token has expired. No
-- foreign keys: an entry outlives the user or client it names.
CREATE TABLE revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'app', 'user', 'client')),
    grant_id   TEXT,
    user_id    TEXT,
    client_id  TEXT,
    reason     TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);
