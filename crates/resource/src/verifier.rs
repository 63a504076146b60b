//! Token verification for resource servers: discovery, a JWKS cache that
//! follows key rotation, and every check RFC 9068 asks of a consumer.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatehouse_core::jwt::{JwtError, Verifier as KeySet, token_kid};
use gatehouse_core::service::{AccessClaims, ClaimError};
use tokio::sync::RwLock;

use crate::challenge::{Challenge, metadata_url_for};

/// How long after a JWKS fetch an unknown `kid` may trigger another one;
/// bounds the load a stream of forged tokens can put on the issuer.
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Time limit of every call to the authorization server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a resource server is and whom it trusts.
#[derive(Clone)]
pub struct ResourceConfig {
    /// The authorization server's issuer identifier, byte for byte.
    pub issuer: String,
    /// This server's resource URI: the `aud` its tokens carry.
    pub resource: String,
    /// Tolerated clock skew for `exp`/`nbf`/`iat`.
    pub leeway: Duration,
    /// Client credentials for RFC 7662 introspection: when set, every token
    /// is also introspected, so revocation takes effect at once (at the cost
    /// of a round trip per request).
    pub introspection: Option<(String, String)>,
    /// Minimum time between JWKS refetches triggered by unknown key ids.
    pub jwks_refetch_interval: Duration,
}

impl fmt::Debug for ResourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceConfig")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("leeway", &self.leeway)
            .field(
                "introspection",
                &self.introspection.as_ref().map(|(id, _)| id),
            )
            .finish()
    }
}

impl ResourceConfig {
    /// A resource `resource` protected by `issuer`, with 60 s of leeway.
    /// The resource URI is put in Gatehouse's canonical form (lower-case
    /// scheme and host, no default port, no trailing slash), the form tokens
    /// carry in `aud`.
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        let resource = resource.into();
        Self {
            issuer: issuer.into(),
            resource: gatehouse_core::resource::canonical_resource(&resource).unwrap_or(resource),
            leeway: Duration::from_secs(60),
            introspection: None,
            jwks_refetch_interval: REFETCH_INTERVAL,
        }
    }

    /// Also introspect every token with these client credentials.
    pub fn with_introspection(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.introspection = Some((client_id.into(), secret.into()));
        self
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The authorization server could not be reached or answered badly.
    #[error("discovery failed: {0}")]
    Http(String),
    /// Its metadata names another issuer (RFC 8414 §3.3).
    #[error("the metadata's issuer {found} is not {expected}")]
    IssuerMismatch {
        /// What was configured.
        expected: String,
        /// What the document said.
        found: String,
    },
    /// Required metadata is missing.
    #[error("the metadata has no {0}")]
    Missing(&'static str),
}

/// Why a request is refused; each maps to a status and a challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token (401, challenge without an error code).
    #[error("a bearer token is required")]
    MissingToken,
    /// The token is malformed, forged, expired, revoked or not for us (401).
    #[error("{0}")]
    InvalidToken(String),
    /// Valid, but lacking scopes (403).
    #[error("the token lacks a required scope")]
    InsufficientScope {
        /// Every scope the request needs.
        required: Vec<String>,
    },
    /// The authorization server could not be asked (introspection or JWKS
    /// unavailable): 503, so clients retry rather than re-authorize.
    #[error("token verification is temporarily unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) => 401,
            AuthError::InsufficientScope { .. } => 403,
            AuthError::Unavailable(_) => 503,
        }
    }

    /// The `WWW-Authenticate` value for this error, naming `scopes` (what
    /// the request needs) on a bare 401 so the client can ask for them in
    /// its first authorization (MCP "Scope Selection Strategy").
    pub fn challenge_for(
        &self,
        resource_metadata: &str,
        scopes: &[impl AsRef<str>],
    ) -> Option<String> {
        match self {
            AuthError::MissingToken => Some(
                Challenge::new(resource_metadata)
                    .scope(scopes)
                    .header_value(),
            ),
            other => other.challenge(resource_metadata),
        }
    }

    /// The `WWW-Authenticate` value for this error (`None` for 503).
    pub fn challenge(&self, resource_metadata: &str) -> Option<String> {
        let c = Challenge::new(resource_metadata);
        match self {
            AuthError::MissingToken => Some(c.header_value()),
            AuthError::InvalidToken(d) => Some(
                c.error("invalid_token")
                    .description(d.clone())
                    .header_value(),
            ),
            AuthError::InsufficientScope { required } => {
                Some(c.error("insufficient_scope").scope(required).header_value())
            }
            AuthError::Unavailable(_) => None,
        }
    }
}

