// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2) against
// Gatehouse and the test MCP server, in the SDK's documented interactive pattern:
// the transport meets a 401, the SDK discovers and registers, calls the provider's
// redirectToAuthorization (here: a scripted person signs in and consents on Gatehouse's
// pages), the app calls transport.finishAuth(code) and connects again.
//
// Checked: discovery from the 401, registration (DCR, or CIMD with --cimd-url), authorization
// through the pages, token exchange, a tool call, a refresh (the stored access token is
// spoiled, the server answers 401, the SDK refreshes), and a scope step-up (write_file
// answers 403 insufficient_scope; a second authorization with files:write; then success).
//
// With --omit-resource it behaves like the clients that leave `resource` out (as this SDK does
// when it finds no protected-resource metadata): `resource` is removed from the authorization URL
// and from every token request on the way out, and the checks expect Gatehouse's default resource
// (GATEHOUSE_DEFAULT_RESOURCE = the MCP server) to be granted just the same.
//
// Usage: node client.mjs --mcp-url URL --issuer ISSUER --redirect-uri URI [--cimd-url URL]
//        [--omit-resource]      (E2E_EMAIL / E2E_PASSWORD: the person who signs in)
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { Browser } from './pages.mjs';

const { values: args } = parseArgs({
  options: {
    'mcp-url': { type: 'string' },
    issuer: { type: 'string' },
    'redirect-uri': { type: 'string' },
    'cimd-url': { type: 'string' },
    'omit-resource': { type: 'boolean', default: false },
  },
});
const MCP = args['mcp-url'];
const ISSUER = args.issuer;
const REDIRECT = args['redirect-uri'];
const CIMD = args['cimd-url'];
const MODE = CIMD ? 'cimd' : 'dcr';
const OMIT = args['omit-resource'];
const PART = `typescript ${MODE}${OMIT ? ' without resource' : ''}`;
const NOTES = `notes-typescript-${MODE}${OMIT ? '-no-resource' : ''}.txt`;
// What the authorization and token requests carry as `resource` (null: none).
const SENT = OMIT ? null : MCP;
const SENT_NAME = SENT || 'none';

// ---- checks -----------------------------------------------------------------------------
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
function claims(jwt) {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  } catch {
    return {};
  }
}

