//! Client authentication at `/token`, `/revoke` and `/introspect`
//! (RFC 6749 §2.3): how the client presented itself, and whether that holds.

use std::fmt;

use super::super::Gatehouse;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientId};
use crate::params::Params;
use crate::secret::Secret;

/// How the client presented itself at the token or revocation endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic`: the Authorization header.
    Basic {
        /// Decoded client id.
        id: String,
        /// Decoded secret.
        secret: Secret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post {
        /// The client id.
        id: String,
        /// The secret.
        secret: Secret,
    },
    /// `none`: a public client sending only `client_id`.
    Public {
        /// The client id.
        id: String,
    },
    /// Nothing identified the client.
    Missing,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(f, "Basic({id})"),
            Self::Post { id, .. } => write!(f, "Post({id})"),
            Self::Public { id } => write!(f, "Public({id})"),
            Self::Missing => f.write_str("Missing"),
        }
    }
}

impl ClientCredentials {
    /// Reads body credentials and combines them with what the server parsed
    /// from an `Authorization: Basic` header, refusing the ambiguous mixes
    /// RFC 6749 §2.3 forbids.
    pub fn from_request(
        basic: Option<(String, Secret)>,
        params: &Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id")?;
        let body_secret = params.get("client_secret")?;
        match (basic, body_id, body_secret) {
            (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
                "use only one client authentication method",
            )),
            (Some((id, _)), Some(body), None) if body != id => Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            )),
            (Some((id, secret)), _, None) => Ok(Self::Basic { id, secret }),
            (None, Some(id), Some(secret)) => Ok(Self::Post {
                id: id.to_owned(),
                secret: Secret::new(secret),
            }),
            (None, Some(id), None) => Ok(Self::Public { id: id.to_owned() }),
            (None, None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret was sent without client_id",
            )),
            (None, None, None) => Ok(Self::Missing),
        }
    }

    /// Whether the Basic scheme was used (the 401 must then challenge it).
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

impl Gatehouse {
    /// Identifies and authenticates the client at `/token` or `/revoke`.
    ///
    /// # Errors
    /// `invalid_client` for an unknown client, a wrong or missing secret, or a
    /// public client presenting a secret.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        let (id, secret) = match creds {
            ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret } => {
                (id.as_str(), Some(secret))
            }
            ClientCredentials::Public { id } => (id.as_str(), None),
            ClientCredentials::Missing => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ));
            }
        };
        let unknown = || OAuthError::invalid_client("client authentication failed");
        let id = ClientId::parse(id).map_err(|_| unknown())?;
        let client = match self.find_client(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(unknown()),
            Err(e) if e.code == ErrorCode::ServerError => return Err(e),
            Err(_) => return Err(unknown()),
        };
        match (&client.secret_hash, secret) {
            (Some(hash), Some(presented)) if hash.ct_eq(&presented.hash()) => Ok(client),
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client(
                "this is a public client: authenticate with 'none' (send no secret)",
            )),
            _ => Err(unknown()),
        }
    }
}
