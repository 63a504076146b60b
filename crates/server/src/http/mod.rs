//! The HTTP surface: routes, shared state and extractors.

pub mod api;
pub mod client_addr;
pub mod errors;
pub mod oauth;
pub mod observe;
pub mod pages;
pub mod wire;

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures::future::LocalBoxFuture;
use gatehouse_core::service::Caller;
use gatehouse_core::{ApiError, Gatehouse};

use self::client_addr::TrustedProxies;
use self::errors::ApiFailure;
use crate::metrics::Metrics;

/// Largest form or JSON body accepted; real requests are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The authorization server.
    pub gatehouse: Arc<Gatehouse>,
    /// The public base URL, without trailing slash.
    pub base_url: String,
    /// Whether cookies get `Secure` (public URL is https).
    pub secure_cookies: bool,
    /// Proxies whose forwarded headers are believed.
    pub proxies: Arc<TrustedProxies>,
    /// Where requests and outcomes are counted.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for a server at `base_url` behind `proxies`.
    pub fn new(
        gatehouse: Arc<Gatehouse>,
        base_url: String,
        proxies: TrustedProxies,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            secure_cookies: base_url.starts_with("https://"),
            gatehouse,
            base_url,
            proxies: Arc::new(proxies),
            metrics,
        }
    }

    /// The client's address: the socket peer, or what a trusted proxy says
    /// (DESIGN §10).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        self.proxies
            .client_address(req.peer_addr().map(|a| a.ip()), req.headers())
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An authenticated platform-API caller, extracted from the bearer token.
#[derive(Debug)]
pub struct Authed(pub Caller);

impl FromRequest for Authed {
    type Error = ApiFailure;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        let source = state.as_ref().and_then(|s| s.client_ip(req));
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiFailure(ApiError::Unexpected(anyhow::anyhow!("state missing")))
            })?;
            let token = token.ok_or_else(|| ApiFailure(ApiError::InvalidToken("".into())))?;
            let mut caller = state.gatehouse.authenticate_bearer(&token).await?;
            caller.source = source;
            Ok(Authed(caller))
        })
    }
}

/// The raw query string, for handlers that must see repeated parameters.
#[derive(Debug)]
pub struct RawQuery(pub String);

impl FromRequest for RawQuery {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(RawQuery(req.query_string().to_owned())))
    }
}

/// CORS for the endpoints browser-based clients (MCP Inspector) call:
/// any origin, no credentials. Never on `/authorize` or the pages.
fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(86_400)
}

/// Routes every endpoint of DESIGN §4 and §9.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .service(
            web::resource("/.well-known/oauth-authorization-server/api/v1/oauth")
                .wrap(cors())
                .route(web::get().to(oauth::metadata)),
        )
        .service(
            web::resource("/.well-known/oauth-protected-resource/api/v1")
                .wrap(cors())
                .route(web::get().to(oauth::api_resource_metadata)),
        )
        .service(
            web::scope("/api/v1/oauth")
                .service(
                    web::resource("/.well-known/oauth-authorization-server")
                        .wrap(cors())
                        .route(web::get().to(oauth::metadata)),
                )
                .service(
                    web::resource("/jwks.json")
                        .wrap(cors())
                        .route(web::get().to(oauth::jwks)),
                )
                .service(
                    web::resource("/token")
                        .wrap(cors())
                        .route(web::post().to(oauth::token)),
                )
                .service(
                    web::resource("/revoke")
                        .wrap(cors())
                        .route(web::post().to(oauth::revoke)),
                )
                .service(
                    web::resource("/introspect")
                        .wrap(cors())
                        .route(web::post().to(oauth::introspect)),
                )
                .service(
                    web::resource("/register")
                        .wrap(cors())
                        .route(web::post().to(oauth::register)),
                )
                .service(
                    web::resource("/register/{client_id}")
                        .wrap(cors())
                        .route(web::get().to(oauth::registration_read))
                        .route(web::put().to(oauth::registration_update))
                        .route(web::delete().to(oauth::registration_delete)),
                )
                .route("/authorize", web::get().to(oauth::authorize))
                .route("/authorize", web::post().to(oauth::consent))
                .route("/login", web::post().to(oauth::login))
                .route("/logout", web::post().to(oauth::logout))
                .route("/userinfo", web::get().to(oauth::userinfo))
                .route("/userinfo", web::post().to(oauth::userinfo))
                .configure(api::admin_routes),
        )
        .service(web::scope("/api/v1").configure(api::routes));
}

/// Adds RFC 9728's `resource_metadata` to every Bearer challenge, so a
/// client holding only a 401 can find the authorization server.
pub async fn resource_metadata_challenge(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let base = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.base_url.clone());
    let mut res = next.call(req).await?;
    if let Some(base) = base
        && let Some(challenge) = res.headers().get(header::WWW_AUTHENTICATE)
        && let Ok(c) = challenge.to_str()
        && c.starts_with("Bearer")
        && !c.contains("resource_metadata=")
        && let Ok(v) = header::HeaderValue::from_str(&format!(
            "{c}, resource_metadata={}",
            gatehouse_core::challenge::quote(&format!(
                "{base}/.well-known/oauth-protected-resource/api/v1"
            ))
        ))
    {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Ok(res)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.gatehouse.ready().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "store not ready");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

/// `GET /metrics`: every metric in the Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::metrics::CONTENT_TYPE)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// JSON 404 for unknown paths, 405 stays actix's.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "error_description": "no such endpoint",
    }))
}
