//! What a self-registered client may claim about itself: nothing that
//! could disguise it on the consent page or run in someone's browser.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn register(app: &TestApp, extra: Value) -> reqwest::Response {
    let mut body = json!({
        "client_name": "Honest App",
        "redirect_uris": ["https://app.example.com/cb"],
        "token_endpoint_auth_method": "none",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.http
        .post(format!("{}/register", app.issuer))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn names_that_reorder_or_hide_text_are_refused() {
    let app = spawn().await;
    for name in [
        "Goo\u{202e}elg",
        "Trusted\u{200b}App",
        "Admin\u{200d}Console",
        "\u{2066}Bank\u{2069}",
        "App\u{feff}",
        "Claude\u{3164}",
        "line\nbreak",
    ] {
        let res = register(&app, json!({"client_name": name})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_client_metadata"
        );
    }
    let res = register(&app, json!({"client_name": "Сервер файлов 🚀"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn display_urls_must_be_web_urls() {
    let app = spawn().await;
    for field in ["logo_uri", "client_uri", "policy_uri", "tos_uri"] {
        for bad in [
            "javascript:alert(document.cookie)",
            " JAVASCRIPT:alert(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "http://app.example.com/plain-http",
            "//app.example.com/scheme-relative",
        ] {
            let res = register(&app, json!({ field: bad })).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}={bad}");
            assert_eq!(
                res.json::<Value>().await.unwrap()["error"],
                "invalid_client_metadata"
            );
        }
        let res = register(&app, json!({ field: "https://app.example.com/x" })).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{field}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body[field], "https://app.example.com/x");
    }
    // The RFC 7592 update path applies the same rules.
    let res = register(&app, json!({})).await;
    let reg: Value = res.json().await.unwrap();
    let res = app
        .http
        .put(reg["registration_client_uri"].as_str().unwrap())
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&json!({
            "client_id": reg["client_id"],
            "client_name": "Honest App",
            "redirect_uris": ["https://app.example.com/cb"],
            "token_endpoint_auth_method": "none",
            "logo_uri": "javascript:alert(1)",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
