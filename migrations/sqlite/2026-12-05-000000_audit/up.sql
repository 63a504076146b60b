-- The audit log (issue 12): who signed in, consented, changed a client or a
-- user, or had a refresh family revoked. No foreign keys: an event outlives
-- the user or client it names. Times are fixed-width UTC text, so text
-- order is time order.
CREATE TABLE audit_events (
    id        TEXT PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    user_id   TEXT,
    client_id TEXT,
    ip        TEXT,
    details   TEXT NOT NULL
) STRICT;
-- Listing is newest first, filtered by at most one of these.
CREATE INDEX audit_events_at_idx ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, at DESC, id DESC);
CREATE INDEX audit_events_client_idx ON audit_events (client_id, at DESC, id DESC);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, at DESC, id DESC);
