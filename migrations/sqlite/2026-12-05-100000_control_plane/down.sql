DROP INDEX clients_origin_idx;
DROP INDEX clients_registration_key_idx;
ALTER TABLE clients DROP COLUMN registration_key;
ALTER TABLE clients DROP COLUMN last_used_at;
ALTER TABLE grants DROP COLUMN last_used_at;
