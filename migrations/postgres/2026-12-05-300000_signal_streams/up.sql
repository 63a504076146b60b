-- Shared Signals streams: one per receiving resource-server instance. The
-- events are the `revocations` log; a stream keeps only its receiver's
-- settings and how far it has acknowledged the log. `version` makes every
-- update conditional (two instances serving one stream never overwrite
-- each other's progress). `settings` holds what no query filters on
-- (endpoint, requested events, description, acknowledgements ahead of the
-- cursor, a pending verification event) as JSON.
CREATE TABLE ssf_streams (
    id                   uuid        PRIMARY KEY,
    client_id            text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    version              bigint      NOT NULL,
    method               text        NOT NULL CHECK (method IN ('poll', 'push')),
    status               text        NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    cursor               bigint      NOT NULL,
    settings             jsonb       NOT NULL,
    sealed_authorization bytea,
    retry_at             timestamptz,
    lease_until          timestamptz,
    last_polled_at       timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX ssf_streams_client_id_idx ON ssf_streams (client_id);
