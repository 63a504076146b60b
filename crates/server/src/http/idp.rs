//! Upstream identity providers (DESIGN §12): the admin API under
//! `/api/v1/oauth/identity-providers`, the sign-in round trip
//! (`/api/v1/oauth/idp/{name}/start` and `…/callback`), and linking and
//! unlinking on the account page.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::ApiError;
use gatehouse_core::model::IdentityProvider;
use gatehouse_core::service::{
    IdentityProviderInput, UpstreamCallback, UpstreamError, UpstreamOutcome,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{or_page, safe_next, signed_in_form};
use super::api::ApiResult;
use super::authorize::session_user;
use super::oauth::{read_form, redirect};
use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, ServerError, Unauthorized, Unprocessable,
};
use super::{AppState, Authed, Endpoint, pages};

/// The flow cookie over http, and over https (see
/// [`pages::HOST_SESSION_COOKIE`] for why `__Host-`).
const FLOW_COOKIE: &str = "gatehouse_upstream";
const HOST_FLOW_COOKIE: &str = "__Host-gatehouse_upstream";

/// Admin endpoints under `/api/v1/oauth`, and the round trip's pages.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/identity-providers", list_identity_providers),
        Endpoint::new(M::POST, "/identity-providers", create_identity_provider),
        Endpoint::new(M::GET, "/identity-providers/{id}", get_identity_provider),
        Endpoint::new(
            M::PATCH,
            "/identity-providers/{id}",
            update_identity_provider,
        ),
        Endpoint::new(
            M::DELETE,
            "/identity-providers/{id}",
            delete_identity_provider,
        ),
        Endpoint::new(M::GET, "/idp/{name}/start", start).page(),
        Endpoint::new(M::GET, "/idp/{name}/callback", callback).page(),
    ]
}

/// Account-page endpoints at the root.
pub(super) fn account_endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::POST, "/account/identities/link", link).page(),
        Endpoint::new(M::POST, "/account/identities/unlink", unlink).page(),
    ]
}

/// An upstream identity provider. The client secret is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProviderBody {
    #[schema(format = Uuid)]
    id: String,
    /// The name in the callback path.
    name: String,
    /// What the "Sign in with …" button says.
    display_name: String,
    #[schema(value_type = IdpKindName)]
    kind: &'static str,
    /// The upstream issuer; fixed after creation.
    issuer: String,
    client_id: String,
    scopes: Vec<String>,
    /// Accounts are created for people the upstream vouches for.
    create_users: bool,
    /// A first sign-in links to the account with the same email when both
    /// sides have verified it.
    link_by_verified_email: bool,
    /// The redirect URI to register at the upstream.
    redirect_uri: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The kinds of upstream provider.
#[derive(ToSchema)]
#[schema(as = IdpKindName)]
#[allow(dead_code)]
enum IdpKindName {
    #[schema(rename = "oidc")]
    Oidc,
    #[schema(rename = "github")]
    Github,
}

fn body(state: &AppState, p: &IdentityProvider) -> IdentityProviderBody {
    let ts = super::wire::ts;
    IdentityProviderBody {
        id: p.id.to_string(),
        name: p.name.as_str().to_owned(),
        display_name: p.display_name.clone(),
        kind: p.kind.as_str(),
        issuer: p.issuer.clone(),
        client_id: p.client_id.clone(),
        scopes: p.scopes.clone(),
        create_users: p.create_users,
        link_by_verified_email: p.link_by_verified_email,
        redirect_uri: state.gatehouse.upstream_callback(p.name.as_str()),
        created_at: ts(p.created_at),
        updated_at: ts(p.updated_at),
    }
}

/// `{"identity_provider": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OneIdentityProvider {
    identity_provider: IdentityProviderBody,
}

/// `{"identity_providers": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityProviders {
    identity_providers: Vec<IdentityProviderBody>,
}

/// An identity provider's fields; `name`, `kind`, `client_id` and
/// `client_secret` (and `issuer` for `oidc`) are required to create one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IdentityProviderRequest {
    name: Option<String>,
    display_name: Option<String>,
    /// `oidc` or `github`.
    kind: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    /// Write-only.
    client_secret: Option<String>,
    scopes: Option<Vec<String>>,
    create_users: Option<bool>,
    link_by_verified_email: Option<bool>,
}

