//! The registry of protected resources (MCP servers and other APIs) that
//! tokens may be issued for (DESIGN §9).

use super::{Caller, Gatehouse};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{Resource, ResourceId, validate_name};
use crate::resource::canonical_resource;
use crate::scope::{ADMIN_SCOPE, ScopeSet, is_protocol_scope};

/// `POST /api/v1/oauth/resources`; for `PATCH`, `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct ResourceInput {
    /// The resource URI (canonicalized before storage).
    pub resource: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Scopes it accepts.
    pub scopes: Option<Vec<String>>,
}

fn scopes(raw: &[String]) -> Result<ScopeSet, ApiError> {
    if raw.iter().any(|s| s.is_empty() || s.contains(' ')) {
        return Err(ApiError::Unprocessable(
            "each scope must be a single token".into(),
        ));
    }
    let set = ScopeSet::parse(&raw.join(" "))
        .map_err(|e| ApiError::Unprocessable(e.to_string().into()))?;
    if set.contains(ADMIN_SCOPE) || set.iter().any(is_protocol_scope) {
        return Err(ApiError::Unprocessable(
            "'admin', 'offline_access' and 'openid' cannot be resource scopes".into(),
        ));
    }
    Ok(set)
}

impl Gatehouse {
    fn resource_uri(&self, raw: &str) -> Result<String, ApiError> {
        let uri =
            canonical_resource(raw).map_err(|e| ApiError::Unprocessable(e.to_string().into()))?;
        if canonical_resource(&self.settings.api_audience).is_ok_and(|api| api == uri) {
            return Err(ApiError::Conflict(
                "that URI is the platform API itself".into(),
            ));
        }
        Ok(uri)
    }

    /// Registers a resource.
    ///
    /// # Errors
    /// 403 for non-admins; 409 for a taken URI; 422 for invalid input.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn create_resource(
        &self,
        caller: &Caller,
        input: ResourceInput,
    ) -> Result<Resource, ApiError> {
        caller.require_admin()?;
        let uri = self.resource_uri(
            input
                .resource
                .as_deref()
                .ok_or_else(|| ApiError::Unprocessable("resource is required".into()))?,
        )?;
        let now = self.now();
        let r = Resource {
            id: ResourceId::new(),
            name: validate_name(input.name.as_deref().unwrap_or(&uri))?,
            uri,
            scopes: scopes(&input.scopes.unwrap_or_default())?,
            created_at: now,
            updated_at: now,
        };
        self.ports.resources.insert_resource(&r).await?;
        tracing::info!(resource = %r.uri, admin = %caller.user.id, "resource registered");
        self.audit(
            AuditEvent::new(AuditKind::ResourceCreated, self.now())
                .user(caller.user.id)
                .ip(caller.source)
                .detail("resource", r.uri.clone()),
        )
        .await;
        Ok(r)
    }

    /// Every resource.
    ///
    /// # Errors
    /// 403 for non-admins.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn list_resources(&self, caller: &Caller) -> Result<Vec<Resource>, ApiError> {
        caller.require_admin()?;
        Ok(self.ports.resources.list_resources().await?)
    }

    /// One resource.
    ///
    /// # Errors
    /// 403; 404.
    pub async fn get_resource(&self, caller: &Caller, id: &str) -> Result<Resource, ApiError> {
        caller.require_admin()?;
        let id = ResourceId::parse(id).ok_or(ApiError::NotFound("resource"))?;
        self.ports
            .resources
            .get_resource(id)
            .await?
            .ok_or(ApiError::NotFound("resource"))
    }

    /// Changes a resource.
    ///
    /// # Errors
    /// 403; 404; 409; 422.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn update_resource(
        &self,
        caller: &Caller,
        id: &str,
        input: ResourceInput,
    ) -> Result<Resource, ApiError> {
        let mut r = self.get_resource(caller, id).await?;
        if let Some(uri) = input.resource {
            r.uri = self.resource_uri(&uri)?;
        }
        if let Some(name) = input.name {
            r.name = validate_name(&name)?;
        }
        if let Some(s) = input.scopes {
            r.scopes = scopes(&s)?;
        }
        r.updated_at = self.now();
        self.ports.resources.update_resource(&r).await?;
        Ok(r)
    }

    /// Deletes a resource; tokens already issued for it stop being
    /// refreshable (the resource no longer resolves) and expire.
    ///
    /// # Errors
    /// 403; 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_resource(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        let r = self.get_resource(caller, id).await?;
        self.ports.resources.delete_resource(r.id).await?;
        tracing::info!(resource = %r.uri, admin = %caller.user.id, "resource deleted");
        self.audit(
            AuditEvent::new(AuditKind::ResourceDeleted, self.now())
                .user(caller.user.id)
                .ip(caller.source)
                .detail("resource", r.uri),
        )
        .await;
        Ok(())
    }
}
