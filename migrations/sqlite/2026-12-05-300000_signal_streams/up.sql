-- Shared Signals streams: one per receiving resource-server instance. The
-- events are the `revocations` log; a stream keeps only its receiver's
-- settings and how far it has acknowledged the log. `version` makes every
-- update conditional (two instances serving one stream never overwrite
-- each other's progress). `settings` holds what no query filters on
-- (endpoint, requested events, description, acknowledgements ahead of the
-- cursor, a pending verification event) as JSON.
CREATE TABLE ssf_streams (
    id                   TEXT    PRIMARY KEY,
    client_id            TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    version              INTEGER NOT NULL,
    method               TEXT    NOT NULL CHECK (method IN ('poll', 'push')),
    status               TEXT    NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    cursor               INTEGER NOT NULL,
    settings             TEXT    NOT NULL,
    sealed_authorization BLOB,
    retry_at             TEXT,
    lease_until          TEXT,
    last_polled_at       TEXT    NOT NULL,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL
) STRICT;
CREATE INDEX ssf_streams_client_id_idx ON ssf_streams (client_id);
