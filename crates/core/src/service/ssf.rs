//! The Shared Signals transmitter (OpenID SSF 1.0): resource servers that
//! verify tokens locally subscribe to the revocation log and learn within
//! seconds that a grant, an app, a user or a client was revoked, without
//! introspecting every request.
//!
//! Design:
//! - One durable log ([`crate::model::Revocation`], appended by
//!   [`super::signals`]) shared by every stream. A stream keeps only its
//!   receiver's settings and how far it acknowledged the log, so a
//!   revocation costs one row however many receivers there are.
//! - A new stream starts at the beginning of the live log: entries are kept
//!   exactly as long as the tokens they revoke could still be valid, so a
//!   receiver that (re)starts gets every revocation that still matters.
//! - Delivery is at least once: a SET is delivered again until its receiver
//!   acknowledges it (poll, RFC 8936) or answers 202/400 (push, RFC 8935).
//! - Entries become visible to readers only once they are
//!   [`TokenStore::revocation_settle`](crate::ports::TokenStore::revocation_settle)
//!   old: on PostgreSQL a later `seq` may commit before an earlier one, and
//!   a reader that skipped the earlier one would never see it (memory and
//!   SQLite append in order and need no wait).
//! - Receivers are confidential clients an administrator registered (the
//!   same clients that may introspect): a stream tells who revoked what, so
//!   self-registered clients may not open one.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;

use super::Gatehouse;
use crate::error::ApiError;
use crate::model::{
    Client, ClientOrigin, DeliveryMethod, PendingVerification, PushTarget, Revocation,
    RevokedSubject, Stream, StreamId, StreamStatus,
};

/// CAEP 1.0 `session-revoked`: every event Gatehouse publishes is one.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// SSF 1.0 verification event, sent when a receiver asks for one.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// Streams one receiver client may hold (one per instance of a resource
/// server, plus room for restarts before idle ones are reaped).
pub const MAX_STREAMS_PER_CLIENT: usize = 16;
/// A poll stream not polled for this long is deleted: its receiver is gone.
pub const POLL_INACTIVITY: Duration = Duration::days(1);
/// A poll stream silent this long may make room for a new stream of the
/// same receiver at its limit.
const ABANDONED: Duration = Duration::minutes(5);
/// Most SETs one poll returns.
pub const MAX_EVENTS: u32 = 1000;
/// SETs one poll returns when the receiver names no `maxEvents`.
const DEFAULT_EVENTS: u32 = 100;
/// Longest `ack`/`setErrs` list accepted in one poll.
const MAX_ACKS: usize = 10_000;
/// Acknowledgements ahead of the cursor a stream keeps at most; beyond
/// that the oldest are forgotten (and their SETs delivered again).
const MAX_ACKED_AHEAD: usize = 10_000;
/// How often a held poll looks at the log again: the log is shared by
/// every instance, so a wake-up from this instance alone would miss the
/// others' revocations.
const HOLD_TICK: std::time::Duration = std::time::Duration::from_millis(250);
/// How often `last_polled_at` is written at most (not a write per poll).
const POLL_TOUCH: Duration = Duration::minutes(1);
/// Push: events posted per stream per round.
const PUSH_BATCH: u32 = 100;
/// Push: how long a round may own a stream before another instance may.
const PUSH_LEASE: Duration = Duration::seconds(60);
/// Push: the longest wait between retries.
const PUSH_MAX_BACKOFF: Duration = Duration::minutes(5);
/// Longest accepted `description`, `state`, `reason` or endpoint URL.
const MAX_TEXT: usize = 2048;

/// How a receiver authenticated to the SSF endpoints.
pub enum ReceiverCredentials {
    /// HTTP Basic with the client's id and secret.
    Basic(super::ClientCredentials),
    /// A bearer token from the client-credentials grant (what SSF's
    /// `urn:ietf:rfc:6749` authorization scheme means).
    Bearer(String),
    /// Nothing usable.
    Missing,
}

impl fmt::Debug for ReceiverCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic(c) => write!(f, "Basic({c:?})"),
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::Missing => f.write_str("Missing"),
        }
    }
}

