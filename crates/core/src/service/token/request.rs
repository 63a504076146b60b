//! A token request, read once at the front door: one variant per grant,
//! each holding the parameters that grant takes, checked for repetition
//! and length (RFC 6749 §3.2) before anything acts on them.

use std::fmt;

use crate::error::{ErrorCode, OAuthError};
use crate::model::GrantType;
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::secret::Secret;

/// A token request, by grant.
#[derive(Debug, Clone)]
pub enum TokenRequest {
    /// `grant_type=authorization_code` (RFC 6749 §4.1.3).
    AuthorizationCode(CodeRequest),
    /// `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken(RefreshRequest),
    /// `grant_type=client_credentials` (RFC 6749 §4.4).
    ClientCredentials(ClientCredentialsRequest),
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`
    /// (RFC 8693 §2.1).
    TokenExchange(ExchangeRequest),
}

/// The authorization-code grant's parameters.
#[derive(Clone)]
pub struct CodeRequest {
    /// `code`.
    pub code: Secret,
    /// `redirect_uri`, which must repeat the one sent to `/authorize`.
    pub redirect_uri: Option<String>,
    /// `code_verifier` (PKCE).
    pub code_verifier: Option<Secret>,
    /// `resource` (RFC 8707), not yet resolved.
    pub resource: Option<String>,
}

/// The refresh grant's parameters.
#[derive(Clone)]
pub struct RefreshRequest {
    /// `refresh_token`.
    pub refresh_token: Secret,
    /// `scope`, to narrow the access token.
    pub scope: Option<ScopeSet>,
    /// `resource` (RFC 8707), not yet resolved.
    pub resource: Option<String>,
}

/// The client-credentials grant's parameters.
#[derive(Debug, Clone)]
pub struct ClientCredentialsRequest {
    /// `scope`; absent means the documented default.
    pub scope: Option<ScopeSet>,
    /// `resource` (RFC 8707), not yet resolved.
    pub resource: Option<String>,
}

/// The token-exchange grant's parameters (RFC 8693 §2.1).
#[derive(Clone)]
pub struct ExchangeRequest {
    /// `subject_token`.
    pub subject_token: Secret,
    /// `subject_token_type`.
    pub subject_token_type: Option<String>,
    /// Whether an `actor_token` was sent (it is refused: the client acts).
    pub actor_token: bool,
    /// `requested_token_type`.
    pub requested_token_type: Option<String>,
    /// `scope`; absent means the subject token's.
    pub scope: Option<ScopeSet>,
    /// `resource`.
    pub resource: Option<String>,
    /// `audience`.
    pub audience: Option<String>,
}

impl fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token_type", &self.subject_token_type)
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// `scope`, parsed; a malformed one is `invalid_scope`.
fn scope(params: &Params) -> Result<Option<ScopeSet>, OAuthError> {
    params
        .get("scope")?
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))
}

/// `resource` as RFC 8707 reads it: repeating it is `invalid_target` (one
/// audience per token), not `invalid_request`.
pub(crate) fn resource(params: &Params) -> Result<Option<String>, OAuthError> {
    if params.is_repeated("resource") {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "send one resource per request",
        ));
    }
    Ok(params.get("resource")?.map(str::to_owned))
}

impl TokenRequest {
    /// Reads the parameters of `grant` from a token request.
    ///
    /// # Errors
    /// `invalid_request` for a missing required, repeated or over-long
    /// parameter; `invalid_scope` for a malformed `scope`; `invalid_target`
    /// for a repeated `resource`.
    pub fn parse(grant: GrantType, params: &Params) -> Result<Self, OAuthError> {
        let secret = |name: &str| params.require(name).map(Secret::new);
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode(CodeRequest {
                code: secret("code")?,
                redirect_uri: params.get("redirect_uri")?.map(str::to_owned),
                code_verifier: params.get("code_verifier")?.map(Secret::new),
                resource: resource(params)?,
            }),
            GrantType::RefreshToken => Self::RefreshToken(RefreshRequest {
                refresh_token: secret("refresh_token")?,
                scope: scope(params)?,
                resource: resource(params)?,
            }),
            GrantType::ClientCredentials => Self::ClientCredentials(ClientCredentialsRequest {
                resource: resource(params)?,
                scope: scope(params)?,
            }),
            GrantType::TokenExchange => Self::TokenExchange(ExchangeRequest {
                subject_token: secret("subject_token")?,
                subject_token_type: params.get("subject_token_type")?.map(str::to_owned),
                actor_token: params.get("actor_token")?.is_some(),
                requested_token_type: params.get("requested_token_type")?.map(str::to_owned),
                resource: params.get("resource")?.map(str::to_owned),
                audience: params.get("audience")?.map(str::to_owned),
                scope: scope(params)?,
            }),
        })
    }

    /// The grant this request is for.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::RefreshToken(_) => GrantType::RefreshToken,
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
            Self::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(grant: GrantType, pairs: &[(&str, &str)]) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(grant, &Params::from_slice(pairs))
    }

    #[test]
    fn each_grant_reads_its_own_parameters() {
        let r = parse(
            GrantType::AuthorizationCode,
            &[
                ("code", "gtc_x"),
                ("redirect_uri", "https://a/cb"),
                ("code_verifier", "v"),
            ],
        )
        .unwrap();
        assert_eq!(r.grant_type(), GrantType::AuthorizationCode);
        let TokenRequest::AuthorizationCode(c) = r else {
            unreachable!()
        };
        assert_eq!(c.code.expose(), "gtc_x");
        assert_eq!(c.redirect_uri.as_deref(), Some("https://a/cb"));
        assert!(!format!("{c:?}").contains("gtc_x"), "codes never print");
        let r = parse(
            GrantType::RefreshToken,
            &[("refresh_token", "gtr_y"), ("scope", "profile")],
        )
        .unwrap();
        let TokenRequest::RefreshToken(r) = r else {
            unreachable!()
        };
        assert_eq!(r.scope.as_ref().unwrap().to_string(), "profile");
        assert!(!format!("{r:?}").contains("gtr_y"));
    }

    #[test]
    fn missing_repeated_and_malformed_parameters_are_refused_with_the_rfc_error() {
        let code = |e: OAuthError| e.code;
        assert_eq!(
            code(parse(GrantType::AuthorizationCode, &[]).unwrap_err()),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(
                parse(
                    GrantType::RefreshToken,
                    &[("refresh_token", "a"), ("refresh_token", "b")]
                )
                .unwrap_err()
            ),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(parse(GrantType::ClientCredentials, &[("scope", "bad\"scope")]).unwrap_err()),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(
                parse(
                    GrantType::ClientCredentials,
                    &[("resource", "https://a"), ("resource", "https://b")]
                )
                .unwrap_err()
            ),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(parse(GrantType::TokenExchange, &[("subject_token_type", "x")]).unwrap_err()),
            ErrorCode::InvalidRequest
        );
    }
}
