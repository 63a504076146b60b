//! The sign-in, consent and sign-out forms' CSRF tokens: bound to the
//! session once there is one, and on https carried in `__Host-` cookies,
//! so a cookie planted from a sibling subdomain forges nothing.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};

use crate::helpers::*;

/// The consent page for `email`, signed in through `b`.
async fn consent_page(
    app: &TestApp,
    b: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> String {
    let page = b.get(url).send().await.unwrap().text().await.unwrap();
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", email)
        .with("password", password)
        .submit(b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

#[tokio::test]
async fn a_consent_token_from_another_session_forges_nothing() {
    let app = spawn().await;
    let c = app.seed_client().await;
    app.create_user("mallory@example.com", "mallorys-password")
        .await;
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    // Mallory gets a genuine consent form for her own session, and with it
    // her CSRF cookie and token.
    let mallory = browser();
    let hers = consent_page(
        &app,
        &mallory,
        &url,
        "mallory@example.com",
        "mallorys-password",
    )
    .await;
    let her_form = Form::parse(&hers, "/api/v1/oauth/authorize");
    let her_csrf_cookie = {
        let page = mallory.get(&url).send().await.unwrap();
        page.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("gatehouse_csrf="))
            .map(str::to_owned)
    };
    // The victim is signed in in her own browser.
    let victim = browser();
    let _ = consent_page(&app, &victim, &url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Mallory's form, posted from the victim's browser (with, if she could
    // plant it, her CSRF cookie too), is refused.
    let mut req = victim
        .post(app.url("/api/v1/oauth/authorize"))
        .form(&her_form.with("decision", "allow").fields);
    if let Some(planted) = her_csrf_cookie {
        req = req.header(COOKIE, planted.split(';').next().unwrap());
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(LOCATION).is_none());
    // So is the sign-out form.
    let res = victim
        .post(app.url("/api/v1/oauth/logout"))
        .form(&Form::parse(&hers, "/api/v1/oauth/logout").fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_sign_in_token_does_not_work_on_the_consent_form() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let login = b.get(&url).send().await.unwrap().text().await.unwrap();
    let login_token = Form::parse(&login, "/api/v1/oauth/login")
        .fields
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .unwrap()
        .1;
    let consent = Form::parse(&login, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await
        .text()
        .await
        .unwrap();
    let res = Form::parse(&consent, "/api/v1/oauth/authorize")
        .with("csrf_token", &login_token)
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The genuine one works.
    let res = Form::parse(&consent, "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn on_https_the_cookies_are_host_prefixed_and_secure() {
    let mut cfg = config();
    cfg.public_url = Some("https://auth.example.test".into());
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    // The public URL is https; the test talks plain http to the listener.
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let res = browser().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf = set
        .iter()
        .find(|c| c.starts_with("__Host-gatehouse_csrf="))
        .unwrap_or_else(|| panic!("{set:?}"));
    for attr in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(csrf.split("; ").any(|a| a == attr), "{attr} in {csrf}");
    }
    assert!(!csrf.contains("Domain"));
    // A sign-in sets the session under the same prefix.
    let cookie = csrf.split(';').next().unwrap().to_owned();
    let page = res.text().await.unwrap();
    let form = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/api/v1/oauth/login"))
        .header(COOKIE, cookie)
        .form(&form.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-gatehouse_session="))
        .expect("a __Host- session cookie");
    for attr in ["Secure", "HttpOnly", "Path=/"] {
        assert!(
            session.split("; ").any(|a| a == attr),
            "{attr} in {session}"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_tls_proxy_cookies_are_secure() {
    let mut cfg = config();
    cfg.trusted_proxies =
        gatehouse_server::http::client_addr::TrustedProxies::parse("127.0.0.1").unwrap();
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let secure = |res: &reqwest::Response| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().split("; ").any(|a| a == "Secure"))
    };
    let res = browser()
        .get(&url)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(secure(&res));
    let res = browser().get(&url).send().await.unwrap();
    assert!(!secure(&res));
}
