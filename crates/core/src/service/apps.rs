//! Connected apps: what a user authorized, seen and disconnected by the user
//! (`/account/apps`, `/api/v1/me/grants`) or by an administrator.
//!
//! An app is a client a user has live grants with. Every authorization makes
//! a grant (an MCP client that steps up or reconnects makes several), so the
//! apps list groups a user's grants by client: one row per app, with the
//! resources and scopes of all its grants. Disconnecting ends them all and
//! forgets the consent, because that is what a user means by "disconnect":
//! the app keeps nothing, and the next authorization asks again.

use std::collections::BTreeMap;
use std::net::IpAddr;

use time::OffsetDateTime;

use super::{Caller, Gatehouse};
use crate::ApiError;
use crate::audit::{AuditEvent, AuditKind};
use crate::model::{Client, GrantId, GrantsOf, User, UserId};
use crate::scope::ScopeSet;

/// One app a user connected.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    /// The newest of the app's grants: the handle to disconnect it with.
    pub id: GrantId,
    /// The client.
    pub client: Client,
    /// The audiences its tokens are for (resource URIs, or the platform
    /// API's), sorted.
    pub resources: Vec<String>,
    /// Everything granted across its grants.
    pub scope: ScopeSet,
    /// When the user first authorized it (its oldest live grant).
    pub first_authorized_at: OffsetDateTime,
    /// When it last got or used a token, to about a minute.
    pub last_used_at: Option<OffsetDateTime>,
    /// How many live grants it holds.
    pub grants: usize,
}

impl ConnectedApp {
    /// For clients identified by a metadata document: the host publishing
    /// it, which is what vouches for the app's name.
    pub fn metadata_host(&self) -> Option<String> {
        (self.client.origin == crate::model::ClientOrigin::Metadata)
            .then(|| url::Url::parse(self.client.id.as_str()).ok())
            .flatten()
            .and_then(|u| u.host_str().map(str::to_owned))
    }
}

impl Caller {
    /// Requires Gatehouse's own sign-in (a `/api/v1/auth/login` token or a
    /// browser session on Gatehouse's pages): a third-party app holding a
    /// user's token must not see or disconnect the user's other apps.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] for a third-party app's token.
    pub fn require_first_party(&self) -> Result<(), ApiError> {
        if self.claims.client_id == super::PLATFORM_CLIENT_ID {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "connected apps can be managed only with a token from /api/v1/auth/login".into(),
            ))
        }
    }
}

impl Gatehouse {
    /// The caller for a user signed in on Gatehouse's pages (a browser
    /// session), with their role's scopes: the pages act as the platform's
    /// own sign-in does.
    pub fn session_caller(&self, user: User, source: Option<IpAddr>) -> Caller {
        let scope = user
            .role
            .permitted_scopes()
            .filter(|s| !crate::scope::is_protocol_scope(s));
        self.first_party_caller(user, scope, source)
    }

