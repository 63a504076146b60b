//! Shared Signals against a fake transmitter: revocations reach the
//! verifier without a round trip per request, are acknowledged, are never
//! taken from a SET that does not verify, and an unreachable transmitter
//! means introspection, not blind trust.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_core::jwt::{Keyring, SigningKey};
use gatehouse_core::model::GrantId;
use gatehouse_resource::{
    AccessClaims, AuthError, Authenticated, ResourceConfig, SignalsConfig, Verifier,
};
use serde_json::{Value, json};

const RESOURCE: &str = "https://files.example.com/mcp";
const CLIENT_ID: &str = "oauth_files";
const SECRET: &str = "files-secret";
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const USER: &str = "5f0c6a4e-0000-4000-8000-000000000001";

/// A Gatehouse stand-in: AS metadata, JWKS, introspection, and an SSF
/// transmitter with poll delivery holding quiet polls for 300 ms.
struct Fake {
    issuer: String,
    keyring: Keyring,
    /// Delivered but unacknowledged SETs, by jti: redelivered on each poll.
    queue: Mutex<BTreeMap<String, String>>,
    arrived: tokio::sync::Notify,
    /// Every poll body received.
    polls: Mutex<Vec<Value>>,
    streams: Mutex<Vec<String>>,
    deleted: Mutex<Vec<String>>,
    polls_fail: AtomicBool,
    refuse_streams: AtomicBool,
    jwks_fetches: AtomicUsize,
    introspections: AtomicUsize,
    active: AtomicBool,
    bad_credentials: AtomicUsize,
    /// The receiver's client was deleted at the transmitter.
    credential_revoked: AtomicBool,
}

impl Fake {
    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{SECRET}")));
        let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&expected)
            && !self.credential_revoked.load(Ordering::SeqCst);
        if !ok {
            self.bad_credentials.fetch_add(1, Ordering::SeqCst);
        }
        ok
    }

    /// Queues a SET for delivery, as the transmitter does on a revocation.
    fn publish(&self, jti: &str, set: String) {
        self.queue.lock().unwrap().insert(jti.to_owned(), set);
        self.arrived.notify_waiters();
    }

    fn revoke(&self, sub_id: Value, at: i64) -> String {
        let claims = event(&self.issuer, sub_id, at);
        let jti = claims["jti"].as_str().unwrap().to_owned();
        self.publish(&jti, self.keyring.sign_security_event(&claims).unwrap());
        jti
    }

    fn acked(&self, jti: &str) -> bool {
        self.polls
            .lock()
            .unwrap()
            .iter()
            .any(|p| p["ack"].as_array().unwrap().iter().any(|a| a == jti))
    }

    fn set_err(&self, jti: &str) -> Option<String> {
        self.polls
            .lock()
            .unwrap()
            .iter()
            .find_map(|p| p["setErrs"][jti]["err"].as_str().map(str::to_owned))
    }
}

