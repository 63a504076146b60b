//! The platform API, reached only with tokens obtained by token exchange
//! (RFC 8693).
//!
//! The token an MCP client sends is for this server (`aud` = its resource
//! URI); passing it on would make the platform accept tokens minted for
//! someone else (the "token passthrough" the MCP specification forbids), and
//! Gatehouse refuses it anyway. Instead this server authenticates as itself
//! and trades the user's token for a short-lived platform token carrying the
//! same user, never more scope than the user granted, and `act` naming this
//! server. Exchanged tokens are cached per subject token until shortly
//! before they expire, so a conversation costs one exchange, not one per call.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_resource::Authenticated;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Secret};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Time limit of every call to Gatehouse.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// An exchanged token is not reused in its last seconds: a call that starts
/// just before expiry would otherwise reach the API just after it.
const REUSE_MARGIN: Duration = Duration::from_secs(30);
/// Bound on cached tokens, so a flood of distinct callers cannot grow memory
/// without limit.
const MAX_CACHED: usize = 10_000;

/// Why a platform call failed. The message is shown to the MCP client as
/// the tool's error, so it never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Gatehouse refused the token exchange.
    #[error("Gatehouse refused the token exchange ({error}): {description}")]
    ExchangeRefused {
        /// HTTP status of the refusal.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// Gatehouse's explanation.
        description: String,
    },
    /// The platform API answered with an error.
    #[error("the platform API answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's `error_description`, or its `error`.
        message: String,
    },
    /// Gatehouse could not be reached.
    #[error("Gatehouse could not be reached: {0}")]
    Unreachable(String),
    /// Gatehouse answered something this server does not understand.
    #[error("Gatehouse's answer was not understood: {0}")]
    BadAnswer(String),
    /// Gatehouse refused this server's own credential, or it may not
    /// exchange tokens: nothing would work, so the server does not start.
    #[error(
        "Gatehouse refused MCP_CLIENT_ID={client_id:?} with MCP_CLIENT_SECRET ({error}: {description}); \
         check both against the confidential client registered for this server (token exchange, resource = MCP_RESOURCE_URL)"
    )]
    Credential {
        /// The configured client id (never the secret).
        client_id: String,
        /// The OAuth error code.
        error: String,
        /// Gatehouse's explanation.
        description: String,
    },
}

/// A cached exchanged token.
struct Cached {
    token: Secret,
    reuse_until: Instant,
}

/// Exchanged tokens by the SHA-256 of the subject token they were made from
/// (the map holds no caller's token).
#[derive(Default)]
pub struct ExchangeCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl fmt::Debug for ExchangeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeCache").finish_non_exhaustive()
    }
}

