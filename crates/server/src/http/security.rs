//! Two-step sign-in on the pages: `/account/security` (setting up an
//! authenticator app, passkeys, recovery codes) and the second step of
//! every browser sign-in (`/account/second-factor`). The passkey
//! ceremonies' own handlers are in [`super::passkeys`].

use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{self, Data, Query};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::ApiError;
use gatehouse_core::model::User;
use gatehouse_core::service::{PasskeyCeremony, TotpSetup};

use super::account::{
    Done, Frame, SignedIn, failure, iso, or_page, signed_in, signed_in_form, when,
};
use super::oauth::{read_form, redirect};
use super::{AppState, Endpoint, pages};

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/account/security", security).page(),
        Endpoint::new(M::POST, "/account/security/totp", begin).page(),
        Endpoint::new(M::POST, "/account/security/totp/confirm", confirm).page(),
        Endpoint::new(M::POST, "/account/security/totp/remove", remove).page(),
        Endpoint::new(M::POST, "/account/security/recovery-codes", regenerate).page(),
        Endpoint::new(M::POST, "/account/second-factor", second_step).page(),
    ]
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage<'a> {
    email: &'a str,
    error: Option<&'a str>,
    csrf: &'a str,
    token: &'a str,
    next: &'a str,
    /// A passkey ceremony, when the account has passkeys.
    passkey: Option<Ceremony>,
    /// Whether the account has an authenticator app (else the code field
    /// takes recovery codes only).
    totp: bool,
}

/// A ceremony as a page carries it: the id and the options as JSON, for
/// the form's `data-options`.
pub(super) struct Ceremony {
    pub challenge: String,
    pub options: String,
}

impl From<PasskeyCeremony> for Ceremony {
    fn from(c: PasskeyCeremony) -> Self {
        Self {
            challenge: c.challenge.to_string(),
            options: c.options.to_string(),
        }
    }
}

/// The second step of a sign-in whose first step (password or upstream
/// provider) `user` just passed; afterwards the browser goes to `next`
/// (a local path the caller checked). A passkey is offered when the
/// account has one (a fresh challenge each time the page is drawn).
pub(super) async fn second_factor_page(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    token: &str,
    next: &str,
    status: StatusCode,
    error: Option<&str>,
) -> HttpResponse {
    let (csrf, cookie) = pages::login_csrf(state, req);
    let mfa = match state.gatehouse.mfa_status(user).await {
        Ok(m) => m,
        Err(e) => return failed_page(&e),
    };
    let passkey = if mfa.passkeys.is_empty() || !state.gatehouse.passkeys_available() {
        None
    } else {
        match state
            .gatehouse
            .begin_passkey_sign_in(Some(user), state.client_ip(req))
            .await
        {
            Ok(c) => Some(c.into()),
            Err(e) => {
                tracing::error!(error = %e, "no passkey challenge for the second step");
                None
            }
        }
    };
    let page = SecondFactorPage {
        email: user.email.as_str(),
        error,
        csrf: &csrf,
        token,
        next,
        passkey,
        totp: mfa.totp,
    };
    pages::html(status, pages::render(&page), cookie.into_iter().collect())
}

