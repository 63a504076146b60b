//! What an operator scrapes: `/metrics` counts real traffic and the core's
//! outcomes, with bounded labels, on the main listener or on its own.

use gatehouse_server::Application;
use reqwest::StatusCode;

use crate::helpers::*;

/// The value of the sample whose line starts with `series` (name and
/// labels exactly as rendered), or 0 when the series is absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let res = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    res.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_tokens_errors_reuse_and_sign_ins() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let tokens = app.tokens(&client, "profile").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.refresh(&client, &rt).await.status(), StatusCode::OK);
    // Reuse of the rotated token: refused, family revoked, counted.
    assert_eq!(
        app.refresh(&client, &rt).await.status(),
        StatusCode::BAD_REQUEST
    );
    // A malformed request and an unknown client: errors by code.
    app.token(&[
        ("grant_type", "password"),
        ("client_id", &client.id),
        ("client_secret", client.secret.as_deref().unwrap()),
    ])
    .await;
    app.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
        ("client_secret", "x"),
    ])
    .await;
    // Sign-ins, failed then succeeded.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.api_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Two raw paths of one route.
    let id = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/users/{id}"),
        format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
    ] {
        app.http
            .get(app.url(&path))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
    }
    app.http
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .unwrap();

    let text = scrape(&app.http, &app.base).await;
    let at = |series: &str| sample(&text, series);
    assert_eq!(
        at("gatehouse_tokens_issued_total{grant_type=\"authorization_code\"}"),
        1.0
    );
    assert_eq!(
        at("gatehouse_tokens_issued_total{grant_type=\"refresh_token\"}"),
        1.0
    );
    assert_eq!(at("gatehouse_refresh_reuse_detected_total"), 1.0);
    assert_eq!(
        at("gatehouse_token_errors_total{error=\"invalid_grant\"}"),
        1.0
    );
    assert_eq!(
        at("gatehouse_token_errors_total{error=\"unsupported_grant_type\"}"),
        1.0
    );
    assert_eq!(
        at("gatehouse_token_errors_total{error=\"invalid_client\"}"),
        1.0
    );
    assert_eq!(at("gatehouse_sign_ins_total{result=\"failed\"}"), 1.0);
    // spawn()'s own admin login, the one above, and the page sign-in of
    // the code flow.
    assert_eq!(at("gatehouse_sign_ins_total{result=\"succeeded\"}"), 3.0);
    assert_eq!(
        at(
            "gatehouse_http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=\"404\"}"
        ),
        2.0,
        "one series for the route, whatever the id:\n{text}"
    );
    assert_eq!(
        at(
            "gatehouse_http_requests_total{route=\"/api/v1/oauth/token\",method=\"POST\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        at("gatehouse_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"),
        1.0
    );
    assert!(
        at("gatehouse_http_request_duration_seconds_count{route=\"/api/v1/oauth/token\"}") >= 5.0
    );
    assert!(at("process_resident_memory_bytes") > 1e6);
    assert!(text.contains("# TYPE gatehouse_store_errors_total counter"));
    assert!(
        !text.contains(&id.to_string()),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn a_metrics_address_moves_metrics_off_the_main_listener() {
    let mut cfg = config();
    cfg.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let app = Application::build(cfg).await.unwrap();
    let main = format!("http://127.0.0.1:{}", app.port());
    let metrics = format!("http://127.0.0.1:{}", app.metrics_port().unwrap());
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let res = http.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    http.get(format!("{main}/readyz")).send().await.unwrap();
    let text = scrape(&http, &metrics).await;
    assert_eq!(
        sample(
            &text,
            "gatehouse_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"}"
        ),
        1.0
    );
    let res = http.get(format!("{metrics}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "only /metrics there");
    // Stopping the server stops both listeners.
    handle.stop(true).await;
    running.await.unwrap().unwrap();
    assert!(http.get(format!("{metrics}/metrics")).send().await.is_err());
}
