// node-oidc-provider configured like Gatehouse, so bench/run.sh can drive
// both with the same OAuth workloads in the same run.
//
// Like Gatehouse: ES256 JWT access tokens (RFC 9068) for a registered
// resource (resource indicators), access tokens valid 3600 s, refresh tokens
// valid 30 days and rotated on every use, introspection, client_credentials,
// PKCE S256. One test account signs in through a plain HTML form (the role
// devInteractions plays in development), and consent is granted
// automatically and remembered in the session's grant, so a signed-in
// browser gets its code straight back, as with Gatehouse's remembered
// consent. Production mode, default memory adapter, loopback only.
//
// Environment: PEER_PORT (3000), PEER_RESOURCE, PEER_REDIRECT_URI, and the
// client ids and secrets below; the defaults match bench/run.sh.

import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT || 3000);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;
const resource = process.env.PEER_RESOURCE || 'https://mcp.bench.example/mcp';
const resourceScopes = 'files:read files:write';
const redirectUri = process.env.PEER_REDIRECT_URI || 'http://localhost:8000/oauth/callback';
const account = {
  id: 'bench-user',
  login: process.env.PEER_USER || 'bench@example.com',
  password: process.env.PEER_PASSWORD || 'bench-password-123',
};

const ACCESS_TTL = 3600;
const REFRESH_TTL = 30 * 24 * 3600; // Gatehouse's GATEHOUSE_REFRESH_TOKEN_TTL default

// One P-256 key: access tokens and ID tokens are ES256, as at Gatehouse.
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const configuration = {
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  clients: [
    {
      // Code flow + refresh, like Gatehouse's confidential "app" client.
      client_id: process.env.PEER_APP_CLIENT_ID || 'bench-app',
      client_secret: process.env.PEER_APP_CLIENT_SECRET || 'bench-app-secret-0123456789abcdef',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
      // Limits the OpenID scopes; resource scopes come from the resource.
      scope: 'openid profile email offline_access',
    },
    {
      // A machine client (client_credentials); it also introspects.
      client_id: process.env.PEER_MACHINE_CLIENT_ID || 'bench-machine',
      client_secret: process.env.PEER_MACHINE_CLIENT_SECRET || 'bench-machine-secret-0123456789abcdef',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  async findAccount(_ctx, id) {
    if (id !== account.id) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.login, email_verified: true, name: 'Bench User' };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // With no resource parameter the token is for userinfo (opaque),
      // otherwise for the one registered resource.
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return {
          scope: resourceScopes,
          audience: resource,
          accessTokenTTL: ACCESS_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  pkce: { required: () => true },
  // Gatehouse issues refresh tokens to every client registered for the
  // refresh grant and rotates them on every use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: ACCESS_TTL,
    ClientCredentials: ACCESS_TTL,
    AuthorizationCode: 60,
    IdToken: ACCESS_TTL,
    RefreshToken: REFRESH_TTL,
    Grant: REFRESH_TTL,
    Session: REFRESH_TTL,
    Interaction: 600,
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // Tokens must outlive the browser session (they do at Gatehouse).
  expiresWithSession: async () => false,
};

const provider = new Provider(issuer, configuration);
const oidc = provider.callback();

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

// The sign-in form (login prompt) and automatic, remembered consent
// (consent prompt): oidc-provider's interaction API, as an app would use it.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === 'GET' && prompt.name === 'login') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><title>Sign in</title><h1>Sign in to ${escape(params.client_id)}</h1>
<form method="post" action="/interaction/${escape(uid)}/login">
<input name="login" type="email" required><input name="password" type="password" required>
<button type="submit">Sign in</button></form>`);
    return;
  }
  if (req.method === 'POST' && req.url === `/interaction/${uid}/login` && prompt.name === 'login') {
    const form = await readForm(req);
    const ok = form.get('login') === account.login
      && crypto.timingSafeEqual(
        crypto.createHash('sha256').update(String(form.get('password'))).digest(),
        crypto.createHash('sha256').update(account.password).digest(),
      );
    if (!ok) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('wrong login or password');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(400, { 'content-type': 'text/plain' });
  res.end(`unexpected prompt ${prompt.name}`);
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err.message || err));
    });
    return;
  }
  oidc(req, res);
});
server.keepAliveTimeout = 75_000;
server.listen(port, host, () => {
  console.log(`oidc-provider ${issuer} ready (NODE_ENV=${process.env.NODE_ENV})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
