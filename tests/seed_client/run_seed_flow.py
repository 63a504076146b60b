"""Runs the seed's Python client against a live Gatehouse.

Everything the seed document shows, in its order: an admin signs in and
registers the "MCP File Server" client with the seed's exact request; the
seed's MCPOAuthClient builds the authorization URL; a person's browser is
played by an HTTP session that fills in Gatehouse's real sign-in and consent
forms; then the seed's code exchanges the code, reads userinfo, calls the
platform API, runs the seed's MCP-server tools, refreshes and revokes.

Usage: GATEHOUSE_URL=http://127.0.0.1:PORT ADMIN_EMAIL=... ADMIN_PASSWORD=... python3 run_seed_flow.py
"""
import asyncio
import builtins
import os
import sys
import urllib.parse
from html.parser import HTMLParser

import requests

import seed_client

BASE = os.environ["GATEHOUSE_URL"].rstrip("/")
ADMIN_EMAIL = os.environ["ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")


class Forms(HTMLParser):
    """Collects each form's action and its named inputs."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": []})
        elif tag == "input" and self.forms and a.get("type") == "hidden":
            self.forms[-1]["fields"].append((a["name"], a.get("value", "")))


def form(html, action):
    p = Forms()
    p.feed(html)
    for f in p.forms:
        if f["action"] == action:
            return f["fields"]
    raise AssertionError(f"no form posting to {action}")


def browser_authorize(url):
    """A person signs in and clicks Allow; returns the redirect's query."""
    s = requests.Session()
    page = s.get(url, allow_redirects=False)
    assert page.status_code == 200, page.status_code
    fields = form(page.text, "/api/v1/oauth/login") + [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]
    res = s.post(BASE + "/api/v1/oauth/login", data=fields, allow_redirects=False)
    if res.status_code == 200:  # the consent page; a remembered consent redirects at once
        fields = form(res.text, "/api/v1/oauth/authorize") + [("decision", "allow")]
        res = s.post(BASE + "/api/v1/oauth/authorize", data=fields, allow_redirects=False)
    assert res.status_code in (302, 303), res.status_code
    location = res.headers["Location"]
    assert location.startswith("http://localhost:8000/oauth/callback?"), location
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)


def main():
    print(f"seed client against {BASE}")
    # "First log in as an administrator"
    login = requests.post(f"{BASE}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    check("admin login", login.status_code == 200, login.text)
    admin_token = login.json()["access_token"]

    # "Create an OAuth client for the MCP server" — the seed's body, verbatim.
    res = requests.post(
        f"{BASE}/api/v1/oauth/clients",
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
        json={
            "name": "MCP File Server",
            "description": "MCP server for file operations",
            "redirect_uris": ["http://localhost:8000/oauth/callback"],
            "allowed_scopes": ["profile", "email", "organizations", "users:read", "mcp:connect"],
            "is_confidential": True,
        },
    )
    body = res.json()
    check("client registered with the seed's response shape",
          res.status_code == 201 and body["success"] is True
          and body["client"]["client_id"].startswith("oauth_")
          and body["client"]["client_secret"].startswith("secret_")
          and body["warning"] == "Store client_secret securely. It will not be shown again.", res.text)
    cid, secret = body["client"]["client_id"], body["client"]["client_secret"]

    # An organization for the MCP tools to list.
    org = requests.post(f"{BASE}/api/v1/organizations/", headers={"Authorization": f"Bearer {admin_token}"},
                        json={"name": "Seed Org"}).json()["organization"]

    # The seed's usage example.
    oauth_client = seed_client.MCPOAuthClient(client_id=cid, client_secret=secret, auth_server_base=f"{BASE}/api/v1")
    auth_url = oauth_client.get_authorization_url()
    sent_state = urllib.parse.parse_qs(urllib.parse.urlparse(auth_url).query)["state"][0]
    callback = browser_authorize(auth_url)
    check("callback carries a code and the same state", "code" in callback and callback["state"][0] == sent_state)
    check("callback carries iss (RFC 9207)", callback.get("iss", [""])[0] == f"{BASE}/api/v1/oauth")

    tokens = oauth_client.exchange_code(callback["code"][0])
    check("exchange_code returns tokens", "access_token" in tokens and "refresh_token" in tokens, str(tokens))
    user_info = oauth_client.get_user_info(tokens["access_token"])
    check("get_user_info returns the user", user_info.get("email") == ADMIN_EMAIL, str(user_info))
    users = oauth_client.make_api_call(tokens["access_token"], "/users/")
    check("make_api_call('/users/')", isinstance(users.get("users"), list) and len(users["users"]) >= 1, str(users))
    organizations = oauth_client.make_api_call(tokens["access_token"], "/organizations/")
    check("make_api_call('/organizations/')",
          any(o["organization"]["id"] == org["id"] for o in organizations.get("organizations", [])), str(organizations))

    # The seed's MCP server, its initialize() answered by a person at the browser.
    server = seed_client.AuthenticatedMCPServer(oauth_client)
    real_input = builtins.input
    builtins.input = lambda prompt="": browser_authorize(server_auth_url[0])["code"][0]
    server_auth_url = []
    original = oauth_client.get_authorization_url

    def capturing():
        url = original()
        server_auth_url.append(url)
        return url

    oauth_client.get_authorization_url = capturing
    try:
        asyncio.run(server.initialize())
    finally:
        builtins.input = real_input
        oauth_client.get_authorization_url = original
    check("AuthenticatedMCPServer.initialize", server.user_info and server.user_info["email"] == ADMIN_EMAIL)
    files = asyncio.run(server.handle_list_files(org["id"]))
    check("handle_list_files for a member organization", len(files["files"]) >= 1 and files["files"][0]["name"].startswith("user_"))
    try:
        asyncio.run(server.handle_list_files("00000000-0000-0000-0000-000000000000"))
        check("handle_list_files refuses a foreign organization", False)
    except Exception as e:  # the seed raises a plain Exception
        check("handle_list_files refuses a foreign organization", "No access to organization" in str(e))
    profile = asyncio.run(server.handle_get_user_profile())
    check("handle_get_user_profile", profile["email"] == ADMIN_EMAIL)

    # Token management helpers.
    seed_client.client_id, seed_client.client_secret, seed_client.auth_server_base = cid, secret, f"{BASE}/api/v1"
    refreshed = seed_client.refresh_access_token(tokens["refresh_token"])
    check("refresh_access_token rotates", "access_token" in refreshed and refreshed["refresh_token"] != tokens["refresh_token"], str(refreshed))
    reused = seed_client.refresh_access_token(tokens["refresh_token"])
    check("reusing the old refresh token is refused", reused.get("error") == "invalid_grant", str(reused))
    check("revoke_token", seed_client.revoke_token(server.access_token) is True)
    after = requests.get(f"{BASE}/api/v1/oauth/userinfo", headers={"Authorization": f"Bearer {server.access_token}"})
    check("a revoked token is refused", after.status_code == 401)

    print(f"seed client: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
