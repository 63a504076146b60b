//! Rows of what is recorded and published: the audit log, the revocation
//! log and Shared Signals streams.

use super::*;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: String,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub details: DbJson,
}

impl AuditRow {
    pub fn new(e: &AuditEvent) -> Self {
        Self {
            id: DbUuid(e.id),
            at: DbTime(e.at),
            kind: e.kind.as_str().to_owned(),
            user_id: e.user_id.map(|u| DbUuid(u.0)),
            client_id: e.client_id.as_ref().map(|c| c.as_str().to_owned()),
            ip: e.ip.map(|ip| ip.to_string()),
            details: DbJson(e.details.clone()),
        }
    }

    pub fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let corrupt = || error::corrupt("audit event");
        Ok(AuditEvent {
            id: self.id.0,
            at: self.at.0,
            kind: AuditKind::parse(&self.kind).ok_or_else(corrupt)?,
            user_id: self.user_id.map(|u| UserId(u.0)),
            client_id: self
                .client_id
                .map(|c| ClientId::parse(&c).map_err(|_| corrupt()))
                .transpose()?,
            ip: self
                .ip
                .map(|ip| ip.parse().map_err(|_| corrupt()))
                .transpose()?,
            details: self.details.0,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = revocations)]
pub struct NewRevocationRow {
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: &'static str,
    pub grant_id: Option<DbUuid>,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub reason: String,
    pub expires_at: DbTime,
    pub jti: Option<DbUuid>,
}

impl NewRevocationRow {
    pub fn new(r: &Revocation) -> Self {
        let (kind, grant, user, client) = match &r.subject {
            RevokedSubject::Grant {
                grant,
                user,
                client,
            } => ("grant", Some(grant.0), Some(user.0), Some(client)),
            RevokedSubject::App { user, client } => ("app", None, Some(user.0), Some(client)),
            RevokedSubject::User { user } => ("user", None, Some(user.0), None),
            RevokedSubject::Client { client } => ("client", None, None, Some(client)),
            RevokedSubject::Token { .. } => ("token", None, None, None),
        };
        let jti = match &r.subject {
            RevokedSubject::Token { jti } => Some(DbUuid(*jti)),
            _ => None,
        };
        Self {
            id: DbUuid(r.id),
            at: DbTime(r.at),
            kind,
            grant_id: grant.map(DbUuid),
            user_id: user.map(DbUuid),
            client_id: client.map(|c| c.as_str().to_owned()),
            reason: r.reason.clone(),
            expires_at: DbTime(r.expires_at),
            jti,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = revocations)]
pub struct RevocationRow {
    pub seq: i64,
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: String,
    pub grant_id: Option<DbUuid>,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub reason: String,
    pub expires_at: DbTime,
    pub jti: Option<DbUuid>,
}

impl RevocationRow {
    pub fn into_domain(self) -> Result<Revocation, StoreError> {
        let corrupt = || error::corrupt("revocation");
        let user = || self.user_id.map(|u| UserId(u.0)).ok_or_else(corrupt);
        let client = || {
            self.client_id
                .as_deref()
                .and_then(|c| ClientId::parse(c).ok())
                .ok_or_else(corrupt)
        };
        let subject = match self.kind.as_str() {
            "grant" => RevokedSubject::Grant {
                grant: self.grant_id.map(|g| GrantId(g.0)).ok_or_else(corrupt)?,
                user: user()?,
                client: client()?,
            },
            "app" => RevokedSubject::App {
                user: user()?,
                client: client()?,
            },
            "user" => RevokedSubject::User { user: user()? },
            "client" => RevokedSubject::Client { client: client()? },
            "token" => RevokedSubject::Token {
                jti: self.jti.as_ref().map(|j| j.0).ok_or_else(corrupt)?,
            },
            _ => return Err(corrupt()),
        };
        Ok(Revocation {
            id: self.id.0,
            seq: self.seq,
            at: self.at.0,
            subject,
            reason: self.reason,
            expires_at: self.expires_at.0,
        })
    }
}

/// What of a stream no query filters on, kept as one JSON document.
#[derive(serde::Serialize, serde::Deserialize)]
struct StreamSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<String>,
    #[serde(default)]
    events_requested: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acked_ahead: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verification: Option<VerificationSetting>,
    #[serde(default)]
    failures: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VerificationSetting {
    jti: uuid::Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ssf_streams)]
#[diesel(treat_none_as_null = true)]
pub struct StreamRow {
    pub id: DbUuid,
    pub client_id: String,
    pub version: i64,
    pub method: String,
    pub status: String,
    pub cursor: i64,
    pub settings: DbJson,
    pub sealed_authorization: Option<Vec<u8>>,
    pub retry_at: Option<DbTime>,
    pub lease_until: Option<DbTime>,
    pub last_polled_at: DbTime,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl StreamRow {
    pub fn new(s: &Stream) -> Result<Self, StoreError> {
        let settings = StreamSettings {
            endpoint_url: s.push.as_ref().map(|p| p.endpoint_url.clone()),
            events_requested: s.events_requested.clone(),
            description: s.description.clone(),
            status_reason: s.status_reason.clone(),
            acked_ahead: s.acked_ahead.clone(),
            verification: s.verification.as_ref().map(|v| VerificationSetting {
                jti: v.jti,
                state: v.state.clone(),
                at: v.at,
            }),
            failures: s.failures,
        };
        Ok(Self {
            id: DbUuid(s.id.0),
            client_id: s.client_id.as_str().to_owned(),
            version: s.version,
            method: match s.method {
                DeliveryMethod::Poll => "poll",
                DeliveryMethod::Push => "push",
            }
            .to_owned(),
            status: s.status.as_str().to_owned(),
            cursor: s.cursor,
            settings: DbJson(
                serde_json::to_value(settings).map_err(|_| error::invalid("stream settings"))?,
            ),
            sealed_authorization: s.push.as_ref().and_then(|p| p.sealed_authorization.clone()),
            retry_at: s.retry_at.map(DbTime),
            lease_until: s.lease_until.map(DbTime),
            last_polled_at: DbTime(s.last_polled_at),
            created_at: DbTime(s.created_at),
            updated_at: DbTime(s.updated_at),
        })
    }

    pub fn into_domain(self) -> Result<Stream, StoreError> {
        let corrupt = || error::corrupt("stream");
        let settings: StreamSettings =
            serde_json::from_value(self.settings.0).map_err(|_| corrupt())?;
        let method = match self.method.as_str() {
            "poll" => DeliveryMethod::Poll,
            "push" => DeliveryMethod::Push,
            _ => return Err(corrupt()),
        };
        let push = match method {
            DeliveryMethod::Poll => None,
            DeliveryMethod::Push => Some(PushTarget {
                endpoint_url: settings.endpoint_url.ok_or_else(corrupt)?,
                sealed_authorization: self.sealed_authorization,
            }),
        };
        Ok(Stream {
            id: StreamId(self.id.0),
            client_id: ClientId::parse(&self.client_id).map_err(|_| corrupt())?,
            version: self.version,
            method,
            push,
            events_requested: settings.events_requested,
            description: settings.description,
            status: StreamStatus::parse(&self.status).ok_or_else(corrupt)?,
            status_reason: settings.status_reason,
            cursor: self.cursor,
            acked_ahead: settings.acked_ahead,
            verification: settings.verification.map(|v| PendingVerification {
                jti: v.jti,
                state: v.state,
                at: v.at,
            }),
            failures: settings.failures,
            retry_at: self.retry_at.map(|t| t.0),
            lease_until: self.lease_until.map(|t| t.0),
            last_polled_at: self.last_polled_at.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}
