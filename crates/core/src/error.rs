//! Errors the services return, by audience.
//!
//! [`OAuthError`] speaks RFC 6749/6750/7009 and displays its registered code;
//! [`ApiError`] is for the platform's JSON API. Neither knows about HTTP
//! status codes: that mapping lives in the server crate, next to the wire.

use std::borrow::Cow;
use std::fmt;

use crate::ports::StoreError;

/// The registered OAuth error codes Gatehouse emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: bad, expired, revoked or replayed grant.
    InvalidGrant,
    /// RFC 6749 §5.2.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §5.2.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the user said no.
    AccessDenied,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: an unexpected failure.
    ServerError,
    /// RFC 6749 §4.1.2.1.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but nobody is signed in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but consent is needed.
    ConsentRequired,
    /// RFC 6750 §3.1.
    InvalidToken,
    /// RFC 6750 §3.1.
    InsufficientScope,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// RFC 8707 §2: the resource is unknown or not allowed.
    InvalidTarget,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
}

impl ErrorCode {
    /// The registered string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth protocol error: a registered code and a human description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The registered code.
    pub code: ErrorCode,
    /// `error_description`: for developers, never containing secrets.
    pub description: Cow<'static, str>,
    /// Set when the request was refused for its rate: seconds until it
    /// may be tried again (HTTP 429 with `Retry-After`).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// Refused for its rate (RFC 6585 429): `temporarily_unavailable`,
    /// to be tried again in `secs` seconds.
    pub fn too_many_requests(d: impl Into<Cow<'static, str>>, secs: u64) -> Self {
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(ErrorCode::TemporarilyUnavailable, d)
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    /// `invalid_client`.
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    /// `server_error`; the cause is logged here and not disclosed.
    pub fn server_error(cause: &dyn fmt::Display) -> Self {
        tracing::error!(error = %cause, "unexpected failure");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        if matches!(e, StoreError::Unexpected(_)) {
            crate::observe::count_store_error();
        }
        Self::server_error(&e)
    }
}

/// Errors of the platform's JSON API and of the admin API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(Cow<'static, str>),
    /// Missing, invalid, expired or revoked bearer token (401).
    #[error("{0}")]
    InvalidToken(Cow<'static, str>),
    /// The token lacks a scope; lists every scope that would do (403).
    #[error("this request needs one of the scopes: {}", .0.join(" "))]
    InsufficientScope(Vec<&'static str>),
    /// Authenticated, scoped, but not allowed (not a member, not an admin) (403).
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// No such thing, or not visible to the caller (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Duplicate (409).
    #[error("{0}")]
    Conflict(Cow<'static, str>),
    /// Well-formed but semantically invalid (422).
    #[error("{0}")]
    Unprocessable(Cow<'static, str>),
    /// Wrong email or password (401 from login).
    #[error("invalid email or password")]
    BadCredentials,
    /// The password was right, but the account has a second factor and no
    /// code came with it (401 from login).
    #[error(
        "this account has a second factor: send a code from the authenticator app (or a recovery code) as `otp`"
    )]
    SecondFactorRequired,
    /// Too many failed password checks for this account or address; the
    /// next may be tried after this many seconds (429, `Retry-After`).
    #[error("too many failed attempts; try again in {0} seconds")]
    Throttled(u64),
    /// Passwords cannot be checked right now (the hashing queue is full);
    /// try again after this many seconds (503, `Retry-After`).
    #[error("the server is busy; try again in {0} seconds")]
    Busy(u64),
    /// Anything else; logged, not disclosed (500).
    #[error("internal error")]
    Unexpected(#[source] anyhow::Error),
}

impl ApiError {
    /// The stable machine-readable code used in JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::InsufficientScope(_) => "insufficient_scope",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable(_) => "validation_failed",
            ApiError::BadCredentials => "invalid_credentials",
            ApiError::SecondFactorRequired => "mfa_required",
            ApiError::Throttled(_) => "too_many_requests",
            ApiError::Busy(_) => "temporarily_unavailable",
            ApiError::Unexpected(_) => "server_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                ApiError::Conflict(format!("{what} already exists").into())
            }
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Unexpected(e) => {
                crate::observe::count_store_error();
                ApiError::Unexpected(e)
            }
        }
    }
}

impl From<crate::password::HashError> for ApiError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => ApiError::Busy(1),
            crate::password::HashError::Failed(e) => ApiError::Unexpected(e),
        }
    }
}

impl From<crate::throttle::Throttled> for ApiError {
    fn from(t: crate::throttle::Throttled) -> Self {
        ApiError::Throttled(t.retry_after_secs())
    }
}

impl From<crate::model::InvalidValue> for ApiError {
    fn from(e: crate::model::InvalidValue) -> Self {
        ApiError::Unprocessable(e.0.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_display_their_registered_code() {
        let e = OAuthError::invalid_grant("code expired");
        assert_eq!(e.code.as_str(), "invalid_grant");
        assert_eq!(e.to_string(), "invalid_grant: code expired");
    }

    #[test]
    fn store_conflicts_become_api_conflicts() {
        let e: ApiError = StoreError::Conflict("user").into();
        assert_eq!(e.code(), "conflict");
        assert_eq!(e.to_string(), "user already exists");
    }
}
