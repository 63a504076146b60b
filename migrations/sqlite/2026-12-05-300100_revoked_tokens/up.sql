-- One access token revoked at /revoke is published too (by its `jti`), so
-- resource servers that verify locally refuse it as introspection does.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt,
-- keeping every `seq` (AUTOINCREMENT continues past the highest).
CREATE TABLE revocations_new (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('grant', 'app', 'user', 'client', 'token')),
    grant_id   TEXT,
    user_id    TEXT,
    client_id  TEXT,
    reason     TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    jti        TEXT
) STRICT;
INSERT INTO revocations_new (seq, id, at, kind, grant_id, user_id, client_id, reason, expires_at)
    SELECT seq, id, at, kind, grant_id, user_id, client_id, reason, expires_at FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);
