//! The issuer's signing keys, cached and refetched when it rotates. Access
//! tokens and Security Event Tokens are signed with the same keys, so the
//! verifier and the signals receiver share one cache and one refetch
//! throttle: a burst of forged SETs cannot make the issuer's JWKS endpoint
//! busier than a burst of forged access tokens can.

use std::fmt;
use std::time::{Duration, Instant};

use gatehouse_core::jwt::{JwtError, Verifier as KeySet, token_kid};
use tokio::sync::RwLock;

use crate::verifier::DiscoveryError;

struct Keys {
    set: KeySet,
    fetched: Instant,
}

/// One issuer's JWKS, as last fetched.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    uri: String,
    refetch_interval: Duration,
    keys: RwLock<Keys>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// Fetches the key set at `uri`.
    pub(crate) async fn fetch(
        http: reqwest::Client,
        uri: String,
        refetch_interval: Duration,
    ) -> Result<Self, DiscoveryError> {
        let set = fetch_jwks(&http, &uri).await?;
        Ok(Self {
            http,
            uri,
            refetch_interval,
            keys: RwLock::new(Keys {
                set,
                fetched: Instant::now(),
            }),
        })
    }

    /// Where the keys come from.
    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    /// Runs `check` (one of the key set's `verify` methods) on `token`; if
    /// the token names a key we do not know, refetches the set once (at
    /// most every `refetch_interval`) and tries again, since the issuer may
    /// have rotated.
    pub(crate) async fn verify<T>(
        &self,
        token: &str,
        check: impl Fn(&KeySet, &str) -> Result<T, JwtError>,
    ) -> Result<T, JwtError> {
        match check(&self.keys.read().await.set, token) {
            Err(JwtError::UnknownKey) => {}
            done => return done,
        }
        let kid = token_kid(token).ok_or(JwtError::Malformed)?;
        // The write lock is held across the fetch on purpose: concurrent
        // requests with the new kid wait for one fetch instead of each
        // starting their own.
        let mut keys = self.keys.write().await;
        if !keys.set.knows(&kid) && keys.fetched.elapsed() >= self.refetch_interval {
            match fetch_jwks(&self.http, &self.uri).await {
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
        check(&keys.set, token)
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
