//! Revocations published for resource servers that verify tokens
//! themselves (issue 13, item 5: Shared Signals).
//!
//! Every path that ends tokens before they expire (Disconnect, an admin's
//! revocation, refresh-token reuse, a replayed code, revoking a refresh
//! token, a password change, deleting a user or a client) appends a
//! [`Revocation`] to the store's log, after the revocation itself is
//! stored. The log is what the Shared Signals transmitter publishes as
//! CAEP `session-revoked` events; a receiver refuses every token of the
//! subject issued at or before the event. Entries live as long as the
//! tokens they concern could.

use time::Duration;

use super::Gatehouse;
use crate::model::{Revocation, RevokedSubject};

/// How long past the access-token lifetime an entry is kept: clock skew
/// between Gatehouse and the resource servers, and their leeway.
const KEEP_PAST_TOKEN_LIFETIME: Duration = Duration::minutes(5);

impl Gatehouse {
    /// Records that every token of `subject` issued until now is revoked.
    ///
    /// Never fails the caller: the revocation itself is stored already, and
    /// introspection and refresh honour it. A failed append is logged at
    /// `error`; resource servers that verify locally then stop accepting
    /// the tokens only when they expire.
    pub(crate) async fn publish_revocation(&self, subject: RevokedSubject, reason: &str) {
        let now = self.now();
        let entry = Revocation {
            id: uuid::Uuid::new_v4(),
            seq: 0,
            at: now,
            subject,
            reason: reason.to_owned(),
            expires_at: now + self.settings.access_token_ttl + KEEP_PAST_TOKEN_LIFETIME,
        };
        if let Err(e) = self.ports.tokens.append_revocations(&[entry]).await {
            tracing::error!(error = %e, reason, "a revocation was not published to resource servers");
        }
    }

    /// [`Gatehouse::publish_revocation`] for one grant, looked up for its
    /// user and client (nothing is published for a grant already gone: its
    /// tokens are refused everywhere as belonging to no grant).
    pub(crate) async fn publish_grant_revocation(
        &self,
        grant: crate::model::GrantId,
        reason: &str,
    ) {
        match self.ports.tokens.get_grant(grant).await {
            Ok(Some(g)) => {
                self.publish_revocation(
                    RevokedSubject::Grant {
                        grant: g.id,
                        user: g.user_id,
                        client: g.client_id,
                    },
                    reason,
                )
                .await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, reason, "a revocation was not published to resource servers");
            }
        }
    }
}
