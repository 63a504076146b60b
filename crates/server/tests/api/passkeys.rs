//! Passkeys over plain HTTP (issue 14, item 3): what the pages offer and
//! what they refuse. The ceremonies themselves need an authenticator and
//! are driven in Chromium (browser_passkeys.rs); here every hostile or
//! broken answer must end on a page that says what to do, never a 500,
//! and a challenge must not outlive its first answer.

use reqwest::StatusCode;
use serde_json::Value;

use crate::account::{csrf_of, page, signed_in};
use crate::helpers::*;

/// A server whose public URL names `localhost` (WebAuthn needs a domain).
async fn spawn_on_localhost() -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    spawn_with(gatehouse_server::Config {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        public_url: Some(format!("http://localhost:{port}")),
        ..config()
    })
    .await
}

/// The `data-options` of the passkey form on `html`, parsed.
fn options_of(html: &str) -> Value {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("form[data-passkey]").unwrap();
    let form = doc.select(&sel).next().expect("a passkey form");
    serde_json::from_str(form.value().attr("data-options").unwrap()).unwrap()
}

/// A syntactically whole assertion that no authenticator made.
fn forged_assertion(credential_id: &str) -> String {
    serde_json::json!({
        "id": credential_id, "rawId": credential_id, "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
            "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": null,
        },
    })
    .to_string()
}

/// The passkey sign-in page's form, begun from the sign-in page.
async fn begin_sign_in(app: &TestApp, b: &reqwest::Client) -> Form {
    let (_, html) = page(app, b, "/account").await;
    let res = Form::parse(&html, "/account/passkey")
        .submit(b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    Form::parse(&res.text().await.unwrap(), "/account/passkey/finish")
}

#[tokio::test]
async fn an_ip_address_url_offers_no_passkeys_and_says_why() {
    let app = spawn().await;
    let b = browser();
    let (_, html) = page(&app, &b, "/account").await;
    assert!(!html.contains("Sign in with a passkey"));
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/account/security").await;
    assert!(html.contains("Passkeys need this Gatehouse to be reached by a domain name"));
    assert!(!html.contains("Add a passkey"));
    let res = b
        .post(app.url("/account/security/passkeys/new"))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("domain name"));
}

#[tokio::test]
async fn the_pages_load_only_their_own_script() {
    let app = spawn_on_localhost().await;
    let res = browser().get(app.url("/account")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(res.text().await.unwrap().contains("Sign in with a passkey"));
    let res = browser()
        .get(app.url("/assets/passkeys.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(res.text().await.unwrap().contains("navigator.credentials"));
}

#[tokio::test]
async fn adding_a_passkey_asks_for_a_verified_discoverable_credential() {
    let app = spawn_on_localhost().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/account/security").await;
    let res = b
        .post(app.url("/account/security/passkeys/new"))
        .form(&[("csrf_token", csrf_of(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let options = options_of(&html);
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], ADMIN_EMAIL);
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert!(
        pk["challenge"].as_str().unwrap().len() >= 43,
        "32 random bytes"
    );
    let form = Form::parse(&html, "/account/security/passkeys");

    // Junk, a name with control characters, and no CSRF token: each a
    // clear refusal, and none of them spends the challenge.
    let res = form
        .clone()
        .with("response", "not json")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("not valid"));
    let res = form
        .clone()
        .with("name", "bad\u{7}name")
        .with("response", "{}")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = form
        .clone()
        .without("csrf_token")
        .with("response", "{}")
        .submit(&b, &app.base)
        .await;
    assert_ne!(res.status(), StatusCode::OK);
    // A whole but forged attestation is refused, and its challenge is gone.
    let forged = serde_json::json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "oA", "clientDataJSON": "e30"},
    })
    .to_string();
    let res = form
        .clone()
        .with("response", &forged)
        .submit(&b, &app.base)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "{}",
        res.text().await.unwrap()
    );
    let res = form
        .clone()
        .with("response", &forged)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    let (_, html) = page(&app, &b, "/account/security").await;
    assert!(html.contains("Off."), "nothing was added");
}

#[tokio::test]
async fn a_forged_or_replayed_sign_in_answer_gets_a_page_not_a_session() {
    let app = spawn_on_localhost().await;
    let b = browser();
    let form = begin_sign_in(&app, &b).await;
    let challenge = form
        .fields
        .iter()
        .find(|(k, _)| k == "challenge")
        .unwrap()
        .1
        .clone();

    // Not JSON: the same challenge may still be answered.
    let res = form
        .clone()
        .with("response", "[")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A credential nobody registered: refused, and the page offers a
    // fresh try (a new challenge).
    let res = form
        .clone()
        .with("response", &forged_assertion("bm9ib2R5"))
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(html.contains("not accepted"));
    let again = Form::parse(&html, "/account/passkey/finish");
    assert!(
        again
            .fields
            .iter()
            .any(|(k, v)| k == "challenge" && *v != challenge)
    );
    // The answered challenge is spent.
    let res = form
        .clone()
        .with("response", &forged_assertion("bm9ib2R5"))
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );
    // Unknown and malformed challenge ids, and a missing CSRF token.
    for id in ["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let res = form
            .clone()
            .with("challenge", id)
            .with("response", &forged_assertion("bm9ib2R5"))
            .submit(&b, &app.base)
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "challenge {id:?}");
    }
    let res = form
        .clone()
        .without("csrf_token")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // An oversized answer is refused before it is parsed.
    let res = again
        .with("response", &"x".repeat(70_000))
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // No session came of any of it.
    let (_, html) = page(&app, &b, "/account").await;
    assert!(html.contains("Sign in with a passkey"), "still signed out");
}

#[tokio::test]
async fn a_passkey_that_is_not_yours_cannot_be_removed() {
    let app = spawn_on_localhost().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/account/security").await;
    let csrf = csrf_of(&html);
    for id in ["00000000-0000-0000-0000-000000000000", "junk"] {
        let res = b
            .post(app.url(&format!("/account/security/passkeys/{id}/remove")))
            .form(&[("csrf_token", csrf.as_str()), ("proof", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
    }
}

#[tokio::test]
async fn one_address_cannot_make_the_store_hold_unbounded_challenges() {
    let app = spawn_on_localhost().await;
    let b = browser();
    let (_, html) = page(&app, &b, "/account").await;
    let start = Form::parse(&html, "/account/passkey");
    let mut began = 0;
    let refused = loop {
        let res = start.submit(&b, &app.base).await;
        if res.status() != StatusCode::OK {
            break res;
        }
        began += 1;
        assert!(began <= 600, "no limit");
    };
    assert_eq!(began, 600, "a burst of an hour's allowance");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.text().await.unwrap().contains("Try again in"));
}
