//! Passkeys in a real browser (issue 14, item 3): headless Chromium with
//! WebDriver's virtual authenticator (a CTAP2 platform authenticator that
//! keeps discoverable credentials and verifies the user) adds a passkey at
//! `/account/security`, signs in with it alone, uses it as the second step
//! after a password, cannot replay a captured answer, and removes it.
//!
//! WebAuthn refuses IP addresses as relying-party ids, so this server's
//! public URL is `http://localhost:{port}` (a secure context, like https).

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::{
    assert_accessible, axe_or_skip, driver_or_skip, screenshots_dir, session, sign_in_as_admin,
};
use crate::helpers::*;

/// A WebDriver extension command (W3C WebAuthn §11), which fantoccini
/// does not wrap.
#[derive(Debug)]
struct WebAuthnCommand {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// Adds a virtual platform authenticator that holds discoverable
/// credentials and always verifies the user; returns its id.
async fn add_authenticator(b: &fantoccini::Client) -> String {
    let res = b
        .issue_cmd(WebAuthnCommand {
            method: http::Method::POST,
            path: "authenticator".into(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            })),
        })
        .await
        .expect("Chromium's virtual authenticator");
    res.as_str().expect("an authenticator id").to_owned()
}

async fn credentials(b: &fantoccini::Client, authenticator: &str) -> Vec<Value> {
    let res = b
        .issue_cmd(WebAuthnCommand {
            method: http::Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .expect("the authenticator's credentials");
    res.as_array().cloned().unwrap_or_default()
}

/// A server whose public URL names `localhost`, and that URL.
async fn spawn_on_localhost() -> (TestApp, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = format!("http://localhost:{port}");
    let app = spawn_with(gatehouse_server::Config {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        public_url: Some(public.clone()),
        ..config()
    })
    .await;
    (app, public)
}

async fn click(b: &fantoccini::Client, label: &str) {
    b.wait()
        .for_element(Locator::XPath(&format!(
            "//button[normalize-space()='{label}']"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the page's source contains `text`.
async fn wait_for_text(b: &fantoccini::Client, text: &str) -> String {
    for _ in 0..100 {
        let html = b.source().await.unwrap();
        if html.contains(text) {
            return html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "the page never said {text:?}: {}",
        b.source().await.unwrap()
    );
}

/// Adds a button that, when clicked (a real click: browsers want a user
/// gesture for a ceremony), runs the sign-in ceremony of the passkey form
/// shown without submitting it; `window.replayResult` holds the form's
/// fields with the authenticator's answer. (The page's CSP forbids the
/// page itself to post it with `fetch`.)
const REPLAY: &str = r#"
const form = document.querySelector('form[data-passkey]');
const button = document.createElement('button');
button.type = 'button';
button.id = 'replay';
button.textContent = 'Replay';
document.body.appendChild(button);
const bin = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
const b64 = buf => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
button.addEventListener('click', async () => {
  try {
    const pk = JSON.parse(form.dataset.options).publicKey;
    pk.challenge = bin(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map(c => ({ ...c, id: bin(c.id) }));
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    const answer = JSON.stringify({
      id: cred.id, rawId: b64(cred.rawId), type: cred.type,
      response: {
        clientDataJSON: b64(r.clientDataJSON), authenticatorData: b64(r.authenticatorData),
        signature: b64(r.signature), userHandle: r.userHandle ? b64(r.userHandle) : null,
      },
    });
    const fields = [...new FormData(form).entries()].filter(([k]) => k !== 'response');
    window.replayResult = { fields: fields.concat([['response', answer]]) };
  } catch (e) {
    window.replayResult = { error: String(e) };
  }
});
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_adds_a_passkey_and_signs_in_with_it_in_a_real_browser() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let axe = axe_or_skip();
    let (app, public) = spawn_on_localhost().await;
    let at = |path: &str| format!("{public}{path}");
    let b = session(&driver).await;
    let authenticator = add_authenticator(&b).await;

    // Add a passkey: the naming form, the device's ceremony, and (as the
    // account's first second factor) recovery codes.
    b.goto(&at("/account/security")).await.unwrap();
    sign_in_as_admin(&b).await;
    click(&b, "Add a passkey").await;
    b.wait()
        .for_element(Locator::Id("passkey-name"))
        .await
        .unwrap()
        .send_keys("Test laptop")
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "adding a passkey").await;
    click(&b, "Create the passkey").await;
    b.wait()
        .for_element(Locator::Css("ul.codes"))
        .await
        .unwrap();
    let held = credentials(&b, &authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "discoverable, so it signs in without an email"
    );
    b.goto(&at("/account/security")).await.unwrap();
    let html = wait_for_text(&b, "Test laptop").await;
    assert!(html.contains("a passkey"), "two-step sign-in is on");
    assert_accessible(&b, axe.as_deref(), "security page with a passkey").await;
    std::fs::write(
        screenshots_dir().join("security-passkeys.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();

    // With passkeys only, new recovery codes take the password (a passkey
    // cannot be typed).
    b.find(Locator::Id("regen-code"))
        .await
        .unwrap()
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    click(&b, "Make new recovery codes").await;
    b.wait()
        .for_element(Locator::Css("ul.codes"))
        .await
        .unwrap();

    // A passkey alone signs in: no email, no password.
    b.delete_all_cookies().await.unwrap();
    b.goto(&at("/account")).await.unwrap();
    click(&b, "Sign in with a passkey").await;
    b.wait()
        .for_element(Locator::Css("form[data-passkey=get]"))
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "signing in with a passkey").await;
    click(&b, "Use a passkey").await;
    wait_for_text(&b, ADMIN_EMAIL).await;
    assert!(
        b.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/account")
    );
    b.find(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .expect("signed in");

    // After a password, the passkey is the second step.
    b.delete_all_cookies().await.unwrap();
    b.goto(&at("/account")).await.unwrap();
    sign_in_as_admin(&b).await;
    b.wait()
        .for_element(Locator::Css(
            "form[action='/account/second-factor/passkey']",
        ))
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "second step with a passkey").await;
    click(&b, "Use a passkey").await;
    b.wait()
        .for_element(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .expect("signed in after the second step");

    // A captured answer works once: the challenge is gone after it.
    b.delete_all_cookies().await.unwrap();
    b.goto(&at("/account")).await.unwrap();
    click(&b, "Sign in with a passkey").await;
    b.wait()
        .for_element(Locator::Css("form[data-passkey=get]"))
        .await
        .unwrap();
    b.execute(REPLAY, vec![]).await.unwrap();
    b.find(Locator::Id("replay"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut replay = Value::Null;
    for _ in 0..100 {
        replay = b
            .execute("return window.replayResult || null", vec![])
            .await
            .unwrap();
        if !replay.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fields: Vec<(String, String)> =
        serde_json::from_value(replay["fields"].clone()).unwrap_or_else(|_| panic!("{replay}"));
    let cookies: Vec<String> = b
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let post = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(app.url("/account/passkey/finish"))
            .header("cookie", cookies.join("; "))
            .form(&fields)
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(
        first.status(),
        reqwest::StatusCode::SEE_OTHER,
        "the answer works once"
    );
    let second = post().await.unwrap();
    assert_eq!(second.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(
        second
            .text()
            .await
            .unwrap()
            .contains("expired or was already used")
    );

    // Signed in again, in the browser: removing the passkey takes the
    // password; afterwards two-step sign-in is off.
    b.goto(&at("/account")).await.unwrap();
    sign_in_as_admin(&b).await;
    click(&b, "Use a passkey").await;
    b.wait()
        .for_element(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .unwrap();

    b.goto(&at("/account/security")).await.unwrap();
    b.wait()
        .for_element(Locator::Css("input[name=proof][type=password]"))
        .await
        .unwrap()
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    click(&b, "Remove this passkey").await;
    let html = wait_for_text(&b, "The passkey was removed").await;
    assert!(html.contains("Off."), "no second factor left");
    b.close().await.unwrap();
}
