//! The user's own pages, driven as a browser would (cookies, forms, CSRF):
//! `/account` and `/account/apps` (DESIGN §11).

use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::helpers::*;

/// A browser signed in on the account pages.
pub async fn signed_in(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let b = browser();
    let page = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let res = Form::parse(&page.text().await.unwrap(), "/account/login")
        .with("email", email)
        .with("password", password)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/account");
    b
}

pub async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn the_pages_ask_for_sign_in_and_come_back_where_they_were() {
    let app = spawn().await;
    let b = browser();
    let res = b.get(app.url("/account/apps")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for (h, v) in [
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(res.headers()[h], v);
    }
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = res.text().await.unwrap();
    let form = Form::parse(&html, "/account/login");
    assert!(
        form.fields
            .contains(&("next".into(), "/account/apps".into()))
    );
    let res = Form::parse(&html, "/account/login")
        .with("email", ADMIN_EMAIL)
        .with("password", "wrong password")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("not correct"));
    let res = form
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/account/apps");
    let (status, html) = page(&app, &b, "/account/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Connected apps") && html.contains("No apps are connected"));
    let (_, html) = page(&app, &b, "/account").await;
    assert!(html.contains(ADMIN_EMAIL) && html.contains("Change password"));
}

#[tokio::test]
async fn sign_in_never_sends_the_browser_off_gatehouse() {
    let app = spawn().await;
    for next in [
        "https://evil.example/account",
        "//evil.example/account",
        "/account//evil.example",
        "/\\evil.example",
        "/accounts",
        "/api/v1/users",
        "javascript:alert(1)",
    ] {
        let b = browser();
        let html = b
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let res = Form::parse(&html, "/account/login")
            .with("email", ADMIN_EMAIL)
            .with("password", ADMIN_PASSWORD)
            .with("next", next)
            .submit(&b, &app.base)
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(res.headers()[LOCATION], "/account", "{next}");
    }
}

#[tokio::test]
async fn an_app_disconnected_on_the_page_loses_its_tokens() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile email").await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/account/apps").await;
    assert!(html.contains("MCP File Server") && html.contains("By an administrator"));
    assert!(html.contains("See your profile") || html.contains("profile"));
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("form[action$='/disconnect']").unwrap();
    let action = doc
        .select(&sel)
        .next()
        .unwrap()
        .value()
        .attr("action")
        .unwrap()
        .to_owned();
    let res = Form::parse(&html, &action).submit(&b, &app.base).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/account/apps?done=disconnected");
    let (_, html) = page(&app, &b, "/account/apps?done=disconnected").await;
    assert!(html.contains("The app was disconnected") && html.contains("No apps are connected"));
    let res = app
        .refresh(&seed, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The same form again: already gone, said so, nothing breaks.
    let again = b
        .post(app.url(&action))
        .form(&[("csrf_token", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()[LOCATION], "/account/apps?done=gone");
}

/// The session-bound CSRF token on a page.
pub fn csrf_of(html: &str) -> String {
    Form::parse(html, "/account/sign-out")
        .fields
        .into_iter()
        .find(|(k, _)| k == "csrf_token")
        .unwrap()
        .1
}

#[tokio::test]
async fn forms_without_this_sessions_token_change_nothing() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    app.tokens(&seed, "profile").await;
    let grant = {
        app.my_apps(&app.admin_token).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let victim = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // An attacker's own session gives a valid token, for their session only.
    app.create_user("eve@example.com", "eve-password-long-enough")
        .await;
    let eve = signed_in(&app, "eve@example.com", "eve-password-long-enough").await;
    let eves_token = csrf_of(&page(&app, &eve, "/account").await.1);
    for token in [None, Some("forged"), Some(eves_token.as_str())] {
        for path in [
            format!("/account/apps/{grant}/disconnect"),
            "/account/sign-out-everywhere".to_owned(),
            "/account/password".to_owned(),
        ] {
            let mut form = vec![
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "a-brand-new-password"),
            ];
            if let Some(t) = token {
                form.push(("csrf_token", t));
            }
            let res = victim
                .post(app.url(&path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::BAD_REQUEST,
                "{path} with {token:?}"
            );
        }
    }
    let (status, html) = page(&app, &victim, "/account/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("MCP File Server"),
        "still connected, still signed in"
    );
    app.api_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn changing_the_password_on_the_page() {
    let app = spawn().await;
    let old_api_token = app.api_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let other_device = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let submit = |current: &'static str, new: &'static str| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = page(app, &b, "/account").await.1;
            Form::parse(&html, "/account/password")
                .with("current_password", current)
                .with("new_password", new)
                .submit(&b, &app.base)
                .await
        }
    };
    let res = submit("not the password", "a-brand-new-password").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("current password is not correct")
    );
    let res = submit(ADMIN_PASSWORD, "password123").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = submit(ADMIN_PASSWORD, "short").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = submit(ADMIN_PASSWORD, "a-brand-new-password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/account?done=password");
    // This browser stays signed in; the other device and old tokens do not.
    let (status, html) = page(&app, &b, "/account?done=password").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Your password was changed"));
    let (_, html) = page(&app, &other_device, "/account").await;
    assert!(
        html.contains("action=\"/account/login\""),
        "signed out elsewhere"
    );
    let res = app
        .http
        .get(app.url("/api/v1/users"))
        .bearer_auth(&old_api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.api_login(ADMIN_EMAIL, "a-brand-new-password").await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_sign_in_but_not_the_apps() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile").await;
    let api_token = app.api_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let laptop = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let phone = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = page(&app, &laptop, "/account").await.1;
    let res = Form::parse(&html, "/account/sign-out-everywhere")
        .submit(&laptop, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "the cookie is removed"
    );
    let (_, html) = page(&app, &laptop, "/account?done=everywhere").await;
    assert!(html.contains("signed out of Gatehouse on every device"));
    for b in [&laptop, &phone] {
        let (_, html) = page(&app, b, "/account/apps").await;
        assert!(html.contains("action=\"/account/login\""));
    }
    let res = app
        .http
        .get(app.url("/api/v1/me/grants"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "API sign-ins end too"
    );
    let res = app
        .refresh(&seed, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "connected apps stay connected"
    );
}

#[tokio::test]
async fn signing_out_ends_this_browser_only() {
    let app = spawn().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let other = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let html = page(&app, &b, "/account").await.1;
    let res = Form::parse(&html, "/account/sign-out")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.headers()[LOCATION], "/account?done=signed-out");
    let (_, html) = page(&app, &b, "/account?done=signed-out").await;
    assert!(html.contains("You are signed out") && html.contains("action=\"/account/login\""));
    let (_, html) = page(&app, &other, "/account").await;
    assert!(html.contains("Change password"));
}
