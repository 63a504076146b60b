//! The platform's JSON API: sign-in, users, organizations, invitations and
//! the audit log (DESIGN §4). The admin registries are in `admin.rs`.

use actix_web::error::JsonPayloadError;
use actix_web::http::{Method, header};
use actix_web::web::{self, Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::ApiError;
use gatehouse_core::model::{OrgRole, Role};
use gatehouse_core::service::{
    AuditParams, MemberChange, NewOrganization, NewUser, OrgPatch, UserPatch,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::errors::ApiFailure;
use super::openapi::{
    self, BadRequest, Busy, Conflict, Forbidden, NotFound, ServerError, TooManyRequests,
    Unauthorized, Unprocessable,
};
use super::schemas::{ApiErrorBody, AuditType, OrgRole as OrgRoleName, PlatformRole};
use super::wire;
use super::{AppState, Authed, Endpoint, MAX_BODY};

pub(super) type ApiResult = Result<HttpResponse, ApiFailure>;

/// JSON bodies: size-limited, and every parse failure a 400 in the API's
/// error shape rather than actix's plain text.
pub(super) fn json_config() -> web::JsonConfig {
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

pub(super) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        actix_web::Error::from(ApiFailure(ApiError::BadRequest(
            format!("invalid query: {err}").into(),
        )))
    })
}

/// Endpoints under `/api/v1`. The slash-less collection paths are aliases
/// of the documented ones (the seed's clients call both).
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/openapi.json", openapi::serve),
        Endpoint::new(M::POST, "/auth/login", login),
        Endpoint::new(M::POST, "/auth/logout", logout),
        Endpoint::new(M::GET, "/users", list_users),
        Endpoint::new(M::GET, "/users/", list_users),
        Endpoint::new(M::POST, "/users", create_user),
        Endpoint::new(M::POST, "/users/", create_user),
        Endpoint::new(M::GET, "/users/{id}", get_user),
        Endpoint::new(M::PATCH, "/users/{id}", update_user),
        Endpoint::new(M::DELETE, "/users/{id}", delete_user),
        Endpoint::new(M::GET, "/organizations", list_orgs),
        Endpoint::new(M::GET, "/organizations/", list_orgs),
        Endpoint::new(M::POST, "/organizations", create_org),
        Endpoint::new(M::POST, "/organizations/", create_org),
        Endpoint::new(M::GET, "/organizations/{id}", get_org),
        Endpoint::new(M::PATCH, "/organizations/{id}", update_org),
        Endpoint::new(M::DELETE, "/organizations/{id}", delete_org),
        Endpoint::new(M::GET, "/organizations/{id}/members", members),
        Endpoint::new(M::POST, "/organizations/{id}/members", add_member),
        Endpoint::new(
            M::DELETE,
            "/organizations/{id}/members/{user_id}",
            remove_member,
        ),
        Endpoint::new(M::GET, "/organizations/{id}/invitations", org_invitations),
        Endpoint::new(
            M::DELETE,
            "/organizations/{id}/invitations/{user_id}",
            withdraw_invitation,
        ),
        Endpoint::new(M::GET, "/invitations", my_invitations),
        Endpoint::new(M::DELETE, "/invitations/{org_id}", delete_invitation),
        Endpoint::new(M::POST, "/invitations/{org_id}/accept", accept_invitation),
        Endpoint::new(M::POST, "/invitations/{org_id}/decline", decline_invitation),
        Endpoint::new(M::GET, "/audit", audit),
    ]
    .into_iter()
    .chain(super::apps::endpoints())
    .collect()
}

pub(super) fn no_store(
    mut b: actix_web::HttpResponseBuilder,
    body: impl serde::Serialize,
) -> HttpResponse {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
struct LoginRequest {
    email: String,
    password: String,
    /// For an account with a second factor: a code from its authenticator
    /// app, or a recovery code.
    otp: Option<String>,
}

/// Signs in with an email and password and answers with a first-party
/// access token carrying every platform scope the role permits.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    security(()),
    responses(
        (status = 200, description = "Signed in; `Cache-Control: no-store`.", body = wire::LoginBody),
        (status = 400, response = BadRequest),
        (status = 401, description = "Wrong email or password, or not an address: `invalid_credentials`; the account has a second factor and no `otp` came: `mfa_required`.", body = ApiErrorBody),
        (status = 403, description = "A wrong, replayed or spent `otp`, or an administrator who must set up a second factor first (`GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`).", body = ApiErrorBody),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Busy),
        (status = 500, response = ServerError),
    )
)]
async fn login(state: Data<AppState>, http: HttpRequest, body: Json<LoginRequest>) -> ApiResult {
    let r = state
        .gatehouse
        .login_with_code(
            &body.email,
            &body.password,
            body.otp.as_deref(),
            state.client_ip(&http),
        )
        .await?;
    Ok(no_store(
        HttpResponse::Ok(),
        wire::LoginBody::new(r.access_token, r.expires_in, &r.user),
    ))
}

