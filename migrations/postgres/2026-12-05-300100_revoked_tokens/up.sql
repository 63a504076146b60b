-- One access token revoked at /revoke is published too (by its `jti`), so
-- resource servers that verify locally refuse it as introspection does.
ALTER TABLE revocations ADD COLUMN jti uuid;
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('grant', 'app', 'user', 'client', 'token'));
