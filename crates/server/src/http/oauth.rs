//! OAuth endpoints: discovery, JWKS, authorize (with its pages), token,
//! revoke and userinfo.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::web::{self, Bytes, Data};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt as _;
use gatehouse_core::params::Params;
use gatehouse_core::scope::KNOWN_SCOPES;
use gatehouse_core::secret::Secret;
use gatehouse_core::service::{
    AuthorizeError, AuthorizeRequest, ClientCredentials, Decision, Prompt, RegistrationPolicy,
};
use gatehouse_core::{ApiError, ErrorCode, OAuthError};
use serde_json::json;

use super::errors::{ApiFailure, OAuthFailure};
use super::openapi::{
    InvalidClient, InvalidRegistrationToken, OAuthBadRequest, OAuthServerError,
    RegistrationDisabled, RegistrationThrottled, ServerError, Unauthorized,
};
use super::pages;
use super::schemas::{
    AuthorizationServerMetadata, IntrospectionRequest, IntrospectionResponse, Jwks,
    ProtectedResourceMetadata, RegistrationRequest, RegistrationResponse, RegistrationUpdate,
    RevocationRequest, TokenRequest, TokenResponse, UserinfoResponse,
};
use super::{AppState, Authed, MAX_BODY, RawQuery};

const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

/// RFC 8414 metadata, served at both the path-inserted and the seed's
/// location. Lists only what really works.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server/api/v1/oauth",
    tag = "discovery",
    security(()),
    responses(
        (status = 200, description = "The metadata; `Cache-Control: public, max-age=60`.", body = AuthorizationServerMetadata),
    )
)]
pub async fn metadata(state: Data<AppState>) -> HttpResponse {
    let gh = &state.gatehouse;
    let iss = &gh.settings().issuer;
    let mut scopes: Vec<String> = KNOWN_SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect();
    match gh.ports().resources.list_resources().await {
        Ok(resources) => {
            for s in resources.iter().flat_map(|r| r.scopes.iter()) {
                if !scopes.iter().any(|k| k == s) {
                    scopes.push(s.to_owned());
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing resources for metadata failed"),
    }
    let mut doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "jwks_uri": format!("{iss}/jwks.json"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
    });
    if gh.ports().fetcher.is_some() {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    if gh.settings().registration != RegistrationPolicy::Off {
        doc["registration_endpoint"] = json!(format!("{iss}/register"));
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(doc)
}

/// RFC 9728 metadata for the platform API, so MCP-style clients can find
/// the authorization server from a 401.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource/api/v1",
    tag = "discovery",
    security(()),
    responses(
        (status = 200, description = "The metadata; `Cache-Control: public, max-age=300`.", body = ProtectedResourceMetadata),
    )
)]
pub async fn api_resource_metadata(state: Data<AppState>) -> HttpResponse {
    let s = state.gatehouse.settings();
    let scopes: Vec<&str> = KNOWN_SCOPES
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| *s != gatehouse_core::scope::OFFLINE_ACCESS)
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(json!({
            "resource": s.api_audience,
            "authorization_servers": [s.issuer],
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "Gatehouse platform API",
        }))
}

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

/// The public signing keys, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/jwks.json",
    tag = "discovery",
    security(()),
    responses(
        (status = 200, description = "The JWK Set; `Cache-Control: public, max-age=300`.", body = Jwks, content_type = "application/jwk-set+json"),
    )
)]
pub async fn jwks(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/jwk-set+json")
        .body(state.gatehouse.jwks().to_string())
}

fn parse_pairs(raw: &[u8]) -> Option<Params> {
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

fn authorize_failure(e: AuthorizeError, status: StatusCode) -> HttpResponse {
    match e {
        AuthorizeError::Fatal(err) => {
            if err.code == gatehouse_core::ErrorCode::ServerError {
                return pages::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Gatehouse could not complete the request. Please try again.",
                );
            }
            pages::error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &err.description,
            )
        }
        AuthorizeError::Redirect { url, .. } => redirect(status, &url),
        AuthorizeError::Unvetted { host, url, error } => {
            tracing::info!(error = %error, host = %host, "authorization error for an unvetted client shown, not redirected");
            pages::unvetted_page(&host, &url, &error.description)
        }
    }
}

pub(super) async fn session_user(
    state: &AppState,
    req: &HttpRequest,
) -> Option<gatehouse_core::model::User> {
    let cookie = req.cookie(pages::session_cookie(state))?;
    match state.gatehouse.session_user(cookie.value()).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            None
        }
    }
}

/// Sign-in done (now or earlier): consent page or straight back with a code.
///
/// `seen_a_page` says whether the user has just used a Gatehouse page (the
/// sign-in form); if not, errors for unvetted clients are screened.
async fn continue_as(
    state: &AppState,
    session: &str,
    req: &AuthorizeRequest,
    user: &gatehouse_core::model::User,
    cookies: Vec<actix_web::cookie::Cookie<'static>>,
    status: StatusCode,
    seen_a_page: bool,
) -> HttpResponse {
    match state.gatehouse.decide(req, user).await {
        Ok(Decision::Consent { scope }) => {
            pages::consent_page(state, session, req, &scope, user.email.as_str(), cookies)
        }
        Ok(Decision::Redirect(url)) => {
            let mut res = redirect(status, &url);
            for c in cookies {
                let _ = res.add_cookie(&c);
            }
            res
        }
        Err(e) if seen_a_page => authorize_failure(e, status),
        Err(e) => authorize_failure(state.gatehouse.screen(e, Some(user)).await, status),
    }
}

