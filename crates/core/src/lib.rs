//! Gatehouse's core: the OAuth 2.1 rules, the ports they need, and the
//! services that apply them. No web framework, database or async runtime
//! appears here, so the same rules run under actix-web, in another crate's
//! tests, or anywhere else a store adapter exists.
//!
//! # Embedding
//!
//! A whole authorization-code flow, in process, with the memory store and a
//! clock that only moves when told to:
//!
//! ```
//! use std::sync::Arc;
//!
//! use gatehouse_core::clock::FixedClock;
//! use gatehouse_core::params::Params;
//! use gatehouse_core::password::InlineHasher;
//! use gatehouse_core::pkce::CodeChallenge;
//! use gatehouse_core::secret::Secret;
//! use gatehouse_core::service::{ClientCredentials, Decision, NewClient};
//! use gatehouse_core::{Gatehouse, Ports, Settings};
//! use gatehouse_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let clock = Arc::new(FixedClock::at(time::OffsetDateTime::now_utc()));
//! let ports = Ports::from_store(MemoryStore::new(), clock.clone(), Arc::new(InlineHasher));
//! let settings = Settings::for_base_url("https://auth.example.com");
//! let master_key = b"an embedded test master key, 32+ bytes".to_vec();
//! let (gatehouse, _) = Gatehouse::start(ports, settings, Some(master_key)).await?;
//!
//! // An admin registers a confidential client.
//! gatehouse.ensure_admin("admin@example.com", Some("correct horse battery")).await?;
//! let admin = gatehouse.login("admin@example.com", "correct horse battery", None).await?;
//! let caller = gatehouse.authenticate_bearer(&admin.access_token).await?;
//! let new = NewClient {
//!     name: "Example app".into(),
//!     redirect_uris: vec!["https://app.example.com/cb".into()],
//!     allowed_scopes: vec!["profile".into(), "email".into()],
//!     is_confidential: true,
//!     ..NewClient::default()
//! };
//! let (client, secret) = gatehouse.create_client(&caller, new).await?;
//!
//! // The user approves an authorization request with PKCE.
//! let verifier = "a-high-entropy-code-verifier-of-at-least-43-chars";
//! let challenge = CodeChallenge::s256(verifier);
//! let request = gatehouse
//!     .validate_authorize(Params::from_slice(&[
//!         ("response_type", "code"),
//!         ("client_id", client.id.as_str()),
//!         ("redirect_uri", "https://app.example.com/cb"),
//!         ("scope", "profile email"),
//!         ("state", "af0ifjsldkj"),
//!         ("code_challenge", challenge.as_str()),
//!         ("code_challenge_method", "S256"),
//!     ]))
//!     .await?;
//! let (_cookie, me) = gatehouse.sign_in(admin.user.clone()).await?;
//! assert!(matches!(gatehouse.decide(&request, &me).await?, Decision::Consent { .. }));
//! let redirect = url::Url::parse(&gatehouse.approve(&request, &me).await?)?;
//! let code = redirect.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned());
//!
//! // The client redeems the code.
//! let credentials = ClientCredentials::Post {
//!     id: client.id.to_string(),
//!     secret: Secret::new(secret.expect("confidential clients get a secret").expose()),
//! };
//! let client = gatehouse.authenticate_client(&credentials).await?;
//! let tokens = gatehouse
//!     .token(&client, &Params::from_slice(&[
//!         ("grant_type", "authorization_code"),
//!         ("code", code.as_deref().unwrap_or_default()),
//!         ("redirect_uri", "https://app.example.com/cb"),
//!         ("code_verifier", verifier),
//!     ]))
//!     .await?;
//! assert_eq!(tokens.scope, "email profile");
//! assert!(gatehouse.verify_access_token(&tokens.access_token).await.is_ok());
//!
//! // An hour later the access token has expired.
//! clock.advance(time::Duration::hours(1));
//! assert!(gatehouse.verify_access_token(&tokens.access_token).await.is_err());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod audit;
pub mod cache;
pub mod challenge;
pub mod cimd;
pub mod clock;
pub mod error;
pub mod jwt;
pub mod metadata;
pub mod model;
pub mod observe;
pub mod params;
pub mod password;
pub mod pkce;
pub mod ports;
pub mod rate;
pub mod redirect;
pub mod refresh;
pub mod resource;
pub mod scope;
pub mod secret;
pub mod service;
pub mod text;
pub mod throttle;
pub mod totp;
pub mod upstream;
pub mod usage;

#[cfg(test)]
mod testing;

pub use error::{ApiError, ErrorCode, OAuthError};
pub use service::{Gatehouse, Ports, Settings};
