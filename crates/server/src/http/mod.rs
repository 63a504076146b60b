//! The HTTP surface: routes, shared state and extractors.

pub mod account;
pub mod admin;
pub mod api;
pub mod apps;
pub mod authorize;
pub mod client_addr;
pub mod console;
pub mod console_idp;
pub mod discovery;
pub mod end_session;
pub mod errors;
pub mod idp;
pub mod oauth;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod passkeys;
pub mod schemas;
pub mod security;
pub mod ssf;
pub mod wire;

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, web};
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
    /// The OpenAPI document for `base_url`, built once.
    pub openapi: web::Bytes,
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
        let openapi = openapi::json(&base_url).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be serialized");
            String::from("{}")
        });
        Self {
            secure_cookies: base_url.starts_with("https://"),
            openapi: web::Bytes::from(openapi),
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

/// What an endpoint answers with, for the OpenAPI document's coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// JSON (or an empty body): a machine endpoint, in the OpenAPI document.
    Json,
    /// A server-rendered HTML page for a browser.
    Html,
}

/// One route: a method, a path pattern below the scope it is mounted in,
/// and the handler. The route tables below are both what is mounted and
/// what [`route_table`] lists, so the list cannot miss a route.
pub struct Endpoint {
    method: Method,
    path: &'static str,
    answers: Answers,
    /// CORS for browser-based clients, and 405 for other methods: the
    /// endpoint shares one resource with the other methods of its path.
    machine: bool,
    route: actix_web::Route,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Endpoint {
    /// `method path`, answered by `handler` with JSON.
    pub fn new<F, Args>(method: Method, path: &'static str, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        Self {
            route: web::route().method(method.clone()).to(handler),
            method,
            path,
            answers: Answers::Json,
            machine: false,
        }
    }

    /// A machine endpoint (discovery, keys, token, registration): CORS for
    /// any origin, and `405` for a method its path does not serve.
    fn machine(mut self) -> Self {
        self.machine = true;
        self
    }

    /// An endpoint answering with an HTML page.
    fn page(mut self) -> Self {
        self.answers = Answers::Html;
        self
    }
}

/// Mounts `endpoints` on `cfg`, in order. Machine endpoints of one path
/// share a resource, so an unserved method there is a `405`; every other
/// route carries its method as a guard, so an unserved method falls through
/// to the JSON 404.
fn mount(cfg: &mut web::ServiceConfig, endpoints: Vec<Endpoint>) {
    let mut machine: Vec<(&'static str, Vec<actix_web::Route>)> = Vec::new();
    for e in endpoints {
        if !e.machine {
            cfg.route(e.path, e.route);
        } else if let Some((_, routes)) = machine.iter_mut().find(|(p, _)| *p == e.path) {
            routes.push(e.route);
        } else {
            machine.push((e.path, vec![e.route]));
        }
    }
    for (path, routes) in machine {
        let resource = routes
            .into_iter()
            .fold(web::resource(path), |r, route| r.route(route));
        cfg.service(resource.wrap(cors()));
    }
}

/// The issuer's path: OAuth endpoints, pages and the admin API are below it.
pub const OAUTH_SCOPE: &str = "/api/v1/oauth";
/// The platform API's path.
pub const API_SCOPE: &str = "/api/v1";

/// Endpoints at the root: health and the well-known documents.
fn root_endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/healthz", healthz),
        Endpoint::new(Method::GET, "/readyz", readyz),
        Endpoint::new(
            Method::GET,
            "/.well-known/oauth-authorization-server/api/v1/oauth",
            discovery::metadata,
        )
        .machine(),
        Endpoint::new(
            Method::GET,
            "/.well-known/openid-configuration/api/v1/oauth",
            discovery::openid_configuration,
        )
        .machine(),
        Endpoint::new(
            Method::GET,
            "/.well-known/oauth-protected-resource/api/v1",
            discovery::api_resource_metadata,
        )
        .machine(),
        Endpoint::new(
            Method::GET,
            "/.well-known/ssf-configuration/api/v1/oauth",
            ssf::configuration,
        )
        .machine(),
    ]
    .into_iter()
    .chain(account::endpoints())
    .chain(idp::account_endpoints())
    .chain(security::endpoints())
    .chain(passkeys::endpoints())
    .chain(console::endpoints())
    .chain(console_idp::endpoints())
    .collect()
}

