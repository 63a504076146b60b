//! Sign-in under attack: the throttle counts failures only, per account and
//! address, believes forwarded headers only from trusted proxies, stores
//! nothing for junk, and guards every password check (DESIGN §10).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn login_from(
    app: &TestApp,
    from: Option<&str>,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

fn behind_a_proxy(per_minute: u32) -> gatehouse_server::Config {
    let mut cfg = config();
    cfg.login_attempts_per_minute = per_minute;
    cfg.trusted_proxies =
        gatehouse_server::http::client_addr::TrustedProxies::parse("127.0.0.1, ::1").unwrap();
    cfg
}

#[tokio::test]
async fn successful_sign_ins_never_spend_the_budget() {
    let app = spawn_with(behind_a_proxy(3)).await;
    app.create_user("busy@example.com", "busy-users-password")
        .await;
    // An office behind one address: far more sign-ins than the budget.
    for _ in 0..15 {
        let res = login_from(
            &app,
            Some("203.0.113.5"),
            "busy@example.com",
            "busy-users-password",
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for _ in 0..15 {
        let res = login_from(&app, Some("203.0.113.5"), ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn an_attacker_at_one_address_cannot_lock_the_owner_out_at_another() {
    let app = spawn_with(behind_a_proxy(3)).await;
    app.create_user("victim@example.com", "victims-real-password")
        .await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let res = login_from(&app, Some("198.51.100.66"), "victim@example.com", "guess").await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "Retry-After: {retry}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "too_many_requests");
        }
    }
    let failures = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(failures, 3, "{statuses:?}");
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // The right password from the attacker's address is refused too: the
    // throttle answers before checking anything.
    let res = login_from(
        &app,
        Some("198.51.100.66"),
        "victim@example.com",
        "victims-real-password",
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The owner, elsewhere, signs in; so does IPv6 and everyone else.
    let res = login_from(
        &app,
        Some("203.0.113.10"),
        "victim@example.com",
        "victims-real-password",
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_from(
        &app,
        Some("2001:db8:5::1"),
        "victim@example.com",
        "victims-real-password",
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_from(&app, Some("198.51.100.66"), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn ipv6_attackers_are_throttled_by_their_slash_64() {
    let app = spawn_with(behind_a_proxy(3)).await;
    let mut refused = 0;
    for n in 0..12 {
        let from = format!("2001:db8:aa:bb::{n:x}");
        let res = login_from(&app, Some(&from), ADMIN_EMAIL, "guess").await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert_eq!(refused, 9);
}

#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_are_ignored() {
    let mut cfg = config();
    cfg.login_attempts_per_minute = 3;
    let app = spawn_with(cfg).await;
    // Rotating X-Forwarded-For does not buy fresh budgets.
    let mut last = StatusCode::OK;
    for n in 0..6 {
        last = login_from(
            &app,
            Some(&format!("203.0.113.{n}")),
            "x@example.com",
            "guess",
        )
        .await
        .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn junk_emails_are_refused_before_any_budget_and_leave_nothing_behind() {
    let mut cfg = config();
    cfg.login_attempts_per_minute = 2;
    let app = spawn_with(cfg).await;
    let before = app.gatehouse.sign_in_throttle().len();
    let junk = [
        "a".repeat(30_000),
        format!("{}@example.com", "a".repeat(250)),
        "no-at-sign".to_owned(),
        "two@@example.com".to_owned(),
        "zero\u{200b}width@example.com".to_owned(),
        String::new(),
    ];
    for (n, email) in junk.iter().cycle().take(60).enumerate() {
        let res = login_from(&app, None, &format!("{n}{email}"), "guess").await;
        assert!(
            matches!(
                res.status(),
                StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
            ),
            "{}",
            res.status()
        );
    }
    assert_eq!(app.gatehouse.sign_in_throttle().len(), before);
    // Nothing spent: a real account still has its whole budget.
    let res = login_from(&app, None, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sign_in_page_shares_the_budget_and_says_how_long_to_wait() {
    let app = spawn_with(behind_a_proxy(2)).await;
    let c = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let mut last = None;
    for _ in 0..3 {
        let page = b.get(&url).send().await.unwrap().text().await.unwrap();
        let res = Form::parse(&page, "/api/v1/oauth/login")
            .with("email", ADMIN_EMAIL)
            .with("password", "wrong-password")
            .submit(&b, &app.base)
            .await;
        last = Some(res);
    }
    let res = last.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Try again in"));
    // The JSON login from the same (direct) address is throttled for that
    // account too…
    let res = login_from(&app, None, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // …but not from another address.
    let res = login_from(&app, Some("203.0.113.77"), ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn current_password_guesses_are_throttled_like_sign_ins() {
    let app = spawn_with(behind_a_proxy(3)).await;
    let user = app
        .create_user("guessed@example.com", "the-real-password")
        .await;
    let token = app
        .api_login("guessed@example.com", "the-real-password")
        .await;
    let id = user["id"].as_str().unwrap();
    let mut statuses = Vec::new();
    for n in 0..8 {
        let res = app
            .http
            .patch(app.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(&token)
            .json(&json!({"password": "a-brand-new-password", "current_password": format!("guess-{n}")}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    assert_eq!(&statuses[..3], &[StatusCode::FORBIDDEN; 3]);
    assert!(
        statuses[3..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The same budget guards the account's sign-in from that address.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "guessed@example.com", "password": "the-real-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_sign_in_flood_gets_busy_answers_not_a_queue_and_no_errors() {
    let mut cfg = config();
    cfg.login_attempts_per_minute = 10_000;
    let app = spawn_with(cfg).await;
    let attempts = (0..150).map(|n| {
        let app = &app;
        async move { login_from(app, None, &format!("flood{n}@example.com"), "guess").await }
    });
    let responses = futures::future::join_all(attempts).await;
    let mut busy = 0;
    for res in &responses {
        match res.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(res.headers().contains_key("retry-after"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "no request was refused as busy");
    // The flood is over: sign-in works again.
    let res = login_from(&app, None, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}