/// A verified request.
#[derive(Clone)]
pub struct Authenticated {
    /// The token's claims.
    pub claims: AccessClaims,
    token: String,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("sub", &self.claims.sub)
            .field("client_id", &self.claims.client_id)
            .field("scope", &self.claims.scope)
            .finish_non_exhaustive()
    }
}

impl Authenticated {
    /// The raw token, for token exchange (RFC 8693). Never forward it to
    /// another API: its audience is this server.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scope.split(' ').any(|s| s == scope)
    }

    /// Requires every scope in `scopes`.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] naming all of them.
    pub fn require(&self, scopes: &[&str]) -> Result<(), AuthError> {
        if scopes.iter().all(|s| self.has_scope(s)) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: scopes.iter().map(|s| (*s).to_owned()).collect(),
            })
        }
    }
}

struct Keys {
    set: KeySet,
    fetched: Instant,
}

/// Verifies Gatehouse access tokens for one resource.
pub struct Verifier {
    config: ResourceConfig,
    metadata_url: String,
    jwks_uri: String,
    introspection_endpoint: Option<String>,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

fn http_client() -> Result<reqwest::Client, DiscoveryError> {
    // One crypto provider for the process; an error means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| DiscoveryError::Http(e.to_string()))
}

/// RFC 8414 §3: the metadata URL for an issuer with a path inserts the
/// well-known segment after the origin.
fn as_metadata_url(issuer: &str) -> Result<String, DiscoveryError> {
    let u = url::Url::parse(issuer).map_err(|e| DiscoveryError::Http(e.to_string()))?;
    let path = u.path().trim_end_matches('/');
    Ok(format!(
        "{}/.well-known/oauth-authorization-server{path}",
        u.origin().ascii_serialization()
    ))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Verifier {
    /// Fetches the authorization server's metadata and keys.
    ///
    /// # Errors
    /// Unreachable server, mismatched issuer, or missing `jwks_uri`.
    pub async fn discover(config: ResourceConfig) -> Result<Arc<Self>, DiscoveryError> {
        let http = http_client()?;
        let meta: serde_json::Value = http
            .get(as_metadata_url(&config.issuer)?)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| DiscoveryError::Http(e.to_string()))?
            .json()
            .await
            .map_err(|e| DiscoveryError::Http(e.to_string()))?;
        let found = meta["issuer"].as_str().unwrap_or_default();
        if found != config.issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: config.issuer.clone(),
                found: found.to_owned(),
            });
        }
        let jwks_uri = meta["jwks_uri"]
            .as_str()
            .ok_or(DiscoveryError::Missing("jwks_uri"))?
            .to_owned();
        let introspection_endpoint = meta["introspection_endpoint"].as_str().map(str::to_owned);
        if config.introspection.is_some() && introspection_endpoint.is_none() {
            return Err(DiscoveryError::Missing("introspection_endpoint"));
        }
        let set = fetch_jwks(&http, &jwks_uri).await?;
        Ok(Arc::new(Self {
            metadata_url: metadata_url_for(&config.resource),
            config,
            jwks_uri,
            introspection_endpoint,
            http,
            keys: RwLock::new(Keys {
                set,
                fetched: Instant::now(),
            }),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &ResourceConfig {
        &self.config
    }

    /// Where this resource's RFC 9728 metadata is published.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Verifies the `Authorization` header of a request and requires
    /// `scopes` (all of them).
    ///
    /// # Errors
    /// The [`AuthError`] to answer with.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        scopes: &[&str],
    ) -> Result<Authenticated, AuthError> {
        let token = bearer(authorization)?;
        let claims = self.verify_signature(token).await?;
        claims
            .check(
                &self.config.issuer,
                &self.config.resource,
                now_unix(),
                self.config.leeway.as_secs() as i64,
            )
            .map_err(|e| {
                AuthError::InvalidToken(match e {
                    ClaimError::Audience => "the token is not meant for this resource".to_owned(),
                    other => other.to_string(),
                })
            })?;
        if let Some((id, secret)) = &self.config.introspection {
            self.introspect(token, id, secret).await?;
        }
        let auth = Authenticated {
            claims,
            token: token.to_owned(),
        };
        auth.require(scopes)?;
        Ok(auth)
    }

    async fn verify_signature(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let first = self.keys.read().await.set.verify::<AccessClaims>(token);
        match first {
            Ok(c) => Ok(c),
            Err(JwtError::UnknownKey) => {
                // Maybe the issuer rotated: refetch, at most every 10 s.
                let kid = token_kid(token)
                    .ok_or_else(|| AuthError::InvalidToken("malformed token".into()))?;
                let mut keys = self.keys.write().await;
                if !keys.set.knows(&kid)
                    && keys.fetched.elapsed() >= self.config.jwks_refetch_interval
                {
                    match fetch_jwks(&self.http, &self.jwks_uri).await {
                        Ok(set) => {
                            *keys = Keys {
                                set,
                                fetched: Instant::now(),
                            }
                        }
                        Err(e) => {
                            keys.fetched = Instant::now();
                            tracing::warn!(error = %e, "refetching the JWKS failed");
                        }
                    }
                }
                keys.set
                    .verify::<AccessClaims>(token)
                    .map_err(|e| AuthError::InvalidToken(e.to_string()))
            }
            Err(e) => Err(AuthError::InvalidToken(e.to_string())),
        }
    }

    async fn introspect(&self, token: &str, id: &str, secret: &str) -> Result<(), AuthError> {
        let Some(endpoint) = &self.introspection_endpoint else {
            return Err(AuthError::Unavailable("no introspection endpoint".into()));
        };
        let res: serde_json::Value = self
            .http
            .post(endpoint)
            .basic_auth(id, Some(secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        if res["active"] == true {
            Ok(())
        } else {
            Err(AuthError::InvalidToken(
                "the token is no longer active".into(),
            ))
        }
    }
}

fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let h = header.ok_or(AuthError::MissingToken)?;
    match h.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(t.trim())
        }
        _ => Err(AuthError::MissingToken),
    }
}

