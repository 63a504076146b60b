//! The admin console's page for upstream identity providers
//! (`/admin/identity-providers`): the admin API's operations as forms.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::service::IdentityProviderInput;

use super::account::{Frame, or_page};
use super::console::{Done, admin, admin_form, failed, field};
use super::oauth::redirect;
use super::{AppState, Endpoint, pages};

const PAGE: &str = "/admin/identity-providers";

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, PAGE, list).page(),
        Endpoint::new(M::POST, PAGE, create).page(),
        Endpoint::new(M::POST, "/admin/identity-providers/{id}", update).page(),
        Endpoint::new(M::POST, "/admin/identity-providers/{id}/delete", delete).page(),
    ]
}

struct ProviderRow {
    id: String,
    name: String,
    display_name: String,
    kind: &'static str,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    scopes: String,
    create_users: bool,
    link_by_verified_email: bool,
}

#[derive(Template)]
#[template(path = "admin_idps.html")]
struct ProvidersPage<'a> {
    frame: Frame<'a>,
    providers: Vec<ProviderRow>,
    callback_pattern: String,
}

/// `GET /admin/identity-providers`.
async fn list(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = or_page!(admin(&state, &req, PAGE).await);
    let all = match state
        .gatehouse
        .list_identity_providers(&signed.caller)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed("Sign-in providers", &e),
    };
    let page = ProvidersPage {
        frame: Frame::new(&signed, "identity-providers", done.notice()),
        providers: all
            .iter()
            .map(|p| ProviderRow {
                id: p.id.to_string(),
                name: p.name.as_str().to_owned(),
                display_name: p.display_name.clone(),
                kind: p.kind.as_str(),
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                redirect_uri: state.gatehouse.upstream_callback(p.name.as_str()),
                scopes: p.scopes.join(" "),
                create_users: p.create_users,
                link_by_verified_email: p.link_by_verified_email,
            })
            .collect(),
        callback_pattern: state.gatehouse.upstream_callback("{name}"),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

fn text(form: &gatehouse_core::params::Params, name: &str) -> Option<String> {
    Some(field(form, name).trim().to_owned()).filter(|v| !v.is_empty())
}

fn scopes(form: &gatehouse_core::params::Params) -> Option<Vec<String>> {
    text(form, "scopes").map(|s| s.split_whitespace().map(str::to_owned).collect())
}

/// `POST /admin/identity-providers`.
async fn create(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, PAGE).await);
    let input = IdentityProviderInput {
        name: text(&form, "name"),
        display_name: text(&form, "display_name"),
        kind: text(&form, "kind"),
        issuer: text(&form, "issuer"),
        client_id: text(&form, "client_id"),
        client_secret: Some(field(&form, "client_secret").to_owned()),
        scopes: scopes(&form),
        create_users: Some(field(&form, "create_users") == "true"),
        link_by_verified_email: Some(field(&form, "link_by_verified_email") == "true"),
    };
    match state
        .gatehouse
        .create_identity_provider(&signed.caller, input)
        .await
    {
        Ok(_) => redirect(StatusCode::SEE_OTHER, &format!("{PAGE}?done=created")),
        Err(e) => failed("Add a sign-in provider", &e),
    }
}

/// `POST /admin/identity-providers/{id}`: scopes, secret and policy.
async fn update(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, form) = or_page!(admin_form(&state, &req, body, PAGE).await);
    let input = IdentityProviderInput {
        scopes: scopes(&form),
        // An empty field keeps the secret.
        client_secret: text(&form, "client_secret"),
        create_users: Some(field(&form, "create_users") == "true"),
        link_by_verified_email: Some(field(&form, "link_by_verified_email") == "true"),
        ..IdentityProviderInput::default()
    };
    match state
        .gatehouse
        .update_identity_provider(&signed.caller, &id, input)
        .await
    {
        Ok(_) => redirect(StatusCode::SEE_OTHER, &format!("{PAGE}?done=saved")),
        Err(e) => failed("Save the sign-in provider", &e),
    }
}

/// `POST /admin/identity-providers/{id}/delete`.
async fn delete(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let (signed, _) = or_page!(admin_form(&state, &req, body, PAGE).await);
    match state
        .gatehouse
        .delete_identity_provider(&signed.caller, &id)
        .await
    {
        Ok(()) => redirect(StatusCode::SEE_OTHER, &format!("{PAGE}?done=deleted")),
        Err(e) => failed("Delete the sign-in provider", &e),
    }
}
