//! The admin console at `/admin` (DESIGN §11): clients, resources, users,
//! organizations and the audit log, for platform admins signed in on
//! Gatehouse's pages.
//!
//! Server-rendered plain forms built from the account pages' parts (the
//! session, its CSRF token, the sign-in page); every action goes through
//! the same core service as the admin API, so the same rules and audit
//! events apply. An action that fails shows the service's one-sentence
//! reason on an error page.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::audit::AuditKind;
use gatehouse_core::model::{ClientOrigin, Role};
use gatehouse_core::params::Params;
use gatehouse_core::service::{AuditParams, ClientFilter, NewUser, ResourceInput, UserPatch};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Deserialize;

use super::account::{AppView, Frame, SignedIn, failure, or_page, signed_in, signed_in_form, when};
use super::oauth::{read_form, redirect};
use super::{AppState, Endpoint, pages};

/// Routes at the root.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/admin", home).page(),
        Endpoint::new(M::GET, "/admin/clients", clients).page(),
        Endpoint::new(M::POST, "/admin/clients/delete-idle", delete_idle).page(),
        Endpoint::new(M::GET, "/admin/clients/{id}", client).page(),
        Endpoint::new(M::POST, "/admin/clients/{id}/delete", delete_client).page(),
        Endpoint::new(M::GET, "/admin/resources", resources).page(),
        Endpoint::new(M::POST, "/admin/resources", create_resource).page(),
        Endpoint::new(M::POST, "/admin/resources/{id}", update_resource).page(),
        Endpoint::new(M::POST, "/admin/resources/{id}/delete", delete_resource).page(),
        Endpoint::new(M::GET, "/admin/users", users).page(),
        Endpoint::new(M::POST, "/admin/users", create_user).page(),
        Endpoint::new(M::GET, "/admin/users/{id}", user).page(),
        Endpoint::new(M::POST, "/admin/users/{id}/role", set_role).page(),
        Endpoint::new(M::POST, "/admin/users/{id}/password", reset_password).page(),
        Endpoint::new(M::POST, "/admin/users/{id}/delete", delete_user).page(),
        Endpoint::new(
            M::POST,
            "/admin/users/{id}/apps/{grant}/disconnect",
            disconnect,
        )
        .page(),
        Endpoint::new(M::GET, "/admin/organizations", orgs).page(),
        Endpoint::new(M::GET, "/admin/organizations/{id}", org).page(),
        Endpoint::new(M::GET, "/admin/audit", audit).page(),
    ]
}

/// `?done=…` after an action: fixed messages only.
#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}

impl Done {
    pub(super) fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "deleted" => "Deleted.",
            "created" => "Created.",
            "saved" => "Saved.",
            "disconnected" => "The app was disconnected.",
            "password" => "The password was reset; the user was signed out everywhere.",
            _ => return None,
        })
    }
}

/// The signed-in platform admin, or the page to answer with instead (the
/// sign-in page, or a 403 for everyone else).
pub(super) async fn admin(
    state: &AppState,
    req: &HttpRequest,
    next: &str,
) -> Result<SignedIn, HttpResponse> {
    let signed = signed_in(state, req, next).await?;
    if let Some(page) = refused(&signed) {
        return Err(page);
    }
    mfa_gate(state, &signed).await?;
    Ok(signed)
}

/// Under `GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`, an admin without a second
/// factor is sent to set one up before anything else.
async fn mfa_gate(state: &AppState, signed: &SignedIn) -> Result<(), HttpResponse> {
    match state.gatehouse.must_set_up_mfa(&signed.caller.user).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(redirect(
            StatusCode::SEE_OTHER,
            "/account/security?done=mfa-required",
        )),
        Err(e) => Err(failed("Admin console", &e)),
    }
}

/// The 403 page for anyone signed in but a platform admin.
fn refused(signed: &SignedIn) -> Option<HttpResponse> {
    (!signed.caller.is_admin()).then(|| {
        pages::error_page(
            StatusCode::FORBIDDEN,
            "Administrators only",
            "The admin console is for platform administrators.",
        )
    })
}

/// A posted console form: its fields and the admin who sent it, CSRF
/// checked.
pub(super) async fn admin_form(
    state: &AppState,
    req: &HttpRequest,
    body: web::Payload,
    next: &str,
) -> Result<(SignedIn, Params), HttpResponse> {
    let form = read_form(req, body).await.unwrap_or_default();
    let signed = signed_in_form(state, req, &form, next).await?;
    if let Some(page) = refused(&signed) {
        return Err(page);
    }
    mfa_gate(state, &signed).await?;
    Ok((signed, form))
}