/// The receiver-supplied part of a stream configuration (create, update,
/// replace).
#[derive(Debug, Default, Deserialize)]
pub struct StreamRequest {
    /// Required on update and replace.
    #[serde(default)]
    pub stream_id: Option<String>,
    /// `{method, endpoint_url?, authorization_header?}`.
    #[serde(default)]
    pub delivery: Option<DeliveryRequest>,
    /// Event types wanted.
    #[serde(default)]
    pub events_requested: Option<Vec<String>>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Transmitter-supplied members a receiver may repeat; they must match.
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// The receiver-supplied `delivery` object.
#[derive(Default, Deserialize)]
pub struct DeliveryRequest {
    /// `urn:ietf:rfc:8936` (poll) or `urn:ietf:rfc:8935` (push).
    #[serde(default)]
    pub method: Option<String>,
    /// Push: where to post SETs.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Push: the `Authorization` header to send.
    #[serde(default)]
    pub authorization_header: Option<String>,
}

impl fmt::Debug for DeliveryRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryRequest")
            .field("method", &self.method)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// An RFC 8936 poll request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    /// Most SETs to return; 0 only acknowledges.
    #[serde(default)]
    pub max_events: Option<u32>,
    /// Answer at once even when nothing is pending.
    #[serde(default)]
    pub return_immediately: bool,
    /// SETs received.
    #[serde(default)]
    pub ack: Vec<String>,
    /// SETs received but refused, with why.
    #[serde(default)]
    pub set_errs: HashMap<String, SetError>,
}

/// A receiver's reason for refusing a SET (RFC 8935 §2.3).
#[derive(Debug, Deserialize)]
pub struct SetError {
    /// The error code.
    #[serde(default)]
    pub err: String,
    /// Human-readable.
    #[serde(default)]
    pub description: Option<String>,
}

/// An RFC 8936 poll response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    /// `jti` → compact SET.
    pub sets: serde_json::Map<String, Value>,
    /// More SETs are waiting.
    pub more_available: bool,
}

/// What a push attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// 202: received.
    Accepted,
    /// 400 with an RFC 8935 error: the SET itself was refused; sending it
    /// again would be refused again.
    Rejected(String),
    /// Anything else (unreachable, 5xx, 401…): try again later.
    Failed(String),
}

/// Posts SETs to receivers (RFC 8935); the server implements it with its
/// HTTP client.
#[async_trait]
pub trait SetPusher: Send + Sync {
    /// Posts `set` to `endpoint_url`, with `authorization` as the
    /// `Authorization` header when given.
    async fn push(&self, endpoint_url: &str, authorization: Option<&str>, set: &str)
    -> PushOutcome;
}

fn bad(msg: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

fn unexpected(e: anyhow::Error) -> ApiError {
    ApiError::Unexpected(e)
}

/// Push targets must be https, or http on a loopback host (tests, sidecars).
fn check_push_url(raw: &str) -> Result<(), ApiError> {
    if raw.len() > MAX_TEXT {
        return Err(bad("delivery.endpoint_url is too long"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("delivery.endpoint_url is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("delivery.endpoint_url has no host")),
    };
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "delivery.endpoint_url must not carry a fragment or credentials",
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad(
            "delivery.endpoint_url must be https (http only on a loopback host)",
        )),
    }
}

fn text(field: &'static str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.len() > MAX_TEXT => Err(bad(format!("{field} is too long"))),
        other => Ok(other),
    }
}

/// `initiating_entity` and a sentence for `reason_admin`, per reason.
fn reason_text(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "disconnected" => ("user", "the user disconnected the app"),
        "revocation" => ("user", "the client revoked the refresh token"),
        "token_revoked" => ("user", "the client revoked the access token"),
        "password_changed" => ("user", "the user's password changed"),
        "administrator" => ("admin", "an administrator revoked the access"),
        "user_deleted" => ("admin", "the user was deleted"),
        "client_deleted" => ("admin", "the client was deleted"),
        "reuse_detected" => ("policy", "a rotated refresh token was used again"),
        "code_replay" => ("policy", "an authorization code was used twice"),
        _ => ("system", "the access was revoked"),
    }
}

