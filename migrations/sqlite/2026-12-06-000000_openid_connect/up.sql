-- OpenID Connect (issue 14): an authorization code issued for scope
-- `openid` carries what its ID token must say about the sign-in: the
-- client's nonce, when the user signed in, and the session's id. The three
-- are NULL together for plain OAuth codes (nonce may be NULL alone).
ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
ALTER TABLE authorization_codes ADD COLUMN auth_time TEXT;
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;
