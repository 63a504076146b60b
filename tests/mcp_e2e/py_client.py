"""The official MCP Python SDK client (`mcp` 2.3.0) against Gatehouse and the test MCP server.

One run is one client registration path:
  --mode dcr   dynamic client registration (RFC 7591)
  --mode cimd  a Client ID Metadata Document served over HTTPS (cimd_server.py)

Each run goes through what a real MCP client does, and checks every step on the wire:
discovery from the 401 challenge, registration, authorization through Gatehouse's sign-in
and consent pages (pages.Browser plays the person), token exchange, a tool call, a refresh
(the SDK refreshes once it believes the access token expired), and a scope step-up (the
write tool answers 403 insufficient_scope; the SDK re-authorizes with the union of scopes,
the consent page appears again; then the call succeeds).

With --omit-resource the client behaves like the clients that leave `resource` out (Claude Code
has been seen to; the TypeScript SDK does without protected-resource metadata): the SDK's requests
are sent without it (removed from the authorization URL and from every token request on the way
out), and the checks expect Gatehouse's default resource (GATEHOUSE_DEFAULT_RESOURCE = the MCP
server) to be granted just the same.

Usage: python py_client.py --mode dcr|cimd --mcp-url URL --issuer ISSUER --redirect-uri URI
           [--cimd-url URL --ca CA.pem] [--omit-resource]
           (E2E_EMAIL / E2E_PASSWORD: the person who signs in)
"""
import argparse
import os
import ssl
import sys
import time
import traceback
import urllib.parse

import anyio
import httpx2

from checks import Checks, jwt_claims
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pages import Authorization, Browser


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
    """Every request the SDK's HTTP client sends, with the answer's status."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    async def on_response(self, res: httpx2.Response) -> None:
        req = res.request
        form = {}
        if req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(urllib.parse.parse_qsl(req.content.decode()))
        self.log.append(
            {"method": req.method, "url": str(req.url), "path": req.url.path, "status": res.status_code,
             "form": form, "basic": req.headers.get("authorization", "").startswith("Basic ")}
        )

    def mark(self) -> int:
        return len(self.log)

    def since(self, mark: int) -> list[dict]:
        return self.log[mark:]


def without_resource(url: str) -> str:
    """An authorization URL with its `resource` parameter removed."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "resource"]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class OmitResource(httpx2.AsyncBaseTransport):
    """Sends token requests without `resource`, as clients that omit it do. The request is changed
    in place, so the wire log (which sees the request object) records what was really sent."""

    def __init__(self, token_endpoint: str) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.token_endpoint = token_endpoint

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and str(request.url) == self.token_endpoint:
            await request.aread()
            form = [(k, v) for k, v in urllib.parse.parse_qsl(request.content.decode()) if k != "resource"]
            body = urllib.parse.urlencode(form).encode()
            request.headers["content-length"] = str(len(body))
            request._content = body
            request.stream = httpx2.ByteStream(body)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def attempt(call):
    """(result, None), or (None, the exception) when the call failed."""
    try:
        return await call, None
    except Exception as e:  # noqa: BLE001 (reported as a failed check)
        return None, f"{type(e).__name__}: {e}"


