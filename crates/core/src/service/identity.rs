//! Managing upstream identity providers (admin API) and a user's linked
//! identities (`/account`). The sign-in flow itself is in `upstream.rs`.

use super::{Caller, Gatehouse};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{
    GITHUB_ISSUER, IdentityProvider, IdpId, IdpKind, IdpName, LinkedIdentity, User, validate_name,
};

/// `POST /api/v1/oauth/identity-providers`; for `PATCH`, `None` keeps a
/// field.
#[derive(Clone, Default)]
pub struct IdentityProviderInput {
    /// The name in the callback path.
    pub name: Option<String>,
    /// What the button says.
    pub display_name: Option<String>,
    /// `oidc` or `github`.
    pub kind: Option<String>,
    /// The upstream issuer (required for `oidc`; GitHub's by default).
    pub issuer: Option<String>,
    /// Gatehouse's client id upstream.
    pub client_id: Option<String>,
    /// Gatehouse's client secret upstream; never returned.
    pub client_secret: Option<String>,
    /// Scopes asked for upstream.
    pub scopes: Option<Vec<String>>,
    /// Create accounts just in time.
    pub create_users: Option<bool>,
    /// Link by a verified email.
    pub link_by_verified_email: Option<bool>,
}

impl std::fmt::Debug for IdentityProviderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProviderInput")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A linked identity with the name of the provider it came through, for
/// the account page.
#[derive(Debug, Clone)]
pub struct LinkedIdentityView {
    /// The link.
    pub link: LinkedIdentity,
    /// The provider's display name.
    pub provider_name: String,
}

/// A store conflict on a provider is its name being taken.
fn name_taken(e: crate::ports::StoreError) -> ApiError {
    match e {
        crate::ports::StoreError::Conflict(_) => {
            ApiError::Conflict("an identity provider with that name exists".into())
        }
        e => e.into(),
    }
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(msg.into().into())
}

fn default_scopes(kind: IdpKind) -> Vec<String> {
    let s: &[&str] = match kind {
        IdpKind::Oidc => &["openid", "email", "profile"],
        // `read:user` for the profile, `user:email` for private addresses.
        IdpKind::Github => &["read:user", "user:email"],
    };
    s.iter().map(|s| (*s).to_owned()).collect()
}

fn check_scopes(kind: IdpKind, scopes: Vec<String>) -> Result<Vec<String>, ApiError> {
    if scopes.len() > 20 {
        return Err(unprocessable("at most 20 scopes"));
    }
    for s in &scopes {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if !ok {
            return Err(unprocessable(format!(
                "scope {s:?} is not a single scope token"
            )));
        }
    }
    if kind == IdpKind::Oidc && !scopes.iter().any(|s| s == "openid") {
        return Err(unprocessable(
            "an oidc provider's scopes must include openid (no ID token otherwise)",
        ));
    }
    Ok(scopes)
}

fn check_client_id(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 512 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(unprocessable(
            "client_id must be 1-512 visible ASCII characters",
        ));
    }
    Ok(raw.to_owned())
}

fn check_issuer(kind: IdpKind, raw: Option<&str>) -> Result<String, ApiError> {
    let issuer = match (kind, raw) {
        (_, Some(i)) => i.to_owned(),
        (IdpKind::Github, None) => GITHUB_ISSUER.to_owned(),
        (IdpKind::Oidc, None) => return Err(unprocessable("issuer is required for oidc")),
    };
    crate::upstream::check_endpoint(&issuer).map_err(|e| unprocessable(format!("issuer {e}")))?;
    if issuer.contains('?') {
        return Err(unprocessable("issuer must not carry a query"));
    }
    if kind == IdpKind::Github && issuer.ends_with('/') {
        return Err(unprocessable("a github issuer has no trailing slash"));
    }
    Ok(issuer)
}

impl Gatehouse {
    fn seal_idp_secret(&self, id: IdpId, secret: &str) -> Result<Vec<u8>, ApiError> {
        if secret.is_empty() || secret.len() > 1024 {
            return Err(unprocessable("client_secret must be 1-1024 characters"));
        }
        crate::jwt::seal_private_key(
            &self.master_key,
            &format!("idp-secret:{id}"),
            secret.as_bytes(),
        )
        .map_err(ApiError::Unexpected)
    }

