//! A real browser (headless Chromium through WebDriver) signs in, consents,
//! and lands on the client's redirect with a code; then walks the account
//! pages and the admin console as a person would. Every page is checked
//! with axe-core (no serious or critical accessibility violation), and the
//! screenshots in docs/screenshots are taken here, so they show the pages
//! as they are.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages) and axe-core
//! (`npm ci --prefix tests/axe`). Without them the tests fail under CI
//! (`CI=true`) and are skipped, loudly, elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn find(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn start_driver() -> Option<Driver> {
    let chromedriver = find("chromedriver")?;
    find("chromium").or_else(|| find("chromium-browser"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Driver { child, port })
}

pub(crate) fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// A headless Chromium session through `driver`.
pub(crate) async fn session(driver: &Driver) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": find("chromium").or_else(|| find("chromium-browser")).unwrap(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=900,1200"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut browser = None;
    for _ in 0..50 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            Ok(b) => {
                browser = Some(b);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    browser.expect("chromedriver accepts a session")
}

/// axe-core's source (`npm ci --prefix tests/axe`), or `None` (after
/// saying why) where it is not installed; under CI its absence fails.
pub(crate) fn axe_or_skip() -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/axe/node_modules/axe-core/axe.min.js");
    let src = std::fs::read_to_string(&path).ok();
    if src.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("axe-core is required under CI: npm ci --prefix tests/axe");
        }
        eprintln!(
            "SKIPPED: axe-core not installed (npm ci --prefix tests/axe); pages not checked for accessibility"
        );
    }
    src
}

