//! Token verification for resource servers: discovery, a JWKS cache that
//! follows key rotation, every check RFC 9068 asks of a consumer, and
//! revocation by introspection or Shared Signals.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gatehouse_core::jwt::Verifier as KeySet;
use gatehouse_core::service::{AccessClaims, ClaimError};

use crate::challenge::{Challenge, metadata_url_for};
use crate::keys::KeyCache;
use crate::signals::{Freshness, Signals, SignalsConfig, SignalsStatus};

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
    /// Shared Signals: when set, revocations are received from the issuer's
    /// transmitter and applied locally (see [`crate::signals`]), with
    /// introspection only while the stream is stale.
    pub signals: Option<SignalsConfig>,
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
            .field("signals", &self.signals)
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
            signals: None,
        }
    }

    /// Receives revocations over Shared Signals with these client
    /// credentials, with the default limits of [`SignalsConfig::new`].
    pub fn with_shared_signals(
        self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.with_signals(SignalsConfig::new(client_id, secret))
    }

    /// Receives revocations over Shared Signals as `signals` says.
    pub fn with_signals(mut self, signals: SignalsConfig) -> Self {
        self.signals = Some(signals);
        self
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
    /// The Shared Signals stream could not be set up or drained.
    #[error("shared signals: {0}")]
    Signals(String),
    /// The authorization server refused this server's own client
    /// credential (wrong id or secret, a public or self-registered client):
    /// nothing that needs it can work, so start-up stops here rather than
    /// answer every request with an error.
    #[error("the authorization server refused this resource server's client credential ({0})")]
    Credential(String),
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
    /// This server is misconfigured: the authorization server refused its
    /// own client credential. 500 without a challenge: neither retrying nor
    /// re-authorizing can help the client, an operator must fix it.
    #[error("this server cannot verify tokens: {0}")]
    Misconfigured(String),
}

impl AuthError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) => 401,
            AuthError::InsufficientScope { .. } => 403,
            AuthError::Unavailable(_) => 503,
            AuthError::Misconfigured(_) => 500,
        }
    }

    /// The `error` code of the JSON body: none without a token, as its
    /// challenge has none (RFC 6750 §3.1), so body and header agree.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken => None,
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
            AuthError::Unavailable(_) => Some("temporarily_unavailable"),
            AuthError::Misconfigured(_) => Some("server_error"),
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

    /// The `WWW-Authenticate` value for this error (`None` for 500 and 503).
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
            AuthError::Unavailable(_) | AuthError::Misconfigured(_) => None,
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

/// Verifies Gatehouse access tokens for one resource.
pub struct Verifier {
    config: ResourceConfig,
    metadata_url: String,
    introspection_endpoint: Option<String>,
    http: reqwest::Client,
    keys: Arc<KeyCache>,
    signals: Option<Signals>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("jwks_uri", &self.keys.uri())
            .field("signals", &self.signals)
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

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Verifier {
    /// Fetches the authorization server's metadata and keys. With
    /// [`ResourceConfig::signals`], also creates a Shared Signals stream and
    /// drains it before returning (so the first request is judged with
    /// every revocation still relevant), then polls it in the background
    /// until [`Verifier::close`] or the verifier is dropped.
    ///
    /// # Errors
    /// Unreachable server, mismatched issuer, missing `jwks_uri` (or
    /// `introspection_endpoint` when introspection or signals are on), or a
    /// transmitter that cannot be set up.
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
        // Signals fall back to introspection while their stream is stale.
        if (config.introspection.is_some() || config.signals.is_some())
            && introspection_endpoint.is_none()
        {
            return Err(DiscoveryError::Missing("introspection_endpoint"));
        }
        let credential = config.introspection.clone().or_else(|| {
            config
                .signals
                .as_ref()
                .map(|s| (s.client_id.clone(), s.client_secret.clone()))
        });
        if let (Some((id, secret)), Some(endpoint)) = (&credential, &introspection_endpoint) {
            check_credential(&http, endpoint, id, secret).await?;
        }
        let keys =
            Arc::new(KeyCache::fetch(http.clone(), jwks_uri, config.jwks_refetch_interval).await?);
        let signals = match &config.signals {
            Some(s) => Some(Signals::start(&config, s, http.clone(), keys.clone()).await?),
            None => None,
        };
        Ok(Arc::new(Self {
            metadata_url: metadata_url_for(&config.resource),
            config,
            introspection_endpoint,
            http,
            keys,
            signals,
        }))
    }