/// `GET /authorize`.
pub async fn authorize(state: Data<AppState>, http: HttpRequest, query: RawQuery) -> HttpResponse {
    let Some(params) = parse_pairs(query.0.as_bytes()) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The request's query string is malformed.",
        );
    };
    let user = session_user(&state, &http).await;
    let req = match state.gatehouse.validate_authorize(params).await {
        Ok(r) => r,
        Err(e) => {
            let e = state.gatehouse.screen(e, user.as_ref()).await;
            return authorize_failure(e, StatusCode::FOUND);
        }
    };
    match (user, req.prompt) {
        (None, Prompt::None) => {
            let e = state.gatehouse.login_required(&req);
            authorize_failure(state.gatehouse.screen(e, None).await, StatusCode::FOUND)
        }
        (Some(user), p) if p != Prompt::Login => {
            let session = http
                .cookie(pages::session_cookie(&state))
                .map(|c| c.value().to_owned())
                .unwrap_or_default();
            continue_as(
                &state,
                &session,
                &req,
                &user,
                vec![],
                StatusCode::FOUND,
                false,
            )
            .await
        }
        _ => pages::login_page(&state, &http, &req, StatusCode::OK, None, "", vec![]),
    }
}

/// `POST /login`: the sign-in form.
pub async fn login(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let Ok(params) = read_form(&http, body).await else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The form could not be read.",
        );
    };
    let req = match state.gatehouse.validate_authorize(params.clone()).await {
        Ok(r) => r,
        // Not what the page posted: nobody saw it. Screened like GET.
        Err(e) => {
            let user = session_user(&state, &http).await;
            let e = state.gatehouse.screen(e, user.as_ref()).await;
            return authorize_failure(e, StatusCode::SEE_OTHER);
        }
    };
    let email = params.get("email").ok().flatten().unwrap_or("");
    if !pages::login_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::BAD_REQUEST,
            Some("Your sign-in form expired. Please try again."),
            email,
            vec![],
        );
    }
    let password = params.get("password").ok().flatten().unwrap_or("");
    if email.is_empty() || password.is_empty() {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::BAD_REQUEST,
            Some("Enter your email and password."),
            email,
            vec![],
        );
    }
    let refused = |status: StatusCode, message: &str, retry_after: Option<u64>| {
        let mut res = pages::login_page(&state, &http, &req, status, Some(message), email, vec![]);
        if let Some(secs) = retry_after
            && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    };
    let user = match state
        .gatehouse
        .check_password(email, password, state.client_ip(&http))
        .await
    {
        Ok(u) => u,
        Err(ApiError::BadCredentials) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "The email or password is not correct.",
                None,
            );
        }
        Err(ApiError::Throttled(secs)) => {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many failed sign-in attempts. Try again in {}.",
                    pages::wait_phrase(secs)
                ),
                Some(secs),
            );
        }
        Err(ApiError::Busy(secs)) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Gatehouse is busy checking other sign-ins. Try again in a moment.",
                Some(secs),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    let session = match state.gatehouse.start_session(&user).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not start a session");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    tracing::info!(user = %user.id, client_id = %req.client.id, "signed in on the authorization page");
    let cookie = pages::cookie(
        &state,
        &http,
        pages::session_cookie(&state),
        session.expose().to_owned(),
    );
    continue_as(
        &state,
        session.expose(),
        &req,
        &user,
        vec![cookie],
        StatusCode::SEE_OTHER,
        true,
    )
    .await
}

/// `POST /logout`: "Not you?" on the consent page; back to sign-in.
pub async fn logout(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let params = read_form(&http, body).await.unwrap_or_default();
    if !pages::session_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-out failed",
            "The form expired. Please go back and try again.",
        );
    }
    if let Some(c) = http.cookie(pages::session_cookie(&state)) {
        let _ = state.gatehouse.end_session(c.value()).await;
    }
    let gone = pages::removal(&state, &http, pages::session_cookie(&state));
    match state.gatehouse.validate_authorize(params).await {
        Ok(req) => pages::login_page(&state, &http, &req, StatusCode::OK, None, "", vec![gone]),
        Err(_) => pages::html(
            StatusCode::OK,
            "<!doctype html><title>Signed out</title><p>You are signed out of Gatehouse.</p>"
                .into(),
            vec![gone],
        ),
    }
}

/// `POST /authorize`: the consent form.
pub async fn consent(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let Ok(params) = read_form(&http, body).await else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "The form could not be read.",
        );
    };
    let req = match state.gatehouse.validate_authorize(params.clone()).await {
        Ok(r) => r,
        // Not what the page posted: nobody saw it. Screened like GET.
        Err(e) => {
            let user = session_user(&state, &http).await;
            let e = state.gatehouse.screen(e, user.as_ref()).await;
            return authorize_failure(e, StatusCode::SEE_OTHER);
        }
    };
    let Some(user) = session_user(&state, &http).await else {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::OK,
            Some("Your session ended. Sign in again to continue."),
            "",
            vec![],
        );
    };
    if !pages::session_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "The consent form expired or did not come from Gatehouse. Start again from the application.",
        );
    }
    match params.get("decision") {
        Ok(Some("allow")) => match state.gatehouse.approve(&req, &user).await {
            Ok(url) => redirect(StatusCode::SEE_OTHER, &url),
            Err(e) => authorize_failure(e, StatusCode::SEE_OTHER),
        },
        Ok(Some("deny")) => redirect(
            StatusCode::SEE_OTHER,
            &state.gatehouse.deny(&req, &user).await,
        ),
        _ => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "Choose Allow or Deny.",
        ),
    }
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
pub async fn userinfo(state: Data<AppState>, caller: Authed) -> Result<HttpResponse, ApiFailure> {
    let info = state.gatehouse.userinfo(&caller.0).await?;
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