async fn fetch_jwks(http: &reqwest::Client, uri: &str) -> Result<KeySet, DiscoveryError> {
    let jwks: serde_json::Value = http
        .get(uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| DiscoveryError::Http(e.to_string()))?
        .json()
        .await
        .map_err(|e| DiscoveryError::Http(e.to_string()))?;
    Ok(KeySet::from_jwks(&jwks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_metadata_urls_use_path_insertion() {
        assert_eq!(
            as_metadata_url("https://auth.example.com/api/v1/oauth").unwrap(),
            "https://auth.example.com/.well-known/oauth-authorization-server/api/v1/oauth"
        );
    }

    #[test]
    fn the_configured_resource_is_put_in_canonical_form() {
        let c = ResourceConfig::new(
            "https://as.example/api/v1/oauth",
            "HTTPS://Files.Example.com:443/mcp/",
        );
        assert_eq!(c.resource, "https://files.example.com/mcp");
    }

    #[test]
    fn only_bearer_headers_carry_tokens() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::MissingToken));
        assert_eq!(bearer(Some("Bearer ")), Err(AuthError::MissingToken));
        assert_eq!(bearer(None), Err(AuthError::MissingToken));
    }

    #[test]
    fn errors_map_to_statuses_and_challenges() {
        let m = "https://r.example/.well-known/oauth-protected-resource/mcp";
        assert_eq!(AuthError::MissingToken.status(), 401);
        assert_eq!(
            AuthError::MissingToken.challenge(m).unwrap(),
            format!(r#"Bearer resource_metadata="{m}""#)
        );
        let e = AuthError::InsufficientScope {
            required: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.status(), 403);
        assert!(e.challenge(m).unwrap().contains(r#"scope="a b""#));
        assert_eq!(AuthError::Unavailable("x".into()).challenge(m), None);
    }
}
