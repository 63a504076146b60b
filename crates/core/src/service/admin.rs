//! Client administration: what a platform admin does before any OAuth flow
//! can start.

use super::{Caller, Gatehouse};
use crate::error::ApiError;
use crate::model::{Client, ClientId, ClientKind, validate_name};
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
}

fn parse_redirects(raw: &[String]) -> Result<Vec<RedirectUri>, ApiError> {
    if raw.is_empty() {
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

fn parse_scopes(raw: &[String]) -> Result<ScopeSet, ApiError> {
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
    if let Some(unknown) = set.iter().find(|s| !known.contains(s)) {
        return Err(ApiError::Unprocessable(
            format!("unknown scope '{unknown}'").into(),
        ));
    }
    Ok(set)
}

impl Gatehouse {
    /// Registers a client; returns it with its secret, which is never
    /// retrievable again.
    ///
    /// # Errors
    /// 403 for non-admins; 422 for invalid names, redirect URIs or scopes.
    pub async fn create_client(
        &self,
        caller: &Caller,
        req: NewClient,
    ) -> Result<(Client, Option<Secret>), ApiError> {
        caller.require_admin()?;
        let now = self.now();
        let kind = if req.is_confidential {
            ClientKind::Confidential
        } else {
            ClientKind::Public
        };
        let secret = req.is_confidential.then(|| Secret::generate(SECRET_PREFIX));
        let client = Client {
            id: ClientId::generate(),
            secret_hash: secret.as_ref().map(Secret::hash),
            name: validate_name(&req.name)?,
            description: bounded_description(req.description)?,
            redirect_uris: parse_redirects(&req.redirect_uris)?,
            allowed_scopes: parse_scopes(&req.allowed_scopes)?,
            kind,
            require_pkce: kind == ClientKind::Public || req.require_pkce.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        self.ports.clients.insert_client(&client).await?;
        tracing::info!(client_id = %client.id, admin = %caller.user.id, "client registered");
        Ok((client, secret))
    }

    /// Every client.
    ///
    /// # Errors
    /// 403 for non-admins.
    pub async fn list_clients(&self, caller: &Caller) -> Result<Vec<Client>, ApiError> {
        caller.require_admin()?;
        Ok(self.ports.clients.list_clients().await?)
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
            client.description = bounded_description(Some(d))?;
        }
        if let Some(r) = patch.redirect_uris {
            client.redirect_uris = parse_redirects(&r)?;
        }
        if let Some(s) = patch.allowed_scopes {
            client.allowed_scopes = parse_scopes(&s)?;
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
        Ok(client)
    }

    /// Deletes a client and everything issued to it.
    ///
    /// # Errors
    /// 403, 404.
    pub async fn delete_client(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let client = self.get_client(caller, id).await?;
        if !self.ports.clients.delete_client(&client.id).await? {
            return Err(ApiError::NotFound("client"));
        }
        tracing::info!(client_id = %client.id, admin = %caller.user.id, "client deleted");
        Ok(())
    }

    /// Replaces a confidential client's secret; the old one stops working at
    /// once.
    ///
    /// # Errors
    /// 403, 404, or 422 for a public client.
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
        Ok((client, secret))
    }
}

fn bounded_description(d: Option<String>) -> Result<String, ApiError> {
    let d = d.unwrap_or_default();
    if d.chars().count() > 2000 {
        return Err(ApiError::Unprocessable(
            "description is too long (at most 2000 characters)".into(),
        ));
    }
    Ok(d.trim().to_owned())
}