/// Ends the presented token at once.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token no longer works."),
        (status = 401, response = Unauthorized),
        (status = 500, response = ServerError),
    )
)]
async fn logout(state: Data<AppState>, caller: Authed) -> ApiResult {
    state.gatehouse.logout(&caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct UsersQuery {
    organization_id: Option<String>,
}

/// Users the caller may see: an organization's, or everyone who shares an
/// organization with the caller (every user, for platform admins).
#[utoipa::path(
    get,
    path = "/api/v1/users/",
    tag = "users",
    security(("bearer" = [])),
    params(("organization_id" = Option<uuid::Uuid>, Query, description = "Only this organization's members (a UUID).")),
    responses(
        (status = 200, description = "The users.", body = wire::Users),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn list_users(state: Data<AppState>, caller: Authed, q: Query<UsersQuery>) -> ApiResult {
    let org = q.organization_id.as_deref().filter(|s| !s.is_empty());
    let users = state.gatehouse.list_users(&caller.0, org).await?;
    Ok(HttpResponse::Ok().json(wire::Users::of(&users)))
}

/// A page of the audit log, newest first (platform admins).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    security(("bearer" = [])),
    params(
        ("type" = Option<AuditType>, Query, description = "One event type."),
        ("user_id" = Option<uuid::Uuid>, Query, description = "Events about this user (a UUID)."),
        ("client_id" = Option<String>, Query, description = "Events involving this client."),
        ("before" = Option<String>, Query, description = "The `next` value of the previous page."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1 to 500, default 50."),
    ),
    responses(
        (status = 200, description = "The page; `Cache-Control: no-store`.", body = wire::AuditEvents),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
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

/// `POST /api/v1/users/`.
#[derive(Deserialize, ToSchema)]
struct CreateUserRequest {
    email: String,
    /// 1–200 characters.
    name: String,
    /// At least 8 characters, not a common password.
    password: String,
    /// Default `user`.
    #[schema(value_type = Option<PlatformRole>)]
    role: Option<String>,
    /// Default `true`.
    email_verified: Option<bool>,
}

/// Creates a user (platform admins).
#[utoipa::path(
    post,
    path = "/api/v1/users/",
    tag = "users",
    request_body = CreateUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = wire::OneUser, links(
            ("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/user/id")))),
            ("UpdateUser" = (operation_id = "update_user", parameters(("id" = "$response.body#/user/id")))),
            ("DeleteUser" = (operation_id = "delete_user", parameters(("id" = "$response.body#/user/id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn create_user(
    state: Data<AppState>,
    caller: Authed,
    b: Json<CreateUserRequest>,
) -> ApiResult {
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

/// A user the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's UUID.")),
    responses(
        (status = 200, description = "The user.", body = wire::OneUser),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn get_user(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let u = state.gatehouse.get_user(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OneUser { user: (&u).into() }))
}

/// `PATCH /api/v1/users/{id}`: the fields to change.
#[derive(Deserialize, ToSchema)]
struct PatchUserRequest {
    email: Option<String>,
    name: Option<String>,
    password: Option<String>,
    /// Platform admins only.
    #[schema(value_type = Option<PlatformRole>)]
    role: Option<String>,
    /// Needed to change your own email or password.
    current_password: Option<String>,
    /// Platform admins only.
    email_verified: Option<bool>,
}

/// Changes a user: yourself, or anyone for platform admins. Email and
/// password changes need a first-party token and `current_password`.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "users",
    request_body = PatchUserRequest,
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's UUID.")),
    responses(
        (status = 200, description = "The changed user.", body = wire::OneUser),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Busy),
        (status = 500, response = ServerError),
    )
)]
async fn update_user(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<PatchUserRequest>,
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

/// Deletes a user with their memberships, sessions, grants and consents
/// (platform admins).
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's UUID.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn delete_user(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_user(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's organizations, each with the caller's role.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/",
    tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organizations.", body = wire::Orgs),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn list_orgs(state: Data<AppState>, caller: Authed) -> ApiResult {
    let orgs = state.gatehouse.my_orgs(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Orgs {
        organizations: orgs
            .iter()
            .map(|(o, r)| wire::OrgWithRole::new(o, Some(*r)))
            .collect(),
    }))
}

/// An organization's fields; `name` is required to create one.
#[derive(Deserialize, ToSchema)]
struct OrgRequest {
    /// 1–200 characters.
    name: Option<String>,
    /// At most 2000 characters.
    description: Option<String>,
}

/// Creates an organization with the caller as owner.
#[utoipa::path(
    post,
    path = "/api/v1/organizations/",
    tag = "organizations",
    request_body = OrgRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = wire::OrgWithRole, links(
            ("GetOrganization" = (operation_id = "get_org", parameters(("id" = "$response.body#/organization/id")))),
            ("UpdateOrganization" = (operation_id = "update_org", parameters(("id" = "$response.body#/organization/id")))),
            ("DeleteOrganization" = (operation_id = "delete_org", parameters(("id" = "$response.body#/organization/id")))),
            ("ListMembers" = (operation_id = "members", parameters(("id" = "$response.body#/organization/id")))),
            ("AddMember" = (operation_id = "add_member", parameters(("id" = "$response.body#/organization/id")))),
            ("ListInvitations" = (operation_id = "org_invitations", parameters(("id" = "$response.body#/organization/id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn create_org(state: Data<AppState>, caller: Authed, b: Json<OrgRequest>) -> ApiResult {
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

/// An organization the caller belongs to (any, for platform admins).
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{id}",
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 200, description = "The organization.", body = wire::OrgWithRole),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn get_org(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let (o, r) = state.gatehouse.get_org(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::OrgWithRole::new(&o, r)))
}

/// Renames or redescribes an organization (its admins and owners).
#[utoipa::path(
    patch,
    path = "/api/v1/organizations/{id}",
    tag = "organizations",
    request_body = OrgRequest,
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 200, description = "The changed organization.", body = wire::OrgWithRole),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn update_org(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<OrgRequest>,
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

/// Deletes an organization (its owners).
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{id}",
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_org(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    state.gatehouse.delete_org(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An organization's members.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{id}/members",
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 200, description = "The members.", body = wire::Members),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn members(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let ms = state.gatehouse.org_members(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::Members::of(&ms)))
}

/// `POST /api/v1/organizations/{id}/members`.
#[derive(Deserialize, ToSchema)]
struct MemberRequest {
    /// The user's UUID.
    user_id: String,
    /// Default `member`.
    #[schema(value_type = Option<OrgRoleName>)]
    role: Option<String>,
}

/// Changes a member's role, adds someone (platform admins) or invites them
/// (everyone else).
#[utoipa::path(
    post,
    path = "/api/v1/organizations/{id}/members",
    tag = "organizations",
    request_body = MemberRequest,
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 201, description = "Added, or the role changed.", body = wire::OneMember, links(
            ("RemoveMember" = (operation_id = "remove_member", parameters(("id" = "$request.path.id"), ("user_id" = "$response.body#/member/user_id"))))
        )),
        (status = 202, description = "Invited: the invitee decides.", body = wire::OneInvitation, links(
            ("WithdrawInvitation" = (operation_id = "withdraw_invitation", parameters(("id" = "$request.path.id"), ("user_id" = "$response.body#/invitation/user_id"))))
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
async fn add_member(
    state: Data<AppState>,
    caller: Authed,
    id: Path<String>,
    b: Json<MemberRequest>,
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

/// The caller's pending invitations, each naming its organization.
#[utoipa::path(
    get,
    path = "/api/v1/invitations",
    tag = "invitations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitations.", body = wire::Invitations),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = ServerError),
    )
)]
async fn my_invitations(state: Data<AppState>, caller: Authed) -> ApiResult {
    let all = state.gatehouse.my_invitations(&caller.0).await?;
    Ok(HttpResponse::Ok().json(wire::Invitations {
        invitations: all
            .iter()
            .map(|(i, o)| wire::InvitationBody::for_invitee(i, o))
            .collect(),
    }))
}

/// Accepts an invitation: the caller becomes a member.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/{org_id}/accept",
    tag = "invitations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "The inviting organization's UUID.")),
    responses(
        (status = 200, description = "The organization, with the caller's new role.", body = wire::OrgWithRole),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn accept_invitation(state: Data<AppState>, caller: Authed, org: Path<String>) -> ApiResult {
    let (o, m) = state.gatehouse.accept_invitation(&caller.0, &org).await?;
    Ok(HttpResponse::Ok().json(wire::OrgWithRole::new(&o, Some(m.role))))
}

/// Declines an invitation.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/{org_id}/decline",
    tag = "invitations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "The inviting organization's UUID.")),
    responses(
        (status = 204, description = "Declined."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn decline_invitation(state: Data<AppState>, caller: Authed, org: Path<String>) -> ApiResult {
    state.gatehouse.decline_invitation(&caller.0, &org).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Declines an invitation, as `POST …/decline` does.
#[utoipa::path(
    delete,
    path = "/api/v1/invitations/{org_id}",
    tag = "invitations",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "The inviting organization's UUID.")),
    responses(
        (status = 204, description = "Declined."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_invitation(state: Data<AppState>, caller: Authed, org: Path<String>) -> ApiResult {
    decline_invitation(state, caller, org).await
}

/// An organization's pending invitations (its admins and owners).
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{id}/invitations",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID.")),
    responses(
        (status = 200, description = "The invitations.", body = wire::Invitations),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn org_invitations(state: Data<AppState>, caller: Authed, id: Path<String>) -> ApiResult {
    let all = state.gatehouse.org_invitations(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(wire::Invitations {
        invitations: all.iter().map(Into::into).collect(),
    }))
}

/// Withdraws a pending invitation (the organization's admins and owners).
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{id}/invitations/{user_id}",
    tag = "invitations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID."), ("user_id" = uuid::Uuid, Path, description = "The invitee's UUID.")),
    responses(
        (status = 204, description = "Withdrawn."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
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

/// Removes a member (anyone may remove themself).
#[utoipa::path(
    delete,
    path = "/api/v1/organizations/{id}/members/{user_id}",
    tag = "organizations",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The organization's UUID."), ("user_id" = uuid::Uuid, Path, description = "The member's UUID.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 500, response = ServerError),
    )
)]
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
