CREATE TABLE revocations_old (
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
INSERT INTO revocations_old (seq, id, at, kind, grant_id, user_id, client_id, reason, expires_at)
    SELECT seq, id, at, kind, grant_id, user_id, client_id, reason, expires_at FROM revocations
    WHERE kind <> 'token';
DROP TABLE revocations;
ALTER TABLE revocations_old RENAME TO revocations;
CREATE INDEX revocations_expires_at_idx ON revocations (expires_at);
