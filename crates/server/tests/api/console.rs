//! The admin console at `/admin`, driven as a browser would: platform admins
//! only, every action a CSRF-checked form going through the same services
//! as the admin API.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::account::{csrf_of, page, signed_in};
use crate::helpers::*;

/// Posts `fields` (plus this session's CSRF token) to `action`.
async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    b.post(app.url(action)).form(&form).send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_console_is_for_signed_in_platform_admins_only() {
    let app = spawn().await;
    let (status, html) = page(&app, &browser(), "/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("admin console") && html.contains("value=\"/admin/users\""));
    app.create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let bob = signed_in(&app, "bob@example.com", "bob-password-long-enough").await;
    for path in ["/admin", "/admin/clients", "/admin/users", "/admin/audit"] {
        assert_eq!(
            page(&app, &bob, path).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let csrf = csrf_of(&page(&app, &bob, "/account").await.1);
    let res = post(
        &app,
        &bob,
        "/admin/users",
        &csrf,
        &[("email", "x@example.com")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let admin = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let res = admin.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(location(&res), "/admin/clients");
    let (status, html) = page(&app, &admin, "/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("bob@example.com") && html.contains(ADMIN_EMAIL));
    // The account pages link to the console for admins only.
    assert!(
        page(&app, &admin, "/account")
            .await
            .1
            .contains("href=\"/admin\"")
    );
    assert!(
        !page(&app, &bob, "/account")
            .await
            .1
            .contains("href=\"/admin\"")
    );
}

#[tokio::test]
async fn clients_are_filtered_inspected_and_deleted() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    app.tokens(&seed, "profile").await;
    let dynamic: Value = app
        .http
        .post(format!("{}/register", app.issuer))
        .json(
            &json!({"client_name": "Stray agent", "redirect_uris": [REDIRECT],
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/admin/clients?origin=dynamic").await;
    assert!(html.contains("Stray agent") && !html.contains("MCP File Server"));
    let (_, html) = page(&app, &b, "/admin/clients?unused_days=1").await;
    assert!(!html.contains("Stray agent"), "nothing is a day old");
    let (status, _) = page(&app, &b, "/admin/clients?unused_days=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A client's page shows who authorized it.
    let (status, html) = page(&app, &b, &format!("/admin/clients/{}", seed.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(ADMIN_EMAIL) && html.contains("profile"));

    let csrf = csrf_of(&html);
    let res = post(
        &app,
        &b,
        "/admin/clients/delete-idle",
        &csrf,
        &[("idle_days", "0")],
    )
    .await;
    assert_eq!(location(&res), "/admin/clients?done=deleted");
    let (_, html) = page(&app, &b, "/admin/clients").await;
    assert!(
        !html.contains("Stray agent"),
        "idle and self-registered: gone"
    );
    assert!(html.contains("MCP File Server"), "admin clients stay");
    let id = dynamic["client_id"].as_str().unwrap();
    assert_eq!(
        page(&app, &b, &format!("/admin/clients/{id}")).await.0,
        StatusCode::NOT_FOUND
    );

    let res = post(
        &app,
        &b,
        &format!("/admin/clients/{}/delete", seed.id),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(location(&res), "/admin/clients?done=deleted");
    let res = app
        .http
        .get(app.url(&format!("/api/v1/oauth/clients/{}", seed.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Without this session's token, nothing happens.
    let res = post(
        &app,
        &b,
        "/admin/clients/delete-idle",
        "forged",
        &[("idle_days", "0")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn resources_are_registered_edited_and_deleted() {
    let app = spawn().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let csrf = csrf_of(&page(&app, &b, "/admin/resources").await.1);
    let res = post(
        &app,
        &b,
        "/admin/resources",
        &csrf,
        &[
            ("resource", "https://Files.example.com/mcp/"),
            ("name", "Files"),
            ("scopes", "files:read  files:write"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/admin/resources?done=created");
    let (_, html) = page(&app, &b, "/admin/resources").await;
    assert!(
        html.contains("https://files.example.com/mcp") && html.contains("files:read files:write")
    );
    let list: Value = app.admin_get("/api/v1/oauth/resources").await;
    let id = list["resources"][0]["id"].as_str().unwrap().to_owned();
    let res = post(
        &app,
        &b,
        &format!("/admin/resources/{id}"),
        &csrf,
        &[("scopes", "files:read")],
    )
    .await;
    assert_eq!(location(&res), "/admin/resources?done=saved");
    assert!(
        page(&app, &b, "/admin/resources")
            .await
            .1
            .contains("value=\"files:read\"")
    );
    // The service's own rules apply: a duplicate URI is refused, said why.
    let res = post(
        &app,
        &b,
        "/admin/resources",
        &csrf,
        &[
            ("resource", "https://files.example.com/mcp"),
            ("name", "Again"),
            ("scopes", "x"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = post(
        &app,
        &b,
        &format!("/admin/resources/{id}/delete"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(location(&res), "/admin/resources?done=deleted");
    assert!(
        page(&app, &b, "/admin/resources")
            .await
            .1
            .contains("No resource is registered")
    );
}

#[tokio::test]
async fn users_are_created_promoted_reset_and_disconnected() {
    let app = spawn().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let csrf = csrf_of(&page(&app, &b, "/admin/users").await.1);
    let res = post(
        &app,
        &b,
        "/admin/users",
        &csrf,
        &[
            ("email", "carol@example.com"),
            ("name", "Carol"),
            ("password", "carol-password-long"),
            ("role", "user"),
        ],
    )
    .await;
    let to = location(&res);
    assert!(
        to.starts_with("/admin/users/") && to.ends_with("?done=created"),
        "{to}"
    );
    let user_page = to.trim_end_matches("?done=created").to_owned();
    // Carol connects an app.
    let seed = app.seed_client().await;
    let browser_of_carol = browser();
    let p = pkce();
    let url = app.authorize_url(&seed.id, &p, "profile", "s");
    let back = app
        .authorize_via_pages(
            &browser_of_carol,
            &url,
            "carol@example.com",
            "carol-password-long",
        )
        .await;
    let t: Value = app
        .exchange(&seed, &query(&back, "code").unwrap(), &p)
        .await
        .json()
        .await
        .unwrap();
    let (_, html) = page(&app, &b, &user_page).await;
    assert!(html.contains("Carol") && html.contains("MCP File Server"));

    let res = post(
        &app,
        &b,
        &format!("{user_page}/role"),
        &csrf,
        &[("role", "admin")],
    )
    .await;
    assert!(location(&res).ends_with("?done=saved"));
    assert!(
        page(&app, &b, &user_page)
            .await
            .1
            .contains("<dd>admin</dd>")
    );

    // Disconnect her app from her page.
    let doc = scraper::Html::parse_document(&page(&app, &b, &user_page).await.1);
    let sel = scraper::Selector::parse("form[action$='/disconnect']").unwrap();
    let action = doc
        .select(&sel)
        .next()
        .unwrap()
        .value()
        .attr("action")
        .unwrap()
        .to_owned();
    let res = post(&app, &b, &action, &csrf, &[]).await;
    assert!(location(&res).ends_with("?done=disconnected"));
    let res = app
        .refresh(&seed, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A reset password ends her sign-ins; the new one works.
    let carol_token = app
        .api_login("carol@example.com", "carol-password-long")
        .await;
    let res = post(
        &app,
        &b,
        &format!("{user_page}/password"),
        &csrf,
        &[("new_password", "a-fresh-password-1")],
    )
    .await;
    assert!(location(&res).ends_with("?done=password"));
    let res = app
        .http
        .get(app.url("/api/v1/me/grants"))
        .bearer_auth(&carol_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.api_login("carol@example.com", "a-fresh-password-1")
        .await;
    // Rules hold: a weak password is refused with the reason.
    let res = post(
        &app,
        &b,
        &format!("{user_page}/password"),
        &csrf,
        &[("new_password", "password")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post(&app, &b, &format!("{user_page}/delete"), &csrf, &[]).await;
    assert_eq!(location(&res), "/admin/users?done=deleted");
    assert!(
        !page(&app, &b, "/admin/users")
            .await
            .1
            .contains("carol@example.com")
    );
}

#[tokio::test]
async fn organizations_and_the_audit_log_are_browsable() {
    let app = spawn().await;
    let res = app
        .http
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    let org: Value = res.json().await.unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();
    app.create_user("dave@example.com", "dave-password-long-enough")
        .await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/admin/organizations").await;
    assert!(html.contains("Acme"));
    let (status, html) = page(&app, &b, &format!("/admin/organizations/{org_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(ADMIN_EMAIL) && html.contains("owner"));

    // The audit log: filtered by type, paged with a cursor link.
    crate::audit::events_once(&app, &["user.created", "sign_in.succeeded"]).await;
    let (_, html) = page(&app, &b, "/admin/audit?type=user.created").await;
    assert!(html.contains("user.created") && !html.contains("<td>sign_in.succeeded</td>"));
    let (_, html) = page(&app, &b, "/admin/audit?limit=1").await;
    let doc = scraper::Html::parse_document(&html);
    let sel = scraper::Selector::parse("a").unwrap();
    let older = doc
        .select(&sel)
        .find(|a| a.text().any(|t| t == "Older events"))
        .and_then(|a| a.value().attr("href"))
        .unwrap()
        .to_owned();
    assert!(older.starts_with("/admin/audit?") && older.contains("before="));
    assert_eq!(page(&app, &b, &older).await.0, StatusCode::OK);
    let (status, html) = page(&app, &b, "/admin/audit?type=no.such.kind").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("role=\"alert\""));
}

#[tokio::test]
async fn sign_in_providers_are_added_edited_and_deleted_from_the_console() {
    let app = spawn().await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, html) = page(&app, &b, "/admin/identity-providers").await;
    assert!(html.contains("No provider is configured"));
    assert!(
        html.contains("/api/v1/oauth/idp/{name}/callback"),
        "says what to register"
    );
    let csrf = csrf_of(&html);
    let res = post(
        &app,
        &b,
        "/admin/identity-providers",
        &csrf,
        &[
            ("kind", "oidc"),
            ("name", "okta"),
            ("display_name", "Okta"),
            ("issuer", "https://acme.okta.com"),
            ("client_id", "0oa-gatehouse"),
            ("client_secret", "s3cret-value"),
            ("scopes", ""),
            ("create_users", "true"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/admin/identity-providers?done=created");
    let (_, html) = page(&app, &b, "/admin/identity-providers").await;
    assert!(
        html.contains("https://acme.okta.com") && html.contains("value=\"openid email profile\"")
    );
    assert!(html.contains("/api/v1/oauth/idp/okta/callback"));
    assert!(!html.contains("s3cret-value"), "the secret is never shown");

    let list: Value = app.admin_get("/api/v1/oauth/identity-providers").await;
    let p = &list["identity_providers"][0];
    assert_eq!(p["create_users"], true);
    assert_eq!(p["link_by_verified_email"], false);
    let id = p["id"].as_str().unwrap().to_owned();
    // Unchecked boxes turn the policy off; an empty secret keeps it.
    let res = post(
        &app,
        &b,
        &format!("/admin/identity-providers/{id}"),
        &csrf,
        &[
            ("scopes", "openid email"),
            ("client_secret", ""),
            ("link_by_verified_email", "true"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/admin/identity-providers?done=saved");
    let one: Value = app
        .admin_get(&format!("/api/v1/oauth/identity-providers/{id}"))
        .await;
    assert_eq!(
        one["identity_provider"]["scopes"],
        json!(["openid", "email"])
    );
    assert_eq!(one["identity_provider"]["create_users"], false);
    assert_eq!(one["identity_provider"]["link_by_verified_email"], true);

    // The service's rules apply: a bad issuer is refused with the reason.
    let res = post(
        &app,
        &b,
        "/admin/identity-providers",
        &csrf,
        &[
            ("kind", "oidc"),
            ("name", "bad"),
            ("display_name", "Bad"),
            ("issuer", "http://idp.example.com"),
            ("client_id", "c"),
            ("client_secret", "s"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("https"));
    let res = post(
        &app,
        &b,
        &format!("/admin/identity-providers/{id}/delete"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(location(&res), "/admin/identity-providers?done=deleted");
    assert!(
        page(&app, &b, "/admin/identity-providers")
            .await
            .1
            .contains("No provider is configured")
    );

    // Not for ordinary users.
    app.create_user("pat@example.com", "pats-long-password")
        .await;
    let pat = signed_in(&app, "pat@example.com", "pats-long-password").await;
    let (status, _) = page(&app, &pat, "/admin/identity-providers").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
