-- OpenID Connect (issue 14): an authorization code issued for scope
-- `openid` carries what its ID token must say about the sign-in: the
-- client's nonce, when the user signed in, and the session's id. auth_time
-- and sid are NULL together for plain OAuth codes.
ALTER TABLE authorization_codes
    ADD COLUMN nonce text,
    ADD COLUMN auth_time timestamptz,
    ADD COLUMN sid text,
    ADD CONSTRAINT authorization_codes_sign_in_check CHECK ((auth_time IS NULL) = (sid IS NULL));