pub(super) fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.get(name).ok().flatten().unwrap_or_default()
}

/// The service's reason, on an error page.
pub(super) fn failed(title: &str, e: &gatehouse_core::ApiError) -> HttpResponse {
    let (status, text) = failure(e);
    pages::error_page(status, title, &text)
}

fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

/// A client id from the path, where a metadata client's URL id arrives
/// percent-encoded.
fn client_id_of(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

fn origin_label(o: ClientOrigin) -> &'static str {
    match o {
        ClientOrigin::Admin => "An administrator",
        ClientOrigin::Dynamic => "Itself (dynamic registration)",
        ClientOrigin::Metadata => "A metadata document",
    }
}

/// `GET /admin`.
async fn home(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    or_page!(admin(&state, &req, "/admin").await);
    redirect(StatusCode::SEE_OTHER, "/admin/clients")
}

struct ClientRow {
    id: String,
    id_path: String,
    name: String,
    origin: &'static str,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "admin_clients.html")]
struct ClientsPage<'a> {
    frame: Frame<'a>,
    origin: String,
    unused_days: String,
    clients: Vec<ClientRow>,
}

#[derive(Deserialize)]
struct ClientQuery {
    origin: Option<String>,
    unused_days: Option<String>,
    done: Option<String>,
}

/// `GET /admin/clients`.
async fn clients(state: Data<AppState>, req: HttpRequest, q: Query<ClientQuery>) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, "/admin/clients").await);
    let origin = q.origin.clone().unwrap_or_default();
    let unused = q.unused_days.clone().unwrap_or_default();
    let mut error = None;
    let filter = ClientFilter {
        origin: ClientOrigin::parse(&origin),
        unused_days: match unused.trim() {
            "" => None,
            d => match d.parse::<u32>() {
                Ok(d) if d <= 3650 => Some(d),
                _ => {
                    error = Some("Days must be a whole number from 0 to 3650.");
                    None
                }
            },
        },
    };
    let list = match state.gatehouse.list_clients(&signed.caller, &filter).await {
        Ok(l) => l,
        Err(e) => return failed("Clients", &e),
    };
    let done = Done {
        done: q.done.clone(),
    };
    let page = ClientsPage {
        frame: Frame {
            error,
            ..Frame::new(&signed, "clients", done.notice())
        },
        origin,
        unused_days: unused,
        clients: list
            .iter()
            .rev()
            .map(|c| ClientRow {
                id: c.id.as_str().to_owned(),
                id_path: path_segment(c.id.as_str()),
                name: c.name.clone(),
                origin: origin_label(c.origin),
                created: when(c.created_at),
                last_used: c.last_used_at.map_or_else(|| "Never".to_owned(), when),
            })
            .collect(),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::html(status, pages::render(&page), vec![])
}

/// `POST /admin/clients/delete-idle`.
async fn delete_idle(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/clients").await);
    let Ok(days) = field(&form, "idle_days").trim().parse::<u32>() else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Delete idle clients",
            "Days must be a whole number from 0 to 3650.",
        );
    };
    match state
        .gatehouse
        .delete_idle_clients(&signed.caller, days)
        .await
    {
        Ok(_) => redirect(StatusCode::SEE_OTHER, "/admin/clients?done=deleted"),
        Err(e) => failed("Delete idle clients", &e),
    }
}

struct GrantRow {
    user: String,
    user_id: Option<String>,
    resource: String,
    scope: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "admin_client.html")]
struct ClientPage<'a> {
    frame: Frame<'a>,
    id: String,
    id_path: String,
    name: String,
    origin: &'static str,
    kind: &'static str,
    redirect_uris: Vec<String>,
    post_logout_uris: Vec<String>,
    created: String,
    last_used: String,
    grants: Vec<GrantRow>,
}