    /// The caller's connected apps, most recently authorized first.
    ///
    /// # Errors
    /// 403 for a third-party app's token; store failures.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn my_apps(&self, caller: &Caller) -> Result<Vec<ConnectedApp>, ApiError> {
        caller.require_first_party()?;
        self.apps_of(caller.user.id).await
    }

    /// Disconnects one of the caller's apps, named by any of its grants.
    ///
    /// # Errors
    /// 403 for a third-party app's token; 404 if the grant is not a live
    /// grant of the caller's.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn disconnect_my_app(&self, caller: &Caller, grant: &str) -> Result<u64, ApiError> {
        caller.require_first_party()?;
        self.disconnect(caller, caller.user.id, grant).await
    }

    /// A user's connected apps, for an administrator.
    ///
    /// # Errors
    /// 403 for non-admins; 404 for an unknown user.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn user_apps(
        &self,
        caller: &Caller,
        user: &str,
    ) -> Result<Vec<ConnectedApp>, ApiError> {
        caller.require_admin()?;
        let user = self.existing_user(user).await?;
        self.apps_of(user).await
    }

    /// Disconnects one of a user's apps, for an administrator.
    ///
    /// # Errors
    /// 403 for non-admins; 404 for an unknown user or grant.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn disconnect_user_app(
        &self,
        caller: &Caller,
        user: &str,
        grant: &str,
    ) -> Result<u64, ApiError> {
        caller.require_admin()?;
        let user = self.existing_user(user).await?;
        self.disconnect(caller, user, grant).await
    }

    /// Ends every Gatehouse sign-in of the caller: browser sessions on every
    /// device and platform-API tokens from `/api/v1/auth/login`. Connected
    /// apps stay connected (each has its Disconnect). Returns how many
    /// browser sessions ended.
    ///
    /// # Errors
    /// 403 for a third-party app's token; store failures.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn sign_out_everywhere(&self, caller: &Caller) -> Result<u64, ApiError> {
        caller.require_first_party()?;
        let mut user = self
            .ports
            .users
            .get_user(caller.user.id)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        // Platform tokens carry the epoch they were issued under.
        user.sign_in_epoch = user.sign_in_epoch.wrapping_add(1);
        user.updated_at = self.now();
        self.ports.users.update_user(&user).await?;
        let sessions = self.ports.tokens.delete_user_sessions(user.id).await?;
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(caller.source)
                .detail("actor", caller.user.id.to_string())
                .detail("signed_out_everywhere", sessions),
        )
        .await;
        Ok(sessions)
    }

    /// The live grants a client holds, each with its user (`None` if the
    /// user went meanwhile), newest first: for an administrator looking at
    /// one client.
    ///
    /// # Errors
    /// 403 for non-admins; 404 for an unknown client.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn client_grants(
        &self,
        caller: &Caller,
        client: &str,
    ) -> Result<Vec<(crate::model::Grant, Option<User>)>, ApiError> {
        let client = self.get_client(caller, client).await?;
        let grants = self
            .ports
            .tokens
            .active_grants(&GrantsOf::Client(client.id))
            .await?;
        let mut out = Vec::with_capacity(grants.len());
        for g in grants {
            let user = self.ports.users.get_user(g.user_id).await?;
            out.push((g, user));
        }
        Ok(out)
    }

    /// Every organization, for an administrator.
    ///
    /// # Errors
    /// 403 for non-admins.
    pub async fn all_orgs(
        &self,
        caller: &Caller,
    ) -> Result<Vec<crate::model::Organization>, ApiError> {
        caller.require_admin()?;
        Ok(self.ports.orgs.list_orgs().await?)
    }

    async fn existing_user(&self, id: &str) -> Result<UserId, ApiError> {
        let id = UserId::parse(id).ok_or(ApiError::NotFound("user"))?;
        self.ports
            .users
            .get_user(id)
            .await?
            .map(|u| u.id)
            .ok_or(ApiError::NotFound("user"))
    }

    async fn apps_of(&self, user: UserId) -> Result<Vec<ConnectedApp>, ApiError> {
        let grants = self
            .ports
            .tokens
            .active_grants(&GrantsOf::User(user))
            .await?;
        // Newest first, so the first grant seen of a client is its newest.
        let mut apps: BTreeMap<String, ConnectedApp> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for g in grants {
            let aud = self.audience(g.resource.as_deref());
            let key = g.client_id.as_str().to_owned();
            if let Some(app) = apps.get_mut(&key) {
                app.scope = app.scope.union(&g.scope);
                if !app.resources.contains(&aud) {
                    app.resources.push(aud);
                }
                app.first_authorized_at = app.first_authorized_at.min(g.created_at);
                app.last_used_at = app.last_used_at.max(g.last_used_at);
                app.grants += 1;
                continue;
            }
            // A grant outliving its client is being deleted with it.
            let Some(client) = self.ports.clients.get_client(&g.client_id).await? else {
                continue;
            };
            order.push(key.clone());
            apps.insert(
                key,
                ConnectedApp {
                    id: g.id,
                    client,
                    resources: vec![aud],
                    scope: g.scope.clone(),
                    first_authorized_at: g.created_at,
                    last_used_at: g.last_used_at,
                    grants: 1,
                },
            );
        }
        Ok(order
            .into_iter()
            .filter_map(|k| apps.remove(&k))
            .map(|mut app| {
                app.resources.sort();
                app
            })
            .collect())
    }

    async fn disconnect(
        &self,
        caller: &Caller,
        user: UserId,
        grant: &str,
    ) -> Result<u64, ApiError> {
        let not_found = || ApiError::NotFound("grant");
        let id = GrantId::parse(grant).ok_or_else(not_found)?;
        let grant = self
            .ports
            .tokens
            .get_grant(id)
            .await?
            .filter(|g| g.user_id == user && g.is_active())
            .ok_or_else(not_found)?;
        let now = self.now();
        let revoked = self
            .ports
            .tokens
            .revoke_client_grants(user, &grant.client_id, now)
            .await?;
        self.publish_revocation(
            crate::model::RevokedSubject::App {
                user,
                client: grant.client_id.clone(),
            },
            "disconnected",
        )
        .await;
        tracing::info!(user = %user, client_id = %grant.client_id, grants = revoked, "app disconnected");
        self.audit(
            AuditEvent::new(AuditKind::GrantRevoked, now)
                .user(user)
                .client(&grant.client_id)
                .ip(caller.source)
                .detail("reason", "disconnected")
                .detail("actor", caller.user.id.to_string())
                .detail("grants", revoked),
        )
        .await;
        Ok(revoked)
    }
}
