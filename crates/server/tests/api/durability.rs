//! What durable storage promises, proven on the real `gatehouse` binary:
//! a restart loses nothing (SQLite, the default, and PostgreSQL), the
//! control plane (connected apps, Disconnect, registration reuse and
//! reaping) works on each, and two processes on one PostgreSQL behave as
//! one server.
//!
//! Unlike the rest of this binary these tests start separate processes, since
//! a restart and a second instance are process-level events. Every server
//! binds 127.0.0.1 only, is killed when its test ends (even by panic), and
//! every wait is bounded. The PostgreSQL tests need
//! `GATEHOUSE_TEST_POSTGRES_URL` (skipped without it, failing under CI).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use gatehouse_store_postgres::testing::ScratchDatabase;
use gatehouse_store_sqlite::testing::ScratchFile;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Form, Pkce, REDIRECT, TestClient, browser, pkce, query,
};

/// How long a starting server may take to answer `/readyz` (a debug build
/// migrates, creates the admin with argon2 and generates a key).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to drain and exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent refreshes of one token in the cross-instance race.
const RACERS: usize = 16;
const SCOPE: &str = "profile email";

/// A free loopback port (the listener closes before the server binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `gatehouse serve` process.
struct Instance {
    child: Child,
    /// Where this process listens.
    base: String,
    http: reqwest::Client,
    log: PathBuf,
}

/// Where and on what a server starts.
struct Launch<'a> {
    port: u16,
    /// `GATEHOUSE_DATABASE_URL`; `None` leaves the default.
    database_url: Option<&'a str>,
    /// The working directory (where the default `gatehouse.db` goes).
    dir: Option<&'a Path>,
    /// `GATEHOUSE_PUBLIC_URL`, the issuer's base; instances behind one load
    /// balancer share it.
    public_url: String,
}