/// `GET /admin/clients/{id}`.
async fn client(state: Data<AppState>, req: HttpRequest, id: Path<String>) -> HttpResponse {
    let id = client_id_of(&id);
    let next = format!("/admin/clients/{}", path_segment(&id));
    let signed = or_page!(admin(&state, &req, &next).await);
    let gh = &state.gatehouse;
    let (c, grants) = match (
        gh.get_client(&signed.caller, &id).await,
        gh.client_grants(&signed.caller, &id).await,
    ) {
        (Ok(c), Ok(g)) => (c, g),
        (Err(e), _) | (_, Err(e)) => return failed("Client", &e),
    };
    let page = ClientPage {
        frame: Frame::new(&signed, "clients", None),
        id_path: path_segment(c.id.as_str()),
        id: c.id.as_str().to_owned(),
        name: c.name.clone(),
        origin: origin_label(c.origin),
        kind: if c.is_confidential() {
            "Confidential (holds a secret)"
        } else {
            "Public (PKCE, no secret)"
        },
        redirect_uris: c
            .redirect_uris
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        post_logout_uris: c
            .post_logout_redirect_uris()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        created: when(c.created_at),
        last_used: c.last_used_at.map_or_else(|| "Never".to_owned(), when),
        grants: grants
            .iter()
            .map(|(g, u)| GrantRow {
                user: u
                    .as_ref()
                    .map_or_else(|| g.user_id.to_string(), |u| u.email.as_str().to_owned()),
                user_id: u.as_ref().map(|u| u.id.to_string()),
                resource: g
                    .resource
                    .clone()
                    .unwrap_or_else(|| gh.settings().api_audience.clone()),
                scope: g.scope.to_string(),
                created: when(g.created_at),
                last_used: g.last_used_at.map_or_else(|| "Not yet".to_owned(), when),
            })
            .collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

/// `POST /admin/clients/{id}/delete`.
async fn delete_client(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, _) = or_page!(admin_form(&state, &req, body, "/admin/clients").await);
    match state
        .gatehouse
        .delete_client(&signed.caller, &client_id_of(&id))
        .await
    {
        Ok(()) => redirect(StatusCode::SEE_OTHER, "/admin/clients?done=deleted"),
        Err(e) => failed("Delete client", &e),
    }
}

struct ResourceRow {
    id: String,
    uri: String,
    name: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "admin_resources.html")]
struct ResourcesPage<'a> {
    frame: Frame<'a>,
    resources: Vec<ResourceRow>,
}

/// `GET /admin/resources`.
async fn resources(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, "/admin/resources").await);
    let list = match state.gatehouse.list_resources(&signed.caller).await {
        Ok(l) => l,
        Err(e) => return failed("Resources", &e),
    };
    let page = ResourcesPage {
        frame: Frame::new(&signed, "resources", done.notice()),
        resources: list
            .iter()
            .map(|r| ResourceRow {
                id: r.id.to_string(),
                uri: r.uri.clone(),
                name: r.name.clone(),
                scopes: r.scopes.to_string(),
            })
            .collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

fn scope_list(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_owned).collect()
}

/// `POST /admin/resources`.
async fn create_resource(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/resources").await);
    let input = ResourceInput {
        resource: Some(field(&form, "resource").trim().to_owned()),
        name: Some(field(&form, "name").to_owned()),
        scopes: Some(scope_list(field(&form, "scopes"))),
    };
    match state.gatehouse.create_resource(&signed.caller, input).await {
        Ok(_) => redirect(StatusCode::SEE_OTHER, "/admin/resources?done=created"),
        Err(e) => failed("Register a resource", &e),
    }
}

/// `POST /admin/resources/{id}`: new scopes.
async fn update_resource(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/resources").await);
    let input = ResourceInput {
        scopes: Some(scope_list(field(&form, "scopes"))),
        ..ResourceInput::default()
    };
    match state
        .gatehouse
        .update_resource(&signed.caller, &id, input)
        .await
    {
        Ok(_) => redirect(StatusCode::SEE_OTHER, "/admin/resources?done=saved"),
        Err(e) => failed("Save scopes", &e),
    }
}

/// `POST /admin/resources/{id}/delete`.
async fn delete_resource(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, _) = or_page!(admin_form(&state, &req, body, "/admin/resources").await);
    match state.gatehouse.delete_resource(&signed.caller, &id).await {
        Ok(()) => redirect(StatusCode::SEE_OTHER, "/admin/resources?done=deleted"),
        Err(e) => failed("Delete resource", &e),
    }
}

struct UserRow {
    id: String,
    email: String,
    name: String,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    frame: Frame<'a>,
    users: Vec<UserRow>,
}

