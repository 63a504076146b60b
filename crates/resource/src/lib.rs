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
mod verifier;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "tower")]
pub mod tower;

pub use challenge::{Challenge, ProtectedResourceMetadata, metadata_url_for};
pub use gatehouse_core::service::AccessClaims;
pub use verifier::{AuthError, Authenticated, DiscoveryError, ResourceConfig, Verifier};
