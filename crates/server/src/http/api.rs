//! The platform's JSON API: sign-in, users, organizations, and the admin
//! client registry (DESIGN §4).

use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::web::{self, Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::ApiError;
use gatehouse_core::model::{OrgRole, Role};
use gatehouse_core::service::{
    AuditParams, ClientPatch, MemberChange, NewClient, NewOrganization, NewUser, OrgPatch,
    ResourceInput, UserPatch,
};
use serde::Deserialize;

use super::errors::ApiFailure;
use super::wire;
use super::{AppState, Authed, MAX_BODY};

type ApiResult = Result<HttpResponse, ApiFailure>;

/// JSON bodies: size-limited, and every parse failure a 400 in the API's
/// error shape rather than actix's plain text.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY)
        .error_handler(|err, _req| {
            let msg = match &err {
                JsonPayloadError::ContentType => {
                    "the body must be JSON (Content-Type: application/json)".to_owned()
                }
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => {
                    "the body is too large".to_owned()
                }
                JsonPayloadError::Deserialize(e) => format!("invalid JSON body: {e}"),
                other => format!("invalid body: {other}"),
            };
            actix_web::Error::from(ApiFailure(ApiError::BadRequest(msg.into())))
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        actix_web::Error::from(ApiFailure(ApiError::BadRequest(
            format!("invalid query: {err}").into(),
        )))
    })
}

/// Routes under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout))
        .route("/users", web::get().to(list_users))
        .route("/users/", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/users/", web::post().to(create_user))
        .route("/users/{id}", web::get().to(get_user))
        .route("/users/{id}", web::patch().to(update_user))
        .route("/users/{id}", web::delete().to(delete_user))
        .route("/organizations", web::get().to(list_orgs))
        .route("/organizations/", web::get().to(list_orgs))
        .route("/organizations", web::post().to(create_org))
        .route("/organizations/", web::post().to(create_org))
        .route("/organizations/{id}", web::get().to(get_org))
        .route("/organizations/{id}", web::patch().to(update_org))
        .route("/organizations/{id}", web::delete().to(delete_org))
        .route("/organizations/{id}/members", web::get().to(members))
        .route("/organizations/{id}/members", web::post().to(add_member))
        .route(
            "/organizations/{id}/members/{user_id}",
            web::delete().to(remove_member),
        )
        .route(
            "/organizations/{id}/invitations",
            web::get().to(org_invitations),
        )
        .route(
            "/organizations/{id}/invitations/{user_id}",
            web::delete().to(withdraw_invitation),
        )
        .route("/invitations", web::get().to(my_invitations))
        .route(
            "/invitations/{org_id}",
            web::delete().to(decline_invitation),
        )
        .route(
            "/invitations/{org_id}/accept",
            web::post().to(accept_invitation),
        )
        .route(
            "/invitations/{org_id}/decline",
            web::post().to(decline_invitation),
        )
        .route("/audit", web::get().to(audit));
}

/// Admin routes under `/api/v1/oauth`.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .route("/clients", web::get().to(list_clients))
        .route("/clients", web::post().to(create_client))
        .route("/clients/{client_id}", web::get().to(get_client))
        .route("/clients/{client_id}", web::patch().to(update_client))
        .route("/clients/{client_id}", web::delete().to(delete_client))
        .route("/clients/{client_id}/secret", web::post().to(rotate_secret))
        .route("/resources", web::get().to(list_resources))
        .route("/resources", web::post().to(create_resource))
        .route("/resources/{id}", web::get().to(get_resource))
        .route("/resources/{id}", web::patch().to(update_resource))
        .route("/resources/{id}", web::delete().to(delete_resource));
}

fn no_store(mut b: actix_web::HttpResponseBuilder, body: impl serde::Serialize) -> HttpResponse {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(state: Data<AppState>, http: HttpRequest, body: Json<LoginBody>) -> ApiResult {
    let r = state
        .gatehouse
        .login(&body.email, &body.password, state.client_ip(&http))
        .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        wire::LoginBody::new(r.access_token, r.expires_in, &r.user),
    ))
}