/// `GET /admin/users`.
async fn users(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, "/admin/users").await);
    let list = match state.gatehouse.list_users(&signed.caller, None).await {
        Ok(l) => l,
        Err(e) => return failed("Users", &e),
    };
    let page = UsersPage {
        frame: Frame::new(&signed, "users", done.notice()),
        users: list
            .iter()
            .map(|u| UserRow {
                id: u.id.to_string(),
                email: u.email.as_str().to_owned(),
                name: u.name.clone(),
                role: u.role.as_str(),
                created: when(u.created_at),
            })
            .collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

/// `POST /admin/users`.
async fn create_user(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/users").await);
    let new = NewUser {
        email: field(&form, "email").to_owned(),
        name: field(&form, "name").to_owned(),
        password: field(&form, "password").to_owned(),
        role: Role::parse(field(&form, "role")),
        email_verified: None,
    };
    match state.gatehouse.create_user(&signed.caller, new).await {
        Ok(u) => redirect(
            StatusCode::SEE_OTHER,
            &format!("/admin/users/{}?done=created", u.id),
        ),
        Err(e) => failed("Create a user", &e),
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    frame: Frame<'a>,
    id: String,
    email: String,
    name: String,
    role: &'static str,
    created: String,
    apps: Vec<AppView>,
}

/// `GET /admin/users/{id}`.
async fn user(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    done: Query<Done>,
) -> HttpResponse {
    let signed =
        or_page!(admin(&state, &req, &format!("/admin/users/{}", path_segment(&id))).await);
    let gh = &state.gatehouse;
    let (u, apps) = match (
        gh.get_user(&signed.caller, &id).await,
        gh.user_apps(&signed.caller, &id).await,
    ) {
        (Ok(u), Ok(a)) => (u, a),
        (Err(e), _) | (_, Err(e)) => return failed("User", &e),
    };
    let api = &gh.settings().api_audience;
    let page = UserPage {
        frame: Frame::new(&signed, "users", done.notice()),
        id: u.id.to_string(),
        email: u.email.as_str().to_owned(),
        name: u.name.clone(),
        role: u.role.as_str(),
        created: when(u.created_at),
        apps: apps.iter().map(|a| AppView::new(a, api)).collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

/// Applies `patch` to user `id` and goes back to their page.
async fn patch_user(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    patch: UserPatch,
    done: &str,
) -> HttpResponse {
    match state.gatehouse.update_user(&signed.caller, id, patch).await {
        Ok(u) => redirect(
            StatusCode::SEE_OTHER,
            &format!("/admin/users/{}?done={done}", u.id),
        ),
        Err(e) => failed("Change user", &e),
    }
}

/// `POST /admin/users/{id}/role`.
async fn set_role(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/users").await);
    let Some(role) = Role::parse(field(&form, "role")) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Change user",
            "The role must be user or admin.",
        );
    };
    let patch = UserPatch {
        role: Some(role),
        ..UserPatch::default()
    };
    patch_user(&state, &signed, &id, patch, "saved").await
}

/// `POST /admin/users/{id}/password`.
async fn reset_password(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, "/admin/users").await);
    let patch = UserPatch {
        password: Some(field(&form, "new_password").to_owned()),
        ..UserPatch::default()
    };
    patch_user(&state, &signed, &id, patch, "password").await
}

/// `POST /admin/users/{id}/delete`.
async fn delete_user(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, _) = or_page!(admin_form(&state, &req, body, "/admin/users").await);
    match state.gatehouse.delete_user(&signed.caller, &id).await {
        Ok(()) => redirect(StatusCode::SEE_OTHER, "/admin/users?done=deleted"),
        Err(e) => failed("Delete user", &e),
    }
}

/// `POST /admin/users/{id}/apps/{grant}/disconnect`.
async fn disconnect(
    state: Data<AppState>,
    req: HttpRequest,
    path: Path<(String, String)>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, _) = or_page!(admin_form(&state, &req, body, "/admin/users").await);
    let (id, grant) = path.into_inner();
    match state
        .gatehouse
        .disconnect_user_app(&signed.caller, &id, &grant)
        .await
    {
        Ok(_) => redirect(
            StatusCode::SEE_OTHER,
            &format!("/admin/users/{}?done=disconnected", path_segment(&id)),
        ),
        Err(e) => failed("Disconnect", &e),
    }
}

struct OrgRow {
    id: String,
    name: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_orgs.html")]
struct OrgsPage<'a> {
    frame: Frame<'a>,
    orgs: Vec<OrgRow>,
}

