//! What an MCP server — or any API — needs to accept Gatehouse tokens.
//!
//! MCP servers are OAuth resource servers: they must check that a token was
//! issued by their authorization server *for them* (`aud`), and must never
//! pass it on to another API (they exchange it instead, RFC 8693). This crate
//! does the checking with the same code Gatehouse uses for its own API
//! ([`gatehouse_core::jwt::Verifier`] and [`AccessClaims::check`]), and builds
//! the documents and challenges MCP clients discover it through (RFC 9728,
//! RFC 6750).
//!
//! A signature check alone accepts a revoked token until it expires. Two
//! ways to do better, both with the resource server's own client
//! credential: [`ResourceConfig::with_introspection`] asks the issuer about
//! every token (a round trip per request), and
//! [`ResourceConfig::with_shared_signals`] receives revocations as Shared
//! Signals events and applies them locally, falling back to introspection
//! only while the event stream is stale (see [`signals`]). Call
//! [`Verifier::close`] on shutdown to delete the stream.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gatehouse_resource::{ResourceConfig, Verifier};
//!
//! let verifier = Verifier::discover(ResourceConfig::new(
//!     "https://auth.example.com/api/v1/oauth",
//!     "https://files.example.com/mcp",
//! ))
//! .await?;
//! let auth = verifier
//!     .verify(Some("Bearer eyJ…"), &["files:read"])
//!     .await?;
//! println!("user {}", auth.claims.sub);
//! # Ok(()) }
//! ```

mod challenge;
mod keys;
pub mod signals;
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "tower")]
pub mod tower;

pub use challenge::{Challenge, ProtectedResourceMetadata, metadata_url_for};
pub use gatehouse_core::service::AccessClaims;
pub use signals::{SignalsConfig, SignalsStatus};
pub use verifier::{AuthError, Authenticated, DiscoveryError, ResourceConfig, Verifier};