/// Endpoints below the issuer ([`OAUTH_SCOPE`]), the admin API's included.
fn oauth_endpoints() -> Vec<Endpoint> {
    let mut all = vec![
        Endpoint::new(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            discovery::metadata,
        )
        .machine(),
        Endpoint::new(
            Method::GET,
            "/.well-known/openid-configuration",
            discovery::openid_configuration,
        )
        .machine(),
        Endpoint::new(Method::GET, "/jwks.json", discovery::jwks).machine(),
        Endpoint::new(Method::POST, "/token", oauth::token).machine(),
        Endpoint::new(Method::POST, "/revoke", oauth::revoke).machine(),
        Endpoint::new(Method::POST, "/introspect", oauth::introspect).machine(),
        Endpoint::new(Method::POST, "/register", oauth::register).machine(),
        Endpoint::new(
            Method::GET,
            "/register/{client_id}",
            oauth::registration_read,
        )
        .machine(),
        Endpoint::new(
            Method::PUT,
            "/register/{client_id}",
            oauth::registration_update,
        )
        .machine(),
        Endpoint::new(
            Method::DELETE,
            "/register/{client_id}",
            oauth::registration_delete,
        )
        .machine(),
        Endpoint::new(Method::GET, "/authorize", authorize::authorize).page(),
        Endpoint::new(Method::POST, "/authorize", authorize::consent).page(),
        Endpoint::new(Method::POST, "/login", authorize::login).page(),
        Endpoint::new(Method::POST, "/logout", authorize::logout).page(),
        Endpoint::new(Method::GET, "/end_session", end_session::end_session_get).page(),
        Endpoint::new(Method::POST, "/end_session", end_session::end_session_post).page(),
        Endpoint::new(Method::GET, "/userinfo", oauth::userinfo),
        Endpoint::new(Method::POST, "/userinfo", oauth::userinfo),
    ];
    all.extend(admin::endpoints());
    all.extend(idp::endpoints());
    all.extend(ssf::endpoints());
    all
}

/// Routes every endpoint of DESIGN §4 and §9.
pub fn routes(cfg: &mut web::ServiceConfig) {
    mount(cfg, root_endpoints());
    cfg.service(
        web::scope(OAUTH_SCOPE)
            .app_data(api::json_config())
            .app_data(api::query_config())
            .configure(|cfg| mount(cfg, oauth_endpoints())),
    )
    .service(
        web::scope(API_SCOPE)
            .app_data(api::json_config())
            .app_data(api::query_config())
            .configure(|cfg| mount(cfg, api::endpoints())),
    );
}

/// One route as mounted: method, full path pattern, what it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The method.
    pub method: Method,
    /// The full path pattern, as `match_pattern` and the metrics name it.
    pub path: String,
    /// JSON or HTML.
    pub answers: Answers,
}

/// Every route [`routes`] mounts, with its full path: what the OpenAPI
/// document must cover (`/metrics`, mounted by the composition root on a
/// listener of its choice, is not among them).
pub fn route_table() -> Vec<RouteInfo> {
    let scoped = |prefix: &str, endpoints: Vec<Endpoint>| -> Vec<RouteInfo> {
        endpoints
            .into_iter()
            .map(|e| RouteInfo {
                path: format!("{prefix}{}", e.path),
                method: e.method,
                answers: e.answers,
            })
            .collect()
    };
    let mut all = scoped("", root_endpoints());
    all.extend(scoped(OAUTH_SCOPE, oauth_endpoints()));
    all.extend(scoped(API_SCOPE, api::endpoints()));
    all
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

/// Liveness: `200` while the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses((status = 200, description = "Up.", body = schemas::Health)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: `200` when the store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The store answers.", body = schemas::Health),
        (status = 503, description = "The store does not answer.", body = schemas::Health),
    ),
)]
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
