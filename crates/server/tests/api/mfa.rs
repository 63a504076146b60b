//! Two-step sign-in (issue 14, item 3): setting up an authenticator app
//! (TOTP, RFC 6238) at /account/security, recovery codes, the second step
//! of every sign-in (account pages, the authorization page, the API), the
//! failure budget, replays, and GATEHOUSE_REQUIRE_MFA_FOR_ADMINS.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::account::{csrf_of, page, signed_in};
use crate::helpers::*;
use gatehouse_server::Config;

const USER: &str = "mira@example.com";
const PASSWORD: &str = "miras-long-password";

/// The current code of a base32 secret, `offset` steps from now.
pub(crate) fn code(secret: &str, offset: i64) -> String {
    let bytes = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .unwrap();
    let step = gatehouse_core::totp::step_at(time::OffsetDateTime::now_utc());
    gatehouse_core::totp::code_at(&bytes, step + offset)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect()
}

async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(&page(app, b, "/account/security").await.1);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    b.post(app.url(action)).form(&form).send().await.unwrap()
}

/// Sets up an authenticator app for the signed-in browser `b`: the secret
/// and the recovery codes.
pub(crate) async fn set_up_totp(app: &TestApp, b: &reqwest::Client) -> (String, Vec<String>) {
    let (_, html) = page(app, b, "/account/security").await;
    assert!(html.contains("Set up an authenticator app"));
    let res = post(app, b, "/account/security/totp", &[]).await;
    assert_eq!(location(&res), "/account/security");
    let (_, html) = page(app, b, "/account/security").await;
    assert!(html.contains("<svg"), "a QR code");
    let secret = texts(&html, "figure.qr figcaption code")
        .pop()
        .expect("the key");
    assert_eq!(secret.len(), 32, "160 bits in base32");
    // A wrong code does not turn it on.
    let res = post(
        app,
        b,
        "/account/security/totp/confirm",
        &[("code", "000000")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The app's clock may be a step behind; the steps after it stay usable.
    let res = post(
        app,
        b,
        "/account/security/totp/confirm",
        &[("code", &code(&secret, -1))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let codes = texts(&html, "ul.codes code");
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    assert!(
        !page(app, b, "/account/security")
            .await
            .1
            .contains(&codes[0]),
        "never again"
    );
    (secret, codes)
}

/// The password step of the account pages' sign-in: the second step's page.
async fn password_step(app: &TestApp, b: &reqwest::Client) -> String {
    let html = b
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = Form::parse(&html, "/account/login")
        .with("email", USER)
        .with("password", PASSWORD)
        .submit(b, &app.base)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "asks for the code instead of signing in"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter your code"));
    html
}

async fn code_step(
    app: &TestApp,
    b: &reqwest::Client,
    html: &str,
    code: &str,
) -> reqwest::Response {
    Form::parse(html, "/account/second-factor")
        .with("code", code)
        .submit(b, &app.base)
        .await
}

#[tokio::test]
async fn an_account_with_an_authenticator_signs_in_in_two_steps() {
    let app = spawn().await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    let (secret, _) = set_up_totp(&app, &b).await;
    let (_, html) = page(&app, &b, "/account/security").await;
    assert!(html.contains("Recovery codes left") && html.contains("<dd>10</dd>"));

    // The password alone opens nothing.
    let other = browser();
    let html = password_step(&app, &other).await;
    assert!(
        !page(&app, &other, "/account")
            .await
            .1
            .contains("Change password")
    );
    let res = code_step(&app, &other, &html, "123456").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let again = res.text().await.unwrap();
    assert!(again.contains("not correct"));
    // The next step's code is fine too (a clock a little ahead).
    let res = code_step(&app, &other, &again, &code(&secret, 1)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    assert!(page(&app, &other, "/account").await.1.contains(USER));

    // The same code again, in a third browser: a replay, refused.
    let third = browser();
    let html = password_step(&app, &third).await;
    let res = code_step(&app, &third, &html, &code(&secret, 1)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "each step is accepted once"
    );
    // A code older than the window: refused.
    let res = code_step(&app, &third, &html, &code(&secret, -3)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A forged or stale token gets nowhere.
    let res = Form::parse(&html, "/account/second-factor")
        .with("mfa_token", "AAAA")
        .with("code", &code(&secret, 0))
        .submit(&third, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_new_ones_replace_the_old() {
    let app = spawn().await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    let (secret, codes) = set_up_totp(&app, &b).await;

    let other = browser();
    let html = password_step(&app, &other).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let res = code_step(&app, &other, &html, &typed).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "case and separators do not matter"
    );
    let (_, html) = page(&app, &other, "/account/security").await;
    assert!(html.contains("<dd>9</dd>"));

    let third = browser();
    let html = password_step(&app, &third).await;
    let res = code_step(&app, &third, &html, &codes[3]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "spent");

    // New codes need a code from the app; the old set stops working.
    let res = post(
        &app,
        &b,
        "/account/security/recovery-codes",
        &[("code", &code(&secret, 0))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = texts(&res.text().await.unwrap(), "ul.codes code");
    assert_eq!(fresh.len(), 10);
    let html = password_step(&app, &third).await;
    let res = code_step(&app, &third, &html, &codes[5]).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the old set is gone"
    );
    let res = code_step(&app, &third, &html, &fresh[0]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_api_login_asks_for_the_second_factor() {
    let app = spawn().await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    let (secret, codes) = set_up_totp(&app, &b).await;
    let login = |body: Value| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .json(&body)
            .send()
    };
    let res = login(json!({"email": USER, "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "mfa_required");
    let res = login(json!({"email": USER, "password": PASSWORD, "otp": "999999"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = login(json!({"email": USER, "password": "wrong-password!", "otp": code(&secret, 0)}))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the password is still checked first"
    );
    let res = login(json!({"email": USER, "password": PASSWORD, "otp": code(&secret, 0)}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = login(json!({"email": USER, "password": PASSWORD, "otp": codes[0]}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "a recovery code works too");
}

#[tokio::test]
async fn wrong_codes_spend_the_sign_in_failure_budget() {
    let app = spawn_with(Config {
        login_attempts_per_minute: 3,
        ..config()
    })
    .await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    let (secret, _) = set_up_totp(&app, &b).await;
    let other = browser();
    let mut html = password_step(&app, &other).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = code_step(&app, &other, &html, "000000").await;
        statuses.push(res.status());
        let throttled = res.status() == StatusCode::TOO_MANY_REQUESTS;
        if throttled {
            assert!(res.headers().contains_key("retry-after"));
        }
        html = res.text().await.unwrap();
        if throttled {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Even the right code now waits: the budget is the password's.
    let res = code_step(&app, &other, &html, &code(&secret, 0)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_authorization_page_continues_after_the_second_step() {
    let app = spawn().await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    let (secret, _) = set_up_totp(&app, &b).await;
    let client = app.seed_client().await;
    let pkce = pkce();
    let other = browser();
    let url = app.authorize_url(&client.id, &pkce, "profile", "st-7");
    let html = other.get(&url).send().await.unwrap().text().await.unwrap();
    let res = Form::parse(&html, "/api/v1/oauth/login")
        .with("email", USER)
        .with("password", PASSWORD)
        .submit(&other, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let res = code_step(&app, &other, &html, &code(&secret, 0)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = location(&res);
    assert!(back.starts_with("/api/v1/oauth/authorize?"), "{back}");
    let consent = other.get(app.url(&back)).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let res = Form::parse(&consent.text().await.unwrap(), "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&other, &app.base)
        .await;
    let redirect = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&redirect, "state").as_deref(), Some("st-7"));
    assert!(query(&redirect, "code").is_some());
}

#[tokio::test]
async fn turning_it_off_takes_the_password() {
    let app = spawn().await;
    app.create_user(USER, PASSWORD).await;
    let b = signed_in(&app, USER, PASSWORD).await;
    set_up_totp(&app, &b).await;
    let res = post(
        &app,
        &b,
        "/account/security/totp/remove",
        &[("proof", "not-my-password")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(
        &app,
        &b,
        "/account/security/totp/remove",
        &[("proof", PASSWORD)],
    )
    .await;
    assert_eq!(location(&res), "/account/security?done=totp-removed");
    // One step again.
    signed_in(&app, USER, PASSWORD).await;
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Forms without this session's token change nothing.
    let res = b
        .post(app.url("/account/security/totp"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_must_set_up_a_second_factor_when_the_deployment_requires_it() {
    let app = spawn_with(Config {
        require_mfa_for_admins: true,
        ..config()
    })
    .await;
    assert!(
        app.admin_token.is_empty(),
        "no API token before the second factor"
    );
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("/account/security"));

    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let res = b.get(app.url("/admin/clients")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account/security?done=mfa-required");
    let (_, html) = page(&app, &b, "/account/security?done=mfa-required").await;
    assert!(html.contains("Administrators must turn on two-step sign-in"));

    let (secret, _) = set_up_totp(&app, &b).await;
    let (status, _) = page(&app, &b, "/admin/clients").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the console opens once it is set up"
    );
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "otp": code(&secret, 1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let token: Value = res.json().await.unwrap();
    let admin = token["access_token"].as_str().unwrap().to_owned();

    // Another admin without a second factor gets no `admin` scope through
    // the authorization code flow either.
    let res = app
        .http
        .post(app.url("/api/v1/users/"))
        .bearer_auth(&admin)
        .json(
            &json!({"email": "second-admin@example.com", "name": "Second",
                      "password": "second-admin-password", "role": "admin"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Ops tool", "redirect_uris": [REDIRECT],
                      "allowed_scopes": ["admin", "profile"], "is_confidential": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let client = TestClient {
        id: body["client"]["client_id"].as_str().unwrap().to_owned(),
        secret: body["client"]["client_secret"].as_str().map(str::to_owned),
    };
    let p = pkce();
    let url = app.authorize_url(&client.id, &p, "admin profile", "st");
    let back = app
        .authorize_via_pages(
            &browser(),
            &url,
            "second-admin@example.com",
            "second-admin-password",
        )
        .await;
    let code = query(&back, "code").unwrap();
    let res = app.exchange(&client, &code, &p).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(
        t["scope"], "profile",
        "admin held back until a second factor"
    );

    // Ordinary users are not asked to.
    let res = app
        .http
        .post(app.url("/api/v1/users/"))
        .bearer_auth(&admin)
        .json(&json!({"email": USER, "name": "Mira", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
