//! Reading the audit log (`GET /api/v1/audit`, `gatehouse audit`).

use serde::Deserialize;

use super::{Caller, Gatehouse};
use crate::audit::{AuditCursor, AuditEvent, AuditKind, AuditQuery, MAX_PAGE};
use crate::error::ApiError;
use crate::model::{ClientId, UserId};

/// Events on one page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;

/// The filters of `GET /api/v1/audit` as received: every field text, so
/// each bad one is refused with its own message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditParams {
    /// `type`: an event kind (`sign_in.failed`, …).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `user_id`: a user's UUID.
    pub user_id: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `before`: the `next` cursor of the previous page.
    pub before: Option<String>,
    /// `limit`: 1 to 500 (default 50).
    pub limit: Option<String>,
}

/// A parameter's value, an empty one counting as absent (`?type=`).
fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

impl AuditParams {
    /// The query these parameters describe.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] naming the first malformed parameter.
    pub fn query(&self) -> Result<AuditQuery, ApiError> {
        let bad = |what: &str| ApiError::BadRequest(what.to_owned().into());
        Ok(AuditQuery {
            kind: present(&self.kind)
                .map(|k| AuditKind::parse(k).ok_or_else(|| bad("type is not an audit event type")))
                .transpose()?,
            user_id: present(&self.user_id)
                .map(|u| UserId::parse(u).ok_or_else(|| bad("user_id must be a UUID")))
                .transpose()?,
            client_id: present(&self.client_id)
                .map(|c| ClientId::parse(c).map_err(|_| bad("client_id is not a valid client id")))
                .transpose()?,
            before: present(&self.before)
                .map(|b| {
                    AuditCursor::decode(b)
                        .ok_or_else(|| bad("before must be the next cursor of a previous page"))
                })
                .transpose()?,
            limit: match present(&self.limit) {
                None => DEFAULT_PAGE,
                Some(l) => l
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_PAGE).contains(l))
                    .ok_or_else(|| bad("limit must be a whole number from 1 to 500"))?,
            },
        })
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<AuditCursor>,
}

impl Gatehouse {
    /// A page of the audit log (administrators only).
    ///
    /// # Errors
    /// 403 for anyone but an administrator.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn audit_events(
        &self,
        caller: &Caller,
        query: &AuditQuery,
    ) -> Result<AuditPage, ApiError> {
        caller.require_admin()?;
        self.audit_page(query).await
    }

    /// A page of the audit log, for callers already trusted (the CLI, which
    /// acts on the store directly).
    ///
    /// # Errors
    /// Store failures.
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, ApiError> {
        // One more than asked, to know whether another page follows.
        let mut probe = query.clone();
        probe.limit = query.limit.saturating_add(1);
        let mut events = self.ports.audit_log.list_audit(&probe).await?;
        let more = events.len() > query.limit as usize;
        events.truncate(query.limit as usize);
        let next = if more {
            events.last().map(AuditEvent::cursor)
        } else {
            None
        };
        Ok(AuditPage { events, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_or_refused_one_by_one() {
        let ok = AuditParams {
            kind: Some("grant.revoked".into()),
            user_id: Some(UserId::new().to_string()),
            client_id: Some("app".into()),
            before: None,
            limit: Some("10".into()),
        };
        let q = ok.query().unwrap();
        assert_eq!(q.kind, Some(AuditKind::GrantRevoked));
        assert_eq!(q.limit, 10);
        assert_eq!(AuditParams::default().query().unwrap().limit, DEFAULT_PAGE);
        for bad in [
            AuditParams {
                kind: Some("grant".into()),
                ..AuditParams::default()
            },
            AuditParams {
                user_id: Some("42".into()),
                ..AuditParams::default()
            },
            AuditParams {
                before: Some("not-a-cursor".into()),
                ..AuditParams::default()
            },
            AuditParams {
                limit: Some("0".into()),
                ..AuditParams::default()
            },
            AuditParams {
                limit: Some("501".into()),
                ..AuditParams::default()
            },
            AuditParams {
                limit: Some("ten".into()),
                ..AuditParams::default()
            },
        ] {
            assert!(
                matches!(bad.query(), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
