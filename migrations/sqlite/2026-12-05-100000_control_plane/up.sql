-- The control plane (issue 13). Last-used times are written in batches
-- about once a minute, never per token request; a client's is what idle
-- self-registered clients are reaped by. registration_key identifies the
-- software a public dynamic registration came from, so the same software
-- registering again reuses its client instead of adding a row.
ALTER TABLE grants ADD COLUMN last_used_at TEXT;
ALTER TABLE clients ADD COLUMN last_used_at TEXT;
ALTER TABLE clients ADD COLUMN registration_key BLOB CHECK (registration_key IS NULL OR length(registration_key) = 32);
CREATE INDEX clients_registration_key_idx ON clients (registration_key);
CREATE INDEX clients_origin_idx ON clients (origin, created_at);