/// Runs axe-core on the page shown and fails on any serious or critical
/// violation, naming each with the elements it was found on.
pub(crate) async fn assert_accessible(b: &fantoccini::Client, axe: Option<&str>, page: &str) {
    let Some(src) = axe else {
        return;
    };
    b.execute(src, vec![]).await.unwrap();
    let found = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ['violations'] })
                 .then(r => done({
                   checked: r.passes.length,
                   problems: r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`),
                 }))
                 .catch(e => done({ checked: 0, problems: ['axe failed: ' + e] }));"#,
            vec![],
        )
        .await
        .unwrap();
    let problems: Vec<String> = serde_json::from_value(found["problems"].clone()).unwrap();
    assert!(problems.is_empty(), "{page}: {problems:#?}");
    assert!(
        found["checked"].as_u64().unwrap_or(0) > 5,
        "{page}: axe ran no checks: {found}"
    );
}

/// Types the admin's email and password into the sign-in form shown and
/// submits it, as a person would.
pub(crate) async fn sign_in_as_admin(b: &fantoccini::Client) {
    for (field, value) in [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)] {
        b.find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Loads `path` and waits for `css` to be on the page.
pub(crate) async fn visit(b: &fantoccini::Client, app: &TestApp, path: &str, css: &str) {
    b.goto(&app.url(path)).await.unwrap();
    b.wait().for_element(Locator::Css(css)).await.unwrap();
}

/// The browser and driver, or `None` (after saying why) where they are not
/// installed; under CI their absence fails the test.
pub(crate) fn driver_or_skip() -> Option<Driver> {
    let driver = start_driver();
    if driver.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "chromium and chromedriver are required under CI (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!("SKIPPED: chromium/chromedriver not installed; the browser test did not run");
    }
    driver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_a_real_browser_signs_in_consents_and_gets_a_code() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let axe = axe_or_skip();
    let app = spawn().await;
    let client = app.seed_client().await;

    let b = session(&driver).await;

    let p = pkce();
    let url = app.authorize_url(&client.id, &p, SEED_SCOPES, "browser-state");
    b.goto(&url).await.unwrap();
    b.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .unwrap();
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("login.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "sign-in").await;

    sign_in_as_admin(&b).await;

    let allow = b
        .wait()
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(page.contains("MCP File Server"));
    assert!(page.contains("See your email address"));
    std::fs::write(dir.join("consent.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "consent").await;
    allow.click().await.unwrap();

    // Nothing listens on the client's port: the browser shows an error page,
    // but its URL is the redirect, with the code.
    let mut landed = None;
    for _ in 0..50 {
        let current = b.current_url().await.unwrap();
        if current.as_str().starts_with(REDIRECT) {
            landed = Some(current);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let landed = landed.expect("the browser reaches the client's redirect URI");
    assert_eq!(query(&landed, "state").as_deref(), Some("browser-state"));
    let code = query(&landed, "code").expect("a code in the redirect");
    let res = app.exchange(&client, &code, &p).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    // RP-initiated logout without an ID token of this session: the person
    // is asked, on the same design, and "Sign out" (a real form post with
    // its CSRF token) ends the session.
    b.goto(&format!(
        "{}/end_session?client_id={}",
        app.issuer, client.id
    ))
    .await
    .unwrap();
    let leave = b
        .wait()
        .for_element(Locator::Css("button[name=decision][value=leave]"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("Sign out of Gatehouse?"));
    std::fs::write(dir.join("end-session.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "sign-out question").await;
    leave.click().await.unwrap();
    b.wait()
        .for_element(Locator::XPath("//h1[contains(., 'You are signed out')]"))
        .await
        .unwrap();
    assert_accessible(&b, axe.as_deref(), "signed out").await;
    // Signed out for real: authorizing again needs the password.
    b.goto(&url).await.unwrap();
    b.wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_manages_their_apps_and_an_admin_the_console_in_a_real_browser() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let axe = axe_or_skip();
    let app = spawn().await;
    // Something to look at: a resource, two connected apps, an organization.
    crate::mcp::register_resource(&app, crate::mcp::MCP, &["files:read", "files:write"]).await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile email").await;
    let agent: serde_json::Value = app
        .http
        .post(format!("{}/register", app.issuer))
        .json(
            &json!({"client_name": "Claude Code", "redirect_uris": [REDIRECT],
                      "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent = TestClient {
        id: agent["client_id"].as_str().unwrap().to_owned(),
        secret: None,
    };
    let p = pkce();
    let code = crate::mcp::code_with(
        &app,
        &agent.id,
        &p,
        &[("resource", crate::mcp::MCP), ("scope", "files:read")],
    )
    .await;
    assert!(app.exchange(&agent, &code, &p).await.status().is_success());
    app.http
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    app.create_user("bob@example.com", "bob-password-long-enough")
        .await;

    let b = session(&driver).await;
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).unwrap();
    // Signing in from /account/apps comes back there.
    visit(&b, &app, "/account/apps", "input[name=email]").await;
    assert_accessible(&b, axe.as_deref(), "account sign-in").await;
    sign_in_as_admin(&b).await;
    b.wait()
        .for_element(Locator::Css("ul.cards"))
        .await
        .unwrap();
    let html = b.source().await.unwrap();
    assert!(html.contains("Claude Code") && html.contains("MCP File Server"));
    std::fs::write(dir.join("account-apps.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "connected apps").await;

    // Disconnect the file server app: it disappears, and its tokens die.
    b.find(Locator::Css(
        "button[aria-label='Disconnect MCP File Server']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait()
        .for_element(Locator::Css("div.note.ok"))
        .await
        .unwrap();
    let html = b.source().await.unwrap();
    assert!(html.contains("The app was disconnected") && !html.contains("MCP File Server"));
    let res = app
        .refresh(&seed, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);

    visit(&b, &app, "/account", "input[name=current_password]").await;
    std::fs::write(dir.join("account.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "account").await;

    for (path, css, shot) in [
        ("/admin/clients", "table", "admin-clients.png"),
        ("/admin/resources", "ul.cards", "admin-resources.png"),
        ("/admin/users", "table", "admin-users.png"),
        ("/admin/organizations", "table", "admin-organizations.png"),
        ("/admin/audit", "table", "admin-audit.png"),
    ] {
        visit(&b, &app, path, css).await;
        std::fs::write(dir.join(shot), b.screenshot().await.unwrap()).unwrap();
        assert_accessible(&b, axe.as_deref(), path).await;
    }
    // A client's page and a user's page, reached by their links.
    visit(&b, &app, "/admin/clients", "table").await;
    b.find(Locator::LinkText("Claude Code"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("dl.facts"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains(ADMIN_EMAIL));
    assert_accessible(&b, axe.as_deref(), "a client").await;
    visit(&b, &app, "/admin/users", "table").await;
    b.find(Locator::LinkText("bob@example.com"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("select#role"))
        .await
        .unwrap();
    std::fs::write(dir.join("admin-user.png"), b.screenshot().await.unwrap()).unwrap();
    assert_accessible(&b, axe.as_deref(), "a user").await;
    // The console works without JavaScript's help: promote Bob by the form.
    b.find(Locator::Css("select#role option[value=admin]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::Css("form[action$='/role'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("div.note.ok"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("<dd>admin</dd>"));
    b.close().await.unwrap();
}