impl From<IdentityProviderRequest> for IdentityProviderInput {
    fn from(b: IdentityProviderRequest) -> Self {
        Self {
            name: b.name,
            display_name: b.display_name,
            kind: b.kind,
            issuer: b.issuer,
            client_id: b.client_id,
            client_secret: b.client_secret,
            scopes: b.scopes,
            create_users: b.create_users,
            link_by_verified_email: b.link_by_verified_email,
        }
    }
}

/// Every upstream identity provider, by name.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/identity-providers",
    tag = "identity-providers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The providers.", body = IdentityProviders),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn list_identity_providers(state: Data<AppState>, caller: Authed) -> ApiResult {
    let all = state.gatehouse.list_identity_providers(&caller.0).await?;
    Ok(HttpResponse::Ok().json(IdentityProviders {
        identity_providers: all.iter().map(|p| body(&state, p)).collect(),
    }))
}

/// Adds an upstream identity provider ("Sign in with …").
#[utoipa::path(
    post,
    path = "/api/v1/oauth/identity-providers",
    tag = "identity-providers",
    request_body = IdentityProviderRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = OneIdentityProvider, links(
            ("GetIdentityProvider" = (operation_id = "get_identity_provider", parameters(("id" = "$response.body#/identity_provider/id")))),
            ("UpdateIdentityProvider" = (operation_id = "update_identity_provider", parameters(("id" = "$response.body#/identity_provider/id")))),
            ("DeleteIdentityProvider" = (operation_id = "delete_identity_provider", parameters(("id" = "$response.body#/identity_provider/id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn create_identity_provider(
    state: Data<AppState>,
    caller: Authed,
    b: Json<IdentityProviderRequest>,
) -> ApiResult {
    let p = state
        .gatehouse
        .create_identity_provider(&caller.0, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(OneIdentityProvider {
        identity_provider: body(&state, &p),
    }))
}

/// One upstream identity provider.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/identity-providers/{id}",
    tag = "identity-providers",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's UUID.")),
    responses(
        (status = 200, description = "The provider.", body = OneIdentityProvider),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn get_identity_provider(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
) -> ApiResult {
    let p = state
        .gatehouse
        .get_identity_provider(&caller.0, &id)
        .await?;
    Ok(HttpResponse::Ok().json(OneIdentityProvider {
        identity_provider: body(&state, &p),
    }))
}

/// Changes an upstream identity provider; `kind` and `issuer` cannot
/// change (linked identities are keyed by the issuer).
#[utoipa::path(
    patch,
    path = "/api/v1/oauth/identity-providers/{id}",
    tag = "identity-providers",
    request_body = IdentityProviderRequest,
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's UUID.")),
    responses(
        (status = 200, description = "The changed provider.", body = OneIdentityProvider),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn update_identity_provider(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<IdentityProviderRequest>,
) -> ApiResult {
    let p = state
        .gatehouse
        .update_identity_provider(&caller.0, &id, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(OneIdentityProvider {
        identity_provider: body(&state, &p),
    }))
}

/// Deletes an upstream identity provider and every identity linked
/// through it; the accounts stay.
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/identity-providers/{id}",
    tag = "identity-providers",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The provider's UUID.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_identity_provider(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
) -> ApiResult {
    state
        .gatehouse
        .delete_identity_provider(&caller.0, &id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn flow_cookie(state: &AppState) -> &'static str {
    if state.secure_cookies {
        HOST_FLOW_COOKIE
    } else {
        FLOW_COOKIE
    }
}

/// Where an upstream sign-in may come back to: an authorization request,
/// or the account and admin pages. Nothing else (no open redirect).
pub(super) fn safe_return(raw: &str) -> &str {
    let plain =
        !raw.contains("//") && !raw.contains('\\') && raw.bytes().all(|b| b.is_ascii_graphic());
    if plain && raw.starts_with("/api/v1/oauth/authorize?") {
        raw
    } else {
        safe_next(raw)
    }
}

fn failure_page(e: UpstreamError) -> HttpResponse {
    match e {
        UpstreamError::UnknownProvider => pages::error_page(
            StatusCode::NOT_FOUND,
            "Unknown sign-in method",
            "There is no sign-in method of that name. Go back and choose another.",
        ),
        UpstreamError::Refused(message) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in did not complete",
            &message,
        ),
        UpstreamError::Unavailable(message) => {
            tracing::warn!(error = %message, "upstream sign-in failed");
            pages::error_page(
                StatusCode::BAD_GATEWAY,
                "Sign-in did not complete",
                &message,
            )
        }
        UpstreamError::Internal(ApiError::Busy(_)) => pages::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Gatehouse is busy",
            "Please try again in a moment.",
        ),
        UpstreamError::Internal(e) => {
            tracing::error!(error = %e, "upstream sign-in failed");
            pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Gatehouse could not complete the sign-in. Please try again.",
            )
        }
    }
}

/// Sends the browser upstream, remembering the sign-in in the sealed flow
/// cookie.
fn go_upstream(
    state: &AppState,
    req: &HttpRequest,
    started: Result<gatehouse_core::service::UpstreamStart, UpstreamError>,
) -> HttpResponse {
    match started {
        Ok(s) => {
            let mut res = redirect(StatusCode::SEE_OTHER, &s.location);
            let _ = res.add_cookie(&pages::cookie(state, req, flow_cookie(state), s.flow));
            res
        }
        Err(e) => failure_page(e),
    }
}

#[derive(Deserialize)]
struct StartQuery {
    return_to: Option<String>,
}

/// `GET /api/v1/oauth/idp/{name}/start`: a "Sign in with …" button.
async fn start(
    state: Data<AppState>,
    req: HttpRequest,
    name: Path<String>,
    q: Query<StartQuery>,
) -> HttpResponse {
    let back = safe_return(q.return_to.as_deref().unwrap_or("/account"));
    let started = state.gatehouse.begin_upstream(&name, back, None).await;
    go_upstream(&state, &req, started)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// `GET /api/v1/oauth/idp/{name}/callback`: the upstream sends the browser
/// back here.
async fn callback(
    state: Data<AppState>,
    req: HttpRequest,
    name: Path<String>,
    q: web::Query<CallbackQuery>,
) -> HttpResponse {
    let q = q.into_inner();
    let cb = UpstreamCallback {
        code: q.code,
        state: q.state,
        error: q.error,
        error_description: q.error_description,
        iss: q.iss,
    };
    let flow = req
        .cookie(flow_cookie(&state))
        .map(|c| c.value().to_owned());
    let current = session_user(&state, &req).await;
    let done = state
        .gatehouse
        .finish_upstream(&name, cb, flow.as_deref(), current.as_ref())
        .await;
    // The flow is over either way: a second callback must not reuse it.
    let gone = pages::removal(&state, &req, flow_cookie(&state));
    let mut res = match done {
        Ok(UpstreamOutcome::SignedIn {
            session,
            who,
            return_to,
        }) => {
            tracing::info!(user = %who.user.id, provider = %name, "signed in through an upstream provider");
            let mut res = redirect(StatusCode::SEE_OTHER, safe_return(&return_to));
            let _ = res.add_cookie(&pages::cookie(
                &state,
                &req,
                pages::session_cookie(&state),
                session.expose().to_owned(),
            ));
            res
        }
        Ok(UpstreamOutcome::SecondFactor { user, return_to }) => {
            super::security::ask_for_code(&state, &req, &user, safe_return(&return_to)).await
        }
        Ok(UpstreamOutcome::Linked { return_to }) => {
            redirect(StatusCode::SEE_OTHER, safe_return(&return_to))
        }
        Err(e) => failure_page(e),
    };
    let _ = res.add_cookie(&gone);
    res
}

/// `POST /account/identities/link`: link another provider's account to
/// the signed-in one.
async fn link(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account").await);
    let provider = form.get("provider").ok().flatten().unwrap_or_default();
    let started = state
        .gatehouse
        .begin_upstream(
            provider,
            "/account?done=linked",
            Some(signed.caller.user.id),
        )
        .await;
    go_upstream(&state, &req, started)
}

/// `POST /account/identities/unlink`: remove a linked identity.
async fn unlink(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account").await);
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .unlink_identity(&signed.caller.user, field("issuer"), field("subject"))
        .await
    {
        Ok(()) => redirect(StatusCode::SEE_OTHER, "/account?done=unlinked"),
        Err(ApiError::Conflict(_)) => redirect(StatusCode::SEE_OTHER, "/account?done=last-link"),
        Err(ApiError::NotFound(_)) => redirect(StatusCode::SEE_OTHER, "/account?done=unlinked"),
        Err(e) => {
            tracing::error!(error = %e, "unlinking failed");
            pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    }
}
