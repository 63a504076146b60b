//! Passkey pages (issue 14, item 3): adding and removing passkeys at
//! `/account/security`, the second step of a sign-in with one, and signing
//! in with a passkey alone. Each ceremony is two requests: a page carrying
//! the server's options (drawn with a fresh, single-use challenge), and a
//! form post carrying the authenticator's answer, which `/assets/
//! passkeys.js` fills in. The checks are all in the core.

use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{self, Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::ApiError;

use super::account::{Frame, failure, or_page, signed_in_form};
use super::idp::safe_return;
use super::oauth::{read_form, redirect};
use super::security::{
    Ceremony, Extra, failed_page, refused, refused_with, second_factor_page, security_page,
    session_then,
};
use super::{AppState, Endpoint, pages};

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/assets/passkeys.js", script).page(),
        Endpoint::new(M::POST, "/account/security/passkeys/new", begin_adding).page(),
        Endpoint::new(M::POST, "/account/security/passkeys", finish_adding).page(),
        Endpoint::new(M::POST, "/account/security/passkeys/{id}/remove", remove).page(),
        Endpoint::new(M::POST, "/account/passkey", begin_sign_in).page(),
        Endpoint::new(M::POST, "/account/passkey/finish", finish_sign_in).page(),
        Endpoint::new(M::POST, "/account/second-factor/passkey", second_step).page(),
    ]
}

/// The pages' one script. Same origin, so `script-src 'self'` admits it
/// and nothing else.
const SCRIPT: &str = include_str!("../../assets/passkeys.js");

/// `GET /assets/passkeys.js`.
async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SCRIPT)
}

/// `POST /account/security/passkeys/new`: the naming form, carrying the
/// options for `navigator.credentials.create()`.
async fn begin_adding(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    match state
        .gatehouse
        .begin_passkey_registration(&signed.caller.user)
        .await
    {
        Ok(c) => {
            let frame = Frame::new(&signed, "security", None);
            let extra = Extra {
                registering: Some(c.into()),
                ..Extra::default()
            };
            security_page(&state, &signed, StatusCode::OK, frame, extra).await
        }
        Err(e) => refused(&state, &signed, &e).await,
    }
}

/// `POST /account/security/passkeys`: the authenticator's answer; the
/// first set of recovery codes when it is the account's first factor.
async fn finish_adding(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .finish_passkey_registration(
            &signed.caller.user,
            field("challenge"),
            field("response"),
            field("name"),
            state.client_ip(&req),
        )
        .await
    {
        Ok(Some(codes)) => {
            let frame = Frame::new(
                &signed,
                "security",
                Some("Passkey added: two-step sign-in is on. Save your recovery codes now."),
            );
            let extra = Extra {
                recovery_codes: Some(codes),
                ..Extra::default()
            };
            security_page(&state, &signed, StatusCode::OK, frame, extra).await
        }
        Ok(None) => redirect(
            StatusCode::SEE_OTHER,
            "/account/security?done=passkey-added",
        ),
        Err(ApiError::Forbidden(_)) => {
            let text = "Your device's answer was not accepted, so no passkey was added. Try again.";
            refused_with(&state, &signed, StatusCode::FORBIDDEN, text).await
        }
        Err(ApiError::BadRequest(m)) => {
            let text = format!("No passkey was added: {m}.");
            refused_with(&state, &signed, StatusCode::BAD_REQUEST, &text).await
        }
        Err(e) => refused(&state, &signed, &e).await,
    }
}

/// `POST /account/security/passkeys/{id}/remove`: on proof.
async fn remove(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    let proof = form.get("proof").ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .remove_passkey(&signed.caller.user, &id, proof, state.client_ip(&req))
        .await
    {
        Ok(()) => redirect(
            StatusCode::SEE_OTHER,
            "/account/security?done=passkey-removed",
        ),
        Err(e) => refused(&state, &signed, &e).await,
    }
}

#[derive(Template)]
#[template(path = "passkey_sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    next: &'a str,
    back: &'a str,
    ceremony: Ceremony,
    error: Option<&'a str>,
}

fn expired_sign_in() -> HttpResponse {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in took too long or was changed. Please sign in again.",
    )
}

/// The passkey sign-in page, with a fresh challenge.
async fn sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    next: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let ceremony = match state
        .gatehouse
        .begin_passkey_sign_in(None, state.client_ip(req))
        .await
    {
        Ok(c) => c.into(),
        Err(e) => return failed_page(&e),
    };
    let (csrf, cookie) = pages::login_csrf(state, req);
    // Without a session, `next` itself shows the other ways to sign in.
    let page = SignInPage {
        csrf: &csrf,
        next,
        back: next,
        ceremony,
        error,
    };
    pages::html(status, pages::render(&page), cookie.into_iter().collect())
}

/// `POST /account/passkey`: the "Sign in with a passkey" button.
async fn begin_sign_in(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    if !pages::login_csrf_ok(&state, &req, form.get("csrf_token").ok().flatten()) {
        return expired_sign_in();
    }
    let next = safe_return(form.get("next").ok().flatten().unwrap_or_default()).to_owned();
    sign_in_page(&state, &req, &next, StatusCode::OK, None).await
}

/// What a refused passkey answer says, on the page that offers another
/// try.
fn try_again(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::Forbidden(_) => (
            StatusCode::UNAUTHORIZED,
            "That passkey was not accepted: it is not registered here, or belongs to another account."
                .to_owned(),
        ),
        ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, format!("That did not work: {m}.")),
        e => failure(e),
    }
}

/// `POST /account/passkey/finish`: the authenticator's answer, then the
/// session.
async fn finish_sign_in(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    if !pages::login_csrf_ok(&state, &req, form.get("csrf_token").ok().flatten()) {
        return expired_sign_in();
    }
    let next = safe_return(field("next")).to_owned();
    match state
        .gatehouse
        .finish_passkey_sign_in(
            field("challenge"),
            field("response"),
            None,
            state.client_ip(&req),
        )
        .await
    {
        Ok(user) => session_then(&state, &req, user, &next, "signed in with a passkey").await,
        Err(e @ (ApiError::Forbidden(_) | ApiError::BadRequest(_))) => {
            let (status, text) = try_again(&e);
            sign_in_page(&state, &req, &next, status, Some(&text)).await
        }
        Err(e) => failed_page(&e),
    }
}

/// `POST /account/second-factor/passkey`: the second step with a passkey.
async fn second_step(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    if !pages::login_csrf_ok(&state, &req, form.get("csrf_token").ok().flatten()) {
        return expired_sign_in();
    }
    let next = safe_return(field("next")).to_owned();
    let token = field("mfa_token");
    let user = match state.gatehouse.second_factor_user(token).await {
        Ok(Some(u)) => u,
        Ok(None) => return expired_sign_in(),
        Err(e) => return failed_page(&e),
    };
    match state
        .gatehouse
        .finish_passkey_sign_in(
            field("challenge"),
            field("response"),
            Some(&user),
            state.client_ip(&req),
        )
        .await
    {
        Ok(user) => session_then(&state, &req, user, &next, "signed in with a passkey").await,
        Err(e @ (ApiError::Forbidden(_) | ApiError::BadRequest(_))) => {
            let (status, text) = try_again(&e);
            second_factor_page(&state, &req, &user, token, &next, status, Some(&text)).await
        }
        Err(e) => failed_page(&e),
    }
}