impl Gatehouse {
    /// The SSF Transmitter Configuration Metadata (SSF 1.0 §7.1).
    pub fn ssf_configuration(&self) -> Value {
        let iss = &self.settings.issuer;
        json!({
            "spec_version": "1_0",
            "issuer": iss,
            "jwks_uri": format!("{iss}/jwks.json"),
            "delivery_methods_supported": [
                DeliveryMethod::Push.urn(),
                DeliveryMethod::Poll.urn(),
            ],
            "configuration_endpoint": format!("{iss}/ssf/streams"),
            "status_endpoint": format!("{iss}/ssf/status"),
            "verification_endpoint": format!("{iss}/ssf/verify"),
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
        })
    }

    /// Authenticates an SSF receiver: a confidential client registered by
    /// an administrator, by its secret or by a client-credentials token.
    ///
    /// # Errors
    /// 401 for missing or wrong credentials; 403 for clients that may not
    /// receive signals.
    pub async fn ssf_receiver(&self, creds: &ReceiverCredentials) -> Result<Client, ApiError> {
        let client = match creds {
            ReceiverCredentials::Missing => {
                return Err(ApiError::InvalidToken(
                    "authenticate with the client's credentials or a client-credentials token"
                        .into(),
                ));
            }
            ReceiverCredentials::Basic(c) => self
                .authenticate_client(c)
                .await
                .map_err(|e| ApiError::InvalidToken(e.description.clone()))?,
            ReceiverCredentials::Bearer(token) => {
                let claims = self
                    .verify_access_token(token)
                    .await
                    .map_err(|e| ApiError::InvalidToken(e.description.clone()))?;
                // Only a token the client holds for itself (client
                // credentials) speaks for it; a user's token does not.
                if claims.grant_id.is_some() || claims.sub != claims.client_id {
                    return Err(ApiError::Forbidden(
                        "stream management needs a client-credentials token".into(),
                    ));
                }
                let id = crate::model::ClientId::parse(&claims.client_id)
                    .map_err(|_| ApiError::InvalidToken("unknown client".into()))?;
                self.ports
                    .clients
                    .get_client(&id)
                    .await?
                    .ok_or_else(|| ApiError::InvalidToken("unknown client".into()))?
            }
        };
        if !client.is_confidential() || client.origin != ClientOrigin::Admin {
            return Err(ApiError::Forbidden(
                "only confidential clients registered by an administrator may receive signals"
                    .into(),
            ));
        }
        Ok(client)
    }

    /// A stream's configuration as SSF shows it (§8.1.1).
    pub fn stream_configuration(&self, s: &Stream) -> Value {
        let iss = &self.settings.issuer;
        let mut delivery = json!({ "method": s.method.urn() });
        match (&s.method, &s.push) {
            (DeliveryMethod::Poll, _) => {
                delivery["endpoint_url"] = json!(format!("{iss}/ssf/poll/{}", s.id));
            }
            (DeliveryMethod::Push, Some(p)) => {
                delivery["endpoint_url"] = json!(p.endpoint_url);
            }
            (DeliveryMethod::Push, None) => {}
        }
        let delivered: Vec<&str> = s
            .events_requested
            .iter()
            .filter(|e| *e == SESSION_REVOKED)
            .map(String::as_str)
            .collect();
        let mut out = json!({
            "stream_id": s.id.to_string(),
            "iss": iss,
            "aud": s.client_id.as_str(),
            "delivery": delivery,
            "events_supported": [SESSION_REVOKED],
            "events_requested": s.events_requested,
            "events_delivered": delivered,
            "min_verification_interval": 0,
        });
        if s.method == DeliveryMethod::Poll {
            out["inactivity_timeout"] = json!(POLL_INACTIVITY.whole_seconds());
        }
        if let Some(d) = &s.description {
            out["description"] = json!(d);
        }
        out
    }

    async fn own_stream(&self, client: &Client, id: Option<&str>) -> Result<Stream, ApiError> {
        let id = id.ok_or_else(|| bad("stream_id is required"))?;
        let id = StreamId::parse(id).ok_or(ApiError::NotFound("stream"))?;
        match self.ports.streams.get_stream(id).await? {
            Some(s) if s.client_id == client.id => Ok(s),
            // Another receiver's stream is as absent as no stream.
            _ => Err(ApiError::NotFound("stream")),
        }
    }

    fn seal_authorization(&self, id: StreamId, header: &str) -> Result<Vec<u8>, ApiError> {
        crate::jwt::seal_private_key(
            &self.master_key,
            &format!("ssf-push:{id}"),
            header.as_bytes(),
        )
        .map_err(unexpected)
    }

