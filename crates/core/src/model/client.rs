//! Clients, how they authenticate and what they may ask for, and the
//! resources they ask for it at.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ClientId, ResourceId};
use crate::redirect::RedirectUri;
use crate::scope::ScopeSet;
use crate::secret::TokenHash;

/// How a client proves who it is at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// A public client: no secret (native, CLI, browser apps); PKCE required.
    None,
    /// The secret in an HTTP Basic header.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
}

impl TokenEndpointAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }
}

/// The grant types a client may use (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GrantType {
    /// `authorization_code`.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// `refresh_token`.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// `client_credentials`.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            "urn:ietf:params:oauth:grant-type:token-exchange" => Some(Self::TokenExchange),
            _ => None,
        }
    }
}

/// RFC 7591 / OIDC `application_type`: what kind of redirect URIs make sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A server-side or browser app.
    Web,
    /// A desktop, mobile or CLI app (loopback or custom-scheme redirects).
    Native,
}

impl ApplicationType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses the registered name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// How a client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOrigin {
    /// Registered by a platform admin through the admin API.
    Admin,
    /// Registered by itself through Dynamic Client Registration (RFC 7591).
    Dynamic,
    /// Described by a Client ID Metadata Document fetched from its URL.
    Metadata,
}

impl ClientOrigin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dynamic => "dynamic",
            Self::Metadata => "metadata",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "dynamic" => Some(Self::Dynamic),
            "metadata" => Some(Self::Metadata),
            _ => None,
        }
    }
}

/// A registered OAuth client.
#[derive(Clone, PartialEq)]
pub struct Client {
    /// The public identifier.
    pub id: ClientId,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// Shown on the consent page.
    pub name: String,
    /// Free text for administrators.
    pub description: String,
    /// Where authorization responses may go.
    pub redirect_uris: Vec<RedirectUri>,
    /// The most this client may ever be granted.
    pub allowed_scopes: ScopeSet,
    /// How it authenticates at the token endpoint; `None` means public.
    pub auth_method: TokenEndpointAuthMethod,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Web or native.
    pub application_type: ApplicationType,
    /// Admin-registered, dynamically registered, or a metadata document.
    pub origin: ClientOrigin,
    /// Whether PKCE is required; always true for public clients.
    pub require_pkce: bool,
    /// SHA-256 of the RFC 7592 registration access token (dynamic clients).
    pub registration_token_hash: Option<TokenHash>,
    /// Other RFC 7591 metadata echoed back as registered (`client_uri`,
    /// `logo_uri`, `contacts`, `tos_uri`, `policy_uri`, `software_id`,
    /// `software_version`): a JSON object, `{}` when none.
    pub metadata: serde_json::Value,
    /// For metadata-document clients: when the cached document goes stale.
    pub metadata_expires_at: Option<OffsetDateTime>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
    /// When it last got or used a token, to about a minute (see
    /// [`crate::model::Grant::last_used_at`]); what idle self-registered
    /// clients are reaped by. Stores keep the later of the stored and the
    /// written value, so an update carrying a stale copy never moves it
    /// back.
    pub last_used_at: Option<OffsetDateTime>,
    /// For public dynamic registrations: SHA-256 of what identifies the
    /// software (name, redirect URIs with loopback ports dropped,
    /// `software_id`, grant types), so the same software registering again
    /// gets this client back instead of a new row (docs/mcp.md).
    pub registration_key: Option<TokenHash>,
}

impl Client {
    /// Whether the client holds a secret.
    pub fn is_confidential(&self) -> bool {
        self.auth_method != TokenEndpointAuthMethod::None
    }

    /// The protected resource this client is the server of (for token
    /// exchange), kept as `resource` in its metadata.
    pub fn served_resource(&self) -> Option<String> {
        self.metadata
            .get("resource")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    }

    /// The audiences an administrator allowed this client to exchange its
    /// users' tokens for (RFC 8693), kept as `exchange_targets` in its
    /// metadata: registered resource URIs, or the platform API's audience.
    /// Anything else needs the user's own approval of that target.
    pub fn exchange_targets(&self) -> Vec<&str> {
        self.metadata
            .get("exchange_targets")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The resource an administrator set for this client's authorization
    /// requests that name none, kept as `default_resource` in its metadata
    /// (a registered resource URI, or the platform API's audience).
    pub fn default_resource(&self) -> Option<&str> {
        self.metadata
            .get("default_resource")
            .and_then(serde_json::Value::as_str)
    }

    /// Where RP-initiated logout may send the browser afterwards, kept as
    /// `post_logout_redirect_uris` in its metadata.
    pub fn post_logout_redirect_uris(&self) -> Vec<&str> {
        self.metadata
            .get("post_logout_redirect_uris")
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the client may use `grant`.
    pub fn may_use(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `presented` matches, if any.
    pub fn redirect_for(&self, presented: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.matches(presented))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("auth_method", &self.auth_method)
            .field("origin", &self.origin)
            .field("redirect_uris", &self.redirect_uris)
            .field("allowed_scopes", &self.allowed_scopes)
            .finish_non_exhaustive()
    }
}

/// A protected resource: an API (typically an MCP server) that accepts
/// Gatehouse tokens whose `aud` is its URI (RFC 8707, RFC 9728).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Identifier.
    pub id: ResourceId,
    /// The canonical resource URI (the `aud` of its tokens).
    pub uri: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// Scopes it accepts; they may be granted on tokens for it.
    pub scopes: ScopeSet,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}