/// The second step's page for `user`, with a fresh token.
pub(super) async fn ask_for_code(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    next: &str,
) -> HttpResponse {
    match state.gatehouse.second_factor_token(user) {
        Ok(token) => second_factor_page(state, req, user, &token, next, StatusCode::OK, None).await,
        Err(e) => {
            tracing::error!(error = %e, "no second-factor token");
            pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    }
}

/// `POST /account/second-factor`: the code, then the session.
async fn second_step(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    let next = super::idp::safe_return(field("next")).to_owned();
    let expired = || {
        pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in took too long or was changed. Please sign in again.",
        )
    };
    if !pages::login_csrf_ok(&state, &req, form.get("csrf_token").ok().flatten()) {
        return expired();
    }
    let token = field("mfa_token");
    let user = match state.gatehouse.second_factor_user(token).await {
        Ok(Some(u)) => u,
        Ok(None) => return expired(),
        Err(e) => return failed_page(&e),
    };
    let again = async |status: StatusCode, message: &str| {
        second_factor_page(&state, &req, &user, token, &next, status, Some(message)).await
    };
    match state
        .gatehouse
        .check_second_factor(&user, field("code"), state.client_ip(&req))
        .await
    {
        Ok(()) => {}
        Err(ApiError::Forbidden(_)) => {
            return again(
                StatusCode::UNAUTHORIZED,
                "That code is not correct, or was already used. Try the current one.",
            )
            .await;
        }
        Err(e @ (ApiError::Throttled(_) | ApiError::Busy(_))) => {
            let (status, text) = failure(&e);
            let mut res = again(status, &text).await;
            if let ApiError::Throttled(secs) | ApiError::Busy(secs) = e
                && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
        Err(e) => return failed_page(&e),
    }
    session_then(&state, &req, user, &next, "signed in with a second factor").await
}

/// Starts `user`'s session (they passed every step) and sends the browser
/// on to `next` (a local path the caller checked).
pub(super) async fn session_then(
    state: &AppState,
    req: &HttpRequest,
    user: User,
    next: &str,
    how: &'static str,
) -> HttpResponse {
    match state.gatehouse.sign_in(user).await {
        Ok((session, who)) => {
            tracing::info!(user = %who.user.id, "{how}");
            let mut res = redirect(StatusCode::SEE_OTHER, next);
            let _ = res.add_cookie(&pages::cookie(
                state,
                req,
                pages::session_cookie(state),
                session.expose().to_owned(),
            ));
            res
        }
        Err(e) => failed_page(&e),
    }
}

pub(super) fn failed_page(e: &ApiError) -> HttpResponse {
    let (status, text) = failure(e);
    pages::error_page(status, "Sign-in did not complete", &text)
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    frame: Frame<'a>,
    totp: bool,
    /// Whether any second factor is set up.
    any: bool,
    passkeys: Vec<PasskeyRow>,
    passkeys_available: bool,
    /// A passkey being added: the naming form that runs the ceremony.
    registering: Option<Ceremony>,
    recovery_left: u32,
    has_password: bool,
    must_set_up: bool,
    setup: Option<TotpSetup>,
    qr: String,
    recovery_codes: Option<Vec<String>>,
}

/// A passkey as the security page lists it.
struct PasskeyRow {
    id: String,
    name: String,
    added: String,
    added_iso: String,
    used: Option<String>,
}

/// The QR code of an `otpauth://` URI, as inline SVG (no image request,
/// nothing for the page's CSP to allow).
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build()
            .replacen(
                "<svg ",
                "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
                1,
            ),
        Err(e) => {
            tracing::error!(error = %e, "QR code could not be drawn");
            String::new()
        }
    }
}

/// What the security page shows besides the account's state.
#[derive(Default)]
pub(super) struct Extra {
    /// Recovery codes just made (shown once).
    pub recovery_codes: Option<Vec<String>>,
    /// A passkey being added.
    pub registering: Option<Ceremony>,
}

