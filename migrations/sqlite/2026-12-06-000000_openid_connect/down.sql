ALTER TABLE authorization_codes DROP COLUMN sid;
ALTER TABLE authorization_codes DROP COLUMN auth_time;
ALTER TABLE authorization_codes DROP COLUMN nonce;
