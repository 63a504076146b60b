// node-oidc-provider as a real upstream OpenID Provider for Gatehouse's
// "Sign in with …" browser test (crates/server/tests/api/browser_upstream.rs).
//
// Development interactions are on: the login form takes any login name
// (used as the account id and, when it has an @, as a verified email), then
// a consent form. One confidential client, Gatehouse, with the callback the
// test passes in. ID tokens are RS256 (what Google, Entra and Okta sign
// with), and the email claims are served at userinfo, not in the ID token
// (node-oidc-provider's conformIdTokenClaims default), so Gatehouse's
// userinfo path runs against a real provider. Loopback only; stops on
// SIGTERM or when stdin closes (the test process went away).
//
// Environment: OP_PORT, OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URI.

import crypto from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 3100);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'upstream-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  clients: [{
    client_id: process.env.OP_CLIENT_ID,
    client_secret: process.env.OP_CLIENT_SECRET,
    redirect_uris: [process.env.OP_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = id.includes('@') ? id : `${id}@upstream.test`;
        return { sub: id, email, email_verified: true, name: `Upstream ${id.split('@')[0]}` };
      },
    };
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`upstream OP listening at ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
