//! The OpenAPI 3.1 document of every JSON endpoint (DESIGN §10), served at
//! `GET /api/v1/openapi.json`.
//!
//! It is derived, not written: the handlers carry `#[utoipa::path]`, the
//! response bodies are the `ToSchema` types of `wire.rs`, and what the core
//! builds as plain JSON is described in `schemas.rs`. The API test
//! `tests/api/openapi.rs` checks that every JSON route [`super::route_table`]
//! mounts is here and that real answers validate against their schemas;
//! `tests/schemathesis/run.sh` fuzzes every operation against a live server.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::HttpResponse;
use actix_web::http::header;
use actix_web::web::Data;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, ServerBuilder,
};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::schemas::{ApiErrorBody, OAuthErrorBody};
use super::{AppState, admin, api, apps, discovery, idp, oauth, ssf};

/// Paths served by the same handlers as a documented path, as
/// `(alias, documented)`: the document lists them too, with the same
/// operations, so a client or a fuzzer calling either finds it.
const ALIASES: &[(&str, &str)] = &[
    ("/api/v1/users", "/api/v1/users/"),
    ("/api/v1/organizations", "/api/v1/organizations/"),
    (
        "/api/v1/oauth/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/api/v1/oauth",
    ),
    (
        "/api/v1/oauth/.well-known/openid-configuration",
        "/.well-known/openid-configuration/api/v1/oauth",
    ),
    (
        "/api/v1/oauth/.well-known/ssf-configuration",
        "/.well-known/ssf-configuration/api/v1/oauth",
    ),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        description = "An OAuth 2.1 authorization server for MCP, and the platform API it protects. \
                       docs/api.md is the full reference: this document gives the shapes.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::healthz,
        super::readyz,
        discovery::metadata,
        discovery::openid_configuration,
        discovery::api_resource_metadata,
        discovery::jwks,
        oauth::token,
        oauth::revoke,
        oauth::introspect,
        oauth::register,
        oauth::registration_read,
        oauth::registration_update,
        oauth::registration_delete,
        oauth::userinfo,
        serve,
        api::login,
        api::logout,
        api::list_users,
        api::create_user,
        api::get_user,
        api::update_user,
        api::delete_user,
        api::list_orgs,
        api::create_org,
        api::get_org,
        api::update_org,
        api::delete_org,
        api::members,
        api::add_member,
        api::remove_member,
        api::org_invitations,
        api::withdraw_invitation,
        api::my_invitations,
        api::delete_invitation,
        api::accept_invitation,
        api::decline_invitation,
        api::audit,
        apps::my_grants,
        apps::disconnect_mine,
        apps::user_grants,
        apps::disconnect_users,
        admin::list_clients,
        admin::create_client,
        admin::delete_idle_clients,
        admin::get_client,
        admin::update_client,
        admin::delete_client,
        admin::rotate_secret,
        admin::list_resources,
        admin::create_resource,
        admin::get_resource,
        admin::update_resource,
        admin::delete_resource,
        idp::list_identity_providers,
        idp::create_identity_provider,
        idp::get_identity_provider,
        idp::update_identity_provider,
        idp::delete_identity_provider,
        ssf::configuration,
        ssf::create_stream,
        ssf::read_streams,
        ssf::update_stream,
        ssf::replace_stream,
        ssf::delete_stream,
        ssf::read_status,
        ssf::update_status,
        ssf::verify,
        ssf::poll,
    ),
    components(
        schemas(ApiErrorBody, OAuthErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            Unprocessable,
            TooManyRequests,
            Busy,
            ServerError,
            OAuthBadRequest,
            InvalidClient,
            InvalidRegistrationToken,
            RegistrationDisabled,
            RegistrationThrottled,
            OAuthServerError,
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "First-party sign-in and sign-out."),
        (name = "users", description = "Platform users."),
        (name = "organizations", description = "Organizations and their members."),
        (name = "invitations", description = "Invitations to organizations."),
        (name = "audit", description = "The audit log (platform admins)."),
        (name = "apps", description = "Connected apps: what a user authorized, and disconnecting it."),
        (name = "clients", description = "Admin: the OAuth client registry."),
        (name = "resources", description = "Admin: the protected-resource registry (RFC 8707, RFC 9728)."),
        (name = "identity-providers", description = "Admin: upstream identity providers for \"Sign in with …\" (OpenID Connect, GitHub)."),
        (name = "oauth", description = "Token, revocation, introspection and userinfo."),
        (name = "registration", description = "Dynamic client registration (RFC 7591, RFC 7592)."),
        (name = "discovery", description = "Authorization-server and protected-resource metadata, signing keys."),
        (name = "signals", description = "Shared Signals transmitter (OpenID SSF 1.0, CAEP, RFC 8935/8936): revocations for resource servers that verify tokens locally."),
        (name = "health", description = "Liveness and readiness."),
        (name = "meta", description = "This document."),
    ),
)]
struct ApiDoc;

