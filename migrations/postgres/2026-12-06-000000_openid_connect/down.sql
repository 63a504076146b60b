ALTER TABLE authorization_codes
    DROP CONSTRAINT authorization_codes_sign_in_check,
    DROP COLUMN sid,
    DROP COLUMN auth_time,
    DROP COLUMN nonce;
