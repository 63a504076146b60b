"""Plays the person at the browser: Gatehouse's real sign-in and consent pages over HTTP.

The same approach as tests/seed_client: GET the authorization URL, fill in the form
that posts to /api/v1/oauth/login with the hidden fields plus email and password, then
the consent form that posts to /api/v1/oauth/authorize with decision=allow, and read
the redirect's Location. A Browser keeps its cookies, like a real browser, so a second
authorization (a scope step-up) may skip the sign-in page but still shows consent.

Command line (used by run.sh for the conformance suite):
  python pages.py URL   prints the redirect Location (email/password from E2E_EMAIL / E2E_PASSWORD)
"""
import os
import sys
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx2

LOGIN_ACTION = "/api/v1/oauth/login"
CONSENT_ACTION = "/api/v1/oauth/authorize"


class _Forms(HTMLParser):
    def __init__(self, keep_buttons: bool = False) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.keep_buttons = keep_buttons

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": []})
        elif tag == "input" and self.forms and a.get("type") == "hidden" and a.get("name"):
            self.forms[-1]["fields"].append((a["name"], a.get("value") or ""))
        elif tag == "button" and self.forms and self.keep_buttons:
            self.forms[-1]["label"] = a.get("aria-label")


def hidden_fields(html: str, action: str) -> list[tuple[str, str]] | None:
    p = _Forms()
    p.feed(html)
    for f in p.forms:
        if f["action"] == action:
            return f["fields"]
    return None


@dataclass
class Authorization:
    location: str
    params: dict[str, str]
    pages: list[str] = field(default_factory=list)  # "login", "consent" in the order shown
    consent_html: str = ""


class Browser:
    def __init__(self, email: str, password: str) -> None:
        self.email = email
        self.password = password
        self.http = httpx2.Client(follow_redirects=False, timeout=15)

    def close(self) -> None:
        self.http.close()

    def _post(self, url: str, fields: list[tuple[str, str]]) -> httpx2.Response:
        # Encoded here: the form keeps its field order and repeated names.
        body = urllib.parse.urlencode(fields)
        return self.http.post(url, content=body, headers={"content-type": "application/x-www-form-urlencoded"})

    def authorize(self, url: str) -> Authorization:
        origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
        pages: list[str] = []
        consent_html = ""
        res = self.http.get(url)
        for _ in range(3):  # at most: sign-in page, consent page, redirect
            if res.status_code in (302, 303):
                break
            if res.status_code != 200:
                raise AssertionError(f"authorization page answered {res.status_code}: {res.text[:500]}")
            login = hidden_fields(res.text, LOGIN_ACTION)
            consent = hidden_fields(res.text, CONSENT_ACTION)
            if login is not None:
                pages.append("login")
                data = login + [("email", self.email), ("password", self.password)]
                res = self._post(origin + LOGIN_ACTION, data)
            elif consent is not None:
                pages.append("consent")
                consent_html = res.text
                res = self._post(origin + CONSENT_ACTION, consent + [("decision", "allow")])
            else:
                raise AssertionError(f"no sign-in or consent form on the page: {res.text[:500]}")
        else:
            raise AssertionError(f"no redirect after {pages}")
        location = res.headers["location"]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        for k, v in query.items():
            if len(v) != 1:
                raise AssertionError(f"parameter {k} appears {len(v)} times in {location}")
        params = {k: v[0] for k, v in query.items()}
        return Authorization(location=location, params=params, pages=pages, consent_html=consent_html)


    def disconnect(self, app_name: str, origin: str) -> bool:
        """Presses Disconnect for `app_name` on /account/apps (signed in by an earlier
        authorization). Returns whether the page confirmed it with a redirect."""
        page = self.http.get(origin + "/account/apps")
        if page.status_code != 200:
            raise AssertionError(f"/account/apps answered {page.status_code}: {page.text[:300]}")
        p = _Forms(keep_buttons=True)
        p.feed(page.text)
        for f in p.forms:
            if (f["action"] or "").endswith("/disconnect") and f.get("label") == f"Disconnect {app_name}":
                res = self._post(origin + f["action"], f["fields"])
                return res.status_code in (302, 303)
        raise AssertionError(f"no Disconnect button for {app_name!r} on /account/apps")


if __name__ == "__main__":
    b = Browser(os.environ["E2E_EMAIL"], os.environ["E2E_PASSWORD"])
    print(b.authorize(sys.argv[1]).location)
