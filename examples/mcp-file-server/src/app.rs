//! The composition root: the verifier, the platform client, the MCP service
//! behind the bearer layer, and the metadata document, in one router.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::map_response;
use axum::response::Response;
use axum::routing::get;
use gatehouse_resource::tower::BearerAuthLayer;
use gatehouse_resource::{
    Challenge, DiscoveryError, ProtectedResourceMetadata, ResourceConfig, SignalsConfig, Verifier,
    metadata_url_for,
};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::cors::{Any, CorsLayer};

use crate::config::{Config, Revocation};
use crate::platform::{Platform, PlatformError};
use crate::tools::FileServer;

/// The scopes this server understands, as published in its metadata: MCP
/// clients ask for these when a 401 names no scope.
pub const SCOPES: [&str; 5] = [
    "mcp:connect",
    "profile",
    "email",
    "organizations",
    "users:read",
];
/// What every MCP request needs.
pub const REQUIRED_SCOPE: &str = "mcp:connect";

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Gatehouse's metadata or keys could not be read, or it refused the
    /// server's credential.
    #[error(
        "cannot discover Gatehouse at {issuer}: {source}{}",
        credential_hint(source)
    )]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// Why.
        source: DiscoveryError,
    },
    /// The platform endpoints could not be found.
    #[error("cannot set up the platform client: {0}")]
    Platform(#[from] PlatformError),
}

/// Names the variables to check when Gatehouse refused the credential.
fn credential_hint(e: &DiscoveryError) -> &'static str {
    match e {
        DiscoveryError::Credential(_) => {
            "; check MCP_CLIENT_ID and MCP_CLIENT_SECRET against the confidential client an administrator registered for this server"
        }
        _ => "",
    }
}

/// The scopes this server asks for, in its own challenges: a bare 401 (no
/// token) and a 403 `insufficient_scope` name every scope the tools need, not
/// only the one the endpoint requires. MCP clients ask for exactly the
/// challenged scopes (plus what they held, on a step-up), and a token with
/// `mcp:connect` alone could connect but neither read a profile nor list
/// files. Refusals of a bad token keep the layer's `invalid_token` challenge.
fn advertise_tool_scopes(
    metadata_url: &str,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone + use<> {
    let header_for = |c: Challenge| HeaderValue::from_str(&c.scope(&SCOPES).header_value()).ok();
    let bare = header_for(Challenge::new(metadata_url));
    let step_up = header_for(Challenge::new(metadata_url).error("insufficient_scope"));
    move |mut res: Response| {
        let current = res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let replacement = match res.status() {
            StatusCode::UNAUTHORIZED if !current.contains("error=") => bare.clone(),
            StatusCode::FORBIDDEN if current.contains("insufficient_scope") => step_up.clone(),
            _ => None,
        };
        if let Some(v) = replacement {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        std::future::ready(res)
    }
}

/// The path part of a URL (`/` when it has none).
fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| u.path().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned())
}

/// The HTTP application, and the verifier to close on shutdown (it may hold
/// a Shared Signals stream at Gatehouse).
#[derive(Debug)]
pub struct App {
    /// Every route.
    pub router: Router,
    /// The verifier behind the MCP endpoint.
    pub verifier: Arc<Verifier>,
}

/// Builds the HTTP application.
///
/// # Errors
/// Gatehouse cannot be discovered.
pub async fn build(config: &Config, shutdown: CancellationToken) -> Result<App, StartError> {
    // Signature checks alone accept a revoked token until it expires. Both
    // other modes use this server's own credential: signals to receive
    // revocations (and to introspect while the stream is stale),
    // introspection to ask about every token.
    let resource = ResourceConfig::new(&config.issuer, &config.resource);
    let (id, secret) = (&config.client_id, config.client_secret.expose());
    let resource = match config.revocation {
        Revocation::Signals => resource.with_signals(SignalsConfig {
            max_token_lifetime: config.max_token_lifetime,
            ..SignalsConfig::new(id, secret)
        }),
        Revocation::Introspection => resource.with_introspection(id, secret),
        Revocation::Expiry => resource,
    };
    let verifier: Arc<Verifier> =
        Verifier::discover(resource)
            .await
            .map_err(|source| StartError::Discovery {
                issuer: config.issuer.clone(),
                source,
            })?;
    match config.revocation {
        Revocation::Signals => tracing::info!(
            revocation = "signals",
            "revoked tokens are refused within seconds via Gatehouse's Shared Signals stream"
        ),
        Revocation::Introspection => tracing::info!(
            revocation = "introspection",
            "every token is introspected at Gatehouse"
        ),
        Revocation::Expiry => tracing::warn!(
            revocation = "expiry",
            "signatures only: a revoked token is accepted until it expires"
        ),
    }
    let platform = match Platform::discover(config).await {
        Ok(p) => Arc::new(p),
        Err(e) => {
            verifier.close().await;
            return Err(e.into());
        }
    };

    // Stateless: every request is authenticated on its own, so no MCP
    // session can outlive the token (or the user) that opened it.
    let mcp = StreamableHttpService::new(
        move || Ok(FileServer::new(platform.clone())),
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(config.allowed_hosts())
            .with_cancellation_token(shutdown.child_token()),
    );
    let metadata_url = metadata_url_for(&config.resource);
    let guarded = BearerAuthLayer::new(verifier.clone(), &[REQUIRED_SCOPE]).layer(mcp);
    let mcp_routes = Router::new()
        .route_service(&config.mcp_path(), guarded)
        .layer(map_response(advertise_tool_scopes(&metadata_url)));

    let metadata = ProtectedResourceMetadata::new(&config.resource, &config.issuer)
        .scopes(SCOPES)
        .name("MCP File Server")
        .to_json();

    // Browser-based MCP clients (the MCP Inspector) read the challenge and
    // the metadata cross-origin; the bearer token, not cookies, authenticates.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            HeaderName::from_static("mcp-session-id"),
        ]);

    let router = Router::new()
        .route(
            &path_of(&metadata_url),
            get(move || {
                let doc = metadata.clone();
                async move { axum::Json(doc) }
            }),
        )
        .merge(mcp_routes)
        .layer(cors);
    Ok(App { router, verifier })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_path_inserts_the_well_known_segment() {
        assert_eq!(
            path_of(&metadata_url_for("http://127.0.0.1:8000/mcp")),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            path_of(&metadata_url_for("https://files.example.com")),
            "/.well-known/oauth-protected-resource"
        );
    }
}
