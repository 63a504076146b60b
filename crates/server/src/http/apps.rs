//! Connected apps as JSON (DESIGN §11): the twins of `/account/apps` for
//! the user (`/api/v1/me/grants`) and the same for platform admins acting on
//! a user (`/api/v1/users/{id}/grants`).

use actix_web::HttpResponse;
use actix_web::http::Method;
use actix_web::web::{Data, Path};
use gatehouse_core::service::ConnectedApp;
use serde::Serialize;
use utoipa::ToSchema;

use super::api::{ApiResult, no_store};
use super::openapi::{Forbidden, NotFound, ServerError, Unauthorized};
use super::schemas::ClientOrigin;
use super::wire::ts;
use super::{AppState, Authed, Endpoint};

/// Endpoints under `/api/v1`.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/me/grants", my_grants),
        Endpoint::new(M::DELETE, "/me/grants/{id}", disconnect_mine),
        Endpoint::new(M::GET, "/users/{id}/grants", user_grants),
        Endpoint::new(M::DELETE, "/users/{id}/grants/{grant_id}", disconnect_users),
    ]
}

/// One connected app: a client the user has live grants with.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppBody {
    /// The newest of its grants; `DELETE …/grants/{id}` with it (or any of
    /// its grants) disconnects the app.
    #[schema(format = Uuid)]
    id: String,
    client_id: String,
    client_name: String,
    /// How it was registered.
    #[schema(value_type = ClientOrigin)]
    origin: &'static str,
    /// For metadata-document clients: the host publishing the document.
    #[schema(required = true)]
    metadata_host: Option<String>,
    /// The audiences its tokens are for: resource URIs, or the platform
    /// API's.
    resources: Vec<String>,
    /// Everything granted, space-separated.
    scope: String,
    #[schema(format = DateTime)]
    first_authorized_at: String,
    /// To about a minute; `null` until first recorded.
    #[schema(format = DateTime, required = true)]
    last_used_at: Option<String>,
    /// How many live grants it holds (each authorization makes one).
    grants: usize,
}

impl From<&ConnectedApp> for AppBody {
    fn from(a: &ConnectedApp) -> Self {
        Self {
            id: a.id.to_string(),
            client_id: a.client.id.as_str().to_owned(),
            client_name: a.client.name.clone(),
            origin: a.client.origin.as_str(),
            metadata_host: a.metadata_host(),
            resources: a.resources.clone(),
            scope: a.scope.to_string(),
            first_authorized_at: ts(a.first_authorized_at),
            last_used_at: a.last_used_at.map(ts),
            grants: a.grants,
        }
    }
}

/// `{"grants": […]}`: connected apps, most recently authorized first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    grants: Vec<AppBody>,
}

fn app_list(apps: &[ConnectedApp]) -> HttpResponse {
    no_store(
        HttpResponse::Ok(),
        AppList {
            grants: apps.iter().map(AppBody::from).collect(),
        },
    )
}

/// The signed-in user's connected apps. Only Gatehouse's own sign-in may
/// call it: a third-party app's token gets 403.
#[utoipa::path(
    get,
    path = "/api/v1/me/grants",
    tag = "apps",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Connected apps; `Cache-Control: no-store`.", body = AppList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn my_grants(state: Data<AppState>, caller: Authed) -> ApiResult {
    Ok(app_list(&state.gatehouse.my_apps(&caller.0).await?))
}

/// Disconnects an app, named by any of its grants: its refresh tokens and
/// access tokens stop working at once and its consent is forgotten.
#[utoipa::path(
    delete,
    path = "/api/v1/me/grants/{id}",
    tag = "apps",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "A grant of the app.")),
    responses(
        (status = 204, description = "Disconnected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn disconnect_mine(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.disconnect_my_app(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's connected apps (platform admins).
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/grants",
    tag = "apps",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's UUID.")),
    responses(
        (status = 200, description = "Connected apps; `Cache-Control: no-store`.", body = AppList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn user_grants(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    Ok(app_list(&state.gatehouse.user_apps(&caller.0, &id).await?))
}

/// Disconnects one of a user's apps (platform admins).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/grants/{grant_id}",
    tag = "apps",
    security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "The user's UUID."),
        ("grant_id" = uuid::Uuid, Path, description = "A grant of the app."),
    ),
    responses(
        (status = 204, description = "Disconnected."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn disconnect_users(
    state: Data<AppState>,
    caller: Authed,
    path: Path<(String, String)>,
) -> ApiResult {
    let (user, grant) = path.into_inner();
    state
        .gatehouse
        .disconnect_user_app(&caller.0, &user, &grant)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