// ---- the SDK's OAuthClientProvider, in memory -------------------------------------------
class Provider {
  constructor(browser) {
    this.browser = browser;
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.authorizations = []; // {url, result}
    this.stepUpPending = false;
    if (CIMD) this.clientMetadataUrl = CIMD;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: `Gatehouse e2e (TypeScript SDK, ${MODE})`,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  state() {
    return randomBytes(24).toString('base64url');
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    // See the step-up below: SDK 1.32.2 answers a 403 insufficient_scope by refreshing when
    // it holds a refresh token, and a refresh cannot add scopes. While a step-up is pending
    // the app hides the refresh token so the SDK asks the person again.
    if (this.stored && this.stepUpPending) {
      const { refresh_token: _hidden, ...rest } = this.stored;
      return rest;
    }
    return this.stored;
  }
  saveTokens(tokens) {
    this.stored = tokens;
    this.stepUpPending = false;
  }
  saveCodeVerifier(v) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.stored = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
  async redirectToAuthorization(url) {
    if (OMIT) url.searchParams.delete('resource');
    const result = await this.browser.authorize(url.toString());
    this.authorizations.push({ url: url.toString(), result });
  }
  /** The code of the last authorization, after checking state and iss. */
  lastCode() {
    const { url, result } = this.authorizations.at(-1);
    const sent = new URL(url).searchParams.get('state');
    if (result.params.error) throw new Error(`authorization failed: ${result.location}`);
    if (result.params.state !== sent) throw new Error(`state mismatch: ${result.params.state} != ${sent}`);
    if (result.params.iss !== ISSUER) throw new Error(`iss mismatch: ${result.params.iss} != ${ISSUER}`);
    return result.params.code;
  }
}

// ---- the wire: every request the SDK makes ------------------------------------------------
const wire = [];
async function wireFetch(input, init = {}) {
  let req = new Request(input, init);
  if (OMIT && req.method === 'POST' && req.url === `${ISSUER}/token`) {
    // The original request's headers keep the form content type fetch inferred.
    const headers = new Headers(req.headers);
    const body = new URLSearchParams(await req.text());
    body.delete('resource');
    init = { ...init, headers, body: body.toString() };
    input = req.url;
    req = new Request(input, init);
  }
  let form = {};
  if ((req.headers.get('content-type') || '').startsWith('application/x-www-form-urlencoded')) {
    form = Object.fromEntries(new URLSearchParams(await req.clone().text()));
  }
  const res = await fetch(input, init);
  const entry = { method: req.method, url: req.url, status: res.status, form, www: res.headers.get('www-authenticate') };
  wire.push(entry);
  return res;
}
const tokenPosts = (entries, grant) =>
  entries.filter((e) => e.method === 'POST' && e.url === `${ISSUER}/token` && e.form.grant_type === grant);
const textOf = (result) => (result.content || []).map((c) => c.text || '').join(' ');

async function main() {
  const browser = new Browser(process.env.E2E_EMAIL, process.env.E2E_PASSWORD);
  const provider = new Provider(browser);
  const newTransport = () => new StreamableHTTPClientTransport(new URL(MCP), { authProvider: provider, fetch: wireFetch });

  // 1. Connect: 401 → discovery → registration → the person authorizes → finishAuth.
  const first = new Client({ name: 'gatehouse-e2e-ts', version: '1.0.0' });
  const firstTransport = newTransport();
  let redirected = false;
  try {
    await first.connect(firstTransport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    redirected = true;
  }
  check('the first connection needs authorization (UnauthorizedError)', redirected);
  check('the first MCP request was refused with 401', wire[0]?.status === 401 && wire[0]?.url.startsWith(MCP), wire[0]);
  check('the 401 challenge names resource_metadata and scope',
    /resource_metadata="[^"]+"/.test(wire[0]?.www || '') && /scope="files:read"/.test(wire[0]?.www || ''), wire[0]?.www);
  const prm = wire.filter((e) => new URL(e.url).pathname === '/.well-known/oauth-protected-resource/mcp');
  check('protected-resource metadata fetched', prm.length > 0 && prm[0].status === 200, prm);
  const issuerUrl = new URL(ISSUER);
  const asmUrl = `${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerUrl.pathname}`;
  check('authorization-server metadata found at the path-inserted URL',
    wire.some((e) => e.url === asmUrl && e.status === 200), wire.filter((e) => e.url.includes('/.well-known/')));
  const registrations = wire.filter((e) => e.method === 'POST' && e.url === `${ISSUER}/register`);
  if (MODE === 'dcr') {
    check('dynamic client registration answered 201', registrations.length === 1 && registrations[0].status === 201, registrations);
    check('registered as a public client (none, no secret)',
      provider.client?.token_endpoint_auth_method === 'none' && !provider.client?.client_secret, provider.client);
  } else {
    check('no dynamic registration with CIMD', registrations.length === 0, registrations);
    check('the client_id is the metadata document URL', provider.client?.client_id === CIMD, provider.client);
  }
  check('one authorization through the pages', provider.authorizations.length === 1, provider.authorizations.length);
  const auth1 = provider.authorizations[0];
  if (auth1) {
    const q = new URL(auth1.url).searchParams;
    check(`authorization request: PKCE S256, state, resource = ${SENT_NAME}, scope files:read`,
      q.get('code_challenge_method') === 'S256' && q.get('state') && q.get('resource') === SENT
        && q.get('scope')?.split(' ').includes('files:read'), Object.fromEntries(q));
    check('sign-in and consent pages were shown', auth1.result.pages.join() === 'login,consent', auth1.result.pages);
    check('the redirect carries code, state and iss = issuer',
      auth1.result.params.code && auth1.result.params.state === q.get('state') && auth1.result.params.iss === ISSUER,
      auth1.result.params);
  }
  await firstTransport.finishAuth(provider.lastCode());
  const codes = tokenPosts(wire, 'authorization_code');
  check(`code exchanged at the token endpoint (200), resource = ${SENT_NAME}`,
    codes.length === 1 && codes[0].status === 200 && (codes[0].form.resource ?? null) === SENT, codes);
  const at = claims(provider.stored?.access_token);
  check('the access token is for the MCP server, from Gatehouse', at.aud === MCP && at.iss === ISSUER, at);
  check('a refresh token was issued', Boolean(provider.stored?.refresh_token), provider.stored);
  await first.close().catch(() => {});

  const client = new Client({ name: 'gatehouse-e2e-ts', version: '1.0.0' });
  const transport = newTransport();
  await client.connect(transport);

  // 2. A tool call.
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  check('tools/list through the token', tools.join() === 'read_file,write_file', tools);
  let result = await client.callTool({ name: 'read_file', arguments: { path: 'hello.txt' } });
  check('read_file works and the server sees the client',
    !result.isError && textOf(result).includes('Hello') && textOf(result).includes(`client_id=${provider.client?.client_id}`),
    textOf(result));

  // 3. Refresh: the stored access token goes bad; the server answers 401; the SDK refreshes.
  let mark = wire.length;
  const before = provider.stored;
  provider.stored = { ...before, access_token: `${before.access_token.slice(0, -4)}AAAA` };
  result = await client.callTool({ name: 'read_file', arguments: { path: 'hello.txt' } });
  const refreshes = tokenPosts(wire.slice(mark), 'refresh_token');
  check('the spoiled token was refused with 401', wire.slice(mark).some((e) => e.url.startsWith(MCP) && e.status === 401));
  check(`the SDK refreshed (200), resource = ${SENT_NAME}`,
    refreshes.length === 1 && refreshes[0].status === 200 && (refreshes[0].form.resource ?? null) === SENT, refreshes);
  check('refresh rotated the refresh token and kept aud',
    provider.stored.refresh_token && provider.stored.refresh_token !== before.refresh_token
      && claims(provider.stored.access_token).aud === MCP, provider.stored);
  check('the tool call after refresh works', !result.isError && textOf(result).includes('Hello'), textOf(result));
  check('no new authorization for the refresh', provider.authorizations.length === 1);

  // 4. Step-up. SDK 1.32.2 answers a 403 insufficient_scope with auth(), which refreshes when it
  //    holds a refresh token; a refresh cannot widen scopes, so it would stop with "403 after
  //    trying upscoping". The app marks the step-up (tokens() then hides the refresh token) and
  //    the SDK sends the person to authorize; then finishAuth and the call again.
  mark = wire.length;
  provider.stepUpPending = true;
  let stepUpRedirect = false;
  let stepUpError;
  try {
    await client.callTool({ name: 'write_file', arguments: { path: NOTES, content: 'stepped up' } });
  } catch (e) {
    if (e instanceof UnauthorizedError) stepUpRedirect = true;
    else stepUpError = e;
  }
  const step = wire.slice(mark);
  check('write_file was refused with 403 insufficient_scope, scope="files:read files:write"',
    step.some((e) => e.url.startsWith(MCP) && e.status === 403 && /error="insufficient_scope"/.test(e.www || '')
      && /scope="files:read files:write"/.test(e.www || '')), step.map((e) => [e.method, e.url, e.status]));
  check('the SDK asked for a new authorization', stepUpRedirect && provider.authorizations.length === 2,
    `${provider.authorizations.length} authorizations; ${stepUpError || ''}`);
  const auth2 = provider.authorizations[1];
  if (auth2) {
    const q = new URL(auth2.url).searchParams;
    check('the step-up asks for files:read and files:write',
      ['files:read', 'files:write'].every((s) => q.get('scope')?.split(' ').includes(s)), q.get('scope'));
    check('the step-up shows the consent page again', auth2.result.pages.includes('consent'), auth2.result.pages);
    await transport.finishAuth(provider.lastCode());
  }
  check('no re-registration for the step-up', !wire.slice(mark).some((e) => e.url === `${ISSUER}/register`));
  check('the step-up code was exchanged (200)',
    tokenPosts(wire.slice(mark), 'authorization_code').map((e) => e.status).join() === '200');
  check('the new token carries files:write',
    (provider.stored?.scope || '').split(' ').includes('files:write'), provider.stored?.scope);
  result = await client
    .callTool({ name: 'write_file', arguments: { path: NOTES, content: 'stepped up' } })
    .catch((e) => ({ isError: true, content: [{ text: `${e.name}: ${e.message}` }] }));
  check('write_file succeeds after the step-up', !result.isError && textOf(result).includes('wrote'), textOf(result));
  result = await client
    .callTool({ name: 'read_file', arguments: { path: NOTES } })
    .catch((e) => ({ isError: true, content: [{ text: `${e.name}: ${e.message}` }] }));
  check('read_file sees what was written', textOf(result).includes('stepped up'), textOf(result));
  await client.close();
}

try {
  await main();
} catch (e) {
  console.error(e);
  check('the flow ran to the end', false, `${e?.name}: ${e?.message}`);
}
console.log(`${PART}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