    /// Stops receiving Shared Signals and deletes the stream at the
    /// transmitter (best effort: a failure is logged, and the stream
    /// expires there on its own). Every token is introspected afterwards.
    /// Call it on graceful shutdown; without signals it does nothing.
    pub async fn close(&self) {
        if let Some(s) = &self.signals {
            s.close().await;
        }
    }

    /// What the Shared Signals receiver knows, if signals are on.
    pub fn signals_status(&self) -> Option<SignalsStatus> {
        self.signals.as_ref().map(Signals::status)
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
        let now = now_unix();
        claims
            .check(
                &self.config.issuer,
                &self.config.resource,
                now,
                self.config.leeway.as_secs() as i64,
            )
            .map_err(|e| {
                AuthError::InvalidToken(match e {
                    ClaimError::Audience => "the token is not meant for this resource".to_owned(),
                    other => other.to_string(),
                })
            })?;
        let mut introspect_with = self
            .config
            .introspection
            .as_ref()
            .map(|(id, secret)| (id.as_str(), secret.as_str()));
        if let Some(signals) = &self.signals
            && signals.check(&claims, now)? == Freshness::Stale
        {
            introspect_with = introspect_with.or(Some(signals.credential()));
        }
        if let Some((id, secret)) = introspect_with {
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
        self.keys
            .verify(token, |keys: &KeySet, t: &str| {
                keys.verify::<AccessClaims>(t)
            })
            .await
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }

    async fn introspect(&self, token: &str, id: &str, secret: &str) -> Result<(), AuthError> {
        let Some(endpoint) = &self.introspection_endpoint else {
            return Err(AuthError::Unavailable("no introspection endpoint".into()));
        };
        let res = self
            .http
            .post(endpoint)
            .basic_auth(id, Some(secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        if let Some(why) = refused_credential(&res) {
            let why = format!("{why}: {}", error_text(res).await);
            tracing::error!(
                client_id = id,
                why,
                "the authorization server refused this server's client credential; every request fails until it is fixed"
            );
            return Err(AuthError::Misconfigured(format!(
                "the authorization server refused this server's client credential ({why})"
            )));
        }
        let res: serde_json::Value = res
            .error_for_status()
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

/// Whether an answer means "your client credential is refused": 401 (RFC
/// 6749 `invalid_client`) or 403 (a client not allowed to introspect).
fn refused_credential(res: &reqwest::Response) -> Option<String> {
    match res.status().as_u16() {
        401 | 403 => Some(format!("HTTP {}", res.status().as_u16())),
        _ => None,
    }
}

/// The `error` and `error_description` of an OAuth error answer.
async fn error_text(res: reqwest::Response) -> String {
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    format!(
        "{} {}",
        body["error"].as_str().unwrap_or("error"),
        body["error_description"].as_str().unwrap_or_default()
    )
    .trim()
    .to_owned()
}

/// Start-up check of the credential introspection (and signals) will use:
/// introspecting a token that cannot exist answers `{"active": false}` to
/// a good credential and `invalid_client` to a bad one, so a wrong secret
/// or a `client_id` of `null` stops the server with the reason instead of
/// failing every request later.
async fn check_credential(
    http: &reqwest::Client,
    endpoint: &str,
    id: &str,
    secret: &str,
) -> Result<(), DiscoveryError> {
    let res = http
        .post(endpoint)
        .basic_auth(id, Some(secret))
        .form(&[
            ("token", "credential-check"),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .map_err(|e| DiscoveryError::Http(e.to_string()))?;
    if let Some(why) = refused_credential(&res) {
        return Err(DiscoveryError::Credential(format!(
            "client_id {id:?}, {why}: {}",
            error_text(res).await
        )));
    }
    res.error_for_status()
        .map_err(|e| DiscoveryError::Http(e.to_string()))?;
    Ok(())
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