async fn logout(state: Data<AppState>, caller: Authed) -> ApiResult {
    state.gatehouse.logout(&caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct UsersQuery {
    organization_id: Option<String>,
}

async fn list_users(state: Data<AppState>, caller: Authed, q: Query<UsersQuery>) -> ApiResult {
    let org = q.organization_id.as_deref().filter(|s| !s.is_empty());
    let users = state.gatehouse.list_users(&caller.0, org).await?;
    Ok(HttpResponse::Ok().json(wire::Users::of(&users)))
}

/// `GET /api/v1/audit` (admins): a page of the audit log, newest first.
async fn audit(state: Data<AppState>, caller: Authed, q: Query<AuditParams>) -> ApiResult {
    let page = state.gatehouse.audit_events(&caller.0, &q.query()?).await?;
    Ok(no_store(HttpResponse::Ok(), wire::AuditEvents::from(&page)))
}

fn role(raw: Option<&str>) -> Result<Option<Role>, ApiFailure> {
    raw.map(|r| {
        Role::parse(r).ok_or_else(|| {
            ApiFailure(ApiError::Unprocessable(
                "role must be 'admin' or 'user'".into(),
            ))
        })
    })
    .transpose()
}

#[derive(Deserialize)]
struct CreateUserBody {
    email: String,
    name: String,
    password: String,
    role: Option<String>,
    email_verified: Option<bool>,
}

async fn create_user(state: Data<AppState>, caller: Authed, b: Json<CreateUserBody>) -> ApiResult {
    let b = b.into_inner();
    let req = NewUser {
        role: role(b.role.as_deref())?,
        email: b.email,
        name: b.name,
        password: b.password,
        email_verified: b.email_verified,
    };
    let u = state.gatehouse.create_user(&caller.0, req).await?;
    Ok(HttpResponse::Created().json(wire::OneUser { user: (&u).into() }))
}

async fn get_user(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let u = state.gatehouse.get_user(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneUser { user: (&u).into() }))
}

#[derive(Deserialize)]
struct PatchUserBody {
    email: Option<String>,
    name: Option<String>,
    password: Option<String>,
    role: Option<String>,
    current_password: Option<String>,
    email_verified: Option<bool>,
}

async fn update_user(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<PatchUserBody>,
) -> ApiResult {
    let b = b.into_inner();
    let patch = UserPatch {
        current_password: b.current_password,
        email_verified: b.email_verified,
        role: role(b.role.as_deref())?,
        email: b.email,
        name: b.name,
        password: b.password,
    };
    let u = state.gatehouse.update_user(&caller.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(wire::OneUser { user: (&u).into() }))
}

async fn delete_user(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_user(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_orgs(state: Data<AppState>, caller: Authed) -> ApiResult {
    let orgs = state.gatehouse.my_orgs(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Orgs {
        organizations: orgs
            .iter()
            .map(|(o, r)| wire::OrgWithRole::new(o, Some(*r)))
            .collect(),
    }))
}

#[derive(Deserialize)]
struct OrgBody {
    name: Option<String>,
    description: Option<String>,
}

async fn create_org(state: Data<AppState>, caller: Authed, b: Json<OrgBody>) -> ApiResult {
    let b = b.into_inner();
    let name = b
        .name
        .ok_or_else(|| ApiFailure(ApiError::Unprocessable("name is required".into())))?;
    let (o, r) = state
        .gatehouse
        .create_org(
            &caller.0,
            NewOrganization {
                name,
                description: b.description,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(wire::OrgWithRole::new(&o, Some(r))))
}

async fn get_org(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let (o, r) = state.gatehouse.get_org(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OrgWithRole::new(&o, r)))
}

async fn update_org(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<OrgBody>,
) -> ApiResult {
    let b = b.into_inner();
    let (o, r) = state
        .gatehouse
        .update_org(
            &caller.0,
            &id,
            OrgPatch {
                name: b.name,
                description: b.description,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(wire::OrgWithRole::new(&o, r)))
}

async fn delete_org(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_org(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn members(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let ms = state.gatehouse.org_members(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::Members::of(&ms)))
}

#[derive(Deserialize)]
struct MemberBody {
    user_id: String,
    role: Option<String>,
}

async fn add_member(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<MemberBody>,
) -> ApiResult {
    let role = match b.role.as_deref() {
        None => OrgRole::Member,
        Some(r) => OrgRole::parse(r).ok_or_else(|| {
            ApiFailure(ApiError::Unprocessable(
                "role must be 'owner', 'admin' or 'member'".into(),
            ))
        })?,
    };
    match state
        .gatehouse
        .put_member(&caller.0, &id, &b.user_id, role)
        .await?
    {
        MemberChange::Member(m) => Ok(HttpResponse::Created().json(wire::OneMember::from(&m))),
        // Not a member yet: the invitee decides (202, nothing of them shown).
        MemberChange::Invited(i) => Ok(HttpResponse::Accepted().json(wire::OneInvitation {
            invitation: (&i).into(),
        })),
    }
}

async fn my_invitations(state: Data<AppState>, caller: Authed) -> ApiResult {
    let all = state.gatehouse.my_invitations(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Invitations {
        invitations: all
            .iter()
            .map(|(i, o)| wire::InvitationBody::for_invitee(i, o))
            .collect(),
    }))
}

async fn accept_invitation(state: Data<AppState>, caller: Authed, org: Path<String>) -> ApiResult {
    let (o, m) = state.gatehouse.accept_invitation(&caller.0, &org).await?;
    Ok(HttpResponse::Ok().json(wire::OrgWithRole::new(&o, Some(m.role))))
}

async fn decline_invitation(state: Data<AppState>, caller: Authed, org: Path<String>) -> ApiResult {
    state.gatehouse.decline_invitation(&caller.0, &org).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn org_invitations(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let all = state.gatehouse.org_invitations(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::Invitations {
        invitations: all.iter().map(Into::into).collect(),
    }))
}

async fn withdraw_invitation(
    state: Data<AppState>,
    caller: Authed,
    path: Path<(String, String)>,
) -> ApiResult {
    let (org, user) = path.into_inner();
    state
        .gatehouse
        .withdraw_invitation(&caller.0, &org, &user)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn remove_member(
    state: Data<AppState>,
    caller: Authed,
    path: Path<(String, String)>,
) -> ApiResult {
    let (org, user) = path.into_inner();
    state
        .gatehouse
        .remove_member(&caller.0, &org, &user)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct CreateClientBody {
    name: String,
    description: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    grant_types: Option<Vec<String>>,
    resource: Option<String>,
    #[serde(default)]
    allowed_scopes: Vec<String>,
    #[serde(default = "yes")]
    is_confidential: bool,
    require_pkce: Option<bool>,
    exchange_targets: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

async fn create_client(
    state: Data<AppState>,
    caller: Authed,
    b: Json<CreateClientBody>,
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
    };
    let (client, secret) = state.gatehouse.create_client(&caller.0, req).await?;
    Ok(no_store(
        HttpResponse::Created(),
        wire::ClientIssued::new(&client, secret.as_ref().map(|s| s.expose())),
    ))
}

async fn list_clients(state: Data<AppState>, caller: Authed) -> ApiResult {
    let clients = state.gatehouse.list_clients(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Clients {
        clients: clients.iter().map(Into::into).collect(),
    }))
}

async fn get_client(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let c = state.gatehouse.get_client(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneClient {
        client: (&c).into(),
    }))
}

#[derive(Deserialize)]
struct PatchClientBody {
    name: Option<String>,
    description: Option<String>,
    redirect_uris: Option<Vec<String>>,
    allowed_scopes: Option<Vec<String>>,
    require_pkce: Option<bool>,
    grant_types: Option<Vec<String>>,
    resource: Option<String>,
    exchange_targets: Option<Vec<String>>,
}

async fn update_client(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<PatchClientBody>,
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
    };
    let c = state.gatehouse.update_client(&caller.0, &id, patch).await?;
    Ok(HttpResponse::Ok().json(wire::OneClient {
        client: (&c).into(),
    }))
}

async fn delete_client(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_client(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate_secret(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let (c, secret) = state.gatehouse.rotate_client_secret(&caller.0, &id).await?;
    Ok(no_store(
        HttpResponse::Ok(),
        wire::ClientIssued::new(&c, Some(secret.expose())),
    ))
}

#[derive(Deserialize)]
struct ResourceBody {
    resource: Option<String>,
    name: Option<String>,
    scopes: Option<Vec<String>>,
}

impl From<ResourceBody> for ResourceInput {
    fn from(b: ResourceBody) -> Self {
        ResourceInput {
            resource: b.resource,
            name: b.name,
            scopes: b.scopes,
        }
    }
}

async fn list_resources(state: Data<AppState>, caller: Authed) -> ApiResult {
    let all = state.gatehouse.list_resources(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Resources {
        resources: all.iter().map(Into::into).collect(),
    }))
}

async fn create_resource(
    state: Data<AppState>,
    caller: Authed,
    b: Json<ResourceBody>,
) -> ApiResult {
    let r = state
        .gatehouse
        .create_resource(&caller.0, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

async fn get_resource(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let r = state.gatehouse.get_resource(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

async fn update_resource(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<ResourceBody>,
) -> ApiResult {
    let r = state
        .gatehouse
        .update_resource(&caller.0, &id, b.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(wire::OneResource {
        resource: (&r).into(),
    }))
}

async fn delete_resource(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_resource(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