/// `GET /admin/organizations`.
async fn orgs(state: Data<AppState>, req: HttpRequest) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, "/admin/organizations").await);
    let list = match state.gatehouse.all_orgs(&signed.caller).await {
        Ok(l) => l,
        Err(e) => return failed("Organizations", &e),
    };
    let page = OrgsPage {
        frame: Frame::new(&signed, "organizations", None),
        orgs: list
            .iter()
            .map(|o| OrgRow {
                id: o.id.to_string(),
                name: o.name.clone(),
                created: when(o.created_at),
            })
            .collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

struct MemberRow {
    id: String,
    email: String,
    role: &'static str,
    since: String,
}

#[derive(Template)]
#[template(path = "admin_org.html")]
struct OrgPage<'a> {
    frame: Frame<'a>,
    name: String,
    members: Vec<MemberRow>,
    invitations: Vec<MemberRow>,
}

/// `GET /admin/organizations/{id}`.
async fn org(state: Data<AppState>, req: HttpRequest, id: Path<String>) -> HttpResponse {
    let next = format!("/admin/organizations/{}", path_segment(&id));
    let signed = or_page!(admin(&state, &req, &next).await);
    let gh = &state.gatehouse;
    let (o, members, invited) = match (
        gh.get_org(&signed.caller, &id).await,
        gh.org_members(&signed.caller, &id).await,
        gh.org_invitations(&signed.caller, &id).await,
    ) {
        (Ok(o), Ok(m), Ok(i)) => (o, m, i),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failed("Organization", &e),
    };
    let mut invitations = Vec::with_capacity(invited.len());
    for inv in &invited {
        let id = inv.user_id.to_string();
        let email = match gh.get_user(&signed.caller, &id).await {
            Ok(u) => u.email.as_str().to_owned(),
            Err(_) => id.clone(),
        };
        invitations.push(MemberRow {
            id,
            email,
            role: inv.role.as_str(),
            since: when(inv.created_at),
        });
    }
    let page = OrgPage {
        frame: Frame::new(&signed, "organizations", None),
        name: o.0.name.clone(),
        members: members
            .iter()
            .map(|(m, u)| MemberRow {
                id: u.id.to_string(),
                email: u.email.as_str().to_owned(),
                role: m.role.as_str(),
                since: when(m.created_at),
            })
            .collect(),
        invitations,
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

struct EventRow {
    at: String,
    kind: &'static str,
    user: String,
    user_short: String,
    client: String,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    frame: Frame<'a>,
    kinds: Vec<String>,
    kind: String,
    user_id: String,
    client_id: String,
    events: Vec<EventRow>,
    next: Option<String>,
}

/// `GET /admin/audit`: the log, newest first, filtered and paged as the
/// API is (`type`, `user_id`, `client_id`, `before`).
async fn audit(state: Data<AppState>, req: HttpRequest, q: Query<AuditParams>) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, "/admin/audit").await);
    let (page, error) = match q.query() {
        Ok(query) => match state.gatehouse.audit_events(&signed.caller, &query).await {
            Ok(p) => (Some(p), None),
            Err(e) => return failed("Audit log", &e),
        },
        Err(e) => (None, Some(failure(&e).1)),
    };
    let filters = |before: Option<String>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("type", &q.kind),
            ("user_id", &q.user_id),
            ("client_id", &q.client_id),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                pairs.push((k, v.clone()));
            }
        }
        if let Some(b) = before {
            pairs.push(("before", b));
        }
        format!(
            "/admin/audit?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    };
    let events = page
        .as_ref()
        .map(|p| {
            p.events
                .iter()
                .map(|e| {
                    let user = e.user_id.map(|u| u.to_string()).unwrap_or_default();
                    EventRow {
                        at: when(e.at),
                        kind: e.kind.as_str(),
                        user_short: user.chars().take(8).collect(),
                        user,
                        client: e
                            .client_id
                            .as_ref()
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                        ip: e.ip.map(|i| i.to_string()).unwrap_or_default(),
                        details: e.details.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let next = page
        .as_ref()
        .and_then(|p| p.next.as_ref())
        .map(|c| filters(Some(c.encode())));
    let body = AuditPage {
        frame: Frame {
            error: error.as_deref(),
            ..Frame::new(&signed, "audit", None)
        },
        kinds: AuditKind::ALL
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
        kind: q.kind.clone().unwrap_or_default(),
        user_id: q.user_id.clone().unwrap_or_default(),
        client_id: q.client_id.clone().unwrap_or_default(),
        events,
        next,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::html(status, pages::render(&body), vec![])
}
