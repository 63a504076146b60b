DELETE FROM revocations WHERE kind = 'token';
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('grant', 'app', 'user', 'client'));
ALTER TABLE revocations DROP COLUMN jti;
