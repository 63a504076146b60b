//! Registration hygiene (DESIGN §11): the same software registering again
//! reuses its client, each address has an hourly budget of new clients,
//! and self-registered clients nobody uses can be listed and deleted.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn dcr_from(app: &TestApp, body: &Value, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app.http.post(format!("{}/register", app.issuer)).json(body);
    if let Some(a) = forwarded_for {
        req = req.header("x-forwarded-for", a);
    }
    req.send().await.unwrap()
}

fn native(name: &str, port: u16) -> Value {
    json!({
        "client_name": name,
        "redirect_uris": [format!("http://127.0.0.1:{port}/callback")],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "software_id": "4f0c7a3e-claude-code",
    })
}

#[tokio::test]
async fn the_same_public_software_registering_again_gets_its_client_back() {
    let app = spawn().await;
    let first: Value = dcr_from(&app, &native("Claude Code", 33418), None)
        .await
        .json()
        .await
        .unwrap();
    // A new run picks another loopback port: still the same software.
    let res = dcr_from(&app, &native("Claude Code", 51234), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["client_id"], first["client_id"]);
    assert_eq!(
        again["redirect_uris"],
        json!(["http://127.0.0.1:51234/callback"]),
        "the answer echoes this registration"
    );
    assert_eq!(again["client_id_issued_at"], first["client_id_issued_at"]);
    assert_ne!(
        again["registration_access_token"],
        first["registration_access_token"]
    );
    // The newest registration access token manages the client; the old one
    // no longer does.
    let read = |token: &Value| {
        app.http
            .get(format!(
                "{}/register/{}",
                app.issuer,
                first["client_id"].as_str().unwrap()
            ))
            .bearer_auth(token.as_str().unwrap())
            .send()
    };
    assert_eq!(
        read(&again["registration_access_token"])
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        read(&first["registration_access_token"])
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The holder of the newest token manages the record, but cannot make
    // the shared app something else (say, send its users' codes to another
    // host): what identifies the software is fixed; the rest may change.
    let id = first["client_id"].as_str().unwrap().to_owned();
    let put = |body: Value| {
        app.http
            .put(format!("{}/register/{id}", app.issuer))
            .bearer_auth(again["registration_access_token"].as_str().unwrap())
            .json(&body)
            .send()
    };
    for (field, value) in [
        ("redirect_uris", json!(["https://evil.example/cb"])),
        ("client_name", json!("Claude Code (new)")),
        ("software_id", json!("someone-else")),
    ] {
        let mut body = native("Claude Code", 51234);
        body["client_id"] = json!(id);
        body[field] = value;
        let res = put(body).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_client_metadata"
        );
    }
    let mut body = native("Claude Code", 51234);
    body["client_id"] = json!(id);
    body["logo_uri"] = json!("https://claude.example/logo.png");
    let res = put(body).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["logo_uri"],
        "https://claude.example/logo.png"
    );

    // Either port works at /authorize (loopback, RFC 8252 §7.3).
    for port in [33418, 51234] {
        let url = format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri=http://127.0.0.1:{port}/callback&code_challenge={}&code_challenge_method=S256&state=s",
            app.issuer,
            first["client_id"].as_str().unwrap(),
            pkce().challenge
        );
        assert_eq!(
            browser().get(url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }

    // Other software, or another name, or a confidential client: new rows.
    let mut other_software = native("Claude Code", 33418);
    other_software["software_id"] = json!("someone-else");
    let mut confidential = native("Claude Code", 33418);
    confidential["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mut ids = vec![first["client_id"].clone()];
    for body in [
        native("Cursor", 33418),
        other_software,
        confidential.clone(),
        confidential,
    ] {
        let res = dcr_from(&app, &body, None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["client_id"].clone();
        assert!(!ids.contains(&id), "{body}");
        ids.push(id);
    }
}

#[tokio::test]
async fn each_address_has_an_hourly_budget_of_new_clients() {
    let mut cfg = config();
    cfg.registrations_per_address_per_hour = 3;
    cfg.trusted_proxies =
        gatehouse_server::http::client_addr::TrustedProxies::parse("127.0.0.1").unwrap();
    let app = spawn_with(cfg).await;
    for i in 0..3 {
        let res = dcr_from(
            &app,
            &native(&format!("agent {i}"), 1000),
            Some("198.51.100.7"),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = dcr_from(&app, &native("agent 3", 1000), Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1201).contains(&wait), "{wait}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The same software again creates nothing and is not refused.
    let res = dcr_from(&app, &native("agent 0", 2000), Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Another address has its own budget; an IPv6 subscriber is one /64.
    let res = dcr_from(&app, &native("agent 3", 1000), Some("203.0.113.9")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for (i, a) in ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7:ffff::3"]
        .iter()
        .enumerate()
    {
        let res = dcr_from(&app, &native(&format!("v6 {i}"), 1000), Some(a)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = dcr_from(&app, &native("v6 3", 1000), Some("2001:db8:7:7:1::4")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Admins registering through the admin API are not limited.
    app.register(false, &["profile"]).await;
}

async fn clients(app: &TestApp, query: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/api/v1/oauth/clients{query}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn admins_filter_clients_and_delete_the_idle_self_registered_ones() {
    let app = spawn().await;
    let admin_client = app.seed_client().await;
    let idle: Value = dcr_from(&app, &native("Forgotten agent", 1000), None)
        .await
        .json()
        .await
        .unwrap();
    let mut busy = native("Busy agent", 1000);
    busy["redirect_uris"] = json!([REDIRECT]);
    let used: Value = dcr_from(&app, &busy, None).await.json().await.unwrap();
    let used = TestClient {
        id: used["client_id"].as_str().unwrap().to_owned(),
        secret: None,
    };
    // The busy agent holds a live grant.
    let p = pkce();
    let code = crate::mcp::code_with(&app, &used.id, &p, &[]).await;
    let res = app.exchange(&used, &code, &p).await;
    assert_eq!(res.status(), StatusCode::OK);

    let ids = |v: Value| -> Vec<String> {
        v["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["client_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let dynamic = ids(clients(&app, "?origin=dynamic").await.json().await.unwrap());
    assert_eq!(dynamic.len(), 2);
    assert!(!dynamic.contains(&admin_client.id));
    assert!(ids(clients(&app, "?unused_days=1").await.json().await.unwrap()).is_empty());
    assert_eq!(
        ids(clients(&app, "?unused_days=0&origin=admin")
            .await
            .json()
            .await
            .unwrap()),
        vec![admin_client.id.clone()]
    );
    for bad in [
        "?origin=robot",
        "?unused_days=-1",
        "?unused_days=99999",
        "?unused_days=null&unused_days=null",
    ] {
        let res = clients(&app, bad).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{bad}: {body}");
    }

    let delete_idle = |days: Value| {
        app.http
            .post(app.url("/api/v1/oauth/clients/delete-idle"))
            .bearer_auth(&app.admin_token)
            .json(&json!({"idle_days": days}))
            .send()
    };
    let res = delete_idle(json!(1)).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["deleted"],
        0,
        "nothing is a day old"
    );
    let res = delete_idle(json!(0)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["deleted"], 1);
    let left = ids(clients(&app, "").await.json().await.unwrap());
    assert!(!left.contains(&idle["client_id"].as_str().unwrap().to_owned()));
    assert!(left.contains(&used.id) && left.contains(&admin_client.id));
    assert_eq!(
        delete_idle(json!(4000)).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let bob = {
        app.create_user("bob@example.com", "bob-password-long-enough")
            .await;
        app.api_login("bob@example.com", "bob-password-long-enough")
            .await
    };
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients/delete-idle"))
        .bearer_auth(bob)
        .json(&json!({"idle_days": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Every deletion is in the audit log, with its reason.
    let events = crate::audit::events_once(&app, &["client.deleted"]).await;
    let deleted = events
        .iter()
        .find(|e| e["type"] == "client.deleted")
        .unwrap();
    assert_eq!(deleted["client_id"], idle["client_id"]);
    assert_eq!(
        deleted["details"]["reason"],
        "deleted by an administrator as idle"
    );
}
