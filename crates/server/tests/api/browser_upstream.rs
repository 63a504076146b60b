//! "Sign in with …" end to end in a real browser against a real OpenID
//! provider: node-oidc-provider (`tests/upstream_op`) runs on loopback as
//! the upstream, with RS256 ID tokens and its own login and consent pages;
//! headless Chromium clicks Gatehouse's button, signs in upstream, and
//! lands on its new Gatehouse account with the identity linked. Pages are
//! checked with axe-core and photographed for docs/screenshots.
//!
//! Needs what browser.rs needs, plus Node and `npm ci --prefix
//! tests/upstream_op`; under CI (`CI=true`) their absence fails the test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::{assert_accessible, axe_or_skip, driver_or_skip, screenshots_dir, session};
use crate::helpers::*;

const CLIENT_ID: &str = "gatehouse";
const CLIENT_SECRET: &str = "upstream-op-secret-0123456789abcdef";

/// The running upstream provider; killed on drop.
struct UpstreamOp {
    child: Child,
    issuer: String,
}

impl Drop for UpstreamOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts node-oidc-provider for a Gatehouse whose callback is
/// `redirect_uri`, or `None` (after saying why) where it is not installed.
fn upstream_op_or_skip(redirect_uri: &str) -> Option<UpstreamOp> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/upstream_op");
    let installed =
        dir.join("node_modules/oidc-provider").is_dir() && crate::browser::find("node").is_some();
    if !installed {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "node and node-oidc-provider are required under CI: npm ci --prefix tests/upstream_op"
            );
        }
        eprintln!("SKIPPED: node-oidc-provider not installed (npm ci --prefix tests/upstream_op)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .env("OP_PORT", port.to_string())
        .env("OP_CLIENT_ID", CLIENT_ID)
        .env("OP_CLIENT_SECRET", CLIENT_SECRET)
        .env("OP_REDIRECT_URI", redirect_uri)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.any(|l| l.is_ok_and(|l| l.contains("listening")));
    assert!(ready, "node-oidc-provider did not start");
    // Keep reading: a closed pipe would kill node at its next line.
    std::thread::spawn(move || lines.for_each(drop));
    Some(UpstreamOp {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_a_real_upstream_provider_in_a_real_browser() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let axe = axe_or_skip();
    let app = spawn().await;
    let Some(op) = upstream_op_or_skip(&format!("{}/idp/local/callback", app.issuer)) else {
        return;
    };
    let res = app
        .http
        .post(app.url("/api/v1/oauth/identity-providers"))
        .bearer_auth(&app.admin_token)
        .json(&json!({
            "name": "local", "display_name": "Acme Workforce", "kind": "oidc",
            "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "create_users": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);

    let b = session(&driver).await;
    b.goto(&app.url("/account")).await.unwrap();
    let button = b
        .wait()
        .for_element(Locator::LinkText("Sign in with Acme Workforce"))
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "sign-in page with an upstream provider").await;
    std::fs::write(
        screenshots_dir().join("signin-upstream.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    button.click().await.unwrap();

    // node-oidc-provider's own pages: any login, then consent.
    let login = b
        .wait()
        .for_element(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    login.send_keys("river@upstream.test").await.unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("anything")
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let consent = match b
        .wait()
        .for_element(Locator::XPath("//button[normalize-space()='Continue']"))
        .await
    {
        Ok(c) => c,
        Err(_) => panic!(
            "no consent page: {} {}",
            b.current_url().await.unwrap(),
            b.source().await.unwrap()
        ),
    };
    consent.click().await.unwrap();

    // Back at Gatehouse, signed in to a new account with the link listed.
    b.wait()
        .for_element(Locator::Id("identities-heading"))
        .await
        .unwrap();
    let url = b.current_url().await.unwrap();
    assert_eq!(url.as_str(), app.url("/account"));
    let page = b.source().await.unwrap();
    assert!(
        page.contains("river@upstream.test"),
        "signed in as the upstream person"
    );
    assert!(
        page.contains("Acme Workforce"),
        "the linked identity is listed"
    );
    assert!(
        page.contains("Upstream river"),
        "the name came from userinfo"
    );
    assert_accessible(&b, axe.as_deref(), "account page with a linked identity").await;
    std::fs::write(
        screenshots_dir().join("account-linked.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();

    // Two-step sign-in for this account: the QR code, then a code from it.
    b.goto(&app.url("/account/security")).await.unwrap();
    b.wait()
        .for_element(Locator::XPath(
            "//button[normalize-space()='Set up an authenticator app']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let key = b
        .wait()
        .for_element(Locator::Css("figure.qr figcaption code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "setting up an authenticator app").await;
    std::fs::write(
        screenshots_dir().join("security-totp.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    b.find(Locator::Id("confirm-code"))
        .await
        .unwrap()
        .send_keys(&crate::mfa::code(&key, 0))
        .await
        .unwrap();
    b.find(Locator::XPath(
        "//button[normalize-space()='Turn on two-step sign-in']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait()
        .for_element(Locator::Css("ul.codes"))
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "recovery codes").await;
    b.close().await.unwrap();

    // The admin's view of the provider, in the console.
    let admin = session(&driver).await;
    admin
        .goto(&app.url("/admin/identity-providers"))
        .await
        .unwrap();
    crate::browser::sign_in_as_admin(&admin).await;
    admin
        .wait()
        .for_element(Locator::Css("ul.cards"))
        .await
        .unwrap();
    let html = admin.source().await.unwrap();
    assert!(html.contains("Acme Workforce") && html.contains("/api/v1/oauth/idp/local/callback"));
    assert_accessible(&admin, axe.as_deref(), "/admin/identity-providers").await;
    std::fs::write(
        screenshots_dir().join("admin-identity-providers.png"),
        admin.screenshot().await.unwrap(),
    )
    .unwrap();
    admin.close().await.unwrap();

    let users: Value = app.admin_get("/api/v1/users/").await;
    let river = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "river@upstream.test")
        .expect("a just-in-time account");
    assert_eq!(
        river["email_verified"], true,
        "the upstream vouched for the address"
    );
}