    /// The provider's client secret, unsealed to be sent upstream.
    pub(crate) fn idp_secret(&self, p: &IdentityProvider) -> anyhow::Result<String> {
        let bytes = crate::jwt::open_private_key(
            &self.master_key,
            &format!("idp-secret:{}", p.id),
            &p.sealed_secret,
        )?;
        Ok(String::from_utf8(bytes)?)
    }

    /// Adds an upstream identity provider.
    ///
    /// # Errors
    /// 403 for non-admins; 409 for a taken name; 422 for invalid input.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn create_identity_provider(
        &self,
        caller: &Caller,
        input: IdentityProviderInput,
    ) -> Result<IdentityProvider, ApiError> {
        caller.require_admin()?;
        let required = |v: Option<String>, what: &str| {
            v.ok_or_else(|| unprocessable(format!("{what} is required")))
        };
        let name =
            IdpName::parse(&required(input.name, "name")?).map_err(|e| unprocessable(e.0))?;
        let kind_raw = required(input.kind, "kind")?;
        let kind = IdpKind::parse(&kind_raw)
            .ok_or_else(|| unprocessable("kind must be \"oidc\" or \"github\""))?;
        let issuer = check_issuer(kind, input.issuer.as_deref())?;
        let client_id = check_client_id(&required(input.client_id, "client_id")?)?;
        let display_name = validate_name(input.display_name.as_deref().unwrap_or(name.as_str()))?;
        let scopes = check_scopes(kind, input.scopes.unwrap_or_else(|| default_scopes(kind)))?;
        let id = IdpId::new();
        let sealed_secret =
            self.seal_idp_secret(id, &required(input.client_secret, "client_secret")?)?;
        let now = self.now();
        let p = IdentityProvider {
            id,
            name,
            display_name,
            kind,
            issuer,
            client_id,
            sealed_secret,
            scopes,
            create_users: input.create_users.unwrap_or(false),
            link_by_verified_email: input.link_by_verified_email.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        self.ports
            .identities
            .insert_provider(&p)
            .await
            .map_err(name_taken)?;
        tracing::info!(provider = %p.name, admin = %caller.user.id, "identity provider added");
        self.audit(
            AuditEvent::new(AuditKind::IdentityProviderCreated, self.now())
                .user(caller.user.id)
                .ip(caller.source)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        Ok(p)
    }

    /// Every provider.
    ///
    /// # Errors
    /// 403 for non-admins.
    pub async fn list_identity_providers(
        &self,
        caller: &Caller,
    ) -> Result<Vec<IdentityProvider>, ApiError> {
        caller.require_admin()?;
        Ok(self.ports.identities.list_providers().await?)
    }

    /// The providers offered on sign-in pages: name and button text.
    ///
    /// # Errors
    /// A store failure.
    pub async fn sign_in_providers(&self) -> Result<Vec<(String, String)>, ApiError> {
        Ok(self
            .ports
            .identities
            .list_providers()
            .await?
            .into_iter()
            .map(|p| (p.name.as_str().to_owned(), p.display_name))
            .collect())
    }

    /// One provider.
    ///
    /// # Errors
    /// 403; 404.
    pub async fn get_identity_provider(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<IdentityProvider, ApiError> {
        caller.require_admin()?;
        let id = IdpId::parse(id).ok_or(ApiError::NotFound("identity provider"))?;
        self.ports
            .identities
            .get_provider(id)
            .await?
            .ok_or(ApiError::NotFound("identity provider"))
    }

    /// Changes a provider. Its kind and issuer are fixed: linked identities
    /// are keyed by the issuer, so a new issuer is a new provider.
    ///
    /// # Errors
    /// 403; 404; 409; 422.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn update_identity_provider(
        &self,
        caller: &Caller,
        id: &str,
        input: IdentityProviderInput,
    ) -> Result<IdentityProvider, ApiError> {
        let mut p = self.get_identity_provider(caller, id).await?;
        if input.kind.as_deref().is_some_and(|k| k != p.kind.as_str()) {
            return Err(unprocessable("kind cannot change; add a new provider"));
        }
        if input.issuer.as_deref().is_some_and(|i| i != p.issuer) {
            return Err(unprocessable(
                "issuer cannot change: linked identities are keyed by it; add a new provider",
            ));
        }
        if let Some(n) = input.name {
            p.name = IdpName::parse(&n).map_err(|e| unprocessable(e.0))?;
        }
        if let Some(d) = input.display_name {
            p.display_name = validate_name(&d)?;
        }
        if let Some(c) = input.client_id {
            p.client_id = check_client_id(&c)?;
        }
        if let Some(s) = input.client_secret {
            p.sealed_secret = self.seal_idp_secret(p.id, &s)?;
        }
        if let Some(s) = input.scopes {
            p.scopes = check_scopes(p.kind, s)?;
        }
        if let Some(b) = input.create_users {
            p.create_users = b;
        }
        if let Some(b) = input.link_by_verified_email {
            p.link_by_verified_email = b;
        }
        p.updated_at = self.now();
        self.ports
            .identities
            .update_provider(&p)
            .await
            .map_err(name_taken)?;
        self.audit(
            AuditEvent::new(AuditKind::IdentityProviderUpdated, self.now())
                .user(caller.user.id)
                .ip(caller.source)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        Ok(p)
    }

    /// Deletes a provider and every identity linked through it. Accounts
    /// stay; their sessions stay too (they were signed in properly).
    ///
    /// # Errors
    /// 403; 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_identity_provider(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(), ApiError> {
        let p = self.get_identity_provider(caller, id).await?;
        self.ports.identities.delete_provider(p.id).await?;
        self.upstream_cache.forget(&p.issuer);
        tracing::info!(provider = %p.name, admin = %caller.user.id, "identity provider deleted");
        self.audit(
            AuditEvent::new(AuditKind::IdentityProviderDeleted, self.now())
                .user(caller.user.id)
                .ip(caller.source)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        Ok(())
    }

    /// The identities `user` linked, with their providers' names.
    ///
    /// # Errors
    /// A store failure.
    pub async fn linked_identities(
        &self,
        user: &User,
    ) -> Result<Vec<LinkedIdentityView>, ApiError> {
        let providers = self.ports.identities.list_providers().await?;
        Ok(self
            .ports
            .identities
            .user_identities(user.id)
            .await?
            .into_iter()
            .map(|link| LinkedIdentityView {
                provider_name: providers
                    .iter()
                    .find(|p| p.id == link.provider)
                    .map_or_else(|| link.issuer.clone(), |p| p.display_name.clone()),
                link,
            })
            .collect())
    }

    /// Removes one of `user`'s linked identities, unless it is their only
    /// way to sign in (no password, no other link, no passkey).
    ///
    /// # Errors
    /// 404 when it is not theirs; 409 when it is their last way in.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn unlink_identity(
        &self,
        user: &User,
        issuer: &str,
        subject: &str,
    ) -> Result<(), ApiError> {
        let links = self.ports.identities.user_identities(user.id).await?;
        if !links
            .iter()
            .any(|l| l.issuer == issuer && l.subject == subject)
        {
            return Err(ApiError::NotFound("linked identity"));
        }
        if links.len() == 1
            && !user.password_hash.is_usable()
            && self.ports.factors.passkeys(user.id).await?.is_empty()
        {
            return Err(ApiError::Conflict(
                "this is your only way to sign in: link another account first".into(),
            ));
        }
        if !self
            .ports
            .identities
            .unlink_identity(user.id, issuer, subject)
            .await?
        {
            return Err(ApiError::NotFound("linked identity"));
        }
        tracing::info!(user = %user.id, "linked identity removed");
        self.audit(
            AuditEvent::new(AuditKind::IdentityUnlinked, self.now())
                .user(user.id)
                .detail("issuer", issuer),
        )
        .await;
        Ok(())
    }
}
