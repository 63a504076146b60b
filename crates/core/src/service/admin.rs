//! Client administration: what a platform admin does before any OAuth flow
//! can start.

use super::{Caller, Gatehouse};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{
    ApplicationType, Client, ClientId, ClientOrigin, GrantType, TokenEndpointAuthMethod, UserId,
    validate_description, validate_name,
};
use crate::redirect::RedirectUri;
use crate::scope::ScopeSet;
use crate::secret::Secret;

/// Prefix of client secrets (DESIGN §4).
const SECRET_PREFIX: &str = "secret_";
/// Most redirect URIs one client may register.
const MAX_REDIRECTS: usize = 20;

/// The seed's registration body.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request; empty means the platform's
    /// non-admin scopes.
    pub allowed_scopes: Vec<String>,
    /// Confidential (with a secret) or public.
    pub is_confidential: bool,
    /// For confidential clients: whether PKCE is required (default true).
    pub require_pkce: Option<bool>,
    /// Grants it may use; default `authorization_code` and `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// The protected resource this client serves (an MCP server's own
    /// credential), which lets it exchange its users' tokens.
    pub resource: Option<String>,
    /// Audiences it may exchange its users' tokens for without each user
    /// having approved that audience: registered resource URIs, or the
    /// platform API's.
    pub exchange_targets: Option<Vec<String>>,
    /// The resource its authorization requests get when they name none: a
    /// registered resource URI, or the platform API's audience.
    pub default_resource: Option<String>,
    /// Where RP-initiated logout may send the browser afterwards (OpenID
    /// Connect RP-Initiated Logout §3.1); matched exactly, like redirect
    /// URIs.
    pub post_logout_redirect_uris: Option<Vec<String>>,
}

/// Which clients [`Gatehouse::list_clients`] returns; the default is all.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    /// Only clients registered this way.
    pub origin: Option<crate::model::ClientOrigin>,
    /// Only clients unused (never, or last) for at least this many days.
    pub unused_days: Option<u32>,
}

impl ClientFilter {
    fn admits(&self, c: &Client, now: time::OffsetDateTime) -> bool {
        self.origin.is_none_or(|o| c.origin == o)
            && self.unused_days.is_none_or(|d| {
                c.last_used_at.unwrap_or(c.created_at) <= now - time::Duration::days(d.into())
            })
    }
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New allowed scopes.
    pub allowed_scopes: Option<Vec<String>>,
    /// New PKCE policy (confidential clients only).
    pub require_pkce: Option<bool>,
    /// New grant types.
    pub grant_types: Option<Vec<String>>,
    /// New served resource; an empty string clears it.
    pub resource: Option<String>,
    /// New token-exchange targets; an empty list clears them.
    pub exchange_targets: Option<Vec<String>>,
    /// New default resource; an empty string clears it.
    pub default_resource: Option<String>,
    /// New post-logout redirect URIs; an empty list clears them.
    pub post_logout_redirect_uris: Option<Vec<String>>,
}