    fn open_authorization(&self, s: &Stream) -> anyhow::Result<Option<String>> {
        let Some(sealed) = s
            .push
            .as_ref()
            .and_then(|p| p.sealed_authorization.as_ref())
        else {
            return Ok(None);
        };
        let plain =
            crate::jwt::open_private_key(&self.master_key, &format!("ssf-push:{}", s.id), sealed)?;
        Ok(Some(String::from_utf8(plain)?))
    }

    /// Applies the receiver-supplied members of `req` to `s`; `replace`
    /// clears what `req` leaves out (PUT), otherwise it stays (PATCH).
    fn apply_request(
        &self,
        s: &mut Stream,
        req: StreamRequest,
        replace: bool,
    ) -> Result<(), ApiError> {
        // Transmitter-supplied members may be repeated, but must match.
        let current = self.stream_configuration(s);
        for (k, v) in &req.other {
            match current.get(k) {
                Some(c) if c == v => {}
                Some(_) => return Err(bad(format!("{k} is set by the transmitter"))),
                None => {}
            }
        }
        if let Some(events) = req.events_requested {
            if events.len() > 64 || events.iter().any(|e| e.len() > MAX_TEXT) {
                return Err(bad("events_requested is too long"));
            }
            s.events_requested = events;
        } else if replace {
            s.events_requested = Vec::new();
        }
        if req.description.is_some() || replace {
            s.description = text("description", req.description)?;
        }
        match req.delivery {
            Some(d) => {
                let method = match d.method.as_deref() {
                    None => DeliveryMethod::Poll,
                    Some(m) => DeliveryMethod::from_urn(m).ok_or_else(|| {
                        bad("delivery.method must be urn:ietf:rfc:8936 or urn:ietf:rfc:8935")
                    })?,
                };
                s.method = method;
                s.push = match method {
                    DeliveryMethod::Poll => None,
                    DeliveryMethod::Push => {
                        let url = d
                            .endpoint_url
                            .ok_or_else(|| bad("push delivery needs delivery.endpoint_url"))?;
                        check_push_url(&url)?;
                        let sealed_authorization = match d.authorization_header {
                            Some(h) if h.len() > MAX_TEXT => {
                                return Err(bad("delivery.authorization_header is too long"));
                            }
                            Some(h) => Some(self.seal_authorization(s.id, &h)?),
                            None => None,
                        };
                        Some(PushTarget {
                            endpoint_url: url,
                            sealed_authorization,
                        })
                    }
                };
                s.failures = 0;
                s.retry_at = None;
            }
            None if replace => {
                s.method = DeliveryMethod::Poll;
                s.push = None;
            }
            None => {}
        }
        Ok(())
    }

    /// Creates a stream for `client` (SSF §8.1.1.1). It starts at the
    /// beginning of the live log, so the receiver learns every revocation
    /// whose tokens could still be valid.
    ///
    /// # Errors
    /// 400 for a malformed request; 409 when the client has
    /// [`MAX_STREAMS_PER_CLIENT`] streams.
    pub async fn create_stream(
        &self,
        client: &Client,
        req: StreamRequest,
    ) -> Result<Value, ApiError> {
        if req.stream_id.is_some() {
            return Err(bad("stream_id is set by the transmitter"));
        }
        let existing = self.ports.streams.client_streams(&client.id).await?;
        let now = self.now();
        if existing.len() >= MAX_STREAMS_PER_CLIENT {
            // A receiver that crashed never deleted its stream. One that
            // stopped polling is gone (a live one polls every few seconds
            // and touches the stream at least every minute): make room by
            // dropping the longest-silent such stream, so a crash loop
            // cannot lock a resource server out for a day.
            let abandoned = existing
                .iter()
                .filter(|s| s.method == DeliveryMethod::Poll && now - s.last_polled_at > ABANDONED)
                .min_by_key(|s| s.last_polled_at);
            if let Some(gone) = abandoned {
                self.ports.streams.delete_stream(gone.id).await?;
                tracing::info!(client_id = %client.id, stream = %gone.id, "an abandoned signal stream made room for a new one");
            }
        }
        if existing.len() >= MAX_STREAMS_PER_CLIENT
            && self.ports.streams.client_streams(&client.id).await?.len() >= MAX_STREAMS_PER_CLIENT
        {
            return Err(ApiError::Conflict(
                format!(
                    "this receiver has {MAX_STREAMS_PER_CLIENT} streams already; delete one it no longer uses"
                )
                .into(),
            ));
        }
        let mut stream = Stream {
            id: StreamId::new(),
            client_id: client.id.clone(),
            version: 0,
            method: DeliveryMethod::Poll,
            push: None,
            events_requested: vec![SESSION_REVOKED.to_owned()],
            description: None,
            status: StreamStatus::Enabled,
            status_reason: None,
            cursor: 0,
            acked_ahead: Vec::new(),
            verification: None,
            failures: 0,
            retry_at: None,
            lease_until: None,
            last_polled_at: now,
            created_at: now,
            updated_at: now,
        };
        self.apply_request(&mut stream, req, false)?;
        self.ports.streams.insert_stream(&stream).await?;
        tracing::info!(client_id = %client.id, stream = %stream.id, method = stream.method.urn(), "signal stream created");
        Ok(self.stream_configuration(&stream))
    }

