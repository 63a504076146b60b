//! Gatehouse's core: the OAuth 2.1 rules, the ports they need, and the
//! services that apply them. No web framework, database or async runtime
//! appears here, so the same rules run under actix-web, in another crate's
//! tests, or anywhere else a store adapter exists.

pub mod clock;
pub mod error;
pub mod jwt;
pub mod model;
pub mod params;
pub mod password;
pub mod pkce;
pub mod ports;
pub mod redirect;
pub mod scope;
pub mod secret;
pub mod service;

pub use error::{ApiError, ErrorCode, OAuthError};
pub use service::{Gatehouse, Ports, Settings};