fn parse_redirects(raw: &[String], uses_code: bool) -> Result<Vec<RedirectUri>, ApiError> {
    if raw.is_empty() && uses_code {
        return Err(ApiError::Unprocessable(
            "at least one redirect URI is required".into(),
        ));
    }
    if raw.len() > MAX_REDIRECTS {
        return Err(ApiError::Unprocessable(
            "too many redirect URIs (at most 20)".into(),
        ));
    }
    let mut out: Vec<RedirectUri> = Vec::with_capacity(raw.len());
    for r in raw {
        let uri = RedirectUri::parse(r).map_err(|e| {
            ApiError::Unprocessable(
                format!(
                    "redirect URI '{}': {e}",
                    r.chars().take(100).collect::<String>()
                )
                .into(),
            )
        })?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// Post-logout redirect URIs, under the rules of redirect URIs, as kept in
/// the client's metadata; `None` (remove the key) for an empty list.
fn post_logout_uris(raw: &[String]) -> Result<Option<serde_json::Value>, ApiError> {
    let uris = parse_redirects(raw, false)?;
    Ok((!uris.is_empty()).then(|| serde_json::json!(uris)))
}

fn parse_grants(raw: Option<&[String]>, confidential: bool) -> Result<Vec<GrantType>, ApiError> {
    let Some(raw) = raw else {
        return Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    };
    let mut out = Vec::new();
    for g in raw {
        let g = GrantType::parse(g)
            .filter(|g| *g != GrantType::TokenExchange || confidential)
            .ok_or_else(|| {
                ApiError::Unprocessable(
                    format!(
                        "unsupported grant type '{}'",
                        g.chars().take(80).collect::<String>()
                    )
                    .into(),
                )
            })?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.is_empty() {
        return Err(ApiError::Unprocessable(
            "grant_types must not be empty".into(),
        ));
    }
    if !confidential
        && out
            .iter()
            .any(|g| matches!(g, GrantType::ClientCredentials | GrantType::TokenExchange))
    {
        return Err(ApiError::Unprocessable(
            "client_credentials needs a confidential client".into(),
        ));
    }
    Ok(out)
}

fn parse_scopes(raw: &[String], resource_scopes: &ScopeSet) -> Result<ScopeSet, ApiError> {
    if raw.is_empty() {
        return Ok(crate::model::Role::User.permitted_scopes());
    }
    let set = ScopeSet::parse(&raw.join(" "))
        .map_err(|e| ApiError::Unprocessable(e.to_string().into()))?;
    if raw.iter().any(|s| s.contains(' ') || s.is_empty()) {
        return Err(ApiError::Unprocessable(
            "each scope must be a single token".into(),
        ));
    }
    let known = ScopeSet::all_known();
    if let Some(unknown) = set
        .iter()
        .find(|s| !known.contains(s) && !resource_scopes.contains(s))
    {
        return Err(ApiError::Unprocessable(
            format!("unknown scope '{unknown}'").into(),
        ));
    }
    Ok(set)
}

impl Gatehouse {
    /// `{"resource": uri}` for a registered resource, `{}` for none.
    async fn served_resource_metadata(
        &self,
        resource: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        let Some(raw) = resource else {
            return Ok(serde_json::json!({}));
        };
        match self.resolve_resource(raw).await {
            Ok(Some(r)) => Ok(serde_json::json!({ "resource": r.uri })),
            Ok(None) => Err(ApiError::Unprocessable(
                "the platform API cannot be a client's resource".into(),
            )),
            Err(e) => Err(ApiError::Unprocessable(e.description)),
        }
    }

    /// Canonical, registered token-exchange targets (the platform API's
    /// audience included), deduplicated.
    async fn exchange_targets(&self, raw: &[String]) -> Result<Vec<String>, ApiError> {
        if raw.len() > 50 {
            return Err(ApiError::Unprocessable(
                "too many exchange targets (at most 50)".into(),
            ));
        }
        let mut out: Vec<String> = Vec::new();
        for t in raw {
            let uri = match self.resolve_resource(t).await {
                Ok(Some(r)) => r.uri,
                Ok(None) => self.settings.api_audience.clone(),
                Err(e) => {
                    return Err(ApiError::Unprocessable(
                        format!("exchange target '{t}': {}", e.description).into(),
                    ));
                }
            };
            if !out.contains(&uri) {
                out.push(uri);
            }
        }
        Ok(out)
    }

    /// A client's `default_resource` in canonical form: a registered
    /// resource, or the platform API's audience (which lets an admin client
    /// keep platform tokens whatever the server-wide default says).
    async fn default_resource(&self, raw: &str) -> Result<String, ApiError> {
        match self.resolve_resource(raw).await {
            Ok(Some(r)) => Ok(r.uri),
            Ok(None) => Ok(self.settings.api_audience.clone()),
            Err(e) => Err(ApiError::Unprocessable(
                format!("default_resource: {}", e.description).into(),
            )),
        }
    }

    /// Sets or clears one key of a client's metadata object.
    fn set_metadata(client: &mut Client, key: &str, value: Option<serde_json::Value>) {
        if !client.metadata.is_object() {
            client.metadata = serde_json::json!({});
        }
        if let Some(m) = client.metadata.as_object_mut() {
            match value {
                Some(v) => {
                    m.insert(key.to_owned(), v);
                }
                None => {
                    m.remove(key);
                }
            }
        }
    }

    /// Every scope some registered resource accepts.
    async fn resource_scopes(&self) -> Result<ScopeSet, ApiError> {
        let mut all = ScopeSet::empty();
        for r in self.ports.resources.list_resources().await? {
            all = all.union(&r.scopes);
        }
        Ok(all)
    }

    /// Registers a client; returns it with its secret, which is never
    /// retrievable again.
    ///
    /// # Errors
    /// 403 for non-admins; 422 for invalid names, redirect URIs or scopes.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn create_client(
        &self,
        caller: &Caller,
        req: NewClient,
    ) -> Result<(Client, Option<Secret>), ApiError> {
        caller.require_admin()?;
        let now = self.now();
        let auth_method = if req.is_confidential {
            TokenEndpointAuthMethod::ClientSecretBasic
        } else {
            TokenEndpointAuthMethod::None
        };
        let secret = req.is_confidential.then(|| Secret::generate(SECRET_PREFIX));
        let grant_types = parse_grants(req.grant_types.as_deref(), req.is_confidential)?;
        let uses_code = grant_types.contains(&GrantType::AuthorizationCode);
        let redirect_uris = parse_redirects(&req.redirect_uris, uses_code)?;
        let native = redirect_uris
            .iter()
            .all(|r| r.is_loopback() || !r.as_str().starts_with("http"));
        let mut client = Client {
            id: ClientId::generate(),
            secret_hash: secret.as_ref().map(Secret::hash),
            name: validate_name(&req.name)?,
            description: validate_description(req.description)?,
            redirect_uris,
            allowed_scopes: parse_scopes(&req.allowed_scopes, &self.resource_scopes().await?)?,
            auth_method,
            grant_types,
            application_type: if native {
                ApplicationType::Native
            } else {
                ApplicationType::Web
            },
            origin: ClientOrigin::Admin,
            require_pkce: !req.is_confidential || req.require_pkce.unwrap_or(true),
            registration_token_hash: None,
            metadata: self
                .served_resource_metadata(req.resource.as_deref())
                .await?,
            metadata_expires_at: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            registration_key: None,
        };
        if let Some(targets) = &req.exchange_targets {
            let targets = self.exchange_targets(targets).await?;
            if !targets.is_empty() {
                Self::set_metadata(&mut client, "exchange_targets", Some(targets.into()));
            }
        }
        if let Some(raw) = &req.default_resource {
            let uri = self.default_resource(raw).await?;
            Self::set_metadata(&mut client, "default_resource", Some(uri.into()));
        }
        if let Some(raw) = &req.post_logout_redirect_uris {
            Self::set_metadata(
                &mut client,
                "post_logout_redirect_uris",
                post_logout_uris(raw)?,
            );
        }
        self.ports.clients.insert_client(&client).await?;
        tracing::info!(client_id = %client.id, admin = %caller.user.id, "client registered");
        self.audit(
            AuditEvent::new(AuditKind::ClientCreated, self.now())
                .user(caller.user.id)
                .client(&client.id)
                .ip(caller.source),
        )
        .await;
        Ok((client, secret))
    }

    /// Every client.
    ///
    /// # Errors
    /// 403 for non-admins.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn list_clients(
        &self,
        caller: &Caller,
        filter: &ClientFilter,
    ) -> Result<Vec<Client>, ApiError> {
        caller.require_admin()?;
        let now = self.now();
        let mut clients = self.ports.clients.list_clients().await?;
        clients.retain(|c| filter.admits(c, now));
        Ok(clients)
    }

    /// Deletes the self-registered clients (dynamic, metadata document)
    /// with no live grant and unused for `idle_days` (0: every such client
    /// not in use), with their records: what an admin does by hand that
    /// `GATEHOUSE_DYNAMIC_CLIENT_IDLE_DAYS` does every minute. Returns how
    /// many went.
    ///
    /// # Errors
    /// 403 for non-admins; 422 for more than 3650 days.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_idle_clients(
        &self,
        caller: &Caller,
        idle_days: u32,
    ) -> Result<u64, ApiError> {
        caller.require_admin()?;
        if idle_days > 3650 {
            return Err(ApiError::Unprocessable(
                "idle_days must be at most 3650".into(),
            ));
        }
        let cutoff = self.now() - time::Duration::days(idle_days.into());
        Ok(self
            .reap_idle_clients(cutoff, "deleted by an administrator as idle")
            .await?)
    }

    /// One client.
    ///
    /// # Errors
    /// 403 for non-admins, 404 if absent.
    pub async fn get_client(&self, caller: &Caller, id: &str) -> Result<Client, ApiError> {
        caller.require_admin()?;
        let id = ClientId::parse(id).map_err(|_| ApiError::NotFound("client"))?;
        self.ports
            .clients
            .get_client(&id)
            .await?
            .ok_or(ApiError::NotFound("client"))
    }

    /// Changes a client.
    ///
    /// # Errors
    /// 403, 404, or 422 as for creation.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn update_client(
        &self,
        caller: &Caller,
        id: &str,
        patch: ClientPatch,
    ) -> Result<Client, ApiError> {
        let mut client = self.get_client(caller, id).await?;
        if let Some(name) = patch.name {
            client.name = validate_name(&name)?;
        }
        if let Some(d) = patch.description {
            client.description = validate_description(Some(d))?;
        }
        if let Some(g) = patch.grant_types {
            client.grant_types = parse_grants(Some(&g), client.is_confidential())?;
        }
        let uses_code = client.may_use(GrantType::AuthorizationCode);
        if let Some(r) = patch.redirect_uris {
            client.redirect_uris = parse_redirects(&r, uses_code)?;
        } else if uses_code && client.redirect_uris.is_empty() {
            return Err(ApiError::Unprocessable(
                "the authorization_code grant needs redirect URIs".into(),
            ));
        }
        if let Some(s) = patch.allowed_scopes {
            client.allowed_scopes = parse_scopes(&s, &self.resource_scopes().await?)?;
        }
        if let Some(r) = patch.resource {
            let served = self
                .served_resource_metadata(Some(&r).filter(|r| !r.is_empty()).map(String::as_str))
                .await?;
            Self::set_metadata(&mut client, "resource", served.get("resource").cloned());
        }
        if let Some(t) = patch.exchange_targets {
            let targets = self.exchange_targets(&t).await?;
            let value = (!targets.is_empty()).then(|| targets.into());
            Self::set_metadata(&mut client, "exchange_targets", value);
        }
        if let Some(raw) = patch.default_resource {
            let value = match raw.as_str() {
                "" => None,
                raw => Some(self.default_resource(raw).await?.into()),
            };
            Self::set_metadata(&mut client, "default_resource", value);
        }
        if let Some(raw) = patch.post_logout_redirect_uris {
            Self::set_metadata(
                &mut client,
                "post_logout_redirect_uris",
                post_logout_uris(&raw)?,
            );
        }
        if let Some(p) = patch.require_pkce {
            if !p && !client.is_confidential() {
                return Err(ApiError::Unprocessable(
                    "public clients must always use PKCE".into(),
                ));
            }
            client.require_pkce = p;
        }
        client.updated_at = self.now();
        self.ports.clients.update_client(&client).await?;
        self.audit(
            AuditEvent::new(AuditKind::ClientUpdated, self.now())
                .user(caller.user.id)
                .client(&client.id)
                .ip(caller.source),
        )
        .await;
        Ok(client)
    }

    /// Deletes a client and everything issued to it.
    ///
    /// # Errors
    /// 403, 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_client(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let client = self.get_client(caller, id).await?;
        if !self.ports.clients.delete_client(&client.id).await? {
            return Err(ApiError::NotFound("client"));
        }
        self.publish_revocation(
            crate::model::RevokedSubject::Client {
                client: client.id.clone(),
            },
            "client_deleted",
        )
        .await;
        tracing::info!(client_id = %client.id, admin = %caller.user.id, "client deleted");
        self.audit(
            AuditEvent::new(AuditKind::ClientDeleted, self.now())
                .user(caller.user.id)
                .client(&client.id)
                .ip(caller.source),
        )
        .await;
        Ok(())
    }

    /// Replaces a confidential client's secret; the old one stops working at
    /// once.
    ///
    /// # Errors
    /// 403, 404, or 422 for a public client.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn rotate_client_secret(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Client, Secret), ApiError> {
        let mut client = self.get_client(caller, id).await?;
        if !client.is_confidential() {
            return Err(ApiError::Unprocessable(
                "public clients have no secret".into(),
            ));
        }
        let secret = Secret::generate(SECRET_PREFIX);
        client.secret_hash = Some(secret.hash());
        client.updated_at = self.now();
        self.ports.clients.update_client(&client).await?;
        tracing::info!(client_id = %client.id, admin = %caller.user.id, "client secret rotated");
        self.audit(
            AuditEvent::new(AuditKind::ClientUpdated, self.now())
                .user(caller.user.id)
                .client(&client.id)
                .ip(caller.source)
                .detail("secret", "rotated"),
        )
        .await;
        Ok((client, secret))
    }
}

