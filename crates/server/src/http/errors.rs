//! Mapping core errors to HTTP: status codes, bodies and challenges
//! (RFC 6749 §5.2, RFC 6750 §3, DESIGN §7). The only place that knows them.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use gatehouse_core::challenge::BearerChallenge;
use gatehouse_core::{ApiError, ErrorCode, OAuthError};
use serde_json::json;

/// An OAuth endpoint failure (`/token`, `/revoke`).
#[derive(Debug)]
pub struct OAuthFailure {
    /// The error.
    pub error: OAuthError,
    /// Whether the client used HTTP Basic, so a 401 challenges Basic.
    pub basic: bool,
}

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            basic: false,
        }
    }
}

impl fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// Status for an OAuth error code at the token-style endpoints.
pub fn oauth_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl ResponseError for OAuthFailure {
    fn status_code(&self) -> StatusCode {
        if self.error.retry_after.is_some() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
        oauth_status(self.error.code)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(secs) = self.error.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.error.code == ErrorCode::InvalidClient && self.basic {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                r#"Basic realm="gatehouse", charset="UTF-8""#,
            ));
        }
        if self.error.code == ErrorCode::InvalidToken
            && let Ok(v) = HeaderValue::from_str(
                &BearerChallenge::new()
                    .realm("gatehouse")
                    .error("invalid_token")
                    .description(self.error.description.clone())
                    .header_value(),
            )
        {
            res.insert_header((header::WWW_AUTHENTICATE, v));
        }
        res.json(json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        }))
    }
}

/// A platform-API failure.
#[derive(Debug)]
pub struct ApiFailure(pub ApiError);

impl From<ApiError> for ApiFailure {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<gatehouse_core::ports::StoreError> for ApiFailure {
    fn from(e: gatehouse_core::ports::StoreError) -> Self {
        Self(e.into())
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiFailure {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidToken(_)
            | ApiError::BadCredentials
            | ApiError::SecondFactorRequired => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Unexpected(e) = &self.0 {
            tracing::error!(error = %e, "unexpected failure in the platform API");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let ApiError::Throttled(secs) | ApiError::Busy(secs) = &self.0 {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        let bearer = || BearerChallenge::new().realm("gatehouse");
        let challenge = match &self.0 {
            ApiError::InvalidToken(d) if d.is_empty() => Some(bearer()),
            ApiError::InvalidToken(d) => Some(
                bearer()
                    .error("invalid_token")
                    .description(d.clone().into_owned()),
            ),
            // MCP clients read `scope` as "all of these are needed" and ask
            // for the union, so name the least scope that would do.
            ApiError::InsufficientScope(scopes) => Some(
                bearer()
                    .error("insufficient_scope")
                    .scope(&scopes[..scopes.len().min(1)]),
            ),
            _ => None,
        };
        if let Some(c) = challenge
            && let Ok(v) = HeaderValue::from_str(&c.header_value())
        {
            res.insert_header((header::WWW_AUTHENTICATE, v));
        }
        let description = match &self.0 {
            ApiError::InvalidToken(d) if d.is_empty() => "a bearer token is required".to_owned(),
            other => other.to_string(),
        };
        let mut body = json!({ "error": self.0.code(), "error_description": description });
        if let ApiError::InsufficientScope(scopes) = &self.0 {
            body["scope"] = json!(scopes.join(" "));
        }
        res.json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_401_with_a_basic_challenge_when_basic_was_used() {
        let f = OAuthFailure {
            error: OAuthError::invalid_client("nope"),
            basic: true,
        };
        let r = f.error_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
        assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    }

    #[test]
    fn insufficient_scope_is_403_naming_every_acceptable_scope() {
        let r = ApiFailure(ApiError::InsufficientScope(vec![
            "users:read",
            "users:write",
        ]))
        .error_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let c = r
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(c.contains(r#"error="insufficient_scope""#));
        assert!(c.contains(r#"scope="users:read""#));
    }
}
