"""The official MCP Python SDK client (`mcp` 2.3.0) against the Rust example MCP File Server.

Two commands, both run by run.sh:

  setup   What an administrator does once (E2E_EMAIL / E2E_PASSWORD: the administrator):
          registers the example as a protected resource, creates its confidential
          token-exchange client, a second user, an organization the administrator owns
          (with the second user as a member) and one owned by the second user only.
          Prints one JSON object.

  client  What an MCP client does with no prior configuration, checked on the wire:
          401 → protected-resource metadata → authorization-server metadata → dynamic
          registration → sign-in and consent on Gatehouse's pages (pages.Browser from
          tests/mcp_e2e plays the person) → code exchange with the resource → tool calls:
          get_user_profile (the administrator's email), list_files for the member
          organization (one user_{id}.json per member) and for the foreign one (a tool
          error naming it). Then: the example exchanged the token once and reused it; the
          MCP token itself is refused by the platform API (so the example cannot have passed
          it through); a platform-API token and a revoked token are refused with 401. Last,
          the person disconnects the app on /account/apps and the example refuses its next
          call within 2 s, having heard it over Shared Signals (no introspection).

Usage:
  python file_server_e2e.py setup --base URL --resource URI
  python file_server_e2e.py client --mcp-url URL --issuer ISSUER --redirect-uri URI \
      --setup FILE.json --server-log FILE
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import traceback
import urllib.parse
from pathlib import Path

import anyio
import httpx2

# The scripted person and the check counter of the MCP end-to-end test, reused as they are.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mcp_e2e"))
from checks import Checks, jwt_claims  # noqa: E402
from pages import Authorization, Browser  # noqa: E402

from mcp.client import Client  # noqa: E402
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken  # noqa: E402

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SCOPES = ["mcp:connect", "profile", "email", "organizations", "users:read"]
PLATFORM_SCOPES = ["profile", "email", "organizations", "users:read"]
OTHER_EMAIL = "file-server-e2e-other@example.com"
OTHER_PASSWORD = "file-server-e2e-other-password"
EXCHANGE_LOG_LINE = "exchanged the caller's token for a platform token"
CLIENT_NAME = "Gatehouse file server e2e (python SDK)"
# Issue 13: a revocation reaches a resource server that verifies locally within 2 s.
REVOCATION_BUDGET = 2.0


# ---------------------------------------------------------------- setup

def fail(what: str, res: httpx2.Response) -> int:
    print(f"{what} failed: {res.status_code} {res.text}", file=sys.stderr)
    return 1


def setup(args: argparse.Namespace) -> int:
    base = args.base.rstrip("/")
    http = httpx2.Client(timeout=15)

    def login(email: str, password: str) -> httpx2.Response:
        return http.post(f"{base}/api/v1/auth/login", json={"email": email, "password": password})

    res = login(os.environ["E2E_EMAIL"], os.environ["E2E_PASSWORD"])
    if res.status_code != 200:
        return fail("admin login", res)
    admin_id = res.json()["user"]["id"]
    admin = {"Authorization": f"Bearer {res.json()['access_token']}"}

    res = http.post(f"{base}/api/v1/oauth/resources", headers=admin,
                    json={"resource": args.resource, "name": "MCP File Server", "scopes": SCOPES})
    if res.status_code != 201:
        return fail("resource registration", res)

    res = http.post(f"{base}/api/v1/oauth/clients", headers=admin, json={
        "name": "MCP File Server (token exchange)",
        "grant_types": [EXCHANGE],
        "resource": args.resource,
        # The platform API is the one target this server exchanges for.
        "exchange_targets": [f"{base}/api/v1"],
        "allowed_scopes": PLATFORM_SCOPES,
        "is_confidential": True,
    })
    if res.status_code != 201:
        return fail("exchange client creation", res)
    exchange_client = res.json()["client"]

    # A machine client (client_credentials) an administrator vouched for: its tokens name no user.
    res = http.post(f"{base}/api/v1/oauth/clients", headers=admin, json={
        "name": "A batch job", "grant_types": ["client_credentials"],
        "allowed_scopes": ["mcp:connect", "profile"], "is_confidential": True,
    })
    if res.status_code != 201:
        return fail("machine client creation", res)
    machine_client = res.json()["client"]

    res = http.post(f"{base}/api/v1/users/", headers=admin,
                    json={"email": OTHER_EMAIL, "name": "Other Person", "password": OTHER_PASSWORD})
    if res.status_code != 201:
        return fail("second user creation", res)
    other_id = res.json()["user"]["id"]

    res = http.post(f"{base}/api/v1/organizations/", headers=admin, json={"name": "Acme Files"})
    if res.status_code != 201:
        return fail("the administrator's organization", res)
    member_org = res.json()["organization"]["id"]
    res = http.post(f"{base}/api/v1/organizations/{member_org}/members", headers=admin,
                    json={"user_id": other_id, "role": "member"})
    if res.status_code != 201:
        return fail("adding the second user to it", res)

    res = login(OTHER_EMAIL, OTHER_PASSWORD)
    if res.status_code != 200:
        return fail("second user login", res)
    other = {"Authorization": f"Bearer {res.json()['access_token']}"}
    res = http.post(f"{base}/api/v1/organizations/", headers=other, json={"name": "Globex Secrets"})
    if res.status_code != 201:
        return fail("the foreign organization", res)
    foreign_org = res.json()["organization"]["id"]

    print(json.dumps({
        "client_id": exchange_client["client_id"],
        "client_secret": exchange_client["client_secret"],
        "machine_client_id": machine_client["client_id"],
        "machine_client_secret": machine_client["client_secret"],
        "admin_id": admin_id,
        "other_id": other_id,
        "member_org": member_org,
        "foreign_org": foreign_org,
    }))
    return 0


# ---------------------------------------------------------------- client

class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Wire:
    """Every request the SDK's HTTP client sends, with the answer's status and challenge."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    async def on_response(self, res: httpx2.Response) -> None:
        req = res.request
        form = {}
        if req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(urllib.parse.parse_qsl(req.content.decode()))
        self.log.append({"method": req.method, "url": str(req.url), "path": req.url.path,
                         "status": res.status_code, "form": form,
                         "challenge": res.headers.get("www-authenticate", "")})


