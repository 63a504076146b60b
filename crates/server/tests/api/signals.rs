//! Every path that ends tokens early records a revocation for resource
//! servers that verify tokens themselves (the log the Shared Signals
//! transmitter publishes): the subject whose tokens end, and why.

use gatehouse_core::model::{Revocation, RevokedSubject};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn log(app: &TestApp) -> Vec<Revocation> {
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    app.gatehouse
        .ports()
        .tokens
        .revocations_after(0, far, 1000)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_early_end_of_tokens_is_recorded_with_its_subject_and_reason() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let admin_id = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refresh-token reuse: the grant.
    let t = app.tokens(&seed, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&seed, rt).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(&seed, rt).await.status(),
        StatusCode::BAD_REQUEST
    );
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "reuse_detected");
    assert!(
        matches!(&last.subject, RevokedSubject::Grant { user, client, .. }
            if user.to_string() == admin_id && client.as_str() == seed.id),
        "{last:?}"
    );

    // Disconnect: the user's grants to that app.
    app.tokens(&seed, "profile").await;
    let grants = app.my_apps(&app.admin_token).await;
    let id = grants[0]["id"].as_str().unwrap();
    app.disconnect_app(&app.admin_token, id).await;
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "disconnected");
    assert!(matches!(&last.subject, RevokedSubject::App { user, client }
            if user.to_string() == admin_id && client.as_str() == seed.id));

    // A password change: every token of the user.
    let bob = app
        .create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/users/{}", bob["id"].as_str().unwrap())))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"password": "a-new-password-for-bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "password_changed");
    assert!(
        matches!(&last.subject, RevokedSubject::User { user } if user.to_string() == bob["id"])
    );

    // Deleting a client: every token of the client, user-less ones too.
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/oauth/clients/{}", seed.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "client_deleted");
    assert!(
        matches!(&last.subject, RevokedSubject::Client { client } if client.as_str() == seed.id)
    );

    // Every entry lives as long as the tokens it concerns could, in order.
    let all = log(&app).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    for r in &all {
        assert!(r.expires_at - r.at >= time::Duration::hours(1));
    }
}

// --- The Shared Signals transmitter (SSF 1.0, RFC 8935/8936) ---

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/// A resource server's credential: a confidential client an admin made.
async fn receiver(app: &TestApp) -> TestClient {
    app.register(true, &["profile"]).await
}