/// The security schemes the operations name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: Option<&str>, description: &str| {
            let mut b = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description));
            if let Some(f) = format {
                b = b.bearer_format(f);
            }
            SecurityScheme::Http(b.build())
        };
        components.add_security_scheme(
            "bearer",
            bearer(
                Some("JWT"),
                "An access token for the platform API (`aud` = `{base}/api/v1`): from \
                 `POST /api/v1/auth/login` or the OAuth flow. The admin API needs the `admin` \
                 scope and a platform admin.",
            ),
        );
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "client_secret_basic: `client_id:client_secret`, each form-encoded \
                         (RFC 6749 §2.3.1). client_secret_post puts both in the form body \
                         instead; public clients send only `client_id`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "registration_access_token",
            bearer(
                None,
                "The `registration_access_token` from registration (RFC 7592 §3).",
            ),
        );
        components.add_security_scheme(
            "initial_access_token",
            bearer(
                None,
                "Under `GATEHOUSE_REGISTRATION=token`: `GATEHOUSE_REGISTRATION_TOKEN`, or an \
                 access token of a platform admin with the `admin` scope (RFC 7591 §3).",
            ),
        );
    }
}

/// The document for a server whose public base URL is `base_url`.
pub fn document(base_url: &str) -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.servers = Some(vec![
        ServerBuilder::new()
            .url(base_url)
            .description(Some("This Gatehouse (GATEHOUSE_PUBLIC_URL)"))
            .build(),
    ]);
    for (alias, documented) in ALIASES {
        if let Some(item) = doc.paths.paths.get(*documented).cloned() {
            doc.paths.paths.insert((*alias).to_owned(), renamed(item));
        }
    }
    unique_operation_ids(&mut doc);
    doc
}

/// The document as served: JSON.
///
/// # Errors
/// Serialization failures (none are expected: every value is plain data).
pub fn json(base_url: &str) -> serde_json::Result<String> {
    let mut doc = serde_json::to_value(document(base_url))?;
    camel_case_links(&mut doc);
    serde_json::to_string(&doc)
}

/// utoipa 5.5 writes a Link Object's fields in snake case
/// (`operation_id`); OpenAPI spells them `operationId`, `operationRef` and
/// `requestBody`, and tools ignore links without them.
fn camel_case_links(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut() {
                    if let serde_json::Value::Object(link) = link {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                            ("request_body", "requestBody"),
                        ] {
                            if let Some(v) = link.remove(from) {
                                link.insert(to.to_owned(), v);
                            }
                        }
                    }
                }
            }
            map.values_mut().for_each(camel_case_links);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(camel_case_links),
        _ => {}
    }
}

/// `item`'s operations with their ids marked as the alias's.
fn renamed(mut item: PathItem) -> PathItem {
    for (_, op) in operations_mut(&mut item) {
        if let Some(id) = &mut op.operation_id {
            id.push_str("_alias");
        }
    }
    item
}

/// `item`'s operations, each with its method.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// One handler serving several methods (`/userinfo`) gets one id per
/// method: OpenAPI wants every operation id unique.
fn unique_operation_ids(doc: &mut Document) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for (method, op) in operations_mut(item) {
            if let Some(id) = &mut op.operation_id
                && seen.get(id.as_str()).is_some_and(|n| *n > 1)
            {
                id.push('_');
                id.push_str(method);
            }
        }
    }
}

/// This document: public, cacheable, no authentication.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document; `Cache-Control: public, max-age=300`.",
         body = Object, content_type = "application/json"),
    )
)]
pub async fn serve(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type("application/json")
        .body(state.openapi.clone())
}

// ---- Reusable error responses ----

