//! Signing in through upstream identity providers (issue 14, item 2): the
//! admin API, the round trip through a scripted OpenID provider and a
//! scripted GitHub, linking by (issuer, sub), just-in-time accounts,
//! verified-email linking, and every way the upstream or the browser can
//! get it wrong (a clear page, never a 500, never a session).

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::fake_idp::{CLIENT_ID, CLIENT_SECRET, FakeIdp};
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Form, TestApp, browser, spawn};

async fn add_provider(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/oauth/identity-providers"))
        .bearer_auth(&app.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Adds the fake as provider `fake` (OpenID Connect) with `extra` fields.
async fn oidc_provider(app: &TestApp, idp: &FakeIdp, extra: Value) -> Value {
    let mut body = json!({
        "name": "fake", "display_name": "Fake ID", "kind": "oidc",
        "issuer": idp.issuer(), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = add_provider(app, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["identity_provider"].clone()
}

/// Where a response sends the browser.
fn location(res: &reqwest::Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Clicks "Sign in with …" (coming back to `return_to`) and lets the fake
/// upstream answer; the callback's response.
async fn upstream_round_trip(
    app: &TestApp,
    b: &reqwest::Client,
    name: &str,
    return_to: &str,
) -> reqwest::Response {
    let start = b
        .get(app.url(&format!("/api/v1/oauth/idp/{name}/start")))
        .query(&[("return_to", return_to)])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "start goes upstream");
    let upstream = b.get(location(&start)).send().await.unwrap();
    assert_eq!(upstream.status(), StatusCode::FOUND, "the fake approves");
    b.get(location(&upstream)).send().await.unwrap()
}

async fn users(app: &TestApp) -> Vec<Value> {
    app.admin_get("/api/v1/users/").await["users"]
        .as_array()
        .unwrap()
        .clone()
}

async fn account_page(app: &TestApp, b: &reqwest::Client) -> String {
    page_at(app, b, "/account").await
}

async fn page_at(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let res = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

#[tokio::test]
async fn admins_manage_providers_and_never_see_the_secret_again() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    let p = oidc_provider(&app, &idp, json!({"create_users": true})).await;
    assert_eq!(p["kind"], "oidc");
    assert_eq!(p["issuer"], idp.issuer());
    assert_eq!(p["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(p["create_users"], true);
    assert_eq!(p["link_by_verified_email"], false);
    assert_eq!(
        p["redirect_uri"],
        format!("{}/idp/fake/callback", app.issuer)
    );
    assert!(p.get("client_secret").is_none());
    let id = p["id"].as_str().unwrap();
    let one = app.url(&format!("/api/v1/oauth/identity-providers/{id}"));

    let listed: Value = app.admin_get("/api/v1/oauth/identity-providers").await;
    assert_eq!(listed["identity_providers"][0]["id"], *id);
    assert!(!listed.to_string().contains(CLIENT_SECRET));

    let patch = |body: Value| {
        app.http
            .patch(&one)
            .bearer_auth(&app.admin_token)
            .json(&body)
            .send()
    };
    let res = patch(json!({"display_name": "Fake Workforce", "client_secret": "rotated"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(
        changed["identity_provider"]["display_name"],
        "Fake Workforce"
    );
    let res = patch(json!({"issuer": "https://other.example.com"}))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the issuer keys links"
    );
    let res = patch(json!({"kind": "github"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let dup = add_provider(
        &app,
        json!({"name": "fake", "kind": "github", "client_id": "x", "client_secret": "y"}),
    )
    .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);

    let res = app
        .http
        .delete(&one)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .http
        .get(&one)
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_provider_settings_are_refused_with_the_reason() {
    let app = spawn().await;
    let base = json!({"name": "corp", "kind": "oidc", "issuer": "https://idp.example.com",
                      "client_id": "c", "client_secret": "s"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    for (what, body) in [
        ("no issuer for oidc", without("issuer")),
        (
            "plain http issuer",
            with("issuer", json!("http://idp.example.com")),
        ),
        (
            "issuer with a fragment",
            with("issuer", json!("https://idp.example.com#x")),
        ),
        ("uppercase name", with("name", json!("Corp"))),
        ("name with a slash", with("name", json!("a/b"))),
        ("unknown kind", with("kind", json!("saml"))),
        ("no openid scope", with("scopes", json!(["email"]))),
        (
            "scope with a space",
            with("scopes", json!(["openid", "a b"])),
        ),
        ("no client secret", without("client_secret")),
        ("empty client id", with("client_id", json!(""))),
    ] {
        let res = add_provider(&app, body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let err: Value = res.json().await.unwrap();
        assert!(
            !err["error_description"].as_str().unwrap_or("").is_empty(),
            "{what}: {err}"
        );
    }
    let res = add_provider(&app, with("surprise", json!(1))).await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );

    // Only admins manage providers.
    app.create_user("user@example.com", "a-long-user-password")
        .await;
    let token = app
        .api_login("user@example.com", "a-long-user-password")
        .await;
    let res = app
        .http
        .get(app.url("/api/v1/oauth/identity-providers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_first_sign_in_creates_the_account_and_later_ones_find_it_by_subject() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let before = users(&app).await.len();

    let b = browser();
    let res = upstream_round_trip(&app, &b, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    // What went upstream: code + PKCE S256, a nonce, our callback.
    let sent = idp.last_request();
    assert_eq!(sent["response_type"], "code");
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent["nonce"].len() >= 32 && sent["state"].len() >= 32);
    assert_eq!(
        sent["redirect_uri"],
        format!("{}/idp/fake/callback", app.issuer)
    );
    assert_eq!(sent["scope"], "openid email profile");

    let page = account_page(&app, &b).await;
    assert!(
        page.contains("jane@upstream.example"),
        "signed in as the upstream person"
    );
    assert!(page.contains("Fake ID"), "the link is listed");
    assert!(
        !page.contains("Change password"),
        "a passwordless account has none to change"
    );
    let all = users(&app).await;
    assert_eq!(all.len(), before + 1, "one account created");
    let jane = all
        .iter()
        .find(|u| u["email"] == "jane@upstream.example")
        .unwrap();
    assert_eq!(jane["name"], "Jane Upstream");
    assert_eq!(jane["role"], "user");

    // The upstream changes the email; the subject still finds Jane.
    idp.script(|s| s.email = Some("jane.new@upstream.example".into()));
    let again = browser();
    let res = upstream_round_trip(&app, &again, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(users(&app).await.len(), before + 1, "no second account");
    assert!(
        account_page(&app, &again)
            .await
            .contains("jane@upstream.example")
    );

    // No password opens the account.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "jane@upstream.example", "password": "!none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_just_in_time_accounts_an_unknown_person_is_told_so() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({})).await;
    let before = users(&app).await.len();
    let b = browser();
    let res = upstream_round_trip(&app, &b, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()
            .get("set-cookie")
            .is_none_or(|c| !c.to_str().unwrap().contains("gatehouse_session=gh"))
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("No Gatehouse account is linked"), "{page}");
    assert_eq!(users(&app).await.len(), before);
}

#[tokio::test]
async fn a_verified_email_links_an_existing_account_only_when_allowed_and_verified() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    app.create_user("jane@upstream.example", "jane-has-a-password")
        .await;

    // Not allowed by the provider: refused, even though verified.
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let res = upstream_round_trip(&app, &browser(), "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("already exists"));

    // Allowed, but the upstream does not vouch for the address: refused.
    let p: Value = app.admin_get("/api/v1/oauth/identity-providers").await;
    let id = p["identity_providers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/oauth/identity-providers/{id}")))
        .bearer_auth(&app.admin_token)
        .json(&json!({"link_by_verified_email": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    idp.script(|s| s.email_verified = false);
    let res = upstream_round_trip(&app, &browser(), "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Allowed and verified: linked, signed in as the existing account.
    idp.script(|s| s.email_verified = true);
    let b = browser();
    let res = upstream_round_trip(&app, &b, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = account_page(&app, &b).await;
    assert!(
        page.contains("Change password"),
        "the existing account, with its password"
    );
    assert!(page.contains("Fake ID"));
    assert_eq!(
        users(&app)
            .await
            .iter()
            .filter(|u| u["email"] == "jane@upstream.example")
            .count(),
        1
    );
}

#[tokio::test]
async fn upstream_tampering_and_failures_end_on_a_clear_page_without_a_session() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    type Change = fn(&mut crate::fake_idp::Script);
    let cases: [(&str, Change, StatusCode, &str); 6] = [
        (
            "forged signature",
            |s| s.forge_signature = true,
            StatusCode::BAD_GATEWAY,
            "signature",
        ),
        (
            "wrong nonce",
            |s| s.nonce = Some("replayed".into()),
            StatusCode::BAD_GATEWAY,
            "nonce",
        ),
        (
            "wrong audience",
            |s| s.aud = Some("someone-else".into()),
            StatusCode::BAD_GATEWAY,
            "aud",
        ),
        (
            "code refused",
            |s| s.token_error = Some("invalid_grant".into()),
            StatusCode::BAD_REQUEST,
            "expired",
        ),
        (
            "upstream broken",
            |s| s.token_error = Some("server_error".into()),
            StatusCode::BAD_GATEWAY,
            "server_error",
        ),
        (
            "cancelled upstream",
            |s| s.authorize_error = Some("access_denied".into()),
            StatusCode::BAD_REQUEST,
            "cancelled",
        ),
    ];
    for (what, change, status, says) in cases {
        idp.script(|s| *s = Default::default());
        idp.script(change);
        let b = browser();
        let res = upstream_round_trip(&app, &b, "fake", "/account").await;
        assert_eq!(res.status(), status, "{what}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{what}: {page}");
        let after = b
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !after.contains("jane@upstream.example"),
            "{what}: no session"
        );
    }
    assert_eq!(
        users(&app)
            .await
            .iter()
            .filter(|u| u["email"] == "jane@upstream.example")
            .count(),
        0
    );
}

#[tokio::test]
async fn a_callback_without_its_browser_state_is_refused() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let b = browser();
    let start = b
        .get(app.url("/api/v1/oauth/idp/fake/start?return_to=/account"))
        .send()
        .await
        .unwrap();
    let upstream = b.get(location(&start)).send().await.unwrap();
    let callback = location(&upstream);

    // Another browser (an attacker's link, login CSRF): no flow cookie.
    let res = browser().get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("start again"));
    // This browser with the state changed.
    let mut tampered = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "x".repeat(43)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let res = b.get(tampered.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The real callback, once: then the flow is spent.
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "the tampered try ended the flow"
    );

    // Junk at the callback and unknown providers: pages, not 500s.
    for path in [
        "/api/v1/oauth/idp/fake/callback",
        "/api/v1/oauth/idp/fake/callback?code=&state=",
        "/api/v1/oauth/idp/fake/callback?error=%00%01&state=1",
        "/api/v1/oauth/idp/nope/callback?code=a&state=b",
        "/api/v1/oauth/idp/nope/start",
        "/api/v1/oauth/idp/fake/start?return_to=https://evil.example.com/",
    ] {
        let res = b.get(app.url(path)).send().await.unwrap();
        assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
        if path.contains("evil") {
            // The return is replaced by the account page: no open redirect.
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        }
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_a_bad_gateway_page() {
    let app = spawn().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let res = add_provider(
        &app,
        json!({"name": "down", "kind": "oidc", "issuer": issuer, "client_id": "c", "client_secret": "s"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = browser()
        .get(app.url("/api/v1/oauth/idp/down/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.text().await.unwrap().contains("could not be reached"));
}

#[tokio::test]
async fn signing_in_upstream_continues_the_authorization_request() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let client = app.seed_client().await;
    let pkce = crate::helpers::pkce();
    let b = browser();
    let url = app.authorize_url(&client.id, &pkce, "profile email", "st-42");
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("ul.idps a").unwrap();
    let href = doc
        .select(&sel)
        .next()
        .expect("a Sign in with button")
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    assert!(page.contains("Sign in with Fake ID"));
    let start = b.get(app.url(&href)).send().await.unwrap();
    let upstream = b.get(location(&start)).send().await.unwrap();
    let back = b.get(location(&upstream)).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let resume = location(&back);
    assert!(resume.starts_with("/api/v1/oauth/authorize?"), "{resume}");
    // Back at /authorize, signed in: the consent page, then the code.
    let consent = b.get(app.url(&resume)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let page = consent.text().await.unwrap();
    assert!(
        page.contains("jane@upstream.example"),
        "consenting as the upstream person"
    );
    let res = Form::parse(&page, "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    let redirect = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(
        crate::helpers::query(&redirect, "state").as_deref(),
        Some("st-42")
    );
    assert!(crate::helpers::query(&redirect, "code").is_some());
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_an_upstream_account() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({})).await;
    let b = browser();
    // Sign in with the password on the account page.
    let page = b
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = Form::parse(&page, "/account/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = account_page(&app, &b).await;
    let res = Form::parse(&page, "/account/identities/link")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let upstream = b.get(location(&res)).send().await.unwrap();
    let back = b.get(location(&upstream)).send().await.unwrap();
    assert_eq!(location(&back), "/account?done=linked");
    let page = page_at(&app, &b, "/account?done=linked").await;
    assert!(page.contains("The account was linked"));
    assert!(
        page.contains("jane@upstream.example"),
        "the upstream account is listed"
    );

    // Now the upstream identity signs in to the admin account.
    let other = browser();
    let res = upstream_round_trip(&app, &other, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(account_page(&app, &other).await.contains(ADMIN_EMAIL));

    // A CSRF-less unlink is refused; the real form removes it.
    let res = b
        .post(app.url("/account/identities/unlink"))
        .form(&[
            ("issuer", idp.issuer().as_str()),
            ("subject", "upstream-user-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = Form::parse(&page, "/account/identities/unlink")
        .submit(&b, &app.base)
        .await;
    assert_eq!(location(&res), "/account?done=unlinked");
    let page = account_page(&app, &b).await;
    assert!(!page.contains("jane@upstream.example"));
    let res = upstream_round_trip(&app, &browser(), "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no longer signs in");
}

#[tokio::test]
async fn a_passwordless_account_keeps_its_last_link() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let b = browser();
    upstream_round_trip(&app, &b, "fake", "/account").await;
    let page = account_page(&app, &b).await;
    let res = Form::parse(&page, "/account/identities/unlink")
        .submit(&b, &app.base)
        .await;
    assert_eq!(location(&res), "/account?done=last-link");
    let page = page_at(&app, &b, "/account?done=last-link").await;
    assert!(page.contains("only way to sign in"));
    assert!(page.contains("Fake ID"));
}

#[tokio::test]
async fn github_sign_in_uses_the_primary_verified_email_and_the_numeric_id() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    let res = add_provider(
        &app,
        json!({"name": "github", "display_name": "GitHub", "kind": "github",
               "issuer": idp.issuer(), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
               "create_users": true}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        p["identity_provider"]["scopes"],
        json!(["read:user", "user:email"])
    );
    idp.script(|s| s.email = Some("octo@upstream.example".into()));
    let b = browser();
    let res = upstream_round_trip(&app, &b, "github", "/account").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let sent = idp.last_request();
    assert!(!sent.contains_key("nonce"), "GitHub gets no nonce");
    assert_eq!(sent["code_challenge_method"], "S256");
    let page = account_page(&app, &b).await;
    assert!(
        page.contains("octo@upstream.example"),
        "the primary verified address"
    );
    let all = users(&app).await;
    let octo = all
        .iter()
        .find(|u| u["email"] == "octo@upstream.example")
        .unwrap();
    assert_eq!(octo["email_verified"], true);

    // A wrong code at GitHub (200 with an error member) is a clear refusal.
    idp.script(|s| s.token_error = Some("x".into()));
    let res = upstream_round_trip(&app, &browser(), "github", "/account").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_email_missing_from_the_id_token_is_read_from_userinfo() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    idp.script(|s| s.email_only_in_userinfo = true);
    let b = browser();
    let res = upstream_round_trip(&app, &b, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        account_page(&app, &b)
            .await
            .contains("jane@upstream.example")
    );
}

#[tokio::test]
async fn an_upstream_sign_in_still_asks_for_the_accounts_second_factor() {
    let app = spawn().await;
    let idp = FakeIdp::start().await;
    oidc_provider(&app, &idp, json!({"create_users": true})).await;
    let b = browser();
    upstream_round_trip(&app, &b, "fake", "/account").await;
    let (secret, _) = crate::mfa::set_up_totp(&app, &b).await;

    let other = browser();
    let res = upstream_round_trip(&app, &other, "fake", "/account").await;
    assert_eq!(res.status(), StatusCode::OK, "the code page, not a session");
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter your code"));
    assert!(
        !page_at(&app, &other, "/account")
            .await
            .contains("Sign-in methods")
    );
    let res = Form::parse(&html, "/account/second-factor")
        .with("code", &crate::mfa::code(&secret, 0))
        .submit(&other, &app.base)
        .await;
    assert_eq!(location(&res), "/account");
    assert!(
        page_at(&app, &other, "/account")
            .await
            .contains("jane@upstream.example")
    );

    // Without a password, turning it off takes a code.
    let csrf = crate::account::csrf_of(&page_at(&app, &other, "/account/security").await);
    let res = other
        .post(app.url("/account/security/totp/remove"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("proof", &crate::mfa::code(&secret, 1)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/account/security?done=totp-removed");
}
