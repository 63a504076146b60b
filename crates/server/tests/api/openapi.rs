//! The OpenAPI document at `/api/v1/openapi.json`: served to anyone, OpenAPI
//! 3.1, covering every JSON route the server mounts (the route table the
//! server itself mounts, not a list kept here), every operation's errors,
//! and real answers that validate against the document's schemas.

use std::collections::BTreeSet;

use gatehouse_server::http::{Answers, route_table};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, REDIRECT, TestApp, spawn};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let res = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Every operation of the document, as `(method, path, operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                all.push((m.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    all
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

#[tokio::test]
async fn the_openapi_document_is_public_cacheable_openapi_3_1_for_this_server() {
    let app = spawn().await;
    let res = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], app.base.as_str());

    // Operation ids are unique, and every link names one that exists.
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate operation ids: {ids:?}");
    let mut links = 0;
    for (_, _, op) in operations(&doc) {
        for res in op["responses"].as_object().unwrap().values() {
            for link in res["links"]
                .as_object()
                .into_iter()
                .flat_map(|l| l.values())
            {
                let id = link["operationId"]
                    .as_str()
                    .expect("links name operationId");
                assert!(unique.contains(id), "a link to unknown {id}");
                links += 1;
            }
        }
    }
    assert!(links > 0);
}

#[tokio::test]
async fn every_json_route_the_server_mounts_is_an_operation_and_nothing_else_is() {
    let app = spawn().await;
    let doc = document(&app).await;
    let mounted: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .filter(|r| r.answers == Answers::Json)
        .map(|r| (r.method.as_str().to_lowercase(), r.path))
        .collect();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let missing: Vec<_> = mounted.difference(&documented).collect();
    assert!(missing.is_empty(), "mounted, not documented: {missing:?}");
    let phantom: Vec<_> = documented.difference(&mounted).collect();
    assert!(phantom.is_empty(), "documented, not mounted: {phantom:?}");
    // The table is the server's: every platform, admin and OAuth JSON route.
    for (m, p) in [
        ("post", "/api/v1/oauth/token"),
        ("post", "/api/v1/oauth/introspect"),
        ("post", "/api/v1/oauth/revoke"),
        ("put", "/api/v1/oauth/register/{client_id}"),
        ("patch", "/api/v1/oauth/clients/{client_id}"),
        ("get", "/api/v1/audit"),
    ] {
        assert!(mounted.contains(&(m.to_owned(), p.to_owned())), "{m} {p}");
    }
    // The HTML pages are mounted but are not part of the JSON API.
    assert!(
        route_table()
            .iter()
            .any(|r| r.answers == Answers::Html && r.path == "/api/v1/oauth/authorize")
    );
    assert!(!documented.contains(&("get".to_owned(), "/api/v1/oauth/authorize".to_owned())));
}

#[tokio::test]
async fn every_operation_documents_its_errors_in_the_error_shapes() {
    let app = spawn().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        let tag = op["tags"][0].as_str().unwrap();
        let security = op["security"].as_array().cloned().unwrap_or_default();
        let anonymous = security.is_empty()
            || security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
        if !anonymous {
            assert!(responses.contains_key("401"), "{name}: no 401");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("400"), "{name}: no 400");
        }
        // Discovery, health and this document cannot fail but for a dead
        // store (readyz's 503); everything else documents its 5xx.
        if !["discovery", "health", "meta"].contains(&tag) {
            assert!(responses.contains_key("500"), "{name}: no 500");
        }
        for (status, res) in responses {
            if !(status.starts_with('4') || status.starts_with('5')) || tag == "health" {
                continue;
            }
            let res = resolve(&doc, res);
            let schema = &res["content"]["application/json"]["schema"]["$ref"];
            let expected =
                if ["oauth", "registration"].contains(&tag) && path != "/api/v1/oauth/userinfo" {
                    "#/components/schemas/OAuthError"
                } else {
                    "#/components/schemas/ApiError"
                };
            assert_eq!(schema, expected, "{name} {status}");
        }
    }
}

/// Checks `res` against what the document says `method path` answers with
/// its status: documented, with the documented content type, and a body
/// that validates (formats included) against the schema.
async fn conforms(doc: &Value, method: &str, path: &str, res: reqwest::Response) -> Value {
    let status = res.status();
    let name = format!("{method} {path} → {status}");
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{name}: no such operation");
    let documented = op["responses"]
        .get(status.as_str())
        .unwrap_or_else(|| panic!("{name}: status not documented"));
    let documented = resolve(doc, documented);
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.bytes().await.unwrap();
    let Some(content) = documented["content"].as_object() else {
        assert!(body.is_empty(), "{name}: a body where none is documented");
        return Value::Null;
    };
    let content_type = content_type.unwrap_or_else(|| panic!("{name}: no content type"));
    let (_, media) = content
        .iter()
        .find(|(ct, _)| content_type.starts_with(ct.as_str()))
        .unwrap_or_else(|| panic!("{name}: {content_type} not documented"));
    let instance: Value = serde_json::from_slice(&body).unwrap();
    let mut schema = media["schema"].clone();
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{instance:#}");
    instance
}

#[tokio::test]
async fn real_answers_validate_against_the_documented_schemas() {
    let app = spawn().await;
    let doc = document(&app).await;
    let http = &app.http;
    let admin = app.admin_token.as_str();
    let send = |method: Method, path: &str| http.request(method, app.url(path));

    // Health, discovery, keys and the document itself.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/oauth-authorization-server/api/v1/oauth",
        "/api/v1/oauth/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/api/v1",
        "/api/v1/oauth/jwks.json",
        "/api/v1/openapi.json",
    ] {
        conforms(
            &doc,
            "GET",
            path,
            send(Method::GET, path).send().await.unwrap(),
        )
        .await;
    }

    // Sign-in and its errors.
    let login = |body: Value| send(Method::POST, "/api/v1/auth/login").json(&body).send();
    let signed_in = conforms(
        &doc,
        "POST",
        "/api/v1/auth/login",
        login(json!({"email": ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD}))
            .await
            .unwrap(),
    )
    .await;
    let admin_id = signed_in["user"]["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({"email": ADMIN_EMAIL, "password": "wrong-password"}),
        json!({"email": 1}),
    ] {
        conforms(
            &doc,
            "POST",
            "/api/v1/auth/login",
            login(bad).await.unwrap(),
        )
        .await;
    }

    // Users: create, read, list, change; 401, 404, 409, 422, 400.
    let users = "/api/v1/users/";
    let created = conforms(
        &doc,
        "POST",
        users,
        send(Method::POST, users)
            .bearer_auth(admin)
            .json(&json!({"email": "ann@example.com", "name": "Ann", "password": "a-long-passphrase"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ann = created["user"]["id"].as_str().unwrap().to_owned();
    let ann_path = format!("/api/v1/users/{ann}");
    let one = "/api/v1/users/{id}";
    conforms(
        &doc,
        "GET",
        one,
        send(Method::GET, &ann_path)
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        users,
        send(Method::GET, users)
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/users",
        send(Method::GET, "/api/v1/users").send().await.unwrap(),
    )
    .await;
    conforms(
        &doc,
        "PATCH",
        one,
        send(Method::PATCH, &ann_path)
            .bearer_auth(admin)
            .json(&json!({"name": "Ann B"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        one,
        send(Method::GET, "/api/v1/users/not-a-uuid")
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    for body in [
        json!({"email": "ann@example.com", "name": "Ann", "password": "a-long-passphrase"}),
        json!({"email": "bob@example.com", "name": "Bob", "password": "a-long-passphrase", "role": "king"}),
    ] {
        conforms(
            &doc,
            "POST",
            users,
            send(Method::POST, users)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
    }
    conforms(
        &doc,
        "POST",
        users,
        send(Method::POST, users)
            .bearer_auth(admin)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "DELETE",
        one,
        send(Method::DELETE, &format!("/api/v1/users/{admin_id}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Organizations, members and invitations, as the admin and as Ann.
    let ann_token = app.api_login("ann@example.com", "a-long-passphrase").await;
    let orgs = "/api/v1/organizations/";
    let org = conforms(
        &doc,
        "POST",
        orgs,
        send(Method::POST, orgs)
            .bearer_auth(&ann_token)
            .json(&json!({"name": "Acme"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();
    conforms(
        &doc,
        "GET",
        orgs,
        send(Method::GET, orgs)
            .bearer_auth(&ann_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let org_path = format!("/api/v1/organizations/{org_id}");
    conforms(
        &doc,
        "GET",
        "/api/v1/organizations/{id}",
        send(Method::GET, &org_path)
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let bob = app
        .create_user("bob@example.com", "another-passphrase")
        .await;
    let bob_id = bob["id"].as_str().unwrap();
    let members = "/api/v1/organizations/{id}/members";
    // Ann (not a platform admin) invites; the admin adds directly.
    conforms(
        &doc,
        "POST",
        members,
        send(Method::POST, &format!("{org_path}/members"))
            .bearer_auth(&ann_token)
            .json(&json!({"user_id": bob_id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/organizations/{id}/invitations",
        send(Method::GET, &format!("{org_path}/invitations"))
            .bearer_auth(&ann_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let bob_token = app.api_login("bob@example.com", "another-passphrase").await;
    conforms(
        &doc,
        "GET",
        "/api/v1/invitations",
        send(Method::GET, "/api/v1/invitations")
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/invitations/{org_id}/accept",
        send(
            Method::POST,
            &format!("/api/v1/invitations/{org_id}/accept"),
        )
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        members,
        send(Method::POST, &format!("{org_path}/members"))
            .bearer_auth(admin)
            .json(&json!({"user_id": bob_id, "role": "admin"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        members,
        send(Method::GET, &format!("{org_path}/members"))
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "PATCH",
        "/api/v1/organizations/{id}",
        send(Method::PATCH, &org_path)
            .bearer_auth(&bob_token)
            .json(&json!({"name": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "DELETE",
        "/api/v1/organizations/{id}",
        send(Method::DELETE, &org_path)
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/oauth/userinfo",
        send(Method::GET, "/api/v1/oauth/userinfo")
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // A platform scope missing: a third-party-style token is not at hand,
    // but a non-admin at the admin API is 403 `forbidden`.
    conforms(
        &doc,
        "GET",
        "/api/v1/oauth/clients",
        send(Method::GET, "/api/v1/oauth/clients")
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/audit",
        send(Method::GET, "/api/v1/audit?limit=3")
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/audit",
        send(Method::GET, "/api/v1/audit?limit=0")
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Admin: resources and clients.
    let resource = conforms(
        &doc,
        "POST",
        "/api/v1/oauth/resources",
        send(Method::POST, "/api/v1/oauth/resources")
            .bearer_auth(admin)
            .json(&json!({"resource": "https://files.example.com/mcp", "scopes": ["files:read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(resource["resource"]["id"].is_string());
    conforms(
        &doc,
        "GET",
        "/api/v1/oauth/resources",
        send(Method::GET, "/api/v1/oauth/resources")
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let issued = conforms(
        &doc,
        "POST",
        "/api/v1/oauth/clients",
        send(Method::POST, "/api/v1/oauth/clients")
            .bearer_auth(admin)
            .json(&json!({"name": "Machine", "redirect_uris": [REDIRECT],
                          "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                          "allowed_scopes": ["profile", "files:read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let client_id = issued["client"]["client_id"].as_str().unwrap().to_owned();
    let secret = issued["client"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/clients",
        send(Method::POST, "/api/v1/oauth/clients")
            .bearer_auth(admin)
            .json(&json!({"name": "Public", "redirect_uris": [REDIRECT], "is_confidential": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/oauth/clients/{client_id}",
        send(Method::GET, &format!("/api/v1/oauth/clients/{client_id}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        "/api/v1/oauth/clients",
        send(Method::GET, "/api/v1/oauth/clients")
            .bearer_auth(admin)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Token, introspection, revocation, and their errors.
    let token = |form: &[(&str, &str)]| {
        send(Method::POST, "/api/v1/oauth/token")
            .basic_auth(&client_id, Some(&secret))
            .form(form)
            .send()
    };
    let tokens = conforms(
        &doc,
        "POST",
        "/api/v1/oauth/token",
        token(&[
            ("grant_type", "client_credentials"),
            ("resource", "https://files.example.com/mcp"),
        ])
        .await
        .unwrap(),
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    for form in [
        &[("grant_type", "password")][..],
        &[("grant_type", "authorization_code")][..],
    ] {
        conforms(
            &doc,
            "POST",
            "/api/v1/oauth/token",
            token(form).await.unwrap(),
        )
        .await;
    }
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/token",
        send(Method::POST, "/api/v1/oauth/token")
            .basic_auth(&client_id, Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let introspect = |t: &str| {
        send(Method::POST, "/api/v1/oauth/introspect")
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", t)])
            .send()
    };
    let active = conforms(
        &doc,
        "POST",
        "/api/v1/oauth/introspect",
        introspect(&access).await.unwrap(),
    )
    .await;
    assert_eq!(active["active"], true);
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/introspect",
        introspect("nonsense").await.unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/revoke",
        send(Method::POST, "/api/v1/oauth/revoke")
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/revoke",
        send(Method::POST, "/api/v1/oauth/revoke")
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", "x"), ("token_type_hint", "id_token")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/clients/{client_id}/secret",
        send(
            Method::POST,
            &format!("/api/v1/oauth/clients/{client_id}/secret"),
        )
        .bearer_auth(admin)
        .send()
        .await
        .unwrap(),
    )
    .await;

    // Dynamic registration and RFC 7592.
    let registered = conforms(
        &doc,
        "POST",
        "/api/v1/oauth/register",
        send(Method::POST, "/api/v1/oauth/register")
            .json(&json!({"client_name": "Probe", "redirect_uris": ["http://127.0.0.1:33418/callback"],
                          "grant_types": ["authorization_code", "refresh_token"], "scope": "profile"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/oauth/register",
        send(Method::POST, "/api/v1/oauth/register")
            .json(&json!({"redirect_uris": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let reg_id = registered["client_id"].as_str().unwrap();
    let reg_token = registered["registration_access_token"].as_str().unwrap();
    let reg_path = format!("/api/v1/oauth/register/{reg_id}");
    let reg = "/api/v1/oauth/register/{client_id}";
    conforms(
        &doc,
        "GET",
        reg,
        send(Method::GET, &reg_path)
            .bearer_auth(reg_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "PUT",
        reg,
        send(Method::PUT, &reg_path)
            .bearer_auth(reg_token)
            .json(&json!({"client_id": reg_id, "client_name": "Probe 2",
                          "redirect_uris": ["http://127.0.0.1:33418/callback"],
                          "token_endpoint_auth_method": "client_secret_post"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "GET",
        reg,
        send(Method::GET, &reg_path)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "DELETE",
        reg,
        send(Method::DELETE, &reg_path)
            .bearer_auth(reg_token)
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Sign-out ends the token.
    conforms(
        &doc,
        "POST",
        "/api/v1/auth/logout",
        send(Method::POST, "/api/v1/auth/logout")
            .bearer_auth(&ann_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    conforms(
        &doc,
        "POST",
        "/api/v1/auth/logout",
        send(Method::POST, "/api/v1/auth/logout")
            .bearer_auth(&ann_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn the_schemas_refuse_what_the_server_never_sends() {
    let app = spawn().await;
    let doc = document(&app).await;
    let validator = |name: &str| {
        let schema = json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": doc["components"].clone(),
        });
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    };
    let user = json!({"id": "0d9e6b5e-3c1f-4b7e-9a57-7a8f1c2d3e4f", "email": "a@example.com",
                      "name": "Ann", "role": "user", "email_verified": true,
                      "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
    assert!(validator("UserBody").is_valid(&user));
    for (field, bad) in [
        ("id", json!("not-a-uuid")),
        ("role", json!("king")),
        ("created_at", json!("yesterday")),
        ("email_verified", json!("yes")),
    ] {
        let mut wrong = user.clone();
        wrong[field] = bad;
        assert!(!validator("UserBody").is_valid(&wrong), "{field}");
    }
    let mut missing = user.clone();
    missing.as_object_mut().unwrap().remove("email");
    assert!(!validator("UserBody").is_valid(&missing));
    assert!(!validator("ApiError").is_valid(&json!({"error": "oops", "error_description": ""})));
    assert!(
        !validator("OAuthError").is_valid(&json!({"error": "not_found", "error_description": ""}))
    );
    assert!(!validator("AuditEventBody").is_valid(
        &json!({"id": "0d9e6b5e-3c1f-4b7e-9a57-7a8f1c2d3e4f",
        "at": "2026-01-01T00:00:00Z", "type": "made.up", "user_id": null, "client_id": null,
        "ip": null, "details": {}})
    ));
}
