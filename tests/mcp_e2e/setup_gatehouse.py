"""What an administrator does once before the end-to-end runs.

- registers the test MCP server as a protected resource (its URI and the scopes it accepts);
- creates the confidential client the MCP server uses for token introspection;
- registers a public client for the conformance suite through dynamic registration,
  with the suite's callback http://127.0.0.1:<port>/callback, and pins its default
  resource to the platform API (the server-wide default is the MCP server).

Prints one JSON object: {"rs_client_id", "rs_client_secret", "conformance_client_id"}.

Usage: python setup_gatehouse.py --base URL --resource URI --conformance-port P
       (E2E_EMAIL / E2E_PASSWORD: the administrator)
"""
import argparse
import json
import os
import sys

import httpx2


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--resource", required=True)
    ap.add_argument("--conformance-port", type=int, required=True)
    args = ap.parse_args()
    base = args.base.rstrip("/")
    http = httpx2.Client(timeout=15)

    res = http.post(
        f"{base}/api/v1/auth/login",
        json={"email": os.environ["E2E_EMAIL"], "password": os.environ["E2E_PASSWORD"]},
    )
    if res.status_code != 200:
        print(f"admin login failed: {res.status_code} {res.text}", file=sys.stderr)
        return 1
    admin = {"Authorization": f"Bearer {res.json()['access_token']}"}

    res = http.post(
        f"{base}/api/v1/oauth/resources",
        headers=admin,
        json={"resource": args.resource, "name": "Gatehouse e2e files", "scopes": ["files:read", "files:write"]},
    )
    if res.status_code != 201:
        print(f"resource registration failed: {res.status_code} {res.text}", file=sys.stderr)
        return 1

    res = http.post(
        f"{base}/api/v1/oauth/clients",
        headers=admin,
        json={
            "name": "Gatehouse e2e files (introspection)",
            "redirect_uris": ["https://rs.invalid/unused"],
            "allowed_scopes": ["profile"],
            "is_confidential": True,
        },
    )
    if res.status_code != 201:
        print(f"introspection client creation failed: {res.status_code} {res.text}", file=sys.stderr)
        return 1
    rs = res.json()["client"]

    res = http.post(
        f"{base}/api/v1/oauth/register",
        json={
            "client_name": "MCP conformance suite",
            "redirect_uris": [f"http://127.0.0.1:{args.conformance_port}/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "application_type": "native",
        },
    )
    if res.status_code != 201:
        print(f"conformance client registration failed: {res.status_code} {res.text}", file=sys.stderr)
        return 1
    conformance_id = res.json()["client_id"]
    # Gatehouse runs with GATEHOUSE_DEFAULT_RESOURCE = the MCP server; the suite's run without
    # --resource is about the platform API, so this client is pinned to it by its own default.
    res = http.patch(
        f"{base}/api/v1/oauth/clients/{conformance_id}",
        headers=admin,
        json={"default_resource": f"{base}/api/v1"},
    )
    if res.status_code != 200:
        print(f"pinning the conformance client failed: {res.status_code} {res.text}", file=sys.stderr)
        return 1

    print(
        json.dumps(
            {
                "rs_client_id": rs["client_id"],
                "rs_client_secret": rs["client_secret"],
                "conformance_client_id": conformance_id,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
