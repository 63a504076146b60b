//! The audit log (DESIGN §10): who signed in, consented, changed a client
//! or a user, or had a refresh family revoked, kept durably and served to
//! administrators.
//!
//! Two ports. [`AuditStore`] is storage, implemented by every store and held
//! to the contract suite. [`AuditSink`] is how the services hand an event
//! over: the default ([`StoreAudit`]) appends it at once, which suits tests
//! and embedders; the server puts a bounded queue in between, so recording
//! never adds a durable commit to a request (see its docs for what a crash
//! loses). Every event is also logged at target `gatehouse::audit`.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{ClientId, UserId};
use crate::ports::StoreError;

/// What happened. The names are DESIGN §10's and stable: operators filter
/// and alert on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// `sign_in.succeeded`
    SignInSucceeded,
    /// `sign_in.failed`: unknown account or wrong password.
    SignInFailed,
    /// `sign_in.throttled`: refused before the password was checked.
    SignInThrottled,
    /// `consent.granted`
    ConsentGranted,
    /// `consent.denied`
    ConsentDenied,
    /// `grant.revoked`: a refresh family ended (revocation, code replay).
    GrantRevoked,
    /// `refresh.reuse_detected`: a rotated refresh token came back.
    RefreshReuseDetected,
    /// `client.created`
    ClientCreated,
    /// `client.updated`
    ClientUpdated,
    /// `client.deleted`
    ClientDeleted,
    /// `user.created`
    UserCreated,
    /// `user.updated`
    UserUpdated,
    /// `user.deleted`
    UserDeleted,
    /// `resource.created`
    ResourceCreated,
    /// `resource.deleted`
    ResourceDeleted,
    /// `key.rotated`
    KeyRotated,
    /// `identity_provider.created` (beyond DESIGN §10's list: upstream
    /// sign-in came later, DESIGN §12).
    IdentityProviderCreated,
    /// `identity_provider.updated`
    IdentityProviderUpdated,
    /// `identity_provider.deleted`
    IdentityProviderDeleted,
    /// `identity.linked`: an upstream identity now signs in to an account.
    IdentityLinked,
    /// `identity.unlinked`
    IdentityUnlinked,
}

impl AuditKind {
    /// Every kind, in DESIGN §10's order, then those of §12.
    pub const ALL: [AuditKind; 21] = [
        AuditKind::SignInSucceeded,
        AuditKind::SignInFailed,
        AuditKind::SignInThrottled,
        AuditKind::ConsentGranted,
        AuditKind::ConsentDenied,
        AuditKind::GrantRevoked,
        AuditKind::RefreshReuseDetected,
        AuditKind::ClientCreated,
        AuditKind::ClientUpdated,
        AuditKind::ClientDeleted,
        AuditKind::UserCreated,
        AuditKind::UserUpdated,
        AuditKind::UserDeleted,
        AuditKind::ResourceCreated,
        AuditKind::ResourceDeleted,
        AuditKind::KeyRotated,
        AuditKind::IdentityProviderCreated,
        AuditKind::IdentityProviderUpdated,
        AuditKind::IdentityProviderDeleted,
        AuditKind::IdentityLinked,
        AuditKind::IdentityUnlinked,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::SignInSucceeded => "sign_in.succeeded",
            AuditKind::SignInFailed => "sign_in.failed",
            AuditKind::SignInThrottled => "sign_in.throttled",
            AuditKind::ConsentGranted => "consent.granted",
            AuditKind::ConsentDenied => "consent.denied",
            AuditKind::GrantRevoked => "grant.revoked",
            AuditKind::RefreshReuseDetected => "refresh.reuse_detected",
            AuditKind::ClientCreated => "client.created",
            AuditKind::ClientUpdated => "client.updated",
            AuditKind::ClientDeleted => "client.deleted",
            AuditKind::UserCreated => "user.created",
            AuditKind::UserUpdated => "user.updated",
            AuditKind::UserDeleted => "user.deleted",
            AuditKind::ResourceCreated => "resource.created",
            AuditKind::ResourceDeleted => "resource.deleted",
            AuditKind::KeyRotated => "key.rotated",
            AuditKind::IdentityProviderCreated => "identity_provider.created",
            AuditKind::IdentityProviderUpdated => "identity_provider.updated",
            AuditKind::IdentityProviderDeleted => "identity_provider.deleted",
            AuditKind::IdentityLinked => "identity.linked",
            AuditKind::IdentityUnlinked => "identity.unlinked",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event.
///
/// `user_id` is the person the event is about: the account signing in, the
/// user consenting or whose grant ended, the user created or changed; for
/// changes to clients, resources and keys, the administrator who made them.
/// `details` holds the rest (scope, resource, reason, the acting admin when
/// that is someone else) and never a secret, token or password.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Unique; with `at`, the order of the log.
    pub id: Uuid,
    /// When it happened.
    pub at: OffsetDateTime,
    /// What happened.
    pub kind: AuditKind,
    /// See the type's docs.
    pub user_id: Option<UserId>,
    /// The client involved, if any.
    pub client_id: Option<ClientId>,
    /// The client address of the request that caused it, if known.
    pub ip: Option<IpAddr>,
    /// A JSON object of further facts.
    pub details: Value,
}

impl AuditEvent {
    /// A new event of `kind` at `at`, with nothing else known yet.
    pub fn new(kind: AuditKind, at: OffsetDateTime) -> Self {
        Self {
            id: Uuid::new_v4(),
            at,
            kind,
            user_id: None,
            client_id: None,
            ip: None,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// With the user it concerns.
    #[must_use]
    pub fn user(mut self, user: UserId) -> Self {
        self.user_id = Some(user);
        self
    }

    /// With the client involved.
    #[must_use]
    pub fn client(mut self, client: &ClientId) -> Self {
        self.client_id = Some(client.clone());
        self
    }

    /// With the request's client address.
    #[must_use]
    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }

    /// With one more detail.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(m) = &mut self.details {
            m.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Where a page of results ending at this event leaves off.
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor {
            at: self.at,
            id: self.id,
        }
    }
}

/// A position in the log, newest first: events strictly older than it (by
/// time, then id) come after it. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    /// The time of the last event seen.
    pub at: OffsetDateTime,
    /// Its id, to break ties between events of one instant.
    pub id: Uuid,
}

