//! A test server, a cookie-keeping "browser" that walks the real pages, and
//! PKCE and form helpers.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::Gatehouse;
use gatehouse_server::{Application, Config};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";
pub const REDIRECT: &str = "http://localhost:8000/oauth/callback";
pub const SEED_SCOPES: &str = "profile email organizations users:read mcp:connect";

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    #[allow(dead_code)]
    pub gatehouse: Arc<Gatehouse>,
    handle: ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let h = self.handle.clone();
        // Stop without waiting: the runtime may already be shutting down.
        drop(h.stop(false));
    }
}

pub fn config() -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        admin_email: ADMIN_EMAIL.into(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        secret_key: Some("test-master-key-that-is-long-enough-000".into()),
        login_attempts_per_minute: 1000,
        // In-process test servers keep nothing; the durable stores have their
        // own tests (durability.rs and the store contracts).
        database_url: gatehouse_server::config::DatabaseUrl::Memory,
        ..Config::default()
    }
}

pub async fn spawn() -> TestApp {
    spawn_with(config()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    let app = Application::build(config).await.expect("the server starts");
    // Where the test reaches the listener: the public URL unless one is
    // configured that does not point here.
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let gatehouse = app.gatehouse();
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    // An admin who must first set up a second factor gets no API token
    // (GATEHOUSE_REQUIRE_MFA_FOR_ADMINS); the test then has none.
    let admin_token = if res.status() == StatusCode::FORBIDDEN {
        String::new()
    } else {
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    TestApp {
        issuer: format!("{base}/api/v1/oauth"),
        base,
        http,
        admin_token,
        gatehouse,
        handle,
    }
}

/// A browser: keeps cookies, never follows redirects (tests read Location).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    Pkce {
        challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
        verifier,
    }
}

pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn register(&self, confidential: bool, scopes: &[&str]) -> TestClient {
        let res = self
            .http
            .post(self.url("/api/v1/oauth/clients"))
            .bearer_auth(&self.admin_token)
            .json(&json!({
                "name": "MCP File Server",
                "description": "MCP server for file operations",
                "redirect_uris": [REDIRECT],
                "allowed_scopes": scopes,
                "is_confidential": confidential,
            }))
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

    /// The caller's connected apps (`GET /api/v1/me/grants`, which must
    /// answer 200 with `no-store`): the `grants` array.
    pub async fn my_apps(&self, token: &str) -> Value {
        let res = self
            .http
            .get(self.url("/api/v1/me/grants"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.json::<Value>().await.unwrap()["grants"].clone()
    }

    /// Disconnects the app holding `grant` (`DELETE /api/v1/me/grants/{id}`).
    pub async fn disconnect_app(&self, token: &str, grant: &str) -> StatusCode {
        self.http
            .delete(self.url(&format!("/api/v1/me/grants/{grant}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// `GET path` as the admin: the JSON body of a 200.
    pub async fn admin_get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn seed_client(&self) -> TestClient {
        self.register(true, &SEED_SCOPES.split(' ').collect::<Vec<_>>())
            .await
    }

    pub async fn create_user(&self, email: &str, password: &str) -> Value {
        let res = self
            .http
            .post(self.url("/api/v1/users/"))
            .bearer_auth(&self.admin_token)
            .json(&json!({"email": email, "name": email.split('@').next().unwrap(), "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        res.json::<Value>().await.unwrap()["user"].clone()
    }

    pub async fn api_login(&self, email: &str, password: &str) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn authorize_url(&self, client_id: &str, pkce: &Pkce, scope: &str, state: &str) -> String {
        let q = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", state),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .unwrap();
        format!("{}/authorize?{q}", self.issuer)
    }

    /// Walks sign-in and consent as a person would and returns the redirect.
    pub async fn authorize_via_pages(
        &self,
        browser: &reqwest::Client,
        url: &str,
        email: &str,
        password: &str,
    ) -> url::Url {
        let res = browser.get(url).send().await.unwrap();
        let res = if res.status() == StatusCode::OK {
            let page = res.text().await.unwrap();
            let form = Form::parse(&page, "/api/v1/oauth/login");
            form.with("email", email)
                .with("password", password)
                .submit(browser, &self.base)
                .await
        } else {
            res
        };
        let res = if res.status() == StatusCode::OK {
            let page = res.text().await.unwrap();
            Form::parse(&page, "/api/v1/oauth/authorize")
                .with("decision", "allow")
                .submit(browser, &self.base)
                .await
        } else {
            res
        };
        assert!(
            res.status().is_redirection(),
            "expected a redirect, got {}",
            res.status()
        );
        url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap()
    }

    pub async fn code_for(&self, client: &TestClient, pkce: &Pkce, scope: &str) -> String {
        let b = browser();
        let url = self.authorize_url(&client.id, pkce, scope, "st");
        let redirect = self
            .authorize_via_pages(&b, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await;
        query(&redirect, "code").expect("a code")
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/token", self.issuer))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(
        &self,
        client: &TestClient,
        code: &str,
        pkce: &Pkce,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", client.id.as_str()),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", pkce.verifier.as_str()),
        ];
        if let Some(s) = &client.secret {
            form.push(("client_secret", s.as_str()));
        }
        self.token(&form).await
    }

    pub async fn tokens(&self, client: &TestClient, scope: &str) -> Value {
        let p = pkce();
        let code = self.code_for(client, &p, scope).await;
        let res = self.exchange(client, &code, &p).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", client.id.as_str()),
            ("refresh_token", refresh_token),
        ];
        if let Some(s) = &client.secret {
            form.push(("client_secret", s.as_str()));
        }
        self.token(&form).await
    }
}

pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An HTML form, read with a real HTML parser.
#[derive(Clone)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn parse(html: &str, action: &str) -> Self {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse("form").unwrap();
        let input = scraper::Selector::parse("input[type=hidden]").unwrap();
        let form = doc
            .select(&sel)
            .find(|f| f.value().attr("action") == Some(action))
            .unwrap_or_else(|| panic!("no form posting to {action} in:\n{html}"));
        let fields = form
            .select(&input)
            .map(|i| {
                (
                    i.value().attr("name").unwrap_or_default().to_owned(),
                    i.value().attr("value").unwrap_or_default().to_owned(),
                )
            })
            .collect();
        Self {
            action: action.to_owned(),
            fields,
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| k != name);
        self
    }

    pub async fn submit(&self, browser: &reqwest::Client, base: &str) -> reqwest::Response {
        browser
            .post(format!("{base}{}", self.action))
            .form(&self.fields)
            .send()
            .await
            .unwrap()
    }
}
