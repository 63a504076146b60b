//! Gatehouse is nobody's open redirector (RFC 9700 §4.11.2, DESIGN §8), and
//! a public native client is never silently re-authorized (RFC 8252 §8.6).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// A self-registered public client whose only redirect is `redirect`.
async fn self_registered(app: &TestApp, redirect: &str) -> String {
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .json(&json!({
            "client_name": "Some App",
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An admin-registered confidential client whose only redirect is `redirect`.
async fn admin_registered(app: &TestApp, redirect: &str) -> TestClient {
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "Vetted", "redirect_uris": [redirect], "allowed_scopes": ["profile"], "is_confidential": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    TestClient {
        id: body["client"]["client_id"].as_str().unwrap().to_owned(),
        secret: body["client"]["client_secret"].as_str().map(str::to_owned),
    }
}

fn url(app: &TestApp, client_id: &str, redirect: &str, pairs: &[(&str, &str)]) -> String {
    let p = pkce();
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", "profile"),
        ("state", "st"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in pairs {
        q.retain(|(key, _)| key != k);
        if !v.is_empty() {
            q.push((k, v));
        }
    }
    format!(
        "{}/authorize?{}",
        app.issuer,
        serde_urlencoded::to_string(q).unwrap()
    )
}

/// Requests that fail before anyone has seen a Gatehouse page.
const BAD: &[&[(&str, &str)]] = &[
    &[("scope", "admin")],
    &[("response_type", "token")],
    &[("response_type", "")],
    &[("prompt", "none")],
    &[("code_challenge", "")],
    &[("code_challenge_method", "plain")],
    &[("response_mode", "fragment")],
    &[("request_uri", "urn:x")],
    &[("resource", "https://unknown.example/mcp")],
];

const EVIL: &str = "https://evil.example/landing";

#[tokio::test]
async fn errors_for_self_registered_clients_are_shown_naming_the_destination() {
    let app = spawn().await;
    let id = self_registered(&app, EVIL).await;
    for bad in BAD {
        let res = browser()
            .get(url(&app, &id, EVIL, bad))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(res.headers().get("location").is_none(), "{bad:?}");
        let page = res.text().await.unwrap();
        assert!(page.contains("evil.example"), "{bad:?}: {page}");
        assert!(page.contains("not sent there automatically"));
    }
    // A signed-in user who never approved it is protected the same way.
    let b = browser();
    let vetted = admin_registered(&app, REDIRECT).await;
    let sign_in = url(&app, &vetted.id, REDIRECT, &[]);
    app.authorize_via_pages(&b, &sign_in, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    for bad in BAD {
        let res = b.get(url(&app, &id, EVIL, bad)).send().await.unwrap();
        assert!(res.headers().get("location").is_none(), "{bad:?}");
    }
    // The same holds when the request is posted to the sign-in form.
    let mut form = url::Url::parse(&url(&app, &id, EVIL, &[("scope", "admin")]))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect::<Vec<_>>();
    form.push(("email".into(), ADMIN_EMAIL.into()));
    form.push(("password".into(), ADMIN_PASSWORD.into()));
    for path in ["/api/v1/oauth/login", "/api/v1/oauth/authorize"] {
        let res = browser()
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("location").is_none(), "{path}");
    }
}

#[tokio::test]
async fn errors_for_vetted_or_approved_clients_still_redirect() {
    let app = spawn().await;
    let vetted = admin_registered(&app, "https://app.example.com/cb").await;
    let res = browser()
        .get(url(
            &app,
            &vetted.id,
            "https://app.example.com/cb",
            &[("response_type", "token")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = res.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with("https://app.example.com/cb?error=unsupported_response_type"));
    // A self-registered client the signed-in user has approved gets its
    // errors back like any other.
    let id = self_registered(&app, EVIL).await;
    let b = browser();
    app.authorize_via_pages(&b, &url(&app, &id, EVIL, &[]), ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let res = b
        .get(url(&app, &id, EVIL, &[("response_type", "token")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(EVIL)
    );
    // Deny on the consent page always goes back: the client waits for it.
    let other = self_registered(&app, "https://other.example/cb").await;
    let page = b
        .get(url(&app, &other, "https://other.example/cb", &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = Form::parse(&page, "/api/v1/oauth/authorize")
        .with("decision", "deny")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=access_denied")
    );
}

#[tokio::test]
async fn public_native_clients_are_asked_every_time() {
    let app = spawn().await;
    for redirect in ["http://127.0.0.1:43123/cb", "com.example.app:/oauth/cb"] {
        let id = self_registered(&app, redirect).await;
        let b = browser();
        app.authorize_via_pages(
            &b,
            &url(&app, &id, redirect, &[]),
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
        )
        .await;
        // Consent is remembered, but a page is shown again…
        let res = b.get(url(&app, &id, redirect, &[])).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{redirect}");
        assert!(res.text().await.unwrap().contains(r#"value="allow""#));
        // …on any loopback port…
        if redirect.starts_with("http://") {
            let other_port = "http://127.0.0.1:50999/cb";
            let res = b.get(url(&app, &id, other_port, &[])).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        // …and prompt=none cannot skip it.
        let res = b
            .get(url(&app, &id, redirect, &[("prompt", "none")]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{redirect}");
        let loc = res.headers()["location"].to_str().unwrap();
        assert!(loc.contains("error=consent_required"), "{loc}");
        assert!(!loc.contains("code="));
    }
    // A confidential web client's remembered consent still applies.
    let vetted = admin_registered(&app, "https://app.example.com/cb").await;
    let b = browser();
    let first = url(&app, &vetted.id, "https://app.example.com/cb", &[]);
    app.authorize_via_pages(&b, &first, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let res = b
        .get(url(
            &app,
            &vetted.id,
            "https://app.example.com/cb",
            &[("prompt", "none")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("code=")
    );
}