fn event(issuer: &str, sub_id: Value, at: i64) -> Value {
    json!({
        "iss": issuer, "iat": now(), "jti": uuid::Uuid::new_v4().to_string(), "aud": CLIENT_ID,
        "sub_id": sub_id,
        "events": {SESSION_REVOKED: {
            "event_timestamp": at, "initiating_entity": "user",
            "reason_admin": {"en": "disconnected"}
        }}
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn as_metadata(State(f): State<Arc<Fake>>) -> Response {
    let iss = &f.issuer;
    json_response(
        StatusCode::OK,
        json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks.json"),
               "introspection_endpoint": format!("{iss}/introspect")}),
    )
}

async fn jwks(State(f): State<Arc<Fake>>) -> Response {
    f.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    json_response(StatusCode::OK, f.keyring.jwks().clone())
}

async fn ssf_metadata(State(f): State<Arc<Fake>>) -> Response {
    let iss = &f.issuer;
    json_response(
        StatusCode::OK,
        json!({
            "spec_version": "1_0", "issuer": iss, "jwks_uri": format!("{iss}/jwks.json"),
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
            "configuration_endpoint": format!("{iss}/ssf/streams"),
            "status_endpoint": format!("{iss}/ssf/status"),
            "verification_endpoint": format!("{iss}/ssf/verify"),
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL"
        }),
    )
}

async fn create_stream(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !f.authenticated(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if f.refuse_streams.load(Ordering::SeqCst) {
        return json_response(StatusCode::CONFLICT, json!({"error": "too many streams"}));
    }
    assert_eq!(body["delivery"]["method"], "urn:ietf:rfc:8936");
    assert_eq!(body["events_requested"], json!([SESSION_REVOKED]));
    let id = uuid::Uuid::new_v4().to_string();
    f.streams.lock().unwrap().push(id.clone());
    json_response(
        StatusCode::CREATED,
        json!({
            "stream_id": id, "iss": f.issuer, "aud": CLIENT_ID,
            "delivery": {"method": "urn:ietf:rfc:8936",
                         "endpoint_url": format!("{}/ssf/poll/{id}", f.issuer)},
            "events_supported": [SESSION_REVOKED],
            "events_requested": [SESSION_REVOKED],
            "events_delivered": [SESSION_REVOKED],
            "min_verification_interval": 60, "inactivity_timeout": 86400,
            "description": body["description"]
        }),
    )
}

async fn delete_stream(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> StatusCode {
    if !f.authenticated(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    let query = query.unwrap_or_default();
    let id = query
        .strip_prefix("stream_id=")
        .unwrap_or_default()
        .to_owned();
    f.streams.lock().unwrap().retain(|s| *s != id);
    f.deleted.lock().unwrap().push(id);
    StatusCode::NO_CONTENT
}

async fn poll(
    State(f): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !f.authenticated(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    f.polls.lock().unwrap().push(body.clone());
    if f.polls_fail.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if !f.streams.lock().unwrap().contains(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    {
        let mut queue = f.queue.lock().unwrap();
        for jti in body["ack"].as_array().unwrap() {
            queue.remove(jti.as_str().unwrap());
        }
        for jti in body["setErrs"].as_object().unwrap().keys() {
            queue.remove(jti);
        }
    }
    if body["returnImmediately"] == false && f.queue.lock().unwrap().is_empty() {
        let _ = tokio::time::timeout(Duration::from_millis(300), f.arrived.notified()).await;
    }
    let max = body["maxEvents"].as_u64().unwrap() as usize;
    let queue = f.queue.lock().unwrap();
    let sets: BTreeMap<_, _> = queue.iter().take(max).collect();
    json_response(
        StatusCode::OK,
        json!({"sets": sets, "moreAvailable": queue.len() > max}),
    )
}

async fn introspect(State(f): State<Arc<Fake>>, headers: HeaderMap, body: String) -> Response {
    if !f.authenticated(&headers) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "unknown client or wrong secret"}),
        );
    }
    // The verifier's start-up check of its credential is not a token's.
    if body.contains("token=credential-check") {
        return json_response(StatusCode::OK, json!({"active": false}));
    }
    f.introspections.fetch_add(1, Ordering::SeqCst);
    json_response(
        StatusCode::OK,
        json!({"active": f.active.load(Ordering::SeqCst)}),
    )
}

async fn fake() -> Arc<Fake> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let f = Arc::new(Fake {
        issuer: format!("http://127.0.0.1:{port}/api/v1/oauth"),
        keyring: keyring(),
        queue: Mutex::default(),
        arrived: tokio::sync::Notify::new(),
        polls: Mutex::default(),
        streams: Mutex::default(),
        deleted: Mutex::default(),
        polls_fail: AtomicBool::new(false),
        refuse_streams: AtomicBool::new(false),
        jwks_fetches: AtomicUsize::new(0),
        introspections: AtomicUsize::new(0),
        active: AtomicBool::new(true),
        bad_credentials: AtomicUsize::new(0),
        credential_revoked: AtomicBool::new(false),
    });
    let app = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/api/v1/oauth",
            get(as_metadata),
        )
        .route(
            "/.well-known/ssf-configuration/api/v1/oauth",
            get(ssf_metadata),
        )
        .route("/api/v1/oauth/jwks.json", get(jwks))
        .route("/api/v1/oauth/introspect", post(introspect))
        .route(
            "/api/v1/oauth/ssf/streams",
            post(create_stream).delete(delete_stream),
        )
        .route("/api/v1/oauth/ssf/poll/{id}", post(poll))
        .with_state(f.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    f
}

fn keyring() -> Keyring {
    Keyring::new(SigningKey::generate().unwrap().0, vec![])
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn config(f: &Fake) -> ResourceConfig {
    let mut cfg = ResourceConfig::new(f.issuer.clone(), RESOURCE);
    cfg.jwks_refetch_interval = Duration::ZERO;
    cfg.with_shared_signals(CLIENT_ID, SECRET)
}

fn token(f: &Fake, grant: Option<GrantId>, iat: i64) -> String {
    let claims = AccessClaims {
        iss: f.issuer.clone(),
        sub: USER.into(),
        aud: RESOURCE.into(),
        exp: now() + 600,
        iat,
        jti: uuid::Uuid::new_v4(),
        client_id: "oauth_app".into(),
        scope: "mcp:connect".into(),
        grant_id: grant,
        act: None,
        nbf: None,
        epoch: None,
    };
    format!("Bearer {}", f.keyring.sign(&claims).unwrap())
}

async fn verify(v: &Verifier, header: &str) -> Result<Authenticated, AuthError> {
    v.verify(Some(header), &["mcp:connect"]).await
}

fn user_id(f: &Fake) -> Value {
    json!({"format": "iss_sub", "iss": f.issuer, "sub": USER})
}

fn grant_id(f: &Fake, g: GrantId) -> Value {
    json!({"format": "complex", "user": user_id(f),
           "session": {"format": "opaque", "id": g.to_string()},
           "application": {"format": "opaque", "id": "oauth_app"}})
}

/// Waits for `cond`, for at most ten seconds.
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn revoked(r: Result<Authenticated, AuthError>) -> bool {
    matches!(r, Err(AuthError::InvalidToken(d)) if d == "the token was revoked")
}

#[tokio::test]
async fn discovery_drains_the_revocations_published_before_it() {
    let f = fake().await;
    let g = GrantId::new();
    let user_jti = f.revoke(user_id(&f), now() - 5);
    f.revoke(grant_id(&f, g), now() - 5);
    let v = Verifier::discover(config(&f)).await.unwrap();

    let status = v.signals_status().unwrap();
    assert_eq!(status.entries, 2);
    assert!(!status.stale && status.last_poll_ok_at.is_some());
    assert_eq!(status.floor, None);
    assert_eq!(f.polls.lock().unwrap()[0]["returnImmediately"], true);
    // Issued before the revocation: refused, with no introspection.
    assert!(revoked(verify(&v, &token(&f, None, now() - 10)).await));
    assert!(revoked(verify(&v, &token(&f, Some(g), now() - 10)).await));
    let err = verify(&v, &token(&f, None, now() - 10)).await.unwrap_err();
    assert_eq!(err.status(), 401);
    // Issued after it: accepted.
    assert!(verify(&v, &token(&f, Some(g), now())).await.is_ok());
    assert_eq!(f.introspections.load(Ordering::SeqCst), 0);
    // The drain's last batch is acknowledged by the first long poll.
    eventually("the drained SETs are acknowledged", async || {
        f.acked(&user_jti)
    })
    .await;
    assert!(f.queue.lock().unwrap().is_empty());
    assert_eq!(f.bad_credentials.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_revocation_published_while_running_refuses_older_tokens_and_is_acknowledged() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let g = GrantId::new();
    let before = token(&f, Some(g), now() - 10);
    assert!(verify(&v, &before).await.is_ok());

    let jti = f.revoke(grant_id(&f, g), now() - 5);
    eventually("the revocation takes effect", async || {
        revoked(verify(&v, &before).await)
    })
    .await;
    assert!(verify(&v, &token(&f, Some(g), now())).await.is_ok());
    assert!(
        verify(&v, &token(&f, Some(GrantId::new()), now() - 10))
            .await
            .is_ok()
    );
    eventually("the SET is acknowledged in the next poll", async || {
        f.acked(&jti)
    })
    .await;
    assert_eq!(f.introspections.load(Ordering::SeqCst), 0);
    assert_eq!(f.bad_credentials.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn revoking_one_access_token_refuses_that_token_only() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let (one, other) = (token(&f, None, now() - 10), token(&f, None, now() - 10));
    let jti = jti_of(&one);
    f.revoke(
        json!({"format": "jwt_id", "iss": f.issuer, "jti": jti}),
        now(),
    );
    eventually("the token is refused", async || {
        revoked(verify(&v, &one).await)
    })
    .await;
    assert!(verify(&v, &other).await.is_ok());
}

fn jti_of(bearer: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = bearer.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_set_that_does_not_verify_is_reported_and_never_applied() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let fetches = f.jwks_fetches.load(Ordering::SeqCst);

    // Signed with another key under the issuer's kid.
    let (key, pkcs8) = SigningKey::generate().unwrap();
    drop(key);
    let impostor = Keyring::new(
        SigningKey::from_pkcs8(f.keyring.active_kid().to_owned(), &pkcs8).unwrap(),
        vec![],
    );
    let forged = event(&f.issuer, user_id(&f), now());
    let forged_jti = forged["jti"].as_str().unwrap().to_owned();
    f.publish(&forged_jti, impostor.sign_security_event(&forged).unwrap());
    // Signed with a key the issuer does not publish: refetched, still unknown.
    let stranger = event(&f.issuer, user_id(&f), now());
    let stranger_jti = stranger["jti"].as_str().unwrap().to_owned();
    f.publish(
        &stranger_jti,
        keyring().sign_security_event(&stranger).unwrap(),
    );
    // Genuine, but for another receiver.
    let mut misaddressed = event(&f.issuer, user_id(&f), now());
    misaddressed["aud"] = json!("oauth_someone_else");
    let misaddressed_jti = misaddressed["jti"].as_str().unwrap().to_owned();
    f.publish(
        &misaddressed_jti,
        f.keyring.sign_security_event(&misaddressed).unwrap(),
    );
    // An access token is not a SET.
    let at = f
        .keyring
        .sign(&event(&f.issuer, user_id(&f), now()))
        .unwrap();
    f.publish("at", at);

    eventually("every refusal is reported", async || {
        f.set_err("at").is_some()
            && f.set_err(&forged_jti).is_some()
            && f.set_err(&stranger_jti).is_some()
            && f.set_err(&misaddressed_jti).is_some()
    })
    .await;
    assert_eq!(f.set_err(&forged_jti).as_deref(), Some("invalid_key"));
    assert_eq!(f.set_err(&stranger_jti).as_deref(), Some("invalid_key"));
    assert_eq!(
        f.set_err(&misaddressed_jti).as_deref(),
        Some("invalid_audience")
    );
    assert_eq!(f.set_err("at").as_deref(), Some("invalid_request"));
    assert!(f.jwks_fetches.load(Ordering::SeqCst) > fetches);
    assert_eq!(v.signals_status().unwrap().entries, 0);
    assert!(verify(&v, &token(&f, None, now() - 10)).await.is_ok());
}

#[tokio::test]
async fn verification_unknown_and_foreign_events_are_acknowledged_and_change_nothing() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let verification = json!({
        "iss": f.issuer, "iat": now(), "jti": "verify-1", "aud": CLIENT_ID,
        "sub_id": {"format": "opaque", "id": v.signals_status().unwrap().stream_id},
        "events": {"https://schemas.openid.net/secevent/ssf/event-type/verification": {"state": "s"}}
    });
    f.publish(
        "verify-1",
        f.keyring.sign_security_event(&verification).unwrap(),
    );
    let mut unknown = event(&f.issuer, user_id(&f), now());
    unknown["jti"] = json!("unknown-1");
    unknown["events"] = json!({"https://example.com/event/other": {}});
    f.publish(
        "unknown-1",
        f.keyring.sign_security_event(&unknown).unwrap(),
    );
    let foreign = json!({"format": "iss_sub", "iss": "https://other.example/oauth", "sub": USER});
    let foreign_jti = f.revoke(foreign, now());

    eventually("all three are acknowledged", async || {
        f.acked("verify-1") && f.acked("unknown-1") && f.acked(&foreign_jti)
    })
    .await;
    assert_eq!(v.signals_status().unwrap().entries, 0);
    assert!(verify(&v, &token(&f, None, now() - 10)).await.is_ok());
}

#[tokio::test]
async fn a_token_older_than_the_longest_lifetime_is_refused_whatever_its_exp() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let err = verify(&v, &token(&f, None, now() - 3600 - 120))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::InvalidToken(d) if d.contains("remembers revocations")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_receiver_that_cannot_poll_goes_stale_and_introspects_until_it_recovers() {
    let f = fake().await;
    let mut signals = SignalsConfig::new(CLIENT_ID, SECRET);
    signals.stale_after = Duration::from_secs(1);
    let v = Verifier::discover(config(&f).with_signals(signals))
        .await
        .unwrap();
    let t = token(&f, None, now() - 10);
    assert!(verify(&v, &t).await.is_ok());
    assert_eq!(f.introspections.load(Ordering::SeqCst), 0);

    f.polls_fail.store(true, Ordering::SeqCst);
    eventually("the receiver goes stale", async || {
        v.signals_status().unwrap().stale
    })
    .await;
    assert!(verify(&v, &t).await.is_ok());
    assert!(f.introspections.load(Ordering::SeqCst) >= 1);
    // What the deny-set cannot know, introspection does.
    f.active.store(false, Ordering::SeqCst);
    assert!(matches!(
        verify(&v, &t).await,
        Err(AuthError::InvalidToken(d)) if d.contains("no longer active")
    ));

    f.polls_fail.store(false, Ordering::SeqCst);
    eventually("polling recovers", async || {
        !v.signals_status().unwrap().stale
    })
    .await;
    let before = f.introspections.load(Ordering::SeqCst);
    assert!(verify(&v, &t).await.is_ok());
    assert_eq!(f.introspections.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_stream_lost_at_the_transmitter_is_replaced() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let first = v.signals_status().unwrap().stream_id;
    f.streams.lock().unwrap().clear();
    eventually("a new stream is polled", async || {
        v.signals_status().unwrap().stream_id != first
    })
    .await;
    let t = token(&f, None, now() - 10);
    f.revoke(user_id(&f), now() - 5);
    eventually("its revocations take effect", async || {
        revoked(verify(&v, &t).await)
    })
    .await;
}

#[tokio::test]
async fn close_deletes_the_stream_and_leaves_introspection_in_charge() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    let id = v.signals_status().unwrap().stream_id;
    v.close().await;
    assert_eq!(*f.deleted.lock().unwrap(), vec![id]);
    assert!(v.signals_status().unwrap().stale);
    let polls = f.polls.lock().unwrap().len();
    assert!(verify(&v, &token(&f, None, now() - 10)).await.is_ok());
    assert_eq!(f.introspections.load(Ordering::SeqCst), 1);
    // Closing twice is harmless, and polling has stopped.
    v.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(f.polls.lock().unwrap().len(), polls);
    assert_eq!(f.deleted.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn discovery_fails_when_the_transmitter_refuses_another_stream() {
    let f = fake().await;
    f.refuse_streams.store(true, Ordering::SeqCst);
    let err = Verifier::discover(config(&f)).await.unwrap_err();
    assert!(err.to_string().contains("409"), "{err}");
}

#[tokio::test]
async fn dropping_the_verifier_stops_polling() {
    let f = fake().await;
    let v = Verifier::discover(config(&f)).await.unwrap();
    drop(v);
    // At most the poll in flight completes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let polls = f.polls.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(f.polls.lock().unwrap().len(), polls);
}

#[tokio::test]
async fn a_wrong_credential_stops_start_up_with_the_reason() {
    let f = fake().await;
    for (id, secret) in [(CLIENT_ID, "not-the-secret"), ("null", SECRET)] {
        let cfg = ResourceConfig::new(f.issuer.clone(), RESOURCE).with_shared_signals(id, secret);
        let err = Verifier::discover(cfg).await.unwrap_err();
        assert!(
            matches!(err, gatehouse_resource::DiscoveryError::Credential(_)),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("client credential") && msg.contains(id),
            "{msg}"
        );
        assert!(msg.contains("invalid_client"), "{msg}");
    }
    let cfg = ResourceConfig::new(f.issuer.clone(), RESOURCE).with_introspection(CLIENT_ID, "nope");
    assert!(matches!(
        Verifier::discover(cfg).await.unwrap_err(),
        gatehouse_resource::DiscoveryError::Credential(_)
    ));
    assert!(
        f.streams.lock().unwrap().is_empty(),
        "no stream was created"
    );
}

#[tokio::test]
async fn a_credential_revoked_later_is_a_500_for_the_operator_not_a_503_to_retry() {
    let f = fake().await;
    let cfg = ResourceConfig::new(f.issuer.clone(), RESOURCE).with_introspection(CLIENT_ID, SECRET);
    let v = Verifier::discover(cfg).await.unwrap();
    let t = token(&f, None, now());
    assert!(verify(&v, &t).await.is_ok());
    f.credential_revoked.store(true, Ordering::SeqCst);
    let err = verify(&v, &t).await.unwrap_err();
    assert!(matches!(err, AuthError::Misconfigured(_)), "{err:?}");
    assert_eq!(err.status(), 500);
    assert_eq!(err.code(), Some("server_error"));
    assert_eq!(err.challenge("https://rs.example/meta"), None);
    assert!(err.to_string().contains("client credential"), "{err}");
}