impl AuditCursor {
    /// The opaque text form (`next` in the API).
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(32);
        raw.extend_from_slice(&self.at.unix_timestamp_nanos().to_be_bytes());
        raw.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads [`AuditCursor::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (nanos, id) = raw.split_at_checked(16)?;
        let nanos = i128::from_be_bytes(nanos.try_into().ok()?);
        Some(Self {
            at: OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?,
            id: Uuid::from_slice(id).ok()?,
        })
    }
}

/// Most events one page may hold.
pub const MAX_PAGE: u32 = 500;

/// Which events to list, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    /// Only this kind.
    pub kind: Option<AuditKind>,
    /// Only events about this user.
    pub user_id: Option<UserId>,
    /// Only events involving this client.
    pub client_id: Option<ClientId>,
    /// Only events older than this position.
    pub before: Option<AuditCursor>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

impl AuditQuery {
    /// Whether `e` passes the filters (not the limit). Stores that filter in
    /// memory use it; SQL stores say the same in `WHERE`.
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.kind.is_none_or(|k| k == e.kind)
            && self.user_id.is_none_or(|u| Some(u) == e.user_id)
            && self
                .client_id
                .as_ref()
                .is_none_or(|c| Some(c) == e.client_id.as_ref())
            && self.before.is_none_or(|b| (e.at, e.id) < (b.at, b.id))
    }
}

/// Durable storage of the audit log.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events, all or none.
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// Events matching `query`, newest first (by `at`, then `id`), at most
    /// `query.limit`.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes events older than `before`; returns how many.
    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Receives events from the services. Must not fail the operation that
/// caused the event: an implementation reports its own trouble.
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Takes one event.
    async fn record(&self, event: AuditEvent);
}

/// Appends each event to the store at once (one write each). What an
/// embedded core uses unless told otherwise.
pub struct StoreAudit(pub Arc<dyn AuditStore>);

impl fmt::Debug for StoreAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreAudit").finish_non_exhaustive()
    }
}

#[async_trait]
impl AuditSink for StoreAudit {
    async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.0.append_audit(std::slice::from_ref(&event)).await {
            tracing::error!(error = %e, kind = %event.kind, "audit event not stored");
        }
    }
}

/// Writes one event to the log at target `gatehouse::audit`, fields only
/// (what the durable copy holds, so a log pipeline sees the same).
pub fn log(event: &AuditEvent) {
    tracing::info!(
        target: "gatehouse::audit",
        kind = event.kind.as_str(),
        user_id = event.user_id.map(|u| u.to_string()),
        client_id = event.client_id.as_ref().map(ClientId::as_str),
        ip = event.ip.map(|i| i.to_string()),
        details = %event.details,
        "audit: {}",
        event.kind
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_design_name_and_parses_back() {
        let names: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        // DESIGN §10's sixteen, then the five of upstream identity (§12).
        assert_eq!(names.len(), 21);
        assert_eq!(names[15], "key.rotated");
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AuditKind::parse("sign_in"), None);
        assert!(names.contains(&"refresh.reuse_detected"));
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let e = AuditEvent::new(AuditKind::KeyRotated, OffsetDateTime::now_utc());
        let c = e.cursor();
        assert_eq!(AuditCursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "abc",
            "!!!!",
            &"A".repeat(65),
            &URL_SAFE_NO_PAD.encode([0u8; 31]),
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries_filter_on_every_field_and_the_cursor() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let user = UserId::new();
        let client = ClientId::parse("app").unwrap();
        let e = AuditEvent::new(AuditKind::ConsentGranted, t)
            .user(user)
            .client(&client);
        let all = AuditQuery::default();
        assert!(all.matches(&e));
        assert!(
            !AuditQuery {
                kind: Some(AuditKind::ConsentDenied),
                ..all.clone()
            }
            .matches(&e)
        );
        assert!(
            !AuditQuery {
                user_id: Some(UserId::new()),
                ..all.clone()
            }
            .matches(&e)
        );
        assert!(
            AuditQuery {
                client_id: Some(client.clone()),
                ..all.clone()
            }
            .matches(&e)
        );
        assert!(
            !AuditQuery {
                before: Some(e.cursor()),
                ..all.clone()
            }
            .matches(&e)
        );
        let later = AuditEvent::new(AuditKind::ConsentGranted, t + time::Duration::SECOND);
        assert!(
            AuditQuery {
                before: Some(later.cursor()),
                ..all
            }
            .matches(&e)
        );
    }
}
