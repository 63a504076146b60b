//! The admin API under `/api/v1/oauth` (DESIGN §4, §9): the OAuth client
//! registry and the protected-resource registry, for platform admins.

use actix_web::HttpResponse;
use actix_web::http::Method;
use actix_web::web::{Data, Json, Path, Query};
use gatehouse_core::model::ClientOrigin as Origin;
use gatehouse_core::service::{ClientFilter, ClientPatch, NewClient, ResourceInput};
use serde::Deserialize;
use utoipa::ToSchema;

use super::api::{ApiResult, no_store};
use super::openapi::{
    BadRequest, Conflict, Forbidden, NotFound, ServerError, Unauthorized, Unprocessable,
};
use super::schemas::GrantType;
use super::wire;
use super::{AppState, Authed, Endpoint};

/// Admin endpoints under `/api/v1/oauth`.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/clients", list_clients),
        Endpoint::new(M::POST, "/clients", create_client),
        Endpoint::new(M::POST, "/clients/delete-idle", delete_idle_clients),
        Endpoint::new(M::GET, "/clients/{client_id}", get_client),
        Endpoint::new(M::PATCH, "/clients/{client_id}", update_client),
        Endpoint::new(M::DELETE, "/clients/{client_id}", delete_client),
        Endpoint::new(M::POST, "/clients/{client_id}/secret", rotate_secret),
        Endpoint::new(M::GET, "/resources", list_resources),
        Endpoint::new(M::POST, "/resources", create_resource),
        Endpoint::new(M::GET, "/resources/{id}", get_resource),
        Endpoint::new(M::PATCH, "/resources/{id}", update_resource),
        Endpoint::new(M::DELETE, "/resources/{id}", delete_resource),
    ]
}