/// An error response carrying `schema` as JSON, with `headers`.
fn error_response(
    description: &str,
    schema: Cow<'static, str>,
    headers: &[(&str, &str)],
) -> RefOr<Response> {
    let mut b = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build(),
    );
    for (name, description) in headers {
        b = b.header(
            *name,
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                )
                .description(Some(*description))
                .build(),
        );
    }
    b.build().into()
}

const CHALLENGE: (&str, &str) = (
    "WWW-Authenticate",
    "An RFC 6750 `Bearer` challenge with RFC 9728's `resource_metadata`.",
);
const RETRY_AFTER: (&str, &str) = ("Retry-After", "Seconds to wait.");

/// Declares a reusable response: a unit type named as the component, and
/// its description, body schema and headers.
macro_rules! reusable_response {
    ($(#[$doc:meta])* $name:ident, $body:ty, $description:expr, [$($header:expr),*]) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (
                    stringify!($name),
                    error_response($description, <$body as ToSchema>::name(), &[$($header),*]),
                )
            }
        }
    };
}

reusable_response!(
    /// 400 from the platform or admin API.
    BadRequest, ApiErrorBody,
    "Malformed JSON, query or field shape, a wrong Content-Type, or a body over 64 KiB: `invalid_request`.",
    []
);
reusable_response!(
    /// 401 from a Bearer-protected endpoint.
    Unauthorized, ApiErrorBody,
    "A missing, malformed, expired, revoked or foreign token: `invalid_token`.",
    [CHALLENGE]
);
reusable_response!(
    /// 403 from a Bearer-protected endpoint.
    Forbidden, ApiErrorBody,
    "`insufficient_scope` (naming the scopes that would do) or `forbidden`.",
    [CHALLENGE]
);
reusable_response!(
    /// 404.
    NotFound, ApiErrorBody,
    "Absent, or not visible to the caller: `not_found`.",
    []
);
reusable_response!(
    /// 409.
    Conflict, ApiErrorBody,
    "A duplicate (a taken email, a registered resource URI): `conflict`.",
    []
);
reusable_response!(
    /// 422.
    Unprocessable, ApiErrorBody,
    "Well-formed but invalid: `validation_failed`.",
    []
);
reusable_response!(
    /// 429 from a password check.
    TooManyRequests, ApiErrorBody,
    "Too many failed password checks: `too_many_requests`.",
    [RETRY_AFTER]
);
reusable_response!(
    /// 503 from a password check.
    Busy, ApiErrorBody,
    "Password checking is busy: `temporarily_unavailable`.",
    [RETRY_AFTER]
);
reusable_response!(
    /// 500 from the platform or admin API.
    ServerError, ApiErrorBody,
    "Unexpected; logged, not disclosed: `server_error`.",
    []
);
reusable_response!(
    /// 400 from an OAuth endpoint.
    OAuthBadRequest, OAuthErrorBody,
    "RFC 6749 §5.2 (RFC 7591 §3.2.2 for registration): `invalid_request`, `invalid_grant`, \
     `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target`, \
     `unsupported_token_type`, `invalid_client_metadata`, `invalid_redirect_uri`.",
    []
);
reusable_response!(
    /// 401 `invalid_client`.
    InvalidClient, OAuthErrorBody,
    "Client authentication failed: `invalid_client`, with a Basic challenge when Basic was used.",
    [(
        "WWW-Authenticate",
        "`Basic realm=\"gatehouse\", charset=\"UTF-8\"` when the client used Basic."
    )]
);
reusable_response!(
    /// 401 from the registration endpoints.
    InvalidRegistrationToken, OAuthErrorBody,
    "A missing or wrong initial or registration access token (or an unknown client): `invalid_token`.",
    [CHALLENGE]
);
reusable_response!(
    /// 403 when registration is off.
    RegistrationDisabled, OAuthErrorBody,
    "`GATEHOUSE_REGISTRATION=off`: `access_denied`.",
    []
);
reusable_response!(
    /// 429 from registration.
    RegistrationThrottled, OAuthErrorBody,
    "The address's hourly budget of new registrations \
     (`GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR`) is spent: `temporarily_unavailable`.",
    [RETRY_AFTER]
);
reusable_response!(
    /// 500 from an OAuth endpoint.
    OAuthServerError, OAuthErrorBody,
    "`server_error`; the cause is logged, not disclosed.",
    []
);
