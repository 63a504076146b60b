DROP TABLE invitations;
ALTER TABLE refresh_tokens DROP COLUMN replaced_by;
ALTER TABLE users DROP COLUMN sign_in_epoch;