/// `POST /api/v1/oauth/clients`: the seed's body and Gatehouse's additions.
#[derive(Deserialize, ToSchema)]
struct CreateClientRequest {
    /// 1–200 characters.
    name: String,
    description: Option<String>,
    /// Required with the `authorization_code` grant: 1–20 URIs.
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// Default `["authorization_code", "refresh_token"]`.
    #[schema(value_type = Option<Vec<GrantType>>)]
    grant_types: Option<Vec<String>>,
    resource: Option<String>,
    #[serde(default)]
    allowed_scopes: Vec<String>,
    #[serde(default = "yes")]
    is_confidential: bool,
    require_pkce: Option<bool>,
    exchange_targets: Option<Vec<String>>,
    /// What authorization requests naming no `resource` get: a registered
    /// resource URI, or the platform API's audience.
    default_resource: Option<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    post_logout_redirect_uris: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Registers a client (the seed's body); its secret is shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/clients",
    tag = "clients",
    request_body = CreateClientRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `Cache-Control: no-store`.", body = wire::ClientIssued, links(
            ("GetClient" = (operation_id = "get_client", parameters(("client_id" = "$response.body#/client/client_id")))),
            ("UpdateClient" = (operation_id = "update_client", parameters(("client_id" = "$response.body#/client/client_id")))),
            ("DeleteClient" = (operation_id = "delete_client", parameters(("client_id" = "$response.body#/client/client_id")))),
            ("RotateSecret" = (operation_id = "rotate_secret", parameters(("client_id" = "$response.body#/client/client_id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn create_client(
    state: Data<AppState>,
    caller: Authed,
    b: Json<CreateClientRequest>,
) -> ApiResult {
    let b = b.into_inner();
    let req = NewClient {
        name: b.name,
        description: b.description,
        redirect_uris: b.redirect_uris,
        allowed_scopes: b.allowed_scopes,
        is_confidential: b.is_confidential,
        require_pkce: b.require_pkce,
        grant_types: b.grant_types,
        resource: b.resource,
        exchange_targets: b.exchange_targets,
        default_resource: b.default_resource,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
    };
    let (client, secret) = state.gatehouse.create_client(&caller.0, req).await?;
    Ok(no_store(
        HttpResponse::Created(),
        wire::ClientIssued::new(&client, secret.as_ref().map(|s| s.expose())),
    ))
}

/// `GET /api/v1/oauth/clients` filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ClientQuery {
    /// Only clients registered this way: `admin`, `dynamic` or `metadata`.
    #[param(value_type = Option<super::schemas::ClientOrigin>)]
    origin: Option<String>,
    /// Only clients unused (never, or last) for at least this many days.
    #[param(minimum = 0, maximum = 3650)]
    unused_days: Option<u32>,
}

/// Every client: admin-registered, dynamic and metadata-document ones,
/// optionally filtered by origin and by how long they went unused.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/clients",
    tag = "clients",
    security(("bearer" = [])),
    params(ClientQuery),
    responses(
        (status = 200, description = "The clients, oldest first.", body = wire::Clients),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn list_clients(state: Data<AppState>, caller: Authed, q: Query<ClientQuery>) -> ApiResult {
    let filter = client_filter(&q)?;
    let clients = state.gatehouse.list_clients(&caller.0, &filter).await?;
    Ok(HttpResponse::Ok().json(wire::Clients {
        clients: clients.iter().map(Into::into).collect(),
    }))
}

fn client_filter(q: &ClientQuery) -> Result<ClientFilter, gatehouse_core::ApiError> {
    let bad = |m: &'static str| gatehouse_core::ApiError::BadRequest(m.into());
    Ok(ClientFilter {
        origin: match q.origin.as_deref().filter(|o| !o.is_empty()) {
            None => None,
            Some(o) => Some(
                Origin::parse(o).ok_or_else(|| bad("origin must be admin, dynamic or metadata"))?,
            ),
        },
        unused_days: match q.unused_days {
            Some(d) if d > 3650 => return Err(bad("unused_days must be at most 3650")),
            d => d,
        },
    })
}

/// `POST /api/v1/oauth/clients/delete-idle`.
#[derive(Deserialize, ToSchema)]
struct DeleteIdleRequest {
    /// Unused for at least this many days (0: every self-registered client
    /// holding no live grant).
    #[schema(minimum = 0, maximum = 3650)]
    idle_days: u32,
}

/// `{"deleted": n}`.
#[derive(serde::Serialize, ToSchema)]
struct Deleted {
    deleted: u64,
}

/// Deletes the self-registered clients (dynamic, metadata document) that
/// hold no live grant and went unused for `idle_days`, with their records.
/// Admin-registered clients are never deleted this way.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/clients/delete-idle",
    tag = "clients",
    request_body = DeleteIdleRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were deleted.", body = Deleted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn delete_idle_clients(
    state: Data<AppState>,
    caller: Authed,
    b: Json<DeleteIdleRequest>,
) -> ApiResult {
    let deleted = state
        .gatehouse
        .delete_idle_clients(&caller.0, b.idle_days)
        .await?;
    Ok(HttpResponse::Ok().json(Deleted { deleted }))
}

/// One client. Never its secret.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/clients/{client_id}",
    tag = "clients",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 200, description = "The client.", body = wire::OneClient),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn get_client(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let c = state.gatehouse.get_client(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneClient {
        client: (&c).into(),
    }))
}

/// `PATCH /api/v1/oauth/clients/{client_id}`: the fields to change.
#[derive(Deserialize, ToSchema)]
struct PatchClientRequest {
    name: Option<String>,
    description: Option<String>,
    redirect_uris: Option<Vec<String>>,
    /// Empty resets to every platform scope but `admin`.
    allowed_scopes: Option<Vec<String>>,
    require_pkce: Option<bool>,
    #[schema(value_type = Option<Vec<GrantType>>)]
    grant_types: Option<Vec<String>>,
    resource: Option<String>,
    exchange_targets: Option<Vec<String>>,
    /// Empty clears it.
    default_resource: Option<String>,
    /// An empty list clears them.
    post_logout_redirect_uris: Option<Vec<String>>,
}

/// Changes a client, with the rules of creation.
#[utoipa::path(
    patch,
    path = "/api/v1/oauth/clients/{client_id}",
    tag = "clients",
    request_body = PatchClientRequest,
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 200, description = "The changed client.", body = wire::OneClient),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn update_client(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<PatchClientRequest>,
) -> ApiResult {
    let b = b.into_inner();
    let patch = ClientPatch {
        name: b.name,
        description: b.description,
        redirect_uris: b.redirect_uris,
        allowed_scopes: b.allowed_scopes,
        require_pkce: b.require_pkce,
        grant_types: b.grant_types,
        resource: b.resource,
        exchange_targets: b.exchange_targets,
        default_resource: b.default_resource,
        post_logout_redirect_uris: b.post_logout_redirect_uris,
    };
    let c = state.gatehouse.update_client(&caller.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(wire::OneClient {
        client: (&c).into(),
    }))
}

/// Deletes a client with its codes, grants, refresh tokens and consents.
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/clients/{client_id}",
    tag = "clients",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_client(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_client(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotates a confidential client's secret; the old one stops working.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/clients/{client_id}/secret",
    tag = "clients",
    security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The client's `client_id`.")),
    responses(
        (status = 200, description = "The new secret, shown this once; `Cache-Control: no-store`.", body = wire::ClientIssued),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn rotate_secret(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let (c, secret) = state.gatehouse.rotate_client_secret(&caller.0, &id).await?;
    Ok(no_store(
        HttpResponse::Ok(),
        wire::ClientIssued::new(&c, Some(secret.expose())),
    ))
}

/// A protected resource's fields; `resource` is required to create one.
#[derive(Deserialize, ToSchema)]
struct ResourceRequest {
    resource: Option<String>,
    name: Option<String>,
    scopes: Option<Vec<String>>,
}

impl From<ResourceRequest> for ResourceInput {
    fn from(b: ResourceRequest) -> Self {
        ResourceInput {
            resource: b.resource,
            name: b.name,
            scopes: b.scopes,
        }
    }
}

/// Every protected resource, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/resources",
    tag = "resources",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The resources.", body = wire::Resources),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn list_resources(state: Data<AppState>, caller: Authed) -> ApiResult {
    let all = state.gatehouse.list_resources(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Resources {
        resources: all.iter().map(Into::into).collect(),
    }))
}

/// Registers a protected resource (an MCP server or another API).
#[utoipa::path(
    post,
    path = "/api/v1/oauth/resources",
    tag = "resources",
    request_body = ResourceRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = wire::OneResource, links(
            ("GetResource" = (operation_id = "get_resource", parameters(("id" = "$response.body#/resource/id")))),
            ("UpdateResource" = (operation_id = "update_resource", parameters(("id" = "$response.body#/resource/id")))),
            ("DeleteResource" = (operation_id = "delete_resource", parameters(("id" = "$response.body#/resource/id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn create_resource(
    state: Data<AppState>,
    caller: Authed,
    b: Json<ResourceRequest>,
) -> ApiResult {
    let r = state
        .gatehouse
        .create_resource(&caller.0, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

/// One protected resource.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/resources/{id}",
    tag = "resources",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The resource's UUID.")),
    responses(
        (status = 200, description = "The resource.", body = wire::OneResource),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn get_resource(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let r = state.gatehouse.get_resource(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

/// Changes a protected resource.
#[utoipa::path(
    patch,
    path = "/api/v1/oauth/resources/{id}",
    tag = "resources",
    request_body = ResourceRequest,
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The resource's UUID.")),
    responses(
        (status = 200, description = "The changed resource.", body = wire::OneResource),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn update_resource(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<ResourceRequest>,
) -> ApiResult {
    let r = state
        .gatehouse
        .update_resource(&caller.0, &id, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

/// Deletes a protected resource; grants bound to it can no longer be
/// refreshed.
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/resources/{id}",
    tag = "resources",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The resource's UUID.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_resource(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_resource(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