pub(super) async fn security_page(
    state: &AppState,
    signed: &SignedIn,
    status: StatusCode,
    frame: Frame<'_>,
    extra: Extra,
) -> HttpResponse {
    let user = &signed.caller.user;
    let facts = async {
        let status = state.gatehouse.mfa_status(user).await?;
        let setup = if status.totp {
            None
        } else {
            state.gatehouse.pending_totp(user).await?
        };
        let must = state.gatehouse.must_set_up_mfa(user).await?;
        Ok::<_, ApiError>((status, setup, must))
    };
    let (mfa, setup, must_set_up) = match facts.await {
        Ok(f) => f,
        Err(e) => return failed_page(&e),
    };
    let page = SecurityPage {
        frame,
        totp: mfa.totp,
        any: mfa.any(),
        passkeys: mfa
            .passkeys
            .iter()
            .map(|p| PasskeyRow {
                id: p.id.to_string(),
                name: p.name.clone(),
                added: when(p.created_at),
                added_iso: iso(p.created_at),
                used: p.last_used_at.map(when),
            })
            .collect(),
        passkeys_available: state.gatehouse.passkeys_available(),
        registering: extra.registering,
        recovery_left: mfa.recovery_left,
        has_password: user.password_hash.is_usable(),
        must_set_up,
        qr: setup.as_ref().map(|s| qr_svg(&s.uri)).unwrap_or_default(),
        setup,
        recovery_codes: extra.recovery_codes,
    };
    pages::html(status, pages::render(&page), vec![])
}

/// `GET /account/security`.
async fn security(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = or_page!(signed_in(&state, &req, "/account/security").await);
    let frame = Frame::new(&signed, "security", done.notice());
    security_page(&state, &signed, StatusCode::OK, frame, Extra::default()).await
}

/// The security page again, saying what went wrong.
pub(super) async fn refused(state: &AppState, signed: &SignedIn, e: &ApiError) -> HttpResponse {
    let (status, text) = match e {
        ApiError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            "That code (or password) is not correct.".to_owned(),
        ),
        e => failure(e),
    };
    refused_with(state, signed, status, &text).await
}

/// The security page again, with `text` as its error.
pub(super) async fn refused_with(
    state: &AppState,
    signed: &SignedIn,
    status: StatusCode,
    text: &str,
) -> HttpResponse {
    let frame = Frame {
        error: Some(text),
        ..Frame::new(signed, "security", None)
    };
    security_page(state, signed, status, frame, Extra::default()).await
}

/// `POST /account/security/totp`: a new secret to scan.
async fn begin(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    match state.gatehouse.begin_totp(&signed.caller.user).await {
        Ok(_) => redirect(StatusCode::SEE_OTHER, "/account/security"),
        Err(e) => refused(&state, &signed, &e).await,
    }
}

/// `POST /account/security/totp/confirm`: the first code; the recovery
/// codes, shown once.
async fn confirm(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    let code = form.get("code").ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .confirm_totp(&signed.caller.user, code, state.client_ip(&req))
        .await
    {
        Ok(codes) => {
            let frame = Frame::new(
                &signed,
                "security",
                Some("Two-step sign-in is on. Save your recovery codes now."),
            );
            let extra = Extra {
                recovery_codes: (!codes.is_empty()).then_some(codes),
                ..Extra::default()
            };
            security_page(&state, &signed, StatusCode::OK, frame, extra).await
        }
        Err(e) => refused(&state, &signed, &e).await,
    }
}

/// `POST /account/security/totp/remove`: off, on proof.
async fn remove(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    let proof = form.get("proof").ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .remove_totp(&signed.caller.user, proof, state.client_ip(&req))
        .await
    {
        Ok(()) => redirect(StatusCode::SEE_OTHER, "/account/security?done=totp-removed"),
        Err(e) => refused(&state, &signed, &e).await,
    }
}

/// `POST /account/security/recovery-codes`: a new set, shown once.
async fn regenerate(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/security").await);
    let code = form.get("code").ok().flatten().unwrap_or_default();
    match state
        .gatehouse
        .new_recovery_codes(&signed.caller.user, code, state.client_ip(&req))
        .await
    {
        Ok(codes) => {
            let frame = Frame::new(
                &signed,
                "security",
                Some("New recovery codes: the old ones no longer work."),
            );
            let extra = Extra {
                recovery_codes: (!codes.is_empty()).then_some(codes),
                ..Extra::default()
            };
            security_page(&state, &signed, StatusCode::OK, frame, extra).await
        }
        Err(e) => refused(&state, &signed, &e).await,
    }
}