impl Gatehouse {
    /// Revokes what `user` granted: to `client` only (disconnecting one
    /// app), or to every client together with their sessions (a suspected
    /// compromise). Administrators only. Returns how many grants were
    /// active.
    ///
    /// # Errors
    /// 403; store failures.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user))]
    pub async fn revoke_user_grants(
        &self,
        caller: &Caller,
        user: UserId,
        client: Option<&ClientId>,
    ) -> Result<u64, ApiError> {
        caller.require_admin()?;
        let now = self.now();
        let revoked = match client {
            Some(c) => self.ports.tokens.revoke_client_grants(user, c, now).await?,
            None => self.ports.tokens.revoke_user_tokens(user, now).await?,
        };
        let subject = match client {
            Some(c) => crate::model::RevokedSubject::App {
                user,
                client: c.clone(),
            },
            None => crate::model::RevokedSubject::User { user },
        };
        self.publish_revocation(subject, "administrator").await;
        let mut event = AuditEvent::new(AuditKind::GrantRevoked, now)
            .user(user)
            .ip(caller.source)
            .detail("reason", "administrator")
            .detail("actor", caller.user.id.to_string())
            .detail("grants", revoked);
        if let Some(c) = client {
            event = event.client(c);
        }
        self.audit(event).await;
        Ok(revoked)
    }
}
