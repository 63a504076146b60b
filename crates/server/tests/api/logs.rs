//! What an operator reads: request ids that follow a request through every
//! log line, JSON logs a pipeline can parse, no colour codes in files.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn request_ids_are_kept_when_sane_and_generated_otherwise() {
    let app = spawn().await;
    let id_of = async |path: &str, sent: Option<&str>| {
        let mut req = app.http.get(app.url(path));
        if let Some(id) = sent {
            req = req.header("x-request-id", id);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let id = res
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, id.expect("every response carries x-request-id"))
    };
    // Kept, on a success, an error and an unknown route alike.
    for path in ["/readyz", "/api/v1/users", "/no/such/route"] {
        let (_, id) = id_of(path, Some("caller-id_1.2:3/4")).await;
        assert_eq!(id, "caller-id_1.2:3/4", "{path}");
    }
    // Generated when absent, and different each time.
    let (status, a) = id_of("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, b) = id_of("/readyz", None).await;
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
    // Replaced when it could forge a log line or is unbounded.
    for hostile in ["has space", "quote\"d", "<script>", &"x".repeat(129)] {
        let (_, id) = id_of("/readyz", Some(hostile)).await;
        assert_ne!(id, hostile);
        assert_eq!(id.len(), 32);
    }
}

/// A `gatehouse serve` process whose stderr is collected line by line.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    base: String,
}

impl Served {
    fn start(format: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .env("GATEHOUSE_ADDR", "127.0.0.1:0")
            .env("GATEHOUSE_DATABASE_URL", "memory")
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_LOG_FORMAT", format)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let start = l.find("127.0.0.1:")?;
                let port: String = l[start + 10..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                (l.contains("listening") && !port.is_empty())
                    .then(|| format!("http://127.0.0.1:{port}"))
            });
            if let Some(base) = found {
                break base;
            }
            assert!(
                Instant::now() < deadline,
                "no listening line: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self { child, lines, base }
    }

    /// Every line so far, once the given request id's access line is in.
    fn lines_after(&self, request_id: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines
                .iter()
                .any(|l| l.contains(request_id) && l.contains("gatehouse::access"))
            {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "no access line for {request_id}: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn json_logs_are_flat_objects_and_every_line_of_a_request_names_it() {
    let served = Served::start("json");
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/api/v1/oauth/register", served.base))
        .header("x-request-id", "register-1")
        .json(
            &json!({"client_name": "Logged App", "redirect_uris": ["https://app.example.com/cb"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = http
        .post(format!(
            "{}/api/v1/oauth/token?code=SECRET-IN-QUERY",
            served.base
        ))
        .header("x-request-id", "token-1")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "s3cr3t-value"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let lines = served.lines_after("token-1");
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &parsed {
        for key in ["time", "level", "target", "message"] {
            assert!(l.get(key).is_some(), "{key} missing: {l}");
        }
    }
    // The core's own line about the registration carries the request's id
    // and route, flat at the top level.
    let registered = parsed
        .iter()
        .find(|l| l["message"] == "client registered dynamically")
        .expect("the core logs the registration");
    assert_eq!(registered["request_id"], "register-1");
    assert_eq!(registered["route"], "/api/v1/oauth/register");
    assert!(registered["client_id"].is_string());
    // The audit event of that registration is logged too, in its request.
    let audited = parsed
        .iter()
        .find(|l| l["target"] == "gatehouse::audit" && l["kind"] == "client.created")
        .expect("the audit event is logged");
    assert_eq!(audited["request_id"], "register-1");
    assert_eq!(audited["client_id"], registered["client_id"]);
    // One access line per request: route pattern, status, no query string.
    let access: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["target"] == "gatehouse::access" && l["request_id"] == "token-1")
        .collect();
    assert_eq!(access.len(), 1);
    assert_eq!(access[0]["status"], 401);
    assert_eq!(access[0]["route"], "/api/v1/oauth/token");
    assert_eq!(access[0]["method"], "POST");
    assert!(access[0]["elapsed_ms"].is_number());
    let all = lines.join("\n");
    assert!(
        !all.contains("SECRET-IN-QUERY"),
        "query strings are never logged"
    );
    assert!(
        !all.contains("s3cr3t-value"),
        "credentials are never logged"
    );
    assert!(!all.contains('\u{1b}'), "no colour codes off a terminal");
}

#[tokio::test]
async fn text_logs_off_a_terminal_have_no_colour_codes() {
    let served = Served::start("text");
    reqwest::Client::new()
        .get(format!("{}/readyz", served.base))
        .header("x-request-id", "plain-1")
        .send()
        .await
        .unwrap();
    let lines = served.lines_after("plain-1");
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("request_id=plain-1")));
}