    /// One stream's configuration, or (with no id) every stream of the
    /// receiver (SSF §8.1.1.2).
    ///
    /// # Errors
    /// 404 for an unknown stream.
    pub async fn read_streams(&self, client: &Client, id: Option<&str>) -> Result<Value, ApiError> {
        match id {
            Some(id) => Ok(self.stream_configuration(&self.own_stream(client, Some(id)).await?)),
            None => Ok(Value::Array(
                self.ports
                    .streams
                    .client_streams(&client.id)
                    .await?
                    .iter()
                    .map(|s| self.stream_configuration(s))
                    .collect(),
            )),
        }
    }

    /// Updates (PATCH) or replaces (PUT) a stream's receiver-supplied
    /// configuration (SSF §8.1.1.3–4).
    ///
    /// # Errors
    /// 400, 404.
    pub async fn change_stream(
        &self,
        client: &Client,
        req: StreamRequest,
        replace: bool,
    ) -> Result<Value, ApiError> {
        let id = req.stream_id.clone();
        // Optimistic: retry if a poll moved the stream on in between.
        for _ in 0..8 {
            let mut s = self.own_stream(client, id.as_deref()).await?;
            let req = StreamRequest {
                stream_id: req.stream_id.clone(),
                delivery: req.delivery.as_ref().map(|d| DeliveryRequest {
                    method: d.method.clone(),
                    endpoint_url: d.endpoint_url.clone(),
                    authorization_header: d.authorization_header.clone(),
                }),
                events_requested: req.events_requested.clone(),
                description: req.description.clone(),
                other: req.other.clone(),
            };
            self.apply_request(&mut s, req, replace)?;
            s.updated_at = self.now();
            if self.ports.streams.update_stream(&s).await? {
                return Ok(self.stream_configuration(&s));
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// Deletes a stream (SSF §8.1.1.5).
    ///
    /// # Errors
    /// 404.
    pub async fn delete_stream(&self, client: &Client, id: Option<&str>) -> Result<(), ApiError> {
        let s = self.own_stream(client, id).await?;
        self.ports.streams.delete_stream(s.id).await?;
        tracing::info!(client_id = %client.id, stream = %s.id, "signal stream deleted");
        Ok(())
    }

    /// A stream's status (SSF §8.1.2.1).
    ///
    /// # Errors
    /// 404.
    pub async fn stream_status(
        &self,
        client: &Client,
        id: Option<&str>,
    ) -> Result<Value, ApiError> {
        let s = self.own_stream(client, id).await?;
        Ok(status_json(&s))
    }

    /// Sets a stream's status (SSF §8.1.2.2). Disabling forgets what was
    /// pending: a disabled stream holds nothing.
    ///
    /// # Errors
    /// 400, 404.
    pub async fn set_stream_status(
        &self,
        client: &Client,
        id: Option<&str>,
        status: Option<&str>,
        reason: Option<String>,
    ) -> Result<Value, ApiError> {
        let status = status
            .and_then(StreamStatus::parse)
            .ok_or_else(|| bad("status must be enabled, paused or disabled"))?;
        let reason = text("reason", reason)?;
        for _ in 0..8 {
            let mut s = self.own_stream(client, id).await?;
            if status == StreamStatus::Disabled && s.status != StreamStatus::Disabled {
                s.cursor = self.log_end().await?;
                s.acked_ahead.clear();
                s.verification = None;
            }
            s.status = status;
            s.status_reason.clone_from(&reason);
            s.updated_at = self.now();
            if self.ports.streams.update_stream(&s).await? {
                return Ok(status_json(&s));
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// Queues a verification event (SSF §8.1.4), delivered before the log.
    ///
    /// # Errors
    /// 400, 404.
    pub async fn request_verification(
        &self,
        client: &Client,
        id: Option<&str>,
        state: Option<String>,
    ) -> Result<(), ApiError> {
        let state = text("state", state)?;
        for _ in 0..8 {
            let mut s = self.own_stream(client, id).await?;
            s.verification = Some(PendingVerification {
                jti: Uuid::new_v4(),
                state: state.clone(),
                at: self.now(),
            });
            if self.ports.streams.update_stream(&s).await? {
                return Ok(());
            }
        }
        Err(ApiError::Conflict(
            "the stream is changing; try again".into(),
        ))
    }

    /// Entries appended before this are safe to read past.
    fn settled_before(&self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        let settle = self.ports.tokens.revocation_settle();
        now - Duration::try_from(settle).unwrap_or(Duration::seconds(1))
    }

    /// The highest `seq` in the log now (where a disabled stream resumes).
    async fn log_end(&self) -> Result<i64, ApiError> {
        let mut cursor = 0;
        loop {
            let page = self
                .ports
                .tokens
                .revocations_after(cursor, self.now() + Duration::days(1), 1000)
                .await?;
            match page.last() {
                Some(last) => cursor = last.seq,
                None => return Ok(cursor),
            }
        }
    }

    /// Serves an RFC 8936 poll on `stream`: records the acknowledgements,
    /// then answers with the SETs not yet acknowledged, waiting up to
    /// `hold` for some when none are pending and the receiver allows it.
    /// `sleep` is the caller's timer (the core runs on any executor).
    ///
    /// # Errors
    /// 400 for a malformed request or a push stream; 404.
    pub async fn poll_stream<S, F>(
        &self,
        client: &Client,
        id: &str,
        req: PollRequest,
        hold: std::time::Duration,
        sleep: S,
    ) -> Result<PollResponse, ApiError>
    where
        S: Fn(std::time::Duration) -> F,
        F: std::future::Future<Output = ()>,
    {
        if req.ack.len() + req.set_errs.len() > MAX_ACKS {
            return Err(bad("too many acknowledgements in one request"));
        }
        let max = req.max_events.unwrap_or(DEFAULT_EVENTS).min(MAX_EVENTS);
        for (jti, e) in &req.set_errs {
            tracing::warn!(client_id = %client.id, stream = id, jti, err = %e.err, description = e.description.as_deref().unwrap_or(""), "a receiver refused a security event");
        }
        let acks: BTreeSet<&str> = req
            .ack
            .iter()
            .map(String::as_str)
            .chain(req.set_errs.keys().map(String::as_str))
            .collect();
        let deadline = std::time::Instant::now() + hold;
        let mut first = true;
        loop {
            let mut s = self.own_stream(client, Some(id)).await?;
            if s.method != DeliveryMethod::Poll {
                return Err(bad("this stream delivers by push"));
            }
            let now = self.now();
            let window = if s.status == StreamStatus::Enabled {
                let limit = max as usize + s.acked_ahead.len() + acks.len() + 1;
                self.ports
                    .tokens
                    .revocations_after(s.cursor, self.settled_before(now), limit.min(50_000) as u32)
                    .await?
            } else {
                Vec::new()
            };
            let changed = if first {
                acknowledge(&mut s, &window, &acks)
            } else {
                false
            };
            first = false;
            let pending: Vec<&Revocation> = window
                .iter()
                .filter(|r| r.seq > s.cursor && !s.acked_ahead.contains(&r.seq))
                .collect();
            let touch = now - s.last_polled_at >= POLL_TOUCH;
            if changed || touch {
                s.last_polled_at = now;
                // A lost race only means these acknowledgements are
                // redelivered; the receiver handles SETs idempotently.
                let _ = self.ports.streams.update_stream(&s).await?;
            }
            let nothing = pending.is_empty() && s.verification.is_none();
            if max == 0
                || !nothing
                || req.return_immediately
                || s.status != StreamStatus::Enabled
                || self.draining.load(std::sync::atomic::Ordering::Relaxed)
                || std::time::Instant::now() + HOLD_TICK > deadline
            {
                return self.poll_response(&s, &pending, max);
            }
            sleep(HOLD_TICK).await;
        }
    }

    fn poll_response(
        &self,
        s: &Stream,
        pending: &[&Revocation],
        max: u32,
    ) -> Result<PollResponse, ApiError> {
        let mut sets = serde_json::Map::new();
        let mut room = max as usize;
        if room > 0
            && let Some(v) = &s.verification
        {
            sets.insert(v.jti.to_string(), json!(self.verification_set(s, v)?));
            room -= 1;
        }
        for r in pending.iter().take(room) {
            sets.insert(r.id.to_string(), json!(self.revocation_set(s, r)?));
        }
        let delivered = sets.len();
        let total = pending.len() + usize::from(s.verification.is_some());
        Ok(PollResponse {
            sets,
            more_available: total > delivered,
        })
    }

    /// The SET for one log entry (RFC 8417, SSF 1.0 §4, CAEP 1.0 §3.1).
    pub fn revocation_set(&self, s: &Stream, r: &Revocation) -> Result<String, ApiError> {
        let iss = &self.settings.issuer;
        let user = |u: &crate::model::UserId| json!({"format": "iss_sub", "iss": iss, "sub": u.to_string()});
        let app = |c: &crate::model::ClientId| json!({"format": "opaque", "id": c.as_str()});
        let sub_id = match &r.subject {
            RevokedSubject::Grant {
                grant,
                user: u,
                client,
            } => json!({
                "format": "complex",
                "user": user(u),
                "session": {"format": "opaque", "id": grant.to_string()},
                "application": app(client),
            }),
            RevokedSubject::App { user: u, client } => json!({
                "format": "complex",
                "user": user(u),
                "application": app(client),
            }),
            RevokedSubject::User { user: u } => user(u),
            RevokedSubject::Client { client } => json!({
                "format": "complex",
                "application": app(client),
            }),
            RevokedSubject::Token { jti } => json!({
                "format": "jwt_id",
                "iss": iss,
                "jti": jti.to_string(),
            }),
        };
        let (entity, sentence) = reason_text(&r.reason);
        let claims = json!({
            "iss": iss,
            "iat": self.now().unix_timestamp(),
            "jti": r.id.to_string(),
            "aud": s.client_id.as_str(),
            "txn": r.id.to_string(),
            "sub_id": sub_id,
            "events": {
                SESSION_REVOKED: {
                    "event_timestamp": r.at.unix_timestamp(),
                    "initiating_entity": entity,
                    "reason_admin": {"en": format!("{}: {sentence}", r.reason)},
                }
            }
        });
        self.keyring()
            .sign_security_event(&claims)
            .map_err(unexpected)
    }

    fn verification_set(&self, s: &Stream, v: &PendingVerification) -> Result<String, ApiError> {
        let mut event = json!({});
        if let Some(state) = &v.state {
            event["state"] = json!(state);
        }
        let claims = json!({
            "iss": self.settings.issuer,
            "iat": self.now().unix_timestamp(),
            "jti": v.jti.to_string(),
            "aud": s.client_id.as_str(),
            "sub_id": {"format": "opaque", "id": s.id.to_string()},
            "events": { VERIFICATION: event },
        });
        self.keyring()
            .sign_security_event(&claims)
            .map_err(unexpected)
    }

    /// One round of push delivery (RFC 8935): every due push stream gets
    /// its pending SETs, in order, until one fails; a failing stream backs
    /// off exponentially up to five minutes. A lease on the stream keeps
    /// two instances from pushing it at once. Returns how many SETs were
    /// delivered.
    ///
    /// # Errors
    /// A store failure.
    pub async fn push_due_streams(&self, pusher: &Arc<dyn SetPusher>) -> Result<usize, ApiError> {
        let now = self.now();
        let mut delivered = 0;
        for mut s in self.ports.streams.due_push_streams(now, 100).await? {
            // Lease it; another instance that got here first wins.
            s.lease_until = Some(now + PUSH_LEASE);
            if !self.ports.streams.update_stream(&s).await? {
                continue;
            }
            s.version += 1;
            delivered += self.push_stream(&mut s, pusher).await?;
            s.lease_until = None;
            // Lost only if the receiver reconfigured the stream meanwhile;
            // then it is pushed again from where the store has it.
            let _ = self.ports.streams.update_stream(&s).await?;
        }
        Ok(delivered)
    }

    async fn push_stream(
        &self,
        s: &mut Stream,
        pusher: &Arc<dyn SetPusher>,
    ) -> Result<usize, ApiError> {
        let Some(target) = s.push.clone() else {
            return Ok(0);
        };
        let authorization = match self.open_authorization(s) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(stream = %s.id, error = %e, "a push stream's authorization header cannot be opened");
                self.back_off(s, "the stored authorization header cannot be opened");
                return Ok(0);
            }
        };
        let mut delivered = 0;
        let mut outgoing: Vec<(Option<i64>, String)> = Vec::new();
        if let Some(v) = &s.verification {
            outgoing.push((None, self.verification_set(s, v)?));
        }
        let window = self
            .ports
            .tokens
            .revocations_after(s.cursor, self.settled_before(self.now()), PUSH_BATCH)
            .await?;
        for r in &window {
            outgoing.push((Some(r.seq), self.revocation_set(s, r)?));
        }
        for (seq, set) in outgoing {
            match pusher
                .push(&target.endpoint_url, authorization.as_deref(), &set)
                .await
            {
                PushOutcome::Accepted => {}
                PushOutcome::Rejected(why) => {
                    tracing::warn!(stream = %s.id, client_id = %s.client_id, why, "a receiver refused a security event");
                }
                PushOutcome::Failed(why) => {
                    tracing::warn!(stream = %s.id, client_id = %s.client_id, why, "pushing a security event failed; will retry");
                    self.back_off(s, &why);
                    return Ok(delivered);
                }
            }
            delivered += 1;
            match seq {
                None => s.verification = None,
                Some(seq) => s.cursor = seq,
            }
        }
        s.failures = 0;
        s.retry_at = None;
        Ok(delivered)
    }

    fn back_off(&self, s: &mut Stream, why: &str) {
        s.failures = s.failures.saturating_add(1);
        let wait = Duration::seconds(1i64 << s.failures.min(9)).min(PUSH_MAX_BACKOFF);
        s.retry_at = Some(self.now() + wait);
        s.status_reason = Some(format!("last push failed: {why}"));
    }

    /// Deletes poll streams whose receiver stopped polling a day ago.
    ///
    /// # Errors
    /// A store failure.
    pub(crate) async fn reap_idle_streams(&self) -> Result<u64, crate::ports::StoreError> {
        self.ports
            .streams
            .delete_idle_streams(self.now() - POLL_INACTIVITY)
            .await
    }
}

fn status_json(s: &Stream) -> Value {
    let mut out = json!({"stream_id": s.id.to_string(), "status": s.status.as_str()});
    if let Some(r) = &s.status_reason {
        out["reason"] = json!(r);
    }
    out
}

/// Records `acks` (jtis) against `window` (the entries after the cursor):
/// the cursor moves over every acknowledged entry at its front, the rest
/// are remembered in `acked_ahead`. Returns whether anything changed.
fn acknowledge(s: &mut Stream, window: &[Revocation], acks: &BTreeSet<&str>) -> bool {
    let mut changed = false;
    if let Some(v) = &s.verification
        && acks.contains(v.jti.to_string().as_str())
    {
        s.verification = None;
        changed = true;
    }
    let mut ahead: BTreeSet<i64> = s.acked_ahead.iter().copied().collect();
    for r in window {
        if acks.contains(r.id.to_string().as_str()) && ahead.insert(r.seq) {
            changed = true;
        }
    }
    // Window entries are in `seq` order with no visible entry between them:
    // the front of the window is the next thing the receiver must have.
    for r in window {
        if ahead.remove(&r.seq) {
            s.cursor = r.seq;
        } else {
            break;
        }
    }
    ahead.retain(|seq| *seq > s.cursor);
    while ahead.len() > MAX_ACKED_AHEAD {
        ahead.pop_first();
    }
    let ahead: Vec<i64> = ahead.into_iter().collect();
    if ahead != s.acked_ahead {
        s.acked_ahead = ahead;
        changed = true;
    }
    changed
}