impl Instance {
    async fn start(launch: Launch<'_>) -> Self {
        // reqwest is built without a default TLS provider; in-process test
        // servers install one, but these tests may build clients first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let log = std::env::temp_dir().join(format!(
            "gatehouse-durability-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.arg("serve");
        // Only what this test sets: nothing from the developer's shell.
        for (name, _) in std::env::vars() {
            if name.starts_with("GATEHOUSE_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("GATEHOUSE_ADDR", format!("127.0.0.1:{}", launch.port))
            .env("GATEHOUSE_PUBLIC_URL", &launch.public_url)
            .env("GATEHOUSE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE", "1000")
            .env("GATEHOUSE_DATABASE_POOL_SIZE", "4")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        if let Some(url) = launch.database_url {
            cmd.env("GATEHOUSE_DATABASE_URL", url);
        }
        if let Some(dir) = launch.dir {
            cmd.current_dir(dir);
        }
        let child = cmd.spawn().expect("the gatehouse binary starts");
        let mut instance = Self {
            child,
            base: format!("http://127.0.0.1:{}", launch.port),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            log,
        };
        instance.wait_until_ready().await;
        instance
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("gatehouse exited early ({status}):\n{}", self.log_text());
            }
            let ready = self
                .http
                .get(self.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse was not ready within {START_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the process to drain and exit.
    async fn stop(mut self) -> ExitStatus {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(term.success(), "SIGTERM could not be sent");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gatehouse did not exit within {STOP_TIMEOUT:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn admin_token(&self) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The types of every audit event, newest first.
    async fn audit_types(&self, admin: &str) -> Vec<String> {
        let res = self
            .http
            .get(self.url("/api/v1/audit?limit=500"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn register(&self, admin: &str) -> TestClient {
        let res = self
            .http
            .post(self.url("/api/v1/oauth/clients"))
            .bearer_auth(admin)
            .json(&json!({
                "name": "Durable app",
                "description": "Registered before a restart",
                "redirect_uris": [REDIRECT],
                "allowed_scopes": ["profile", "email"],
                "is_confidential": true,
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

    async fn client_record(&self, admin: &str, client: &TestClient) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/api/v1/oauth/clients/{}", client.id)))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
    }

    /// Signs in and consents through this instance's pages; returns the code.
    async fn code(&self, client: &TestClient, pkce: &Pkce) -> String {
        let b = browser();
        let authorize = format!(
            "{}?{}",
            self.url("/api/v1/oauth/authorize"),
            serde_urlencoded::to_string([
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", SCOPE),
                ("state", "durable"),
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .unwrap()
        );
        let res = b.get(&authorize).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "the sign-in page");
        let page = res.text().await.unwrap();
        let res = Form::parse(&page, "/api/v1/oauth/login")
            .with("email", ADMIN_EMAIL)
            .with("password", ADMIN_PASSWORD)
            .submit(&b, &self.base)
            .await;
        let res = if res.status() == StatusCode::OK {
            let page = res.text().await.unwrap();
            Form::parse(&page, "/api/v1/oauth/authorize")
                .with("decision", "allow")
                .submit(&b, &self.base)
                .await
        } else {
            res
        };
        assert!(res.status().is_redirection(), "got {}", res.status());
        let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        query(&to, "code").expect("a code")
    }

    async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("client_id", client.id.as_str()));
        if let Some(secret) = &client.secret {
            form.push(("client_secret", secret.as_str()));
        }
        self.http
            .post(self.url("/api/v1/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn exchange(&self, client: &TestClient, code: &str, pkce: &Pkce) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", pkce.verifier.as_str()),
            ],
        )
        .await
    }

    async fn refresh(&self, client: &TestClient, refresh_token: &str) -> reqwest::Response {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn userinfo(&self, access_token: &str) -> StatusCode {
        self.http
            .get(self.url("/api/v1/oauth/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn jwks(&self) -> Value {
        let res = self
            .http
            .get(self.url("/api/v1/oauth/jwks.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Instance {
    /// Opens a Shared Signals poll stream for `receiver`; returns its poll URL.
    async fn open_stream(&self, receiver: &TestClient) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/oauth/ssf/streams"))
            .basic_auth(&receiver.id, receiver.secret.as_deref())
            .json(&json!({"description": "durability"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()["delivery"]["endpoint_url"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Long-polls `poll_url` (its path, on this instance) until a SET whose
    /// `reason_admin` starts with `reason` arrives, acknowledging everything
    /// delivered on the way; returns its claims. Bounded: fails after 20 s.
    async fn await_event(&self, receiver: &TestClient, poll_url: &str, reason: &str) -> Value {
        let path = &poll_url[poll_url.find("/api/").unwrap()..];
        let jwks = gatehouse_core::jwt::Verifier::from_jwks(&self.jwks().await);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut ack: Vec<String> = Vec::new();
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no {reason} event arrived"
            );
            let got: Value = self
                .http
                .post(self.url(path))
                .basic_auth(&receiver.id, receiver.secret.as_deref())
                .json(&json!({"ack": ack}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ack.clear();
            for (jti, set) in got["sets"].as_object().unwrap() {
                ack.push(jti.clone());
                let claims: Value = jwks.verify_security_event(set.as_str().unwrap()).unwrap();
                let event = &claims["events"]["https://schemas.openid.net/secevent/caep/event-type/session-revoked"];
                if event["reason_admin"]["en"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(reason))
                {
                    return claims;
                }
            }
        }
    }
}

/// The token response's `access_token` and `refresh_token`.
impl Instance {
    /// The control plane on this store: the last-used times written at the
    /// previous stop, connected apps and Disconnect, a re-registration
    /// reusing its client, and reaping.
    async fn connected_apps_and_registration_hygiene(&self, admin: &str) {
        let apps = |token: String| {
            let req = self
                .http
                .get(self.url("/api/v1/me/grants"))
                .bearer_auth(token);
            async move { req.send().await.unwrap().json::<Value>().await.unwrap()["grants"].clone() }
        };
        // Connect an app now, beside the family the reuse revoked.
        let client = self.register(admin).await;
        let p = pkce();
        let code = self.code(&client, &p).await;
        let (_, refresh) = tokens_of(self.exchange(&client, &code, &p).await).await;
        let listed = apps(admin.to_owned()).await;
        let app = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["client_id"] == client.id)
            .unwrap_or_else(|| panic!("{listed}"))
            .clone();
        assert!(app["last_used_at"].is_string(), "{app}");
        let res = self
            .http
            .delete(self.url(&format!(
                "/api/v1/me/grants/{}",
                app["id"].as_str().unwrap()
            )))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            self.refresh(&client, &refresh).await.status(),
            StatusCode::BAD_REQUEST
        );
        assert!(
            !apps(admin.to_owned())
                .await
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["client_id"] == client.id)
        );

        // The same public software registers twice: one client.
        let register = |port: u16| {
            let req = self
                .http
                .post(self.url("/api/v1/oauth/register"))
                .json(&json!({
                    "client_name": "Durable agent",
                    "redirect_uris": [format!("http://127.0.0.1:{port}/cb")],
                    "token_endpoint_auth_method": "none",
                }));
            async move { req.send().await.unwrap().json::<Value>().await.unwrap()["client_id"].clone() }
        };
        let first = register(4000).await;
        assert_eq!(register(4001).await, first);
        // Unused and holding no grant: reaped on demand.
        let res = self
            .http
            .post(self.url("/api/v1/oauth/clients/delete-idle"))
            .bearer_auth(admin)
            .json(&json!({"idle_days": 0}))
            .send()
            .await
            .unwrap();
        assert!(
            res.json::<Value>().await.unwrap()["deleted"]
                .as_u64()
                .unwrap()
                >= 1
        );
        let gone = self
            .http
            .get(self.url(&format!(
                "/api/v1/oauth/clients/{}",
                first.as_str().unwrap()
            )))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    }
}

async fn tokens_of(res: reqwest::Response) -> (String, String) {
    assert_eq!(res.status(), StatusCode::OK, "token request failed");
    let body: Value = res.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// Registers a client and gets tokens, stops the server with SIGTERM, starts
/// it again on the same store, and checks that the client, the refresh
/// token, the signing key and the old access token all still work.
async fn a_restart_keeps_everything(database_url: Option<&str>, dir: Option<&Path>) {
    let port = free_port();
    let launch = || Launch {
        port,
        database_url,
        dir,
        public_url: format!("http://127.0.0.1:{port}"),
    };
    let first = Instance::start(launch()).await;
    let admin = first.admin_token().await;
    let client = first.register(&admin).await;
    let p = pkce();
    let code = first.code(&client, &p).await;
    let (access, refresh) = tokens_of(first.exchange(&client, &code, &p).await).await;
    assert_eq!(first.userinfo(&access).await, StatusCode::OK);
    let keys = first.jwks().await;
    // A resource server's Shared Signals stream, opened before the restart.
    let receiver = first.register(&admin).await;
    let poll = first.open_stream(&receiver).await;
    let stopped = first.stop().await;
    assert!(
        stopped.success(),
        "SIGTERM must drain and exit 0: {stopped}"
    );

    let second = Instance::start(launch()).await;
    assert_eq!(
        second.jwks().await,
        keys,
        "the signing key survives the restart"
    );
    // What the first process recorded was flushed on SIGTERM and kept.
    let audited = second.audit_types(&admin).await;
    for kind in [
        "user.created",
        "sign_in.succeeded",
        "client.created",
        "consent.granted",
    ] {
        assert!(
            audited.iter().any(|t| t == kind),
            "{kind} survives the restart: {audited:?}"
        );
    }
    assert_eq!(
        second.userinfo(&access).await,
        StatusCode::OK,
        "an access token issued before the restart is still accepted"
    );
    assert_eq!(
        second.client_record(&admin, &client).await.status(),
        StatusCode::OK,
        "the client is still registered (and the admin's token still valid)"
    );
    let (new_access, new_refresh) = tokens_of(second.refresh(&client, &refresh).await).await;
    assert_eq!(second.userinfo(&new_access).await, StatusCode::OK);
    assert_eq!(
        second.exchange(&client, &code, &p).await.status(),
        StatusCode::BAD_REQUEST,
        "the code redeemed before the restart stays spent"
    );
    assert_eq!(
        second.refresh(&client, &refresh).await.status(),
        StatusCode::BAD_REQUEST,
        "the rotated refresh token stays rotated"
    );
    assert_eq!(
        second.refresh(&client, &new_refresh).await.status(),
        StatusCode::BAD_REQUEST,
        "reuse of the old token revoked the whole family"
    );
    // The stream outlived the restart and tells its receiver that the
    // replayed code revoked its grant.
    let event = second.await_event(&receiver, &poll, "code_replay").await;
    assert_eq!(event["aud"], receiver.id.as_str());
    assert_eq!(event["sub_id"]["application"]["id"], client.id.as_str());
    second.connected_apps_and_registration_hygiene(&admin).await;
    let stopped = second.stop().await;
    assert!(
        stopped.success(),
        "SIGTERM must drain and exit 0: {stopped}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_default_sqlite_file_keeps_clients_tokens_and_keys() {
    let scratch = ScratchFile::new().unwrap();
    // No GATEHOUSE_DATABASE_URL: the default is sqlite://gatehouse.db in the
    // working directory.
    a_restart_keeps_everything(None, Some(scratch.dir())).await;
    assert!(
        scratch.dir().join("gatehouse.db").is_file(),
        "the default store is the file gatehouse.db"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_postgres_keeps_clients_tokens_and_keys() {
    let Some(db) = ScratchDatabase::create().await else {
        return;
    };
    a_restart_keeps_everything(Some(db.url()), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_act_as_one_server() {
    let Some(db) = ScratchDatabase::create().await else {
        return;
    };
    let (port_a, port_b) = (free_port(), free_port());
    // Behind one load balancer both share the public URL, so the issuer.
    let public_url = format!("http://127.0.0.1:{port_a}");
    let launch = |port| Launch {
        port,
        database_url: Some(db.url()),
        dir: None,
        public_url: public_url.clone(),
    };
    // Started together: they race to migrate, to store the master key and
    // to create the first signing key, as a fleet does on its first deploy.
    let (a, b) = tokio::join!(
        Instance::start(launch(port_a)),
        Instance::start(launch(port_b))
    );

    let admin = a.admin_token().await;
    let client = a.register(&admin).await;
    assert_eq!(
        b.client_record(&admin, &client).await.status(),
        StatusCode::OK,
        "a client registered on one instance is known to the other"
    );

    // Authorized on A, redeemed and refreshed on B.
    let first_pkce = pkce();
    let first_code = a.code(&client, &first_pkce).await;
    let (access, refresh) = tokens_of(b.exchange(&client, &first_code, &first_pkce).await).await;
    assert_eq!(b.userinfo(&access).await, StatusCode::OK);
    let (refreshed_access, refreshed) = tokens_of(b.refresh(&client, &refresh).await).await;
    for (who, instance) in [("A", &a), ("B", &b)] {
        assert_eq!(
            instance.userinfo(&refreshed_access).await,
            StatusCode::OK,
            "{who} accepts an access token the other signed"
        );
    }

    // A fresh flow to race: one refresh token, many refreshes, split between
    // the instances. Exactly one rotates.
    let p = pkce();
    let code = b.code(&client, &p).await;
    let (_, contested) = tokens_of(a.exchange(&client, &code, &p).await).await;
    let results = join_all((0..RACERS).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        instance.refresh(&client, &contested)
    }))
    .await;
    let statuses: Vec<StatusCode> = results.iter().map(reqwest::Response::status).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(ok, 1, "exactly one refresh wins: {statuses:?}");
    assert_eq!(
        refused,
        RACERS - 1,
        "the rest are invalid_grant: {statuses:?}"
    );

    // The other flow's family is untouched by the race.
    let (still_access, _) = tokens_of(a.refresh(&client, &refreshed).await).await;

    // Replaying the first flow's code on the instance that did not redeem it
    // is refused, and revokes what the code issued, for both instances.
    let p_first = &first_pkce;
    assert_eq!(
        a.exchange(&client, &first_code, p_first).await.status(),
        StatusCode::BAD_REQUEST,
        "the code is single-use across instances"
    );
    for (who, instance) in [("A", &a), ("B", &b)] {
        assert_eq!(
            instance.userinfo(&still_access).await,
            StatusCode::UNAUTHORIZED,
            "{who} refuses tokens of a grant revoked by a code replay on the other"
        );
    }

    // A resource server's stream, opened on A and polled on B.
    let receiver = a.register(&admin).await;
    let poll = a.open_stream(&receiver).await;

    // An app disconnected on A is disconnected on B at once: its access
    // token and its refresh token both stop working there.
    let p = pkce();
    let code = a.code(&client, &p).await;
    let (access, refresh) = tokens_of(a.exchange(&client, &code, &p).await).await;
    assert_eq!(b.userinfo(&access).await, StatusCode::OK);
    let grants: Value = b
        .http
        .get(b.url("/api/v1/me/grants"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = grants["grants"][0]["id"].as_str().unwrap().to_owned();
    let res = a
        .http
        .delete(a.url(&format!("/api/v1/me/grants/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.userinfo(&access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        b.refresh(&client, &refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    // …and B's Shared Signals stream, polled there, publishes it.
    let event = b.await_event(&receiver, &poll, "disconnected").await;
    assert_eq!(event["sub_id"]["application"]["id"], client.id.as_str());
    assert!(event["sub_id"]["user"]["sub"].is_string());

    for instance in [a, b] {
        let stopped = instance.stop().await;
        assert!(
            stopped.success(),
            "SIGTERM must drain and exit 0: {stopped}"
        );
    }
}
