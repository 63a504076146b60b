//! A real browser (headless Chromium through WebDriver) signs in, consents,
//! and lands on the client's redirect with a code. It also keeps the
//! screenshots in docs/ current, so people can see the pages.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages). Without them
//! the test fails under CI (`CI=true`) and is skipped, loudly, elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(name: &str) -> Option<PathBuf> {
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

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_in_a_real_browser_signs_in_consents_and_gets_a_code() {
    let Some(driver) = start_driver() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "chromium and chromedriver are required under CI (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!("SKIPPED: chromium/chromedriver not installed; the browser test did not run");
        return;
    };
    let app = spawn().await;
    let client = app.seed_client().await;

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
    let b = browser.expect("chromedriver accepts a session");

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

    b.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(ADMIN_EMAIL)
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(ADMIN_PASSWORD)
        .await
        .unwrap();
    b.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let allow = b
        .wait()
        .for_element(Locator::Css("button[name=decision][value=allow]"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(page.contains("MCP File Server"));
    assert!(page.contains("See your email address"));
    std::fs::write(dir.join("consent.png"), b.screenshot().await.unwrap()).unwrap();
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
    b.close().await.unwrap();
}
