// A strict, independent OpenID Connect relying party against Gatehouse: oauth4webapi 3.8.8
// (panva's spec-first client, which refuses anything the specifications do not allow) runs
// discovery, dynamic registration, the code flow with PKCE and a nonce, ID token validation
// (claims by the library, signature against the JWKS), userinfo, a refresh, `max_age`,
// and RP-initiated logout. A scripted person signs in and consents on Gatehouse's pages.
//
// Usage: node oidc_rp.mjs --issuer ISSUER --redirect-uri URI
//        (E2E_EMAIL / E2E_PASSWORD: the person who signs in)
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

import * as oauth from 'oauth4webapi';

import { Browser } from './pages.mjs';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'redirect-uri': { type: 'string' },
  },
});
const ISSUER = new URL(args.issuer);
const REDIRECT = args['redirect-uri'];
const SIGNED_OUT = new URL('/signed-out', REDIRECT).toString();
const PLATFORM_API = new URL('/api/v1', ISSUER).toString();
// Every endpoint is plain http on 127.0.0.1 in this run.
const insecure = { [oauth.allowInsecureRequests]: true };

let passed = 0;
let failed = 0;
function check(name, condition, detail = '') {
  if (condition) {
    passed += 1;
    console.log(`  ok    ${name}`);
  } else {
    failed += 1;
    console.log(`  FAIL  ${name} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
  return Boolean(condition);
}
/** Runs `fn`, recording a failure (with the library's reason) instead of throwing. */
async function step(name, fn) {
  try {
    const value = await fn();
    check(name, true);
    return value;
  } catch (e) {
    check(name, false, `${e.name}: ${e.message}${e.cause ? ` (${JSON.stringify(e.cause)})` : ''}`);
    return undefined;
  }
}

async function authorizationUrl(as, client, extra) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    scope: 'openid profile email offline_access',
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    // This Gatehouse runs with GATEHOUSE_DEFAULT_RESOURCE = the MCP server (for the SDK
    // clients that forget `resource`), which a self-registered client naming no resource
    // gets. A relying party that wants the platform's identity claims names the platform
    // API (RFC 8707), as docs/identity.md tells deployers.
    resource: PLATFORM_API,
    ...extra,
  }).toString();
  return { url, verifier, state, nonce };
}

async function main() {
  const person = new Browser(process.env.E2E_EMAIL, process.env.E2E_PASSWORD);

  const as = await step('discovery: openid-configuration, issuer matched byte for byte', async () =>
    oauth.processDiscoveryResponse(ISSUER, await oauth.discoveryRequest(ISSUER, { algorithm: 'oidc', ...insecure })));
  if (!as) return;
  check('discovery: ES256 ID tokens, S256 PKCE, an end_session_endpoint',
    as.id_token_signing_alg_values_supported?.includes('ES256') &&
      as.code_challenge_methods_supported?.includes('S256') && Boolean(as.end_session_endpoint), as);

  const registered = await step('dynamic registration with post_logout_redirect_uris', async () =>
    oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
      client_name: 'Gatehouse e2e (oauth4webapi relying party)',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [SIGNED_OUT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'openid profile email offline_access',
    }, insecure)));
  if (!registered) return;
  const client = { client_id: registered.client_id, id_token_signed_response_alg: 'ES256' };
  const auth = oauth.ClientSecretBasic(registered.client_secret);

  // The code flow: the person signs in and consents; the library checks state and iss.
  const first = await authorizationUrl(as, client, {});
  const walked = await person.authorize(first.url.toString());
  check('the person signs in and consents', walked.pages.includes('login') && walked.pages.includes('consent'), walked.pages);
  const params = await step('authorization response: state and iss (RFC 9207) validated', () =>
    oauth.validateAuthResponse(as, client, new URL(walked.location), first.state));
  if (!params) return;
  // The library ties a processed ID token to the Response it came in.
  let tokenResponse;
  const tokens = await step('code exchange with the nonce, ID token claims validated', async () => {
    tokenResponse = await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, first.verifier, insecure);
    return oauth.processAuthorizationCodeResponse(as, client, tokenResponse, { expectedNonce: first.nonce, requireIdToken: true });
  });
  if (!tokens) return;
  await step('ID token signature verified against the JWKS', () =>
    oauth.validateApplicationLevelSignature(as, tokenResponse, insecure));
  const idClaims = oauth.getValidatedIdTokenClaims(tokens);
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString());
  check('ID token header: ES256, typ JWT, a kid', header.alg === 'ES256' && header.typ === 'JWT' && Boolean(header.kid), header);
  const expectedAtHash = createHash('sha256').update(tokens.access_token).digest().subarray(0, 16).toString('base64url');
  check('at_hash binds the ID token to the access token', idClaims.at_hash === expectedAtHash, idClaims);
  check('auth_time, sid, and the email and profile claims are present',
    Number.isInteger(idClaims.auth_time) && typeof idClaims.sid === 'string' &&
      idClaims.email === process.env.E2E_EMAIL && typeof idClaims.name === 'string', idClaims);
  check('a refresh token for offline_access', typeof tokens.refresh_token === 'string');

  await step('the access token validates as an RFC 9068 JWT for the platform API', async () => {
    const req = new Request('http://rs.invalid/', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, req, PLATFORM_API, { ...insecure, signingAlgorithms: ['ES256'] });
    if (claims.sub !== idClaims.sub) throw new Error(`sub ${claims.sub} != ${idClaims.sub}`);
  });

  const info = await step('userinfo: the same subject, validated by the library', async () =>
    oauth.processUserInfoResponse(as, client, idClaims.sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, insecure)));
  check('userinfo carries the OIDC standard claims', info?.email === process.env.E2E_EMAIL &&
    info?.email_verified === true && info?.name === idClaims.name, info);

  const refreshed = await step('refresh, processed by the library', async () =>
    oauth.processRefreshTokenResponse(as, client,
      await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, insecure)));
  check('the refresh rotated the refresh token', refreshed && refreshed.refresh_token !== tokens.refresh_token);

  // max_age=0: a live session is not recent enough; the person signs in again, and the
  // library checks auth_time against max_age.
  const again = await authorizationUrl(as, client, { max_age: '0' });
  const walkedAgain = await person.authorize(again.url.toString());
  check('max_age=0 asks the person to sign in again', walkedAgain.pages.includes('login'), walkedAgain.pages);
  const againParams = oauth.validateAuthResponse(as, client, new URL(walkedAgain.location), again.state);
  const current = await step('a fresh auth_time satisfies max_age', async () => {
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, againParams, REDIRECT, again.verifier, insecure);
    return oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: again.nonce, maxAge: 0 });
  });
  const currentSid = current && oauth.getValidatedIdTokenClaims(current).sid;
  check('signing in again started a new session (a new sid)', currentSid && currentSid !== idClaims.sid);

  // RP-initiated logout. An ID token from the earlier session proves nothing about this
  // one: Gatehouse asks the person. The current session's ID token signs out at once.
  const logoutUrl = (idToken) => {
    const url = new URL(as.end_session_endpoint);
    url.search = new URLSearchParams({
      id_token_hint: idToken,
      post_logout_redirect_uri: SIGNED_OUT,
      state: 'bye',
    }).toString();
    return url.toString();
  };
  const stale = await person.request(logoutUrl(tokens.id_token));
  const page = await stale.text();
  check('a hint from an earlier session gets the confirmation page, not a silent sign-out',
    stale.status === 200 && page.includes('Sign out of Gatehouse?'), { status: stale.status });
  const res = await person.request(logoutUrl(current?.id_token ?? ''));
  check('RP-initiated logout returns to the registered post_logout_redirect_uri with state',
    res.status === 303 && res.headers.get('location') === `${SIGNED_OUT}?state=bye`,
    { status: res.status, location: res.headers.get('location') });
  // Signed out: the authorization endpoint shows the sign-in form again. (Not prompt=none:
  // for a self-registered client that nobody signed in has approved, Gatehouse shows
  // errors on a page instead of redirecting them, RFC 9700 §4.11.2.)
  const after = await authorizationUrl(as, client, {});
  const signIn = await person.request(after.url.toString());
  check('after logout, the authorization endpoint asks the person to sign in',
    signIn.status === 200 && (await signIn.text()).includes('/api/v1/oauth/login'), { status: signIn.status });
}

try {
  await main();
} catch (e) {
  check('the relying party ran to the end', false, `${e.name}: ${e.message}`);
}
console.log(`oidc relying party: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