fn basic(c: &TestClient) -> String {
    use base64::Engine as _;
    let raw = format!("{}:{}", c.id, c.secret.as_deref().unwrap());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn ssf(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.issuer))
        .header("authorization", auth);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_poll_stream(app: &TestApp, rs: &TestClient) -> Value {
    let (status, stream) = ssf(
        app,
        reqwest::Method::POST,
        "/ssf/streams",
        &basic(rs),
        Some(serde_json::json!({
            "delivery": {"method": "urn:ietf:rfc:8936"},
            "events_requested": [SESSION_REVOKED],
            "description": "file server"
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    stream
}

async fn poll(app: &TestApp, rs: &TestClient, stream: &Value, body: Value) -> Value {
    let url = stream["delivery"]["endpoint_url"].as_str().unwrap();
    let res = app
        .http
        .post(url)
        .header("authorization", basic(rs))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Verifies a SET against the issuer's published keys and returns its
/// claims.
async fn open_set(app: &TestApp, set: &str) -> Value {
    let jwks: Value = app
        .http
        .get(format!("{}/jwks.json", app.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    gatehouse_core::jwt::Verifier::from_jwks(&jwks)
        .verify_security_event(set)
        .expect("a SET signed with a published key")
}

/// Connects the admin to the seed app and disconnects it again, returning
/// the admin's user id and the app's client id.
async fn connect_and_disconnect(app: &TestApp) -> (String, String) {
    let seed = app.seed_client().await;
    app.tokens(&seed, "profile").await;
    let grants = app.my_apps(&app.admin_token).await;
    let id = grants[0]["id"].as_str().unwrap();
    assert_eq!(
        app.disconnect_app(&app.admin_token, id).await,
        StatusCode::NO_CONTENT
    );
    let me: Value = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (me["sub"].as_str().unwrap().to_owned(), seed.id)
}

#[tokio::test]
async fn the_transmitter_is_discovered_at_both_well_known_locations() {
    let app = spawn().await;
    for url in [
        app.url("/.well-known/ssf-configuration/api/v1/oauth"),
        format!("{}/.well-known/ssf-configuration", app.issuer),
    ] {
        let meta: Value = app
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["spec_version"], "1_0");
        assert_eq!(meta["issuer"], app.issuer.as_str());
        assert_eq!(meta["jwks_uri"], format!("{}/jwks.json", app.issuer));
        assert_eq!(
            meta["delivery_methods_supported"],
            serde_json::json!(["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"])
        );
        for e in [
            "configuration_endpoint",
            "status_endpoint",
            "verification_endpoint",
        ] {
            assert!(meta[e].as_str().unwrap().starts_with(&app.issuer), "{e}");
        }
        assert_eq!(
            meta["authorization_schemes"],
            serde_json::json!([{"spec_urn": "urn:ietf:rfc:6749"}])
        );
    }
}

#[tokio::test]
async fn streams_belong_to_confidential_admin_clients_and_are_managed_per_receiver() {
    let app = spawn().await;
    let rs = receiver(&app).await;
    let other = receiver(&app).await;
    let public = app.register(false, &["profile"]).await;
    use reqwest::Method as M;

    // Who may open a stream.
    let (s, body) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        "",
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let wrong = TestClient {
        id: rs.id.clone(),
        secret: Some("secret_wrong".into()),
    };
    let (s, _) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        &basic(&wrong),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let public_basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", public.id))
        )
    };
    let (s, _) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        &public_basic,
        Some(serde_json::json!({})),
    )
    .await;
    assert!(
        s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN,
        "{s}"
    );

    // Create (poll is the default), read, list.
    let (s, stream) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = stream["stream_id"].as_str().unwrap().to_owned();
    assert_eq!(stream["iss"], app.issuer.as_str());
    assert_eq!(stream["aud"], rs.id.as_str());
    assert_eq!(stream["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(
        stream["delivery"]["endpoint_url"],
        format!("{}/ssf/poll/{id}", app.issuer)
    );
    assert_eq!(
        stream["events_delivered"],
        serde_json::json!([SESSION_REVOKED])
    );
    let q = format!("/ssf/streams?stream_id={id}");
    let (s, read) = ssf(&app, M::GET, &q, &basic(&rs), None).await;
    assert_eq!((s, &read), (StatusCode::OK, &stream));
    let (_, list) = ssf(&app, M::GET, "/ssf/streams", &basic(&rs), None).await;
    assert_eq!(list, serde_json::json!([stream]));

    // Another receiver sees none of it.
    let (s, _) = ssf(&app, M::GET, &q, &basic(&other), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = ssf(&app, M::GET, "/ssf/streams", &basic(&other), None).await;
    assert_eq!(list, serde_json::json!([]));
    let res = app
        .http
        .post(format!("{}/ssf/poll/{id}", app.issuer))
        .header("authorization", basic(&other))
        .json(&serde_json::json!({"returnImmediately": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Update keeps what it does not name; replace clears it; transmitter
    // members may be repeated but not changed.
    let (s, updated) = ssf(
        &app,
        M::PATCH,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({"stream_id": id, "description": "renamed", "iss": app.issuer})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "renamed");
    assert_eq!(
        updated["events_requested"],
        serde_json::json!([SESSION_REVOKED])
    );
    let (s, _) = ssf(
        &app,
        M::PATCH,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({"stream_id": id, "aud": "someone-else"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, replaced) = ssf(
        &app,
        M::PUT,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({"stream_id": id, "delivery": {"method": "urn:ietf:rfc:8936"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(replaced.get("description").is_none());
    assert_eq!(replaced["events_delivered"], serde_json::json!([]));

    // Status.
    let (s, st) = ssf(
        &app,
        M::GET,
        &format!("/ssf/status?stream_id={id}"),
        &basic(&rs),
        None,
    )
    .await;
    assert_eq!(
        (s, st["status"].as_str()),
        (StatusCode::OK, Some("enabled"))
    );
    let (s, st) = ssf(
        &app,
        M::POST,
        "/ssf/status",
        &basic(&rs),
        Some(serde_json::json!({"stream_id": id, "status": "paused", "reason": "maintenance"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        st,
        serde_json::json!({"stream_id": id, "status": "paused", "reason": "maintenance"})
    );
    let (s, _) = ssf(
        &app,
        M::POST,
        "/ssf/status",
        &basic(&rs),
        Some(serde_json::json!({"stream_id": id, "status": "sleeping"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Bad input is a 400, never a 500.
    for body in [
        serde_json::json!({"delivery": {"method": "urn:example:carrier-pigeon"}}),
        serde_json::json!({"delivery": {"method": "urn:ietf:rfc:8935"}}),
        serde_json::json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://203.0.113.9/events"}}),
        serde_json::json!({"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "ftp://localhost/x"}}),
        serde_json::json!({"stream_id": "mine"}),
        serde_json::json!({"description": "x".repeat(5000)}),
    ] {
        let (s, e) = ssf(
            &app,
            M::POST,
            "/ssf/streams",
            &basic(&rs),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {e}");
        assert_eq!(e["error"], "invalid_request");
    }
    let res = app
        .http
        .post(format!("{}/ssf/poll/{id}", app.issuer))
        .header("authorization", basic(&rs))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Delete; a receiver holds a bounded number of streams.
    let (s, _) = ssf(&app, M::DELETE, &q, &basic(&rs), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = ssf(&app, M::DELETE, &q, &basic(&rs), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for _ in 0..16 {
        let (s, _) = ssf(
            &app,
            M::POST,
            "/ssf/streams",
            &basic(&rs),
            Some(serde_json::json!({})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (s, _) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // A receiver that crashed left a stream nobody polls: at the limit, the
    // longest-silent one makes room, so a crash loop cannot lock it out.
    let (_, list) = ssf(&app, M::GET, "/ssf/streams", &basic(&rs), None).await;
    let silent =
        gatehouse_core::model::StreamId::parse(list[3]["stream_id"].as_str().unwrap()).unwrap();
    let streams = &app.gatehouse.ports().streams;
    let mut old = streams.get_stream(silent).await.unwrap().unwrap();
    old.last_polled_at = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    assert!(streams.update_stream(&old).await.unwrap());
    let (s, _) = ssf(
        &app,
        M::POST,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(streams.get_stream(silent).await.unwrap().is_none());
    let (_, list) = ssf(&app, M::GET, "/ssf/streams", &basic(&rs), None).await;
    assert_eq!(list.as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn a_poll_stream_delivers_each_revocation_as_a_signed_caep_event_until_acknowledged() {
    let app = spawn().await;
    let rs = receiver(&app).await;
    // A revocation before the stream exists is still delivered: its tokens
    // may still be valid.
    let (user, client) = connect_and_disconnect(&app).await;
    let stream = create_poll_stream(&app, &rs).await;

    // A long poll waits until the entry has settled, then answers.
    let got = poll(&app, &rs, &stream, serde_json::json!({"maxEvents": 10})).await;
    let sets = got["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{got}");
    assert_eq!(got["moreAvailable"], false);
    let (jti, set) = sets.iter().next().unwrap();
    let claims = open_set(&app, set.as_str().unwrap()).await;
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], rs.id.as_str());
    assert_eq!(claims["jti"], jti.as_str());
    assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
    assert_eq!(
        claims["sub_id"],
        serde_json::json!({
            "format": "complex",
            "user": {"format": "iss_sub", "iss": app.issuer, "sub": user},
            "application": {"format": "opaque", "id": client},
        })
    );
    let event = &claims["events"][SESSION_REVOKED];
    assert_eq!(event["initiating_entity"], "user");
    assert!(
        event["reason_admin"]["en"]
            .as_str()
            .unwrap()
            .starts_with("disconnected")
    );
    let at = event["event_timestamp"].as_i64().unwrap();
    assert!((time::OffsetDateTime::now_utc().unix_timestamp() - at).abs() < 60);

    // Not acknowledged: delivered again.
    let again = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true}),
    )
    .await;
    assert!(again["sets"].get(jti).is_some());
    // Acknowledged: gone, for good.
    let after = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true, "ack": [jti]}),
    )
    .await;
    assert_eq!(after["sets"], serde_json::json!({}));
    let after = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true}),
    )
    .await;
    assert_eq!(after["sets"], serde_json::json!({}));

    // A receiver's verification request is answered on the stream.
    let res = app
        .http
        .post(format!("{}/ssf/verify", app.issuer))
        .header("authorization", basic(&rs))
        .json(&serde_json::json!({"stream_id": stream["stream_id"], "state": "VGhpcyBpcyBh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let got = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true}),
    )
    .await;
    let (vjti, vset) = got["sets"].as_object().unwrap().iter().next().unwrap();
    let v = open_set(&app, vset.as_str().unwrap()).await;
    assert_eq!(v["events"][VERIFICATION]["state"], "VGhpcyBpcyBh");
    assert_eq!(
        v["sub_id"],
        serde_json::json!({"format": "opaque", "id": stream["stream_id"]})
    );
    let got = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true, "ack": [vjti]}),
    )
    .await;
    assert_eq!(got["sets"], serde_json::json!({}));
}

#[tokio::test]
async fn acknowledgements_out_of_order_and_errors_release_exactly_those_events() {
    let app = spawn().await;
    let rs = receiver(&app).await;
    for i in 0..5 {
        let u = app
            .create_user(&format!("user{i}@example.com"), "a-password-long-enough")
            .await;
        let res = app
            .http
            .delete(app.url(&format!("/api/v1/users/{}", u["id"].as_str().unwrap())))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let stream = create_poll_stream(&app, &rs).await;
    // Two at a time: more is available.
    let first = poll(&app, &rs, &stream, serde_json::json!({"maxEvents": 2})).await;
    assert_eq!(first["sets"].as_object().unwrap().len(), 2);
    assert_eq!(first["moreAvailable"], true);
    let all = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"maxEvents": 100, "returnImmediately": true}),
    )
    .await;
    let jtis: Vec<String> = all["sets"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(jtis.len(), 5);
    // Acknowledge the second and fourth; report the fifth as refused.
    let mut errs = serde_json::Map::new();
    errs.insert(
        jtis[4].clone(),
        serde_json::json!({"err": "invalid_key", "description": "test"}),
    );
    let got = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true, "ack": [jtis[1], jtis[3]], "setErrs": errs}),
    )
    .await;
    let mut left: Vec<&String> = got["sets"].as_object().unwrap().keys().collect();
    left.sort();
    let mut want = vec![&jtis[0], &jtis[2]];
    want.sort();
    assert_eq!(left, want);
    // An acknowledge-only request, then nothing is left.
    let got = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"maxEvents": 0, "ack": [jtis[0], jtis[2]]}),
    )
    .await;
    assert_eq!(got["sets"], serde_json::json!({}));
    let got = poll(
        &app,
        &rs,
        &stream,
        serde_json::json!({"returnImmediately": true}),
    )
    .await;
    assert_eq!(got["sets"], serde_json::json!({}));
}

#[tokio::test]
async fn a_client_credentials_token_authenticates_a_receiver() {
    let app = spawn().await;
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({
            "name": "Revocation receiver",
            "redirect_uris": [],
            "allowed_scopes": ["profile"],
            "is_confidential": true,
            "grant_types": ["client_credentials"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    let rs = TestClient {
        id: body["client"]["client_id"].as_str().unwrap().to_owned(),
        secret: body["client"]["client_secret"].as_str().map(str::to_owned),
    };
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .header("authorization", basic(&rs))
        .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token: Value = res.json().await.unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let (s, stream) = ssf(
        &app,
        reqwest::Method::POST,
        "/ssf/streams",
        &bearer,
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{stream}");
    assert_eq!(stream["aud"], rs.id.as_str());
    // A user's token speaks for the user, not for a receiver.
    let (s, _) = ssf(
        &app,
        reqwest::Method::GET,
        "/ssf/streams",
        &format!("Bearer {}", app.admin_token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// A receiver endpoint for push delivery: answers 503 to the first
/// `failures` deliveries, then 202, recording what it got.
struct PushReceiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for PushReceiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn push_receiver(failures: usize) -> PushReceiver {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let (g, n) = (got.clone(), seen.clone());
    let server = HttpServer::new(move || {
        let (g, n) = (g.clone(), n.clone());
        App::new().route(
            "/events",
            web::post().to(move |req: HttpRequest, body: String| {
                let (g, n) = (g.clone(), n.clone());
                async move {
                    if n.fetch_add(1, Ordering::SeqCst) < failures {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    let h = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    g.lock()
                        .unwrap()
                        .push((h("content-type"), h("authorization"), body));
                    HttpResponse::Accepted().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    PushReceiver {
        url: format!("http://127.0.0.1:{port}/events"),
        got,
        handle,
    }
}

#[tokio::test]
async fn a_push_stream_posts_each_revocation_and_retries_until_the_receiver_takes_it() {
    let app = spawn().await;
    let rs = receiver(&app).await;
    let endpoint = push_receiver(1).await;
    let (s, stream) = ssf(
        &app,
        reqwest::Method::POST,
        "/ssf/streams",
        &basic(&rs),
        Some(serde_json::json!({
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": endpoint.url,
                "authorization_header": "Bearer receiver-credential"
            },
            "events_requested": [SESSION_REVOKED]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{stream}");
    assert_eq!(stream["delivery"]["endpoint_url"], endpoint.url.as_str());
    assert!(
        stream["delivery"].get("authorization_header").is_none(),
        "the receiver's credential is never shown again"
    );
    let (user, client) = connect_and_disconnect(&app).await;

    // The first attempt fails (503); the retry delivers it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if !endpoint.got.lock().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "nothing was pushed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (content_type, authorization, set) = endpoint.got.lock().unwrap()[0].clone();
    assert_eq!(content_type, "application/secevent+jwt");
    assert_eq!(authorization, "Bearer receiver-credential");
    let claims = open_set(&app, &set).await;
    assert_eq!(claims["sub_id"]["user"]["sub"], user.as_str());
    assert_eq!(claims["sub_id"]["application"]["id"], client.as_str());
    assert!(claims["events"][SESSION_REVOKED]["event_timestamp"].is_i64());
    // Delivered once it was accepted: nothing more arrives.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(endpoint.got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_held_poll_answers_at_once_when_the_server_starts_to_stop() {
    let app = spawn().await;
    let rs = receiver(&app).await;
    let stream = create_poll_stream(&app, &rs).await;
    let url = stream["delivery"]["endpoint_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (http, auth) = (app.http.clone(), basic(&rs));
    let held = tokio::spawn(async move {
        http.post(url)
            .header("authorization", auth)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "nothing to deliver: the poll is held");
    app.gatehouse.drain();
    // The hold is ten seconds; draining ends it well before.
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), held)
        .await
        .expect("the held poll answered once the server began to stop")
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["sets"], serde_json::json!({}));
}