def text_of(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def run(args: argparse.Namespace, c: Checks) -> None:
    issuer = args.issuer
    mcp_origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(args.mcp_url))
    gatehouse_origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(issuer))
    issuer_path = urllib.parse.urlsplit(issuer).path
    browser = Browser(os.environ["E2E_EMAIL"], os.environ["E2E_PASSWORD"])
    authorizations: list[tuple[str, Authorization]] = []

    async def redirect_handler(url: str) -> None:
        # The person's browser: sign in and consent on Gatehouse's own pages.
        if args.omit_resource:
            url = without_resource(url)
        a = await anyio.to_thread.run_sync(browser.authorize, url)
        authorizations.append((url, a))

    async def callback_handler() -> AuthorizationCodeResult:
        _, a = authorizations[-1]
        if "error" in a.params:
            raise RuntimeError(f"authorization failed: {a.location}")
        return AuthorizationCodeResult(code=a.params["code"], state=a.params.get("state"), iss=a.params.get("iss"))

    storage = MemoryStorage()
    metadata = OAuthClientMetadata(
        client_name=f"Gatehouse e2e (python SDK, {args.mode})",
        redirect_uris=[args.redirect_uri],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    provider = OAuthClientProvider(
        server_url=args.mcp_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=args.cimd_url if args.mode == "cimd" else None,
    )
    wire = Wire()
    http = httpx2.AsyncClient(
        auth=provider, timeout=httpx2.Timeout(30, read=60), event_hooks={"response": [wire.on_response]},
        transport=OmitResource(f"{issuer}/token") if args.omit_resource else None,
    )
    # What the authorization and token requests carry as `resource`.
    sent_resource = None if args.omit_resource else args.mcp_url

    def token_posts(entries: list[dict], grant: str) -> list[dict]:
        return [e for e in entries if e["method"] == "POST" and e["url"] == f"{issuer}/token"
                and e["form"].get("grant_type") == grant]

    def authorize_query(url: str) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    cimd_fetches_before = await cimd_fetches(args) if args.mode == "cimd" else {}

    async with http, Client(streamable_http_client(args.mcp_url, http_client=http)) as client:
        # 1. Connecting: 401 → discovery → registration → authorization → token.
        log = wire.log
        first = log[0] if log else {}
        c.check("the first MCP request is refused with 401", first.get("status") == 401 and first.get("url", "").startswith(args.mcp_url), first)
        prm = [e for e in log if e["path"] == "/.well-known/oauth-protected-resource/mcp"]
        c.check("protected-resource metadata fetched from the challenge's resource_metadata",
                prm and prm[0]["status"] == 200 and prm[0]["url"].startswith(mcp_origin), prm)
        asm = [e for e in log if "/.well-known/" in e["path"] and e["url"].startswith(gatehouse_origin)]
        c.check("authorization-server metadata found at the RFC 8414 path-inserted URL",
                asm and asm[-1]["status"] == 200
                and asm[-1]["url"] == f"{gatehouse_origin}/.well-known/oauth-authorization-server{issuer_path}", asm)
        registrations = [e for e in log if e["method"] == "POST" and e["url"] == f"{issuer}/register"]
        client_info = storage.client_info
        if args.mode == "dcr":
            c.check("dynamic client registration answered 201", [e["status"] for e in registrations] == [201], registrations)
            c.check("the registered client got an issued client_id",
                    client_info is not None and client_info.client_id.startswith("oauth_"), client_info)
            c.check("registration echoes a token_endpoint_auth_method the SDK can use",
                    client_info is not None and client_info.token_endpoint_auth_method in ("none", "client_secret_basic", "client_secret_post"),
                    client_info)
        else:
            c.check("no dynamic registration with CIMD", registrations == [], registrations)
            c.check("the client_id is the metadata document URL", client_info is not None and client_info.client_id == args.cimd_url, client_info)
            after = await cimd_fetches(args)
            path = urllib.parse.urlsplit(args.cimd_url).path
            c.check("Gatehouse fetched the client metadata document over HTTPS",
                    after.get(path, 0) > cimd_fetches_before.get(path, 0), after)

        c.check("one authorization through the pages", len(authorizations) == 1, len(authorizations))
        if authorizations:
            url, a = authorizations[0]
            q = authorize_query(url)
            c.check(f"authorization request: PKCE S256, state, resource = {sent_resource or 'none'}",
                    q.get("code_challenge_method") == "S256" and q.get("state") and q.get("resource") == sent_resource, q)
            c.check("authorization request asks for the challenged scope (+ offline_access)",
                    set(q.get("scope", "").split()) >= {"files:read"}, q.get("scope"))
            c.check("sign-in and consent pages were shown", a.pages == ["login", "consent"], a.pages)
            c.check("the redirect carries code, the same state and iss = issuer (RFC 9207)",
                    a.params.get("code") and a.params.get("state") == q.get("state") and a.params.get("iss") == issuer,
                    a.params)
        codes = token_posts(log, "authorization_code")
        c.check(f"code exchanged at the token endpoint (200), resource = {sent_resource or 'none'}",
                [e["status"] for e in codes] == [200] and codes[0]["form"].get("resource") == sent_resource, codes)
        method = client_info.token_endpoint_auth_method if client_info else None
        c.check(f"the token request authenticates as registered ({method})",
                codes and codes[0]["basic"] == (method == "client_secret_basic")
                and ("client_secret" in codes[0]["form"]) == (method == "client_secret_post"), (method, codes))
        if args.mode == "cimd" and authorizations:
            c.check("the consent page names the redirect host",
                    urllib.parse.urlsplit(args.redirect_uri).hostname in authorizations[0][1].consent_html)
        tokens = storage.tokens
        claims = jwt_claims(tokens.access_token) if tokens else {}
        c.check("the access token's aud is the MCP server and iss is Gatehouse",
                claims.get("aud") in (args.mcp_url, [args.mcp_url]) and claims.get("iss") == issuer, claims)
        c.check("a refresh token was issued", tokens is not None and bool(tokens.refresh_token), tokens)
        c.check("the token is Bearer with a scope including files:read",
                tokens is not None and tokens.token_type.lower() == "bearer" and "files:read" in (tokens.scope or "").split(),
                tokens)

        # 2. A tool call.
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        c.check("tools/list through the token", names == ["read_file", "write_file"], names)
        result = await client.call_tool("read_file", {"path": "hello.txt"})
        text = text_of(result)
        c.check("read_file works and the server sees the user and the client",
                not result.is_error and "Hello" in text and f"client_id={client_info.client_id if client_info else ''}" in text
                and "sub=None" not in text, text)

        # 3. Refresh: the SDK refreshes before a request once the access token has expired.
        #    Make it believe the token expired instead of waiting out the minimum TTL.
        mark = wire.mark()
        old = storage.tokens
        provider.context.token_expiry_time = time.time() - 1
        result = await client.call_tool("read_file", {"path": "hello.txt"})
        refreshes = token_posts(wire.since(mark), "refresh_token")
        c.check(f"the SDK refreshed at the token endpoint (200), resource = {sent_resource or 'none'}",
                [e["status"] for e in refreshes] == [200] and refreshes[0]["form"].get("resource") == sent_resource, refreshes)
        new = storage.tokens
        c.check("refresh gave a new access token and rotated the refresh token",
                new is not None and old is not None and new.access_token != old.access_token
                and new.refresh_token and new.refresh_token != old.refresh_token, (old, new))
        c.check("the refreshed token keeps aud = the MCP server",
                jwt_claims(new.access_token).get("aud") in (args.mcp_url, [args.mcp_url]) if new else False)
        c.check("the tool call after refresh works", not result.is_error and "Hello" in text_of(result), text_of(result))
        c.check("no new authorization for the refresh", len(authorizations) == 1, len(authorizations))

        # 4. Step-up: write_file needs files:write, which the token lacks.
        notes = f"notes-python-{args.mode}{'-no-resource' if args.omit_resource else ''}.txt"
        mark = wire.mark()
        result, error = await attempt(client.call_tool("write_file", {"path": notes, "content": "stepped up"}))
        step = wire.since(mark)
        c.check("write_file was first refused with 403 insufficient_scope",
                any(e["status"] == 403 and e["url"].startswith(args.mcp_url) for e in step), [(e["method"], e["path"], e["status"]) for e in step])
        c.check("the step-up needed a second authorization", len(authorizations) == 2, len(authorizations))
        if len(authorizations) == 2:
            url, a = authorizations[1]
            q = authorize_query(url)
            c.check("the step-up asks for the union of scopes",
                    set(q.get("scope", "").split()) >= {"files:read", "files:write"}, q.get("scope"))
            c.check("the step-up shows the consent page again", "consent" in a.pages, a.pages)
            c.check("the step-up redirect carries iss", a.params.get("iss") == issuer, a.params)
        c.check("no re-registration for the step-up",
                not any(e["url"] == f"{issuer}/register" for e in step), step)
        codes = token_posts(step, "authorization_code")
        c.check("the step-up code was exchanged (200)", [e["status"] for e in codes] == [200], codes)
        stepped = storage.tokens
        c.check("the new token carries files:write",
                stepped is not None and {"files:read", "files:write"} <= set((stepped.scope or "").split()),
                stepped.scope if stepped else None)
        c.check("write_file succeeds after the step-up",
                result is not None and not result.is_error and "wrote" in text_of(result),
                error or text_of(result))
        result, error = await attempt(client.call_tool("read_file", {"path": notes}))
        c.check("read_file sees what was written", result is not None and "stepped up" in text_of(result),
                error or text_of(result))

        # 5. The resource server refuses what Gatehouse says is not for it (introspection).
        if args.mode == "dcr" and stepped is not None and client_info is not None:
            async with httpx2.AsyncClient(timeout=15) as raw:
                probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
                headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}
                login = await raw.post(f"{gatehouse_origin}/api/v1/auth/login",
                                       json={"email": os.environ["E2E_EMAIL"], "password": os.environ["E2E_PASSWORD"]})
                platform = login.json().get("access_token", "")
                res = await raw.post(args.mcp_url, json=probe, headers={**headers, "authorization": f"Bearer {platform}"})
                c.check("a platform-API token (other aud) is refused by the MCP server with 401 invalid_token",
                        res.status_code == 401 and 'error="invalid_token"' in res.headers.get("www-authenticate", ""),
                        (res.status_code, res.headers.get("www-authenticate")))
                auth = (client_info.client_id, client_info.client_secret) if client_info.client_secret else None
                form = {"token": stepped.access_token}
                if auth is None:
                    form["client_id"] = client_info.client_id
                rev = await raw.post(f"{issuer}/revoke", data=form, auth=auth)
                res = await raw.post(args.mcp_url, json=probe,
                                     headers={**headers, "authorization": f"Bearer {stepped.access_token}"})
                c.check("after revocation (200) the access token is refused with 401",
                        rev.status_code == 200 and res.status_code == 401, (rev.status_code, rev.text, res.status_code))

    browser.close()


async def cimd_fetches(args: argparse.Namespace) -> dict:
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(args.cimd_url))
    async with httpx2.AsyncClient(verify=ssl.create_default_context(cafile=args.ca), timeout=10) as h:
        return (await h.get(f"{origin}/_fetches")).json()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["dcr", "cimd"], required=True)
    ap.add_argument("--mcp-url", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--redirect-uri", required=True)
    ap.add_argument("--cimd-url")
    ap.add_argument("--ca")
    ap.add_argument("--omit-resource", action="store_true")
    args = ap.parse_args()
    if args.mode == "cimd" and not (args.cimd_url and args.ca):
        ap.error("--mode cimd needs --cimd-url and --ca")
    c = Checks(f"python {args.mode}{' without resource' if args.omit_resource else ''}")
    try:
        anyio.run(run, args, c)
    except BaseException as e:  # the SDK raises on a failed flow: one more failed check, with the reason
        traceback.print_exc()
        c.check("the flow ran to the end", False, f"{type(e).__name__}: {e}")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