/// The cache key of a subject token.
pub fn cache_key(subject_token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, subject_token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl ExchangeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        // A panic while holding the lock leaves a map that is still sound.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The token cached for `key`, if it may still be used at `now`.
    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<Secret> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some(c) if now < c.reuse_until => Some(c.token.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `token`, valid for `expires_in` from `now`. Tokens too close
    /// to expiry to be reused are not kept.
    pub fn put(&self, key: [u8; 32], token: Secret, expires_in: Duration, now: Instant) {
        let Some(usable) = expires_in
            .checked_sub(REUSE_MARGIN)
            .filter(|d| !d.is_zero())
        else {
            return;
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_CACHED {
            entries.retain(|_, c| now < c.reuse_until);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Cached {
                token,
                reuse_until: now + usable,
            },
        );
    }

    /// Forgets the token for `key` (the API refused it).
    pub fn evict(&self, key: &[u8; 32]) {
        self.lock().remove(key);
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[derive(Deserialize)]
struct ExchangeResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Gatehouse's platform API as this server uses it.
pub struct Platform {
    http: reqwest::Client,
    token_endpoint: String,
    userinfo_endpoint: String,
    api_url: String,
    client_id: String,
    client_secret: Secret,
    cache: ExchangeCache,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("token_endpoint", &self.token_endpoint)
            .field("api_url", &self.api_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// RFC 8414 §3: the metadata of an issuer with a path lives at the origin,
/// with the well-known segment inserted before the path.
fn as_metadata_url(issuer: &str) -> Result<String, PlatformError> {
    let u = url::Url::parse(issuer).map_err(|e| PlatformError::BadAnswer(e.to_string()))?;
    Ok(format!(
        "{}/.well-known/oauth-authorization-server{}",
        u.origin().ascii_serialization(),
        u.path().trim_end_matches('/')
    ))
}

fn unreachable(e: reqwest::Error) -> PlatformError {
    PlatformError::Unreachable(e.without_url().to_string())
}

impl Platform {
    /// Reads Gatehouse's metadata for the token and userinfo endpoints.
    ///
    /// # Errors
    /// Gatehouse unreachable, or metadata for another issuer or without a
    /// token endpoint.
    pub async fn discover(config: &Config) -> Result<Self, PlatformError> {
        // reqwest is built without a default crypto provider; an error means
        // one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(unreachable)?;
        let meta: Value = http
            .get(as_metadata_url(&config.issuer)?)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unreachable)?
            .json()
            .await
            .map_err(|e| PlatformError::BadAnswer(e.to_string()))?;
        if meta["issuer"].as_str() != Some(config.issuer.as_str()) {
            return Err(PlatformError::BadAnswer(format!(
                "the metadata names issuer {}, not {}",
                meta["issuer"], config.issuer
            )));
        }
        let grants = meta["grant_types_supported"].as_array();
        if !grants.is_some_and(|g| g.iter().any(|v| v == TOKEN_EXCHANGE)) {
            return Err(PlatformError::BadAnswer(
                "the authorization server does not offer token exchange".into(),
            ));
        }
        let endpoint = |name: &str| {
            meta[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| PlatformError::BadAnswer(format!("the metadata has no {name}")))
        };
        let platform = Self {
            http,
            token_endpoint: endpoint("token_endpoint")?,
            userinfo_endpoint: endpoint("userinfo_endpoint")?,
            api_url: config.api_url.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            cache: ExchangeCache::default(),
        };
        platform.check_credential().await?;
        Ok(platform)
    }

    /// Tries the credential once at start: a token exchange of a subject
    /// token that cannot exist is refused for the token (400
    /// `invalid_request`/`invalid_grant`) when the credential is good, and
    /// with `invalid_client` (401) or `unauthorized_client` when it is not,
    /// so a wrong secret, or `MCP_CLIENT_ID=null` left by a failed setup
    /// step, stops the server with the reason instead of failing every
    /// tool call later.
    async fn check_credential(&self) -> Result<(), PlatformError> {
        let res = self
            .http
            .post(&self.token_endpoint)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", "credential-check"),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status();
        let body: OAuthErrorBody = res.json().await.unwrap_or(OAuthErrorBody {
            error: None,
            error_description: None,
        });
        let error = body.error.unwrap_or_else(|| "unknown".into());
        if status.as_u16() == 401 || error == "invalid_client" || error == "unauthorized_client" {
            return Err(PlatformError::Credential {
                client_id: self.client_id.clone(),
                error,
                description: body.error_description.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// A platform token for the caller: cached, or freshly exchanged.
    async fn platform_token(&self, caller: &Authenticated) -> Result<Secret, PlatformError> {
        let key = cache_key(caller.token());
        if let Some(t) = self.cache.get(&key, Instant::now()) {
            return Ok(t);
        }
        // No `resource`: Gatehouse then issues a token for its platform API.
        // No `scope`: everything the user granted that the API understands.
        let res = self
            .http
            .post(&self.token_endpoint)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", caller.token()),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status();
        if !status.is_success() {
            let body: OAuthErrorBody = res.json().await.unwrap_or(OAuthErrorBody {
                error: None,
                error_description: None,
            });
            return Err(PlatformError::ExchangeRefused {
                status: status.as_u16(),
                error: body.error.unwrap_or_else(|| "unknown".into()),
                description: body.error_description.unwrap_or_default(),
            });
        }
        let x: ExchangeResponse = res
            .json()
            .await
            .map_err(|e| PlatformError::BadAnswer(e.to_string()))?;
        tracing::info!(
            sub = %caller.claims.sub,
            expires_in = x.expires_in,
            cached = self.cache.len() + 1,
            "exchanged the caller's token for a platform token"
        );
        let token = Secret::new(x.access_token);
        self.cache.put(
            key,
            token.clone(),
            Duration::from_secs(x.expires_in),
            Instant::now(),
        );
        Ok(token)
    }

    async fn get(
        &self,
        caller: &Authenticated,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, PlatformError> {
        let token = self.platform_token(caller).await?;
        let res = self
            .http
            .get(url)
            .query(query)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status();
        if status.is_success() {
            return res
                .json()
                .await
                .map_err(|e| PlatformError::BadAnswer(e.to_string()));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            // Revoked or expired early: the next call exchanges again.
            self.cache.evict(&cache_key(caller.token()));
        }
        let body: OAuthErrorBody = res.json().await.unwrap_or(OAuthErrorBody {
            error: None,
            error_description: None,
        });
        Err(PlatformError::Api {
            status: status.as_u16(),
            message: body
                .error_description
                .or(body.error)
                .unwrap_or_else(|| "no details".into()),
        })
    }

    /// The caller's userinfo (what the user allowed: `sub` always, `email`,
    /// `name`, `organizations` by scope).
    ///
    /// # Errors
    /// Exchange refused, API error, or Gatehouse unreachable.
    pub async fn userinfo(&self, caller: &Authenticated) -> Result<Value, PlatformError> {
        let url = self.userinfo_endpoint.clone();
        self.get(caller, &url, &[]).await
    }

    /// `GET /organizations/`: the caller's own organizations.
    ///
    /// # Errors
    /// Exchange refused, API error, or Gatehouse unreachable.
    pub async fn organizations(&self, caller: &Authenticated) -> Result<Value, PlatformError> {
        let url = format!("{}/organizations/", self.api_url);
        self.get(caller, &url, &[]).await
    }

    /// `GET /users/?organization_id=…`: the members of an organization.
    ///
    /// # Errors
    /// Exchange refused, API error, or Gatehouse unreachable.
    pub async fn users_of(
        &self,
        caller: &Authenticated,
        organization_id: &str,
    ) -> Result<Value, PlatformError> {
        let url = format!("{}/users/", self.api_url);
        self.get(caller, &url, &[("organization_id", organization_id)])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanged_tokens_are_reused_until_shortly_before_expiry() {
        let cache = ExchangeCache::default();
        let t0 = Instant::now();
        let key = cache_key("subject-1");
        cache.put(key, Secret::new("x1"), Duration::from_secs(300), t0);
        assert_eq!(
            cache
                .get(&key, t0 + Duration::from_secs(200))
                .unwrap()
                .expose(),
            "x1"
        );
        assert!(cache.get(&key, t0 + Duration::from_secs(271)).is_none());
        assert_eq!(cache.len(), 0, "expired entries are dropped on lookup");
        assert!(cache.get(&cache_key("subject-2"), t0).is_none());
    }

    #[test]
    fn tokens_about_to_expire_are_not_cached() {
        let cache = ExchangeCache::default();
        cache.put(
            cache_key("s"),
            Secret::new("x"),
            Duration::from_secs(20),
            Instant::now(),
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn evicted_tokens_are_exchanged_again() {
        let cache = ExchangeCache::default();
        let now = Instant::now();
        let key = cache_key("s");
        cache.put(key, Secret::new("x"), Duration::from_secs(300), now);
        cache.evict(&key);
        assert!(cache.get(&key, now).is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = ExchangeCache::default();
        let now = Instant::now();
        for i in 0..MAX_CACHED {
            cache.put(
                cache_key(&i.to_string()),
                Secret::new("x"),
                Duration::from_secs(300),
                now,
            );
        }
        cache.put(
            cache_key("one more"),
            Secret::new("y"),
            Duration::from_secs(300),
            now,
        );
        assert!(cache.len() <= MAX_CACHED);
        assert!(cache.get(&cache_key("one more"), now).is_some());
    }

    #[test]
    fn issuer_metadata_urls_use_path_insertion() {
        assert_eq!(
            as_metadata_url("https://auth.example.com/api/v1/oauth").unwrap(),
            "https://auth.example.com/.well-known/oauth-authorization-server/api/v1/oauth"
        );
    }
}