def challenge_params(value: str) -> dict[str, str]:
    """The auth-params of a `Bearer k="v", …` challenge (values without escapes suffice here)."""
    _, _, rest = value.partition(" ")
    out = {}
    for part in rest.split('",'):
        k, _, v = part.strip().partition("=")
        out[k.strip()] = v.strip().strip('"')
    return out


def text_of(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def attempt(call):
    """(result, None), or (None, the exception) when the call failed."""
    try:
        return await call, None
    except Exception as e:  # noqa: BLE001 (reported as a failed check)
        return None, f"{type(e).__name__}: {e}"


def exchanges_logged(path: str) -> int:
    try:
        return Path(path).read_text(errors="replace").count(EXCHANGE_LOG_LINE)
    except OSError:
        return -1


async def narrow_token(raw: httpx2.AsyncClient, issuer: str, resource: str, redirect_uri: str, scope: str) -> str:
    """A token for `resource` with only `scope`, the way any client gets one: register,
    authorize through the pages (a fresh person at the browser), redeem the code."""
    reg = await raw.post(f"{issuer}/register", json={
        "client_name": "narrow", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"], "response_types": ["code"]})
    client_id = reg.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
             "code_challenge": challenge, "code_challenge_method": "S256", "resource": resource, "scope": scope}
    person = Browser(os.environ["E2E_EMAIL"], os.environ["E2E_PASSWORD"])
    try:
        a = await anyio.to_thread.run_sync(person.authorize, f"{issuer}/authorize?{urllib.parse.urlencode(query)}")
    finally:
        person.close()
    res = await raw.post(f"{issuer}/token", data={
        "grant_type": "authorization_code", "client_id": client_id, "code": a.params.get("code", ""),
        "redirect_uri": redirect_uri, "code_verifier": verifier, "resource": resource})
    return res.json().get("access_token", "")


async def run(args: argparse.Namespace, c: Checks) -> None:
    s = json.loads(Path(args.setup).read_text())
    issuer = args.issuer
    mcp_url = args.mcp_url
    mcp_origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(mcp_url))
    prm_url = f"{mcp_origin}/.well-known/oauth-protected-resource{urllib.parse.urlsplit(mcp_url).path}"
    gatehouse_origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(issuer))
    issuer_path = urllib.parse.urlsplit(issuer).path
    email = os.environ["E2E_EMAIL"]
    browser = Browser(email, os.environ["E2E_PASSWORD"])
    authorizations: list[tuple[str, Authorization]] = []

    async def redirect_handler(url: str) -> None:
        a = await anyio.to_thread.run_sync(browser.authorize, url)
        authorizations.append((url, a))

    async def callback_handler() -> AuthorizationCodeResult:
        _, a = authorizations[-1]
        if "error" in a.params:
            raise RuntimeError(f"authorization failed: {a.location}")
        return AuthorizationCodeResult(code=a.params["code"], state=a.params.get("state"), iss=a.params.get("iss"))

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name=CLIENT_NAME,
            redirect_uris=[args.redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    wire = Wire()
    http = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=60),
                              event_hooks={"response": [wire.on_response]})
    exchanges_before = exchanges_logged(args.server_log)
    # The example checks its credential once at start (one introspection); none may follow.
    async with httpx2.AsyncClient(timeout=10) as raw:
        introspections_before = await requests_to(raw, gatehouse_origin, "/api/v1/oauth/introspect")

    async with http, Client(streamable_http_client(mcp_url, http_client=http)) as client:
        # 1. Connecting with nothing configured: 401 → discovery → registration → consent → token.
        log = wire.log
        first = log[0] if log else {}
        ch = challenge_params(first.get("challenge", ""))
        c.check("the first MCP request is refused with 401",
                first.get("status") == 401 and first.get("url", "").startswith(mcp_url), first)
        c.check("the 401 challenge points at the protected-resource metadata",
                ch.get("resource_metadata") == prm_url, first.get("challenge"))
        c.check("the 401 challenge names every scope the tools need",
                set(ch.get("scope", "").split()) == set(SCOPES), first.get("challenge"))
        prm = [e for e in log if e["url"] == prm_url]
        c.check("protected-resource metadata fetched (200) from the example", prm and prm[0]["status"] == 200, prm)
        async with httpx2.AsyncClient(timeout=10) as raw:
            doc = (await raw.get(prm_url)).json()
        c.check("the metadata names the resource, Gatehouse and the scopes",
                doc.get("resource") == mcp_url and doc.get("authorization_servers") == [issuer]
                and set(doc.get("scopes_supported", [])) == set(SCOPES)
                and doc.get("bearer_methods_supported") == ["header"], doc)
        asm = [e for e in log if "/.well-known/" in e["path"] and e["url"].startswith(gatehouse_origin)]
        c.check("authorization-server metadata found at the RFC 8414 path-inserted URL",
                asm and asm[-1]["status"] == 200
                and asm[-1]["url"] == f"{gatehouse_origin}/.well-known/oauth-authorization-server{issuer_path}", asm)
        registrations = [e for e in log if e["method"] == "POST" and e["url"] == f"{issuer}/register"]
        c.check("dynamic client registration answered 201", [e["status"] for e in registrations] == [201], registrations)
        client_info = storage.client_info
        c.check("one authorization through the pages", len(authorizations) == 1, len(authorizations))
        if authorizations:
            url, a = authorizations[0]
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
            c.check("the authorization request names the example as resource, with PKCE S256",
                    q.get("resource") == mcp_url and q.get("code_challenge_method") == "S256", q)
            c.check("the authorization request asks for the challenged scopes",
                    set(q.get("scope", "").split()) >= set(SCOPES), q.get("scope"))
            c.check("sign-in and consent pages were shown", a.pages == ["login", "consent"], a.pages)
        codes = [e for e in log if e["method"] == "POST" and e["url"] == f"{issuer}/token"
                 and e["form"].get("grant_type") == "authorization_code"]
        c.check("the code was exchanged (200) with the resource",
                [e["status"] for e in codes] == [200] and codes[0]["form"].get("resource") == mcp_url, codes)
        tokens = storage.tokens
        claims = jwt_claims(tokens.access_token) if tokens else {}
        c.check("the access token's aud is the example and iss is Gatehouse",
                claims.get("aud") == mcp_url and claims.get("iss") == issuer, claims)
        c.check("the token carries every scope the tools need",
                set(SCOPES) <= set(claims.get("scope", "").split()), claims.get("scope"))
        c.check("the token's subject is the administrator", claims.get("sub") == s["admin_id"], claims.get("sub"))

        # 2. The tools.
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        c.check("tools/list: get_user_profile and list_files", names == ["get_user_profile", "list_files"], names)
        schema = next((t.input_schema for t in tools.tools if t.name == "list_files"), {})
        c.check("list_files takes organization_id",
                "organization_id" in (schema or {}).get("properties", {}) and "organization_id" in (schema or {}).get("required", []),
                schema)

        result, error = await attempt(client.call_tool("get_user_profile", {}))
        profile = (result.structured_content or {}) if result is not None else {}
        c.check("get_user_profile succeeds with the administrator's email and id",
                result is not None and not result.is_error and profile.get("email") == email
                and profile.get("sub") == s["admin_id"], error or profile)
        c.check("the profile lists the member organization",
                any(o.get("id") == s["member_org"] for o in profile.get("organizations", [])), profile)

        result, error = await attempt(client.call_tool("list_files", {"organization_id": s["member_org"]}))
        files = ((result.structured_content or {}).get("files") if result is not None else None) or []
        want = {f"user_{s['admin_id']}.json", f"user_{s['other_id']}.json"}
        c.check("list_files for the member organization succeeds",
                result is not None and not result.is_error, error or (result and text_of(result)))
        c.check("one user_{id}.json per member", sorted(f.get("name") for f in files) == sorted(want),
                [f.get("name") for f in files])
        contents = {}
        for f in files:
            try:
                contents[f.get("name")] = json.loads(f.get("content", ""))
            except ValueError:
                pass
        c.check("each file is the member as pretty JSON",
                len(contents) == 2 and all("\n  " in f.get("content", "") for f in files)
                and contents.get(f"user_{s['admin_id']}.json", {}).get("email") == email
                and contents.get(f"user_{s['other_id']}.json", {}).get("email") == OTHER_EMAIL, files)

        result, error = await attempt(client.call_tool("list_files", {"organization_id": s["foreign_org"]}))
        c.check("list_files for a foreign organization is a tool error naming it",
                result is not None and result.is_error and s["foreign_org"] in text_of(result)
                and "No access to organization" in text_of(result), error or (result and text_of(result)))
        c.check("no re-authorization during the tool calls", len(authorizations) == 1, len(authorizations))

        # 3. Token exchange, not passthrough.
        exchanges = exchanges_logged(args.server_log) - exchanges_before
        c.check("the example exchanged the caller's token once and reused it for every call",
                exchanges == 1, f"{exchanges} exchanges logged")
        async with httpx2.AsyncClient(timeout=15) as raw:
            res = await raw.get(f"{gatehouse_origin}/api/v1/organizations/",
                                headers={"authorization": f"Bearer {tokens.access_token if tokens else ''}"})
            c.check("the MCP token itself is refused by the platform API (passthrough cannot work)",
                    res.status_code == 401, res.status_code)

            # 4. What the example refuses.
            probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25",
                       "content-type": "application/json"}

            async def mcp_probe(token: str) -> httpx2.Response:
                return await raw.post(mcp_url, json=probe, headers={**headers, "authorization": f"Bearer {token}"})

            # A token without mcp:connect: 403, and the step-up challenge names every tool scope.
            narrow = await narrow_token(raw, issuer, mcp_url, args.redirect_uri, "profile")
            res = await mcp_probe(narrow)
            ch = challenge_params(res.headers.get("www-authenticate", ""))
            c.check("a token without mcp:connect gets 403 insufficient_scope naming every tool scope",
                    jwt_claims(narrow).get("scope") == "profile" and res.status_code == 403
                    and ch.get("error") == "insufficient_scope" and set(ch.get("scope", "").split()) == set(SCOPES)
                    and ch.get("resource_metadata") == prm_url,
                    (jwt_claims(narrow).get("scope"), res.status_code, res.headers.get("www-authenticate")))

            # A client's own token (client_credentials) names no user: the tools refuse it.
            res = await raw.post(f"{issuer}/token", auth=(s["machine_client_id"], s["machine_client_secret"]),
                                 data={"grant_type": "client_credentials", "resource": mcp_url, "scope": "mcp:connect"})
            machine = res.json().get("access_token", "") if res.status_code == 200 else ""
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "get_user_profile", "arguments": {}}}
            res = await raw.post(mcp_url, json=call, headers={**headers, "authorization": f"Bearer {machine}"})
            body = res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
            result = body.get("result", {})
            c.check("a client's own token (no user) gets a tool error, not someone's profile",
                    machine and res.status_code == 200 and result.get("isError") is True
                    and "signed-in user" in json.dumps(result), (res.status_code, res.text[:300]))

            login = await raw.post(f"{gatehouse_origin}/api/v1/auth/login",
                                   json={"email": email, "password": os.environ["E2E_PASSWORD"]})
            platform = login.json().get("access_token", "")
            res = await mcp_probe(platform)
            c.check("a platform-API token (wrong audience) is refused with 401 invalid_token",
                    res.status_code == 401 and 'error="invalid_token"' in res.headers.get("www-authenticate", ""),
                    (res.status_code, res.headers.get("www-authenticate")))
            token = tokens.access_token if tokens else ""
            res = await mcp_probe(token)
            c.check("before revocation the same probe gets past authentication", res.status_code != 401,
                    (res.status_code, res.text[:200]))
            form = {"token": token, "token_type_hint": "access_token"}
            auth = None
            if client_info is not None and client_info.client_secret:
                auth = (client_info.client_id, client_info.client_secret)
            elif client_info is not None:
                form["client_id"] = client_info.client_id
            rev = await raw.post(f"{issuer}/revoke", data=form, auth=auth)
            res, waited = await refused_within(mcp_probe, token, REVOCATION_BUDGET)
            c.check(f"after revocation (200) the token is refused with 401 invalid_token within "
                    f"{REVOCATION_BUDGET:.0f} s (took {waited:.2f} s)",
                    rev.status_code == 200 and res.status_code == 401
                    and 'error="invalid_token"' in res.headers.get("www-authenticate", ""),
                    (rev.status_code, res.status_code, res.headers.get("www-authenticate")))

            # 5. The person disconnects the app on their account page: the example, which
            # checks signatures locally and hears of revocations over Shared Signals
            # (introspection off), refuses the app's next call within two seconds.
            refresh = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token if tokens else ""}
            if auth is None and client_info is not None:
                refresh["client_id"] = client_info.client_id
            res = await raw.post(f"{issuer}/token", data=refresh, auth=auth)
            fresh = res.json().get("access_token", "") if res.status_code == 200 else ""
            async def tool_call(token: str) -> httpx2.Response:
                return await raw.post(mcp_url, json=call, headers={**headers, "authorization": f"Bearer {token}"})

            res = await tool_call(fresh)
            body = res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
            c.check("with a refreshed token the tool call succeeds again",
                    fresh and res.status_code == 200 and body.get("result", {}).get("isError") is False,
                    (res.status_code, res.text[:200]))
            disconnected = await anyio.to_thread.run_sync(browser.disconnect, CLIENT_NAME, gatehouse_origin)
            res, waited = await refused_within(tool_call, fresh, REVOCATION_BUDGET)
            c.check(f"after Disconnect on /account/apps the app's next tool call is refused within "
                    f"{REVOCATION_BUDGET:.0f} s (took {waited:.2f} s)",
                    disconnected and res.status_code == 401
                    and 'error="invalid_token"' in res.headers.get("www-authenticate", ""),
                    (disconnected, res.status_code, res.headers.get("www-authenticate")))
            introspections = await requests_to(raw, gatehouse_origin, "/api/v1/oauth/introspect")
            polls = await requests_to(raw, gatehouse_origin, "/api/v1/oauth/ssf/poll/{stream_id}")
            c.check("while the client worked the example never introspected; it polled the Shared Signals stream",
                    introspections == introspections_before and polls > 0, (introspections_before, introspections, polls))
            res = await raw.post(mcp_url, json=probe, headers=headers)
            c.check("no token at all: 401 with the challenge", res.status_code == 401
                    and "resource_metadata=" in res.headers.get("www-authenticate", ""),
                    (res.status_code, res.headers.get("www-authenticate")))

    browser.close()


