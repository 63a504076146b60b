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

mod delivery;
mod streams;

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
}
