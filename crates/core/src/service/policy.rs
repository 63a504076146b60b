//! Who may get which scope for which audience: the one place that decides,
//! so `/authorize`, every grant and registration agree.

use super::Gatehouse;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientOrigin, GrantType, Resource, Role};
use crate::params::Params;
use crate::resource::canonical_resource;
use crate::scope::{ADMIN_SCOPE, OFFLINE_ACCESS, ScopeSet, is_protocol_scope};

/// Whether `client` may ever be granted `scope`.
///
/// Admin-registered clients get exactly their `allowed_scopes`. Dynamically
/// registered and metadata-document clients may ask for anything but
/// `admin`: the user's consent is the gate (DESIGN §9). Their registered
/// `scope` is not a ceiling, because MCP clients register with the scope of
/// their first challenge and must later step up to the union of old and new
/// scopes (MCP authorization, "Scope Challenge Handling").
/// `offline_access` follows the client's `refresh_token` grant.
pub fn client_allows(client: &Client, scope: &str) -> bool {
    if scope == OFFLINE_ACCESS {
        return client.may_use(GrantType::RefreshToken);
    }
    if client.origin != ClientOrigin::Admin {
        return scope != ADMIN_SCOPE;
    }
    client.allowed_scopes.contains(scope)
}

fn invalid_target(d: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

impl Gatehouse {
    /// The resource an authorization request is for: the one it names;
    /// else the client's own `default_resource`; else, for self-registered
    /// clients, `GATEHOUSE_DEFAULT_RESOURCE`; else the platform API. The
    /// default is resolved like a named resource, so aud, scopes, consent
    /// and refresh all behave as if the client had sent it.
    ///
    /// # Errors
    /// `invalid_target` for a malformed, repeated or unknown resource,
    /// including a default that names a resource no longer registered.
    pub(crate) async fn authorization_resource(
        &self,
        params: &Params,
        client: &Client,
    ) -> Result<Option<Resource>, OAuthError> {
        if let Some(named) = super::token::request_resource(params)? {
            return self.resolve_resource(&named).await;
        }
        let Some(default) = self.default_resource_for(client) else {
            return Ok(None);
        };
        self.resolve_resource(default).await.map_err(|e| {
            tracing::warn!(client_id = %client.id, resource = default, error = %e.description,
                "the default resource is not registered");
            invalid_target(
                "the request names no resource and this server's default resource is not \
                 registered; an administrator must register it",
            )
        })
    }

    /// The resource `client` is given when it names none (see
    /// [`Gatehouse::authorization_resource`]).
    pub fn default_resource_for<'a>(&'a self, client: &'a Client) -> Option<&'a str> {
        client.default_resource().or(match client.origin {
            ClientOrigin::Admin => None,
            ClientOrigin::Dynamic | ClientOrigin::Metadata => {
                self.settings.default_resource.as_deref()
            }
        })
    }

    /// Whether `GATEHOUSE_DEFAULT_RESOURCE` names a resource requests can
    /// get (`None` when it is unset): a start warns about a default that
    /// would fail every request relying on it.
    pub async fn default_resource_is_usable(&self) -> Option<bool> {
        let uri = self.settings.default_resource.as_deref()?;
        Some(matches!(self.resolve_resource(uri).await, Ok(Some(_))))
    }

    /// [`Gatehouse::resolve_resource`] for an optional `resource`.
    ///
    /// # Errors
    /// As [`Gatehouse::resolve_resource`].
    pub(crate) async fn resolve_resource_opt(
        &self,
        raw: Option<&str>,
    ) -> Result<Option<Resource>, OAuthError> {
        match raw {
            None => Ok(None),
            Some(raw) => self.resolve_resource(raw).await,
        }
    }

    /// Resolves a resource URI.
    ///
    /// # Errors
    /// `invalid_target` if it is malformed or not registered.
    pub(crate) async fn resolve_resource(&self, raw: &str) -> Result<Option<Resource>, OAuthError> {
        let uri = canonical_resource(raw)
            .map_err(|e| OAuthError::new(ErrorCode::InvalidTarget, e.to_string()))?;
        if canonical_resource(&self.settings.api_audience).is_ok_and(|api| api == uri) {
            return Ok(None);
        }
        self.ports
            .resources
            .get_resource_by_uri(&uri)
            .await?
            .map(Some)
            .ok_or_else(|| {
                invalid_target("the resource is not registered with this authorization server")
            })
    }

    /// The `aud` for tokens bound to `resource`.
    pub(crate) fn audience(&self, resource: Option<&str>) -> String {
        resource.map_or_else(|| self.settings.api_audience.clone(), str::to_owned)
    }

    /// What a request gets when it names no scope (RFC 6749 §3.3's
    /// documented default): everything the client and audience allow.
    pub(crate) fn default_scope(&self, client: &Client, resource: Option<&Resource>) -> ScopeSet {
        let candidates = match resource {
            Some(r) => r.scopes.clone(),
            None => ScopeSet::all_known().filter(|s| !is_protocol_scope(s)),
        };
        candidates.filter(|s| client_allows(client, s) && s != ADMIN_SCOPE)
    }

    /// `requested`, reduced to what the client, the user's role (if a user
    /// is involved) and the audience all allow.
    pub(crate) fn grantable(
        &self,
        requested: &ScopeSet,
        client: &Client,
        role: Option<Role>,
        resource: Option<&Resource>,
    ) -> ScopeSet {
        let known = ScopeSet::all_known();
        requested.filter(|s| {
            let audience_ok = is_protocol_scope(s)
                || match resource {
                    Some(r) => r.scopes.contains(s),
                    None => known.contains(s),
                };
            let role_ok = role.map_or(s != ADMIN_SCOPE, |r| r.permits(s));
            audience_ok && role_ok && client_allows(client, s)
        })
    }
}

impl Gatehouse {
    /// Finds a client by id, fetching (or refreshing) its metadata document
    /// when the id is an https URL and CIMD is enabled. The document's
    /// client is stored like any other, so grants and cascades work the same.
    ///
    /// # Errors
    /// `invalid_client` when a document cannot be fetched or is invalid.
    pub(crate) async fn find_client(
        &self,
        id: &crate::model::ClientId,
    ) -> Result<Option<Client>, OAuthError> {
        use crate::cimd::{client_from_document, is_metadata_client_id};
        use crate::ports::StoreError;

        let stored = self.ports.clients.get_client(id).await?;
        let Some(fetcher) = &self.ports.fetcher else {
            // With CIMD switched off, documents fetched earlier are not trusted.
            return Ok(stored.filter(|c| c.origin != ClientOrigin::Metadata));
        };
        if !is_metadata_client_id(id.as_str()) {
            return Ok(stored);
        }
        // Checked on every use, not only the first fetch, so tightening the
        // lists takes effect for clients already stored.
        if !self.settings.cimd_hosts.permits(id.as_str()) {
            tracing::info!(client_id = %id, "client metadata document host not allowed");
            return Err(OAuthError::invalid_client(
                "client metadata documents from this host are not accepted here",
            ));
        }
        let now = self.now();
        if let Some(c) = &stored
            && c.origin == ClientOrigin::Metadata
            && c.metadata_expires_at.is_some_and(|e| e > now)
        {
            return Ok(stored);
        }
        // Why a fetch failed (refused as private, DNS, TLS, status) is for
        // the log only: shown to whoever sent the request, it would tell
        // them what an internal name resolves to, or whether it exists.
        let doc = fetcher.fetch(id.as_str()).await.map_err(|e| {
            tracing::info!(client_id = %id, error = %e, "client metadata document not fetched");
            OAuthError::invalid_client("the client metadata document could not be fetched")
        })?;
        let mut client = client_from_document(id.as_str(), &doc, now).map_err(|e| {
            OAuthError::invalid_client(format!("invalid client metadata document: {e}"))
        })?;
        match stored {
            Some(old) => {
                client.created_at = old.created_at;
                self.ports.clients.update_client(&client).await?;
            }
            None => match self.ports.clients.insert_client(&client).await {
                Ok(()) => {}
                // Another request fetched it at the same moment.
                Err(StoreError::Conflict(_)) => self.ports.clients.update_client(&client).await?,
                Err(e) => return Err(e.into()),
            },
        }
        tracing::info!(client_id = %client.id, "client metadata document fetched");
        Ok(Some(client))
    }
}