async def requests_to(raw: httpx2.AsyncClient, origin: str, route: str) -> float:
    """How many requests Gatehouse has answered on `route`, from its /metrics."""
    metrics = (await raw.get(f"{origin}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("gatehouse_http_requests_total{") and f'route="{route}"' in line)


async def refused_within(probe, token: str, budget: float) -> tuple[httpx2.Response, float]:
    """Probes until the answer is 401 or `budget` seconds have passed; returns the last answer
    and how long it took."""
    start = anyio.current_time()
    while True:
        res = await probe(token)
        waited = anyio.current_time() - start
        if res.status_code == 401 or waited >= budget:
            return res, waited
        await anyio.sleep(0.05)


def client_main(args: argparse.Namespace) -> int:
    c = Checks("mcp file server (python SDK)")
    try:
        anyio.run(run, args, c)
    except BaseException as e:  # the SDK raises on a failed flow: one more failed check, with the reason
        traceback.print_exc()
        c.check("the flow ran to the end", False, f"{type(e).__name__}: {e}")
    return c.summary()


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--base", required=True)
    p.add_argument("--resource", required=True)
    p = sub.add_parser("client")
    p.add_argument("--mcp-url", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--redirect-uri", required=True)
    p.add_argument("--setup", required=True)
    p.add_argument("--server-log", required=True)
    args = ap.parse_args()
    return setup(args) if args.command == "setup" else client_main(args)


if __name__ == "__main__":
    sys.exit(main())
