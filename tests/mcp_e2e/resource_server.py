"""A small MCP server protected by Gatehouse: the resource server of the end-to-end test.

It is what an MCP server operator would write:
- RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp naming Gatehouse;
- 401 + `WWW-Authenticate: Bearer resource_metadata="…", scope="files:read"` without a token;
- every bearer token is checked through Gatehouse introspection (RFC 7662): active,
  issued by Gatehouse, audience = this server's resource URI, scopes;
- two tools: `read_file` needs files:read, `write_file` needs files:read and files:write;
  calling `write_file` without files:write answers 403 insufficient_scope with
  scope="files:read files:write" (every scope needed, in one challenge) so the client steps up.

GET /_stats (unauthenticated, test-only) counts what happened, for the clients' assertions.

Usage: python resource_server.py --port P --issuer ISSUER
       (RS_CLIENT_ID / RS_CLIENT_SECRET in the environment: the confidential client used for introspection)
"""
import argparse
import json
import os
import sys
from collections import Counter

import httpx2
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse

from mcp.server.mcpserver import Context, MCPServer

READ = "files:read"
WRITE = "files:write"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--issuer", required=True)
    args = ap.parse_args()
    client_id = os.environ["RS_CLIENT_ID"]
    client_secret = os.environ["RS_CLIENT_SECRET"]

    origin = f"http://127.0.0.1:{args.port}"
    resource = f"{origin}/mcp"
    prm_url = f"{origin}/.well-known/oauth-protected-resource/mcp"
    stats: Counter[str] = Counter()
    files: dict[str, str] = {"hello.txt": "Hello from a Gatehouse-protected MCP server."}

    mcp = MCPServer("gatehouse-e2e-files", instructions="Files behind Gatehouse.")

    def caller(ctx: Context) -> str:
        token = ctx.request_context.request.scope.get("gatehouse.token", {})
        return f"sub={token.get('sub')} client_id={token.get('client_id')}"

    @mcp.tool()
    def read_file(path: str, ctx: Context) -> str:
        """Read a file (needs files:read)."""
        stats["tool:read_file"] += 1
        return f"{files.get(path, '')} [{caller(ctx)}]"

    @mcp.tool()
    def write_file(path: str, content: str, ctx: Context) -> str:
        """Write a file (needs files:write)."""
        stats["tool:write_file"] += 1
        files[path] = content
        return f"wrote {len(content)} bytes to {path} [{caller(ctx)}]"

    @mcp.custom_route("/.well-known/oauth-protected-resource/mcp", methods=["GET"])
    async def protected_resource_metadata(_: Request) -> JSONResponse:
        stats["prm"] += 1
        return JSONResponse(
            {
                "resource": resource,
                "authorization_servers": [args.issuer],
                "scopes_supported": [READ, WRITE],
                "bearer_methods_supported": ["header"],
                "resource_name": "Gatehouse e2e files",
            }
        )

    @mcp.custom_route("/_stats", methods=["GET"])
    async def get_stats(_: Request) -> JSONResponse:
        return JSONResponse(dict(stats))

    inner = mcp.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True)
    http = httpx2.AsyncClient(timeout=10)

    async def introspect(token: str) -> dict:
        stats["introspect"] += 1
        res = await http.post(
            f"{args.issuer}/introspect", data={"token": token}, auth=(client_id, client_secret)
        )
        if res.status_code != 200:
            print(f"rs: introspection answered {res.status_code}: {res.text}", file=sys.stderr, flush=True)
            return {"active": False}
        return res.json()

    def challenge(status: int, error: str | None, description: str, scope: str):
        parts = []
        if error:
            parts.append(f'error="{error}"')
            parts.append(f'error_description="{description}"')
        parts.append(f'resource_metadata="{prm_url}"')
        parts.append(f'scope="{scope}"')
        body = {"error": error or "unauthorized", "error_description": description}
        return JSONResponse(body, status_code=status, headers={"WWW-Authenticate": "Bearer " + ", ".join(parts)})

    def needed_scopes(body: bytes) -> set[str]:
        try:
            msg = json.loads(body or b"null")
        except ValueError:
            return {READ}
        msgs = msg if isinstance(msg, list) else [msg]
        for m in msgs:
            if isinstance(m, dict) and m.get("method") == "tools/call":
                if (m.get("params") or {}).get("name") == "write_file":
                    return {READ, WRITE}
        return {READ}

    async def app(scope, receive, send):
        """ASGI guard in front of the MCP endpoint; everything else passes through."""
        if scope["type"] != "http" or scope["path"].rstrip("/") != "/mcp":
            await inner(scope, receive, send)
            return
        # Read the whole body first: the scope a request needs depends on the JSON-RPC call.
        chunks = []
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        body = b"".join(chunks)

        headers = dict(scope["headers"])
        authz = headers.get(b"authorization", b"").decode()
        if not authz.lower().startswith("bearer "):
            stats["401:no-token"] += 1
            await challenge(401, None, "a bearer token is required", READ)(scope, receive, send)
            return
        token = authz[7:].strip()
        info = await introspect(token)
        aud = info.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not info.get("active"):
            stats["401:inactive"] += 1
            await challenge(401, "invalid_token", "the token is not active", READ)(scope, receive, send)
            return
        if resource not in auds or info.get("iss") != args.issuer:
            stats["401:wrong-audience"] += 1
            print(f"rs: refused token for aud={aud!r} iss={info.get('iss')!r}", file=sys.stderr, flush=True)
            await challenge(401, "invalid_token", "the token is not for this resource", READ)(scope, receive, send)
            return
        granted = set((info.get("scope") or "").split())
        needed = needed_scopes(body)
        if not needed <= granted:
            stats["403:insufficient_scope"] += 1
            await challenge(
                403, "insufficient_scope", "this call needs more scopes", " ".join(sorted(needed))
            )(scope, receive, send)
            return
        stats["authorized"] += 1
        scope = dict(scope)
        scope["gatehouse.token"] = info

        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await inner(scope, replay, send)

    print(f"rs: MCP server at {resource}, metadata at {prm_url}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
