//! OAuth endpoints for clients: token, revocation, introspection,
//! registration (RFC 7591/7592) and userinfo, and the client
//! authentication and form parsing they share.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt as _;
use gatehouse_core::params::Params;
use gatehouse_core::secret::Secret;
use gatehouse_core::service::ClientCredentials;
use gatehouse_core::{ErrorCode, OAuthError};

use super::errors::{ApiFailure, OAuthFailure};
use super::openapi::{
    InvalidClient, InvalidRegistrationToken, OAuthBadRequest, OAuthServerError,
    RegistrationDisabled, RegistrationThrottled, ServerError, Unauthorized,
};
use super::schemas::{
    IntrospectionRequest, IntrospectionResponse, RegistrationRequest, RegistrationResponse,
    RegistrationUpdate, RevocationRequest, TokenRequest, TokenResponse, UserinfoResponse,
};
use super::{AppState, MAX_BODY};

/// Reads a JSON body of at most [`MAX_BODY`] bytes for the registration
/// endpoints, with RFC 7591's error for anything unreadable.
async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<serde_json::Value, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be application/json",
        ));
    }
    let buf = read_body(payload).await?;
    serde_json::from_slice(&buf).map_err(|e| {
        OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!("invalid JSON: {e}"),
        )
    })
}

/// Dynamic client registration (RFC 7591): open, behind an initial access
/// token, or off, as `GATEHOUSE_REGISTRATION` says.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/register",
    tag = "registration",
    request_body = RegistrationRequest,
    security((), ("initial_access_token" = [])),
    responses(
        (status = 201, description = "Registered; the secret and the registration access token are shown this once. `Cache-Control: no-store`.", body = RegistrationResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = InvalidRegistrationToken),
        (status = 403, response = RegistrationDisabled),
        (status = 429, response = RegistrationThrottled),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn register(
    state: Data<AppState>,
    http: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OAuthFailure> {
    let body = read_json(&http, body).await?;
    let doc = state
        .gatehouse
        .register_client(super::bearer_token(&http), &body, state.client_ip(&http))
        .await?;
    Ok(no_store(HttpResponse::Created().json(doc)))
}

/// A dynamic client reads its registration (RFC 7592 §2.1).
#[utoipa::path(
    get,
    path = "/api/v1/oauth/register/{client_id}",
    tag = "registration",
    security(("registration_access_token" = [])),
    params(("client_id" = String, Path, description = "The `client_id` registered.")),
    responses(
        (status = 200, description = "The registration, without `client_secret` and `registration_access_token`.", body = RegistrationResponse),
        (status = 401, response = InvalidRegistrationToken),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn registration_read(
    state: Data<AppState>,
    http: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, OAuthFailure> {
    let client = state
        .gatehouse
        .registered_client(&id, super::bearer_token(&http))
        .await?;
    Ok(no_store(HttpResponse::Ok().json(
        state.gatehouse.registration_response(&client, None, None),
    )))
}

/// A dynamic client replaces its metadata (RFC 7592 §2.2).
#[utoipa::path(
    put,
    path = "/api/v1/oauth/register/{client_id}",
    tag = "registration",
    request_body = RegistrationUpdate,
    security(("registration_access_token" = [])),
    params(("client_id" = String, Path, description = "The `client_id` registered.")),
    responses(
        (status = 200, description = "The new registration (no secret).", body = RegistrationResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = InvalidRegistrationToken),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn registration_update(
    state: Data<AppState>,
    http: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, OAuthFailure> {
    let token = super::bearer_token(&http).map(str::to_owned);
    // Authenticate before reading metadata, so bad tokens get 401 first.
    state
        .gatehouse
        .registered_client(&id, token.as_deref())
        .await?;
    let body = read_json(&http, body).await?;
    let doc = state
        .gatehouse
        .update_registration(&id, token.as_deref(), &body)
        .await?;
    Ok(no_store(HttpResponse::Ok().json(doc)))
}

/// A dynamic client deletes itself (RFC 7592 §2.3).
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/register/{client_id}",
    tag = "registration",
    security(("registration_access_token" = [])),
    params(("client_id" = String, Path, description = "The `client_id` registered.")),
    responses(
        (status = 204, description = "Deleted, with its codes, grants, refresh tokens and consents."),
        (status = 401, response = InvalidRegistrationToken),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn registration_delete(
    state: Data<AppState>,
    http: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, OAuthFailure> {
    state
        .gatehouse
        .delete_registration(&id, super::bearer_token(&http))
        .await?;
    Ok(no_store(HttpResponse::NoContent().finish()))
}

/// Token introspection (RFC 7662) for confidential clients an
/// administrator registered. Anything but an active token is
/// `{"active": false}`.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/introspect",
    tag = "oauth",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "The token's state; `Cache-Control: no-store`.", body = IntrospectionResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = InvalidClient),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn introspect(
    state: Data<AppState>,
    http: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OAuthFailure> {
    let params = read_form(&http, body).await?;
    let client = client_for(&state, &http, &params).await?;
    let doc = state.gatehouse.introspect(&client, &params).await?;
    Ok(no_store(HttpResponse::Ok().json(doc)))
}

pub(super) fn parse_pairs(raw: &[u8]) -> Option<Params> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw)
        .ok()
        .map(Params::from_pairs)
}

/// Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2).
fn form_params(req: &HttpRequest, body: &Bytes) -> Result<Params, OAuthError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    parse_pairs(body)
        .ok_or_else(|| OAuthError::invalid_request("the body is not valid form encoding"))
}

/// Reads a body of at most [`MAX_BODY`] bytes; anything larger is an
/// `invalid_request`, not a dropped connection.
async fn read_body(mut payload: web::Payload) -> Result<Bytes, OAuthError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| OAuthError::invalid_request("the body could not be read"))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(OAuthError::invalid_request("the body is too large"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Reads a form body of at most [`MAX_BODY`] bytes; anything larger is an
/// `invalid_request`, not a dropped connection.
pub(super) async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Params, OAuthError> {
    let buf = read_body(payload).await?;
    form_params(req, &buf)
}

pub(super) fn redirect(status: StatusCode, url: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

/// Parses `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-encoded).
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, Secret)>, OAuthFailure> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthFailure {
        error: OAuthError::invalid_client("malformed Basic credentials"),
        basic: true,
    };
    let v = v.to_str().map_err(|_| bad())?;
    match parse_basic(v) {
        Basic::Credentials(id, secret) => Ok(Some((id, secret))),
        Basic::OtherScheme => Err(OAuthFailure::from(OAuthError::invalid_request(
            "only the Basic scheme is accepted for client authentication",
        ))),
        Basic::Malformed => Err(bad()),
    }
}

/// What an `Authorization` header value holds, for client authentication.
#[derive(Debug, PartialEq)]
pub(super) enum Basic {
    /// `Basic` with a decodable `id:secret`.
    Credentials(String, Secret),
    /// Another scheme (`Bearer`, …).
    OtherScheme,
    /// `Basic` with something unreadable, or no scheme at all.
    Malformed,
}

/// Decodes a Basic header value: base64 of `id:secret`, each part
/// form-urlencoded (RFC 6749 §2.3.1), UTF-8 throughout.
pub(super) fn parse_basic(value: &str) -> Basic {
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Basic::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Basic::OtherScheme;
    }
    let Some(decoded) = STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
    else {
        return Basic::Malformed;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return Basic::Malformed;
    };
    let decode = |s: &str| {
        // `+` is a space in form encoding.
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .ok()
    };
    match (decode(id), decode(secret)) {
        (Some(id), Some(secret)) => Basic::Credentials(id, Secret::new(secret)),
        _ => Basic::Malformed,
    }
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res.headers_mut()
        .insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    res
}

async fn client_for(
    state: &AppState,
    http: &HttpRequest,
    params: &Params,
) -> Result<gatehouse_core::model::Client, OAuthFailure> {
    let basic = basic_credentials(http)?;
    let used_basic = basic.is_some();
    let creds = ClientCredentials::from_request(basic, params).map_err(|e| OAuthFailure {
        error: e,
        basic: used_basic,
    })?;
    state
        .gatehouse
        .authenticate_client(&creds)
        .await
        .map_err(|e| OAuthFailure {
            error: e,
            basic: used_basic,
        })
}

/// The token endpoint: authorization code, refresh, client credentials and
/// token exchange.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/token",
    tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "Tokens; `Cache-Control: no-store`.", body = TokenResponse),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = InvalidClient),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn token(
    state: Data<AppState>,
    http: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OAuthFailure> {
    let answer = async {
        let params = read_form(&http, body).await?;
        let client = client_for(&state, &http, &params).await?;
        Ok::<_, OAuthFailure>(state.gatehouse.token(&client, &params).await?)
    }
    .await;
    let res = answer.inspect_err(|e| state.metrics.token_error(e.error.code))?;
    Ok(no_store(
        HttpResponse::Ok()
            .content_type(ContentType::json())
            .json(res),
    ))
}

/// Revocation (RFC 7009): `200` whether or not the token was known.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/revoke",
    tag = "oauth",
    request_body(content = RevocationRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "Revoked, unknown, or another client's (ignored): an empty body with `Cache-Control: no-store`."),
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = InvalidClient),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn revoke(
    state: Data<AppState>,
    http: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, OAuthFailure> {
    let params = read_form(&http, body).await?;
    let client = client_for(&state, &http, &params).await?;
    state.gatehouse.revoke(&client, &params).await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}

/// The signed-in user's claims, by the token's scope.
#[utoipa::path(
    method(get, post),
    path = "/api/v1/oauth/userinfo",
    tag = "oauth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims; `Cache-Control: no-store`.", body = UserinfoResponse),
        (status = 401, response = Unauthorized),
        (status = 500, response = ServerError),
    )
)]
pub async fn userinfo(
    state: Data<AppState>,
    http: HttpRequest,
) -> Result<HttpResponse, ApiFailure> {
    let token = super::bearer_token(&http)
        .ok_or_else(|| ApiFailure(gatehouse_core::ApiError::InvalidToken("".into())))?;
    let caller = state.gatehouse.authenticate_userinfo(token).await?;
    let info = state.gatehouse.userinfo(&caller).await?;
    Ok(no_store(HttpResponse::Ok().json(info)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn form_encode(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn basic_credentials_decode_per_rfc_6749() {
        let v = format!("Basic {}", STANDARD.encode("oauth_abc:s%3Acret+x"));
        assert_eq!(
            parse_basic(&v),
            Basic::Credentials("oauth_abc".into(), Secret::new("s:cret x"))
        );
        assert_eq!(parse_basic("Bearer abc"), Basic::OtherScheme);
        assert_eq!(parse_basic("Basic !!!"), Basic::Malformed);
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode("no-colon"))),
            Basic::Malformed
        );
        assert_eq!(parse_basic("Basic"), Basic::Malformed);
    }

    proptest! {
        #![proptest_config(crate::http::client_addr::proptest_config())]

        /// Whatever a client sends, parsing never panics.
        #[test]
        fn any_authorization_header_parses_or_is_refused(raw in any::<String>(), b64 in "[A-Za-z0-9+/=]{0,60}") {
            let _ = parse_basic(&raw);
            let _ = parse_basic(&format!("Basic {b64}"));
        }

        /// Any request body or query string decodes or is refused without
        /// panicking, and encoded pairs decode to exactly themselves, in
        /// order, repeats kept (so repetition can be refused).
        #[test]
        fn token_request_forms_round_trip(
            junk in any::<Vec<u8>>(),
            pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..6),
        ) {
            let _ = parse_pairs(&junk);
            let encoded = serde_urlencoded::to_string(&pairs).unwrap();
            let parsed = parse_pairs(encoded.as_bytes()).unwrap();
            prop_assert_eq!(parsed.pairs(), pairs.as_slice());
        }

        /// Credentials encoded as RFC 6749 says decode to exactly what was
        /// encoded, whatever characters they hold.
        #[test]
        fn encoded_credentials_round_trip(id in any::<String>(), secret in any::<String>()) {
            let v = format!("Basic {}", STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret))));
            prop_assert_eq!(parse_basic(&v), Basic::Credentials(id, Secret::new(secret)));
        }
    }
}
