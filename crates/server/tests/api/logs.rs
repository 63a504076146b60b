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
        Self::start_with(format, &[])
    }

    fn start_with(format: &str, env: &[(&str, &str)]) -> Self {
        // The tests' own reqwest clients need the process's crypto provider,
        // which an in-process server would otherwise have installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .env("GATEHOUSE_ADDR", "127.0.0.1:0")
            .env("GATEHOUSE_DATABASE_URL", "memory")
            .env("GATEHOUSE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GATEHOUSE_LOG_FORMAT", format)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
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

impl Served {
    /// Stops the server as systemd does (SIGTERM) and waits, bounded, for
    /// it to exit; returns whether it exited cleanly.
    fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
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

/// What the collector received: path, content type, body.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A tiny OTLP/HTTP collector: records every request's path, content type
/// and body, answers 200.
struct Collector {
    port: u16,
    got: Received,
}

impl Collector {
    fn start() -> Self {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    // One request after another on a kept-alive connection.
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                        let (mut length, mut content_type) = (0, String::new());
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).unwrap();
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap();
                            match name.to_ascii_lowercase().as_str() {
                                "content-length" => length = value.trim().parse().unwrap(),
                                "content-type" => content_type = value.trim().to_owned(),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        sink.lock().unwrap().push((path, content_type, body));
                        writer
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                            .unwrap();
                    }
                });
            }
        });
        Self { port, got }
    }
}

#[tokio::test]
async fn traces_reach_an_otlp_collector_joined_to_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;

    let collector = Collector::start();
    let endpoint = format!("http://127.0.0.1:{}", collector.port);
    let mut served = Served::start_with("json", &[("GATEHOUSE_OTLP_ENDPOINT", &endpoint)]);
    let http = reqwest::Client::new();
    // A caller already in a trace (W3C Trace Context).
    let res = http
        .get(format!("{}/readyz", served.base))
        .header("x-request-id", "otlp-1")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A failing token request with a secret in it: spans carry no secret.
    let res = http
        .post(format!("{}/api/v1/oauth/token", served.base))
        .header("x-request-id", "otlp-2")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "s3cr3t-value"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Stopping flushes the last batch.
    assert!(served.terminate(), "a clean exit");

    let got = collector.got.lock().unwrap().clone();
    assert!(!got.is_empty(), "the collector received nothing");
    let mut spans = Vec::new();
    for (path, content_type, body) in &got {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        assert!(
            !body.windows(12).any(|w| w == b"s3cr3t-value"),
            "a secret was exported"
        );
        let export = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.clone())
                .and_then(|v| v.value);
            assert_eq!(format!("{service:?}"), r#"Some(StringValue("gatehouse"))"#);
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let attribute = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
            .map(|v| format!("{v:?}"))
    };
    let request = |id: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "request" && attribute(s, "request_id").is_some_and(|v| v.contains(id))
            })
            .unwrap_or_else(|| panic!("no request span for {id}"))
    };
    let joined = request("otlp-1");
    assert_eq!(
        joined.trace_id,
        [
            0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80,
            0x31, 0x9c
        ],
        "the request joins the caller's trace"
    );
    assert_eq!(
        joined.parent_span_id,
        [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
    );
    assert!(attribute(joined, "route").is_some_and(|r| r.contains("/readyz")));
    // The token request's own span, with the service spans inside it.
    let token = request("otlp-2");
    assert!(
        token.parent_span_id.is_empty(),
        "a request without traceparent starts a trace"
    );
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s.trace_id == token.trace_id && s.span_id != token.span_id)
        .map(|s| s.name.as_str())
        .collect();
    assert!(
        !children.is_empty(),
        "no service span under the token request"
    );
}

#[tokio::test]
async fn an_absent_collector_costs_requests_nothing_and_does_not_hold_up_a_stop() {
    // Nothing listens there: exports fail, requests do not.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let mut served = Served::start_with("text", &[("GATEHOUSE_OTLP_ENDPOINT", &endpoint)]);
    let http = reqwest::Client::new();
    for _ in 0..20 {
        let res = http
            .get(format!("{}/readyz", served.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(served.terminate(), "a clean exit");
}
