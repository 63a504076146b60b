//! Discovery: the authorization server's metadata (RFC 8414), the platform
//! API's protected-resource metadata (RFC 9728) and the signing keys.

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Data;
use gatehouse_core::scope::KNOWN_SCOPES;
use gatehouse_core::service::RegistrationPolicy;
use serde_json::json;

use super::AppState;
use super::schemas::{AuthorizationServerMetadata, Jwks, ProtectedResourceMetadata};

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
    document(server_metadata(&state).await)
}

/// OpenID Connect Discovery 1.0 §3: the RFC 8414 document plus what an
/// OpenID provider must declare. Served at the issuer-appended location
/// OIDC defines and at the path-inserted one RFC 8414 clients (the MCP
/// SDKs among them) also try. It is a superset of the OAuth document, so a
/// client that finds this one first learns the same endpoints, PKCE S256
/// and registration.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration/api/v1/oauth",
    tag = "discovery",
    security(()),
    responses(
        (status = 200, description = "The metadata; `Cache-Control: public, max-age=60`.", body = AuthorizationServerMetadata),
    )
)]
pub async fn openid_configuration(state: Data<AppState>) -> HttpResponse {
    let mut doc = server_metadata(&state).await;
    doc["subject_types_supported"] = json!(["public"]);
    // ES256 only: the keys are P-256 (jwt.rs). OIDC Discovery asks for
    // RS256 too; docs/identity.md says why Gatehouse does not.
    doc["id_token_signing_alg_values_supported"] = json!(["ES256"]);
    doc["claims_supported"] = json!(ID_TOKEN_CLAIMS);
    doc["claim_types_supported"] = json!(["normal"]);
    doc["claims_parameter_supported"] = json!(false);
    doc["request_parameter_supported"] = json!(false);
    doc["request_uri_parameter_supported"] = json!(false);
    document(doc)
}

/// Every claim an ID token or userinfo may carry.
const ID_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "email",
    "email_verified",
    "name",
    "updated_at",
];

fn document(doc: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(doc)
}

/// The RFC 8414 document.
async fn server_metadata(state: &AppState) -> serde_json::Value {
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
        "end_session_endpoint": format!("{iss}/end_session"),
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
    doc
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
        .filter(|s| !gatehouse_core::scope::is_protocol_scope(s))
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
