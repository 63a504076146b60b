//! The user's own pages (DESIGN §11): `/account` (profile, change password,
//! sign out everywhere) and `/account/apps` (connected apps, Disconnect).
//!
//! Server-rendered plain forms, so they work without JavaScript; every form
//! carries a CSRF token bound to the browser's session (the sign-in form,
//! shown before there is one, to its own cookie), as the consent page does.
//! The admin console (`console.rs`) is built from the same parts.

use actix_web::cookie::Cookie;
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::ApiError;
use gatehouse_core::model::{ClientOrigin, User};
use gatehouse_core::params::Params;
use gatehouse_core::service::{Caller, ConnectedApp, UserPatch};
use serde::Deserialize;
use time::OffsetDateTime;

use super::authorize::session_user;
use super::oauth::{read_form, redirect};
use super::{AppState, Endpoint, pages};

/// Routes at the root.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/account", account).page(),
        Endpoint::new(M::POST, "/account/login", sign_in).page(),
        Endpoint::new(M::POST, "/account/sign-out", sign_out).page(),
        Endpoint::new(M::POST, "/account/sign-out-everywhere", sign_out_everywhere).page(),
        Endpoint::new(M::POST, "/account/password", change_password).page(),
        Endpoint::new(M::GET, "/account/apps", apps).page(),
        Endpoint::new(M::POST, "/account/apps/{id}/disconnect", disconnect).page(),
    ]
}

/// `?done=…` after a form: a fixed message per outcome, never text from
/// the URL.
#[derive(Deserialize)]
pub(super) struct Done {
    done: Option<String>,
}

impl Done {
    pub(super) fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "password" => {
                "Your password was changed. Other devices were signed out and every connected app must ask you again."
            }
            "disconnected" => "The app was disconnected. Its access ended.",
            "gone" => "That app was no longer connected.",
            "signed-out" => "You are signed out of Gatehouse.",
            "everywhere" => "You are signed out of Gatehouse on every device.",
            "linked" => "The account was linked: you can now sign in with it.",
            "totp-removed" => "The authenticator app was removed: its codes no longer work.",
            "mfa-required" => {
                "Administrators must turn on two-step sign-in before using the admin console."
            }
            "unlinked" => "The linked account was removed: it no longer signs you in.",
            "passkey-added" => {
                "Passkey added. It signs you in, or confirms a sign-in, from now on."
            }
            "passkey-removed" => "The passkey was removed: it no longer signs you in.",
            "last-link" => {
                "That linked account is your only way to sign in, so it was kept. Link another one first."
            }
            _ => return None,
        })
    }
}

/// A browser signed in on Gatehouse's pages.
pub(super) struct SignedIn {
    /// Acting as the platform's own sign-in does, from the browser's
    /// address.
    pub caller: Caller,
    /// The CSRF token for every form on the page.
    pub csrf: String,
}

/// The signed-in user of this browser, or the sign-in page (coming back to
/// `next` afterwards) to answer with instead.
pub(super) async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    next: &str,
) -> Result<SignedIn, HttpResponse> {
    let cookie = req.cookie(pages::session_cookie(state));
    match (session_user(state, req).await, cookie) {
        (Some(user), Some(cookie)) => Ok(SignedIn {
            csrf: pages::session_csrf(state, cookie.value()),
            caller: state.gatehouse.session_caller(user, state.client_ip(req)),
        }),
        _ => Err(sign_in_page(
            state,
            req,
            StatusCode::OK,
            next,
            SignInMessage::default(),
            vec![],
        )
        .await),
    }
}

/// Like [`signed_in`] for a posted form, which must also carry the
/// session's CSRF token.
pub(super) async fn signed_in_form(
    state: &AppState,
    req: &HttpRequest,
    form: &Params,
    next: &str,
) -> Result<SignedIn, HttpResponse> {
    let signed = signed_in(state, req, next).await?;
    if pages::session_csrf_ok(state, req, form.get("csrf_token").ok().flatten()) {
        Ok(signed)
    } else {
        Err(pages::error_page(
            StatusCode::BAD_REQUEST,
            "The form expired",
            "The form expired or did not come from Gatehouse. Go back, reload the page and try again.",
        ))
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    lead: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    email: &'a str,
    csrf: &'a str,
    next: &'a str,
    providers: Vec<(String, String)>,
    passkey_next: Option<String>,
}

/// Where a sign-in may send the browser afterwards: Gatehouse's own
/// account and admin pages, nothing else (no open redirect).
pub(super) fn safe_next(next: &str) -> &str {
    let ours = ["/account", "/admin"].iter().any(|p| {
        next == *p || next.starts_with(&format!("{p}/")) || next.starts_with(&format!("{p}?"))
    });
    if ours
        && !next.contains("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic())
    {
        next
    } else {
        "/account"
    }
}

/// What the sign-in page says besides the form.
#[derive(Default)]
struct SignInMessage<'a> {
    notice: Option<&'a str>,
    error: Option<&'a str>,
    email: &'a str,
}

async fn sign_in_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    message: SignInMessage<'_>,
    mut cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let (csrf, new_cookie) = pages::login_csrf(state, req);
    cookies.extend(new_cookie);
    let next = safe_next(next);
    let lead = if next.starts_with("/admin") {
        "to the Gatehouse admin console"
    } else {
        "to manage your Gatehouse account"
    };
    let page = SignInPage {
        lead,
        notice: message.notice,
        error: message.error,
        email: message.email,
        csrf: &csrf,
        next,
        providers: pages::upstream_buttons(state, next).await,
        passkey_next: pages::passkey_next(state, next),
    };
    pages::html(status, pages::render(&page), cookies)
}

/// Dates as the pages show them: `5 Dec 2026, 03:10 UTC`.
pub(super) fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {}, {:02}:{:02} UTC",
        t.day(),
        &t.month().to_string()[..3],
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// RFC 3339, for `<time datetime>`.
pub(super) fn iso(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What the nav and notices of every signed-in page need.
pub(super) struct Frame<'a> {
    /// Which tab is current.
    pub active: &'a str,
    pub csrf: &'a str,
    pub is_admin: bool,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl<'a> Frame<'a> {
    pub(super) fn new(signed: &'a SignedIn, active: &'a str, notice: Option<&'a str>) -> Self {
        Self {
            active,
            csrf: &signed.csrf,
            is_admin: signed.caller.is_admin(),
            notice,
            error: None,
        }
    }
}

/// The value of an `Ok`, or returns the page in the `Err` from the handler:
/// the shape of every page handler's first steps (signed in? CSRF?).
macro_rules! or_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(page) => return page,
        }
    };
}
pub(super) use or_page;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    frame: Frame<'a>,
    name: &'a str,
    email: &'a str,
    email_verified: bool,
    role: &'a str,
    created: String,
    created_iso: String,
    has_password: bool,
    identities: Vec<IdentityRow>,
    /// Providers not linked yet: (name, display name).
    linkable: Vec<(String, String)>,
}

/// A linked identity as the account page lists it.
struct IdentityRow {
    provider: String,
    email: String,
    issuer: String,
    subject: String,
    linked: String,
    linked_iso: String,
}

async fn account_page(
    state: &AppState,
    signed: &SignedIn,
    status: StatusCode,
    frame: Frame<'_>,
) -> HttpResponse {
    let u: &User = &signed.caller.user;
    let (links, providers) = match (
        state.gatehouse.linked_identities(u).await,
        state.gatehouse.sign_in_providers().await,
    ) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "linked identities could not be read");
            (Vec::new(), Vec::new())
        }
    };
    let identities: Vec<IdentityRow> = links
        .into_iter()
        .map(|v| IdentityRow {
            provider: v.provider_name,
            email: v.link.email.unwrap_or_default(),
            linked: when(v.link.created_at),
            linked_iso: iso(v.link.created_at),
            issuer: v.link.issuer,
            subject: v.link.subject,
        })
        .collect();
    let page = AccountPage {
        has_password: u.password_hash.is_usable(),
        linkable: providers
            .into_iter()
            .filter(|(_, label)| !identities.iter().any(|i| i.provider == *label))
            .collect(),
        identities,
        frame,
        name: &u.name,
        email: u.email.as_str(),
        email_verified: u.email_verified,
        role: u.role.as_str(),
        created: when(u.created_at),
        created_iso: iso(u.created_at),
    };
    pages::html(status, pages::render(&page), vec![])
}

/// `GET /account`.
async fn account(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = match signed_in(&state, &req, "/account").await {
        Ok(s) => s,
        // Signed out (by the forms below): the notice goes on sign-in.
        Err(page) => {
            let Some(notice) = done.notice() else {
                return page;
            };
            let message = SignInMessage {
                notice: Some(notice),
                ..SignInMessage::default()
            };
            return sign_in_page(&state, &req, StatusCode::OK, "/account", message, vec![]).await;
        }
    };
    account_page(
        &state,
        &signed,
        StatusCode::OK,
        Frame::new(&signed, "account", done.notice()),
    )
    .await
}

/// `POST /account/login`: the sign-in form of the account and admin pages.
async fn sign_in(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let field = |k: &str| form.get(k).ok().flatten().unwrap_or_default();
    let next = safe_next(field("next")).to_owned();
    let email = field("email");
    let refused = async |status: StatusCode, error: &str| {
        let message = SignInMessage {
            error: Some(error),
            email,
            ..SignInMessage::default()
        };
        sign_in_page(&state, &req, status, &next, message, vec![]).await
    };
    if !pages::login_csrf_ok(&state, &req, form.get("csrf_token").ok().flatten()) {
        return refused(
            StatusCode::BAD_REQUEST,
            "The form expired. Please sign in again.",
        )
        .await;
    }
    let user = match state
        .gatehouse
        .check_password(email, field("password"), state.client_ip(&req))
        .await
    {
        Ok(u) => u,
        Err(e) => {
            let (status, text) = failure(&e);
            return refused(status, &text).await;
        }
    };
    match state.gatehouse.has_second_factor(&user).await {
        Ok(true) => return super::security::ask_for_code(&state, &req, &user, &next).await,
        Ok(false) => {}
        Err(e) => {
            let (status, text) = failure(&e);
            return refused(status, &text).await;
        }
    }
    let session = match state.gatehouse.start_session(&user).await {
        Ok(s) => s,
        Err(e) => {
            let (status, text) = failure(&e);
            return refused(status, &text).await;
        }
    };
    tracing::info!(user = %user.id, "signed in on the account pages");
    let mut res = redirect(StatusCode::SEE_OTHER, &next);
    set_session_cookie(&state, &req, &mut res, &session);
    res
}

/// Hands the browser its new session cookie with `res`.
fn set_session_cookie(
    state: &AppState,
    req: &HttpRequest,
    res: &mut HttpResponse,
    session: &gatehouse_core::secret::Secret,
) {
    let cookie = pages::cookie(
        state,
        req,
        pages::session_cookie(state),
        session.expose().to_owned(),
    );
    let _ = res.add_cookie(&cookie);
}

/// How a failed form action is told on the page: a status and one
/// sentence, never an internal error's text.
pub(super) fn failure(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::BadCredentials => (
            StatusCode::UNAUTHORIZED,
            "The email or password is not correct.".into(),
        ),
        ApiError::Throttled(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts. Try again in {}.",
                pages::wait_phrase(*secs)
            ),
        ),
        ApiError::Busy(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Gatehouse is busy. Try again in a moment.".into(),
        ),
        ApiError::Unprocessable(m) | ApiError::BadRequest(m) => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{m}."))
        }
        ApiError::Conflict(m) => (StatusCode::CONFLICT, format!("{m}.")),
        ApiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("No such {what}.")),
        ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, format!("{m}.")),
        other => {
            tracing::error!(error = %other, "a page action failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong. Please try again.".into(),
            )
        }
    }
}

/// `POST /account/password`.
async fn change_password(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account").await);
    let field = |k: &str| form.get(k).ok().flatten().map(str::to_owned);
    let patch = UserPatch {
        password: Some(field("new_password").unwrap_or_default()),
        current_password: Some(field("current_password").unwrap_or_default()),
        ..UserPatch::default()
    };
    let id = signed.caller.user.id.to_string();
    let user = match state
        .gatehouse
        .update_user(&signed.caller, &id, patch)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            // A session caller meets every rule but the current password.
            let (status, text) = match &e {
                ApiError::Forbidden(_) => (
                    StatusCode::FORBIDDEN,
                    "The current password is not correct.".to_owned(),
                ),
                e => failure(e),
            };
            let frame = Frame {
                error: Some(&text),
                ..Frame::new(&signed, "account", None)
            };
            return account_page(&state, &signed, status, frame).await;
        }
    };
    // The change ended every session, this one included: the person who
    // just proved the password stays signed in here, on a new session.
    let mut res = redirect(StatusCode::SEE_OTHER, "/account?done=password");
    match state.gatehouse.start_session(&user).await {
        Ok(session) => set_session_cookie(&state, &req, &mut res, &session),
        Err(e) => tracing::warn!(error = %e, "no new session after a password change"),
    }
    res
}

/// `POST /account/sign-out`: this browser only.
async fn sign_out(state: Data<AppState>, req: HttpRequest, body: web::Payload) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    if let Err(page) = signed_in_form(&state, &req, &form, "/account").await {
        return page;
    }
    if let Some(c) = req.cookie(pages::session_cookie(&state))
        && let Err(e) = state.gatehouse.end_session(c.value()).await
    {
        tracing::warn!(error = %e, "could not end a session");
    }
    let mut res = redirect(StatusCode::SEE_OTHER, "/account?done=signed-out");
    let _ = res.add_cookie(&pages::removal(&state, &req, pages::session_cookie(&state)));
    res
}

/// `POST /account/sign-out-everywhere`.
async fn sign_out_everywhere(
    state: Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account").await);
    if let Err(e) = state.gatehouse.sign_out_everywhere(&signed.caller).await {
        let (status, text) = failure(&e);
        return pages::error_page(status, "Sign-out failed", &text);
    }
    let mut res = redirect(StatusCode::SEE_OTHER, "/account?done=everywhere");
    let _ = res.add_cookie(&pages::removal(&state, &req, pages::session_cookie(&state)));
    res
}

/// One app as `/account/apps` shows it.
pub(super) struct AppView {
    pub id: String,
    pub name: String,
    pub registered: String,
    pub resources: Vec<String>,
    pub scopes: Vec<(String, String)>,
    pub first: String,
    pub first_iso: String,
    pub last_used: String,
}

impl AppView {
    pub(super) fn new(a: &ConnectedApp, api_audience: &str) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.client.name.clone(),
            registered: match a.client.origin {
                ClientOrigin::Admin => "By an administrator".to_owned(),
                ClientOrigin::Dynamic => {
                    "By itself (dynamic registration): its name is not verified".to_owned()
                }
                ClientOrigin::Metadata => format!(
                    "By a metadata document published at {}",
                    a.metadata_host().unwrap_or_default()
                ),
            },
            resources: a
                .resources
                .iter()
                .map(|r| {
                    if r == api_audience {
                        format!("Your account and organizations ({r})")
                    } else {
                        r.clone()
                    }
                })
                .collect(),
            scopes: a.scope.described(),
            first: when(a.first_authorized_at),
            first_iso: iso(a.first_authorized_at),
            last_used: a.last_used_at.map_or_else(|| "Not yet".to_owned(), when),
        }
    }
}

#[derive(Template)]
#[template(path = "apps.html")]
struct AppsPage<'a> {
    frame: Frame<'a>,
    apps: Vec<AppView>,
}

/// `GET /account/apps`.
async fn apps(state: Data<AppState>, req: HttpRequest, done: Query<Done>) -> HttpResponse {
    let signed = or_page!(signed_in(&state, &req, "/account/apps").await);
    let apps = match state.gatehouse.my_apps(&signed.caller).await {
        Ok(a) => a,
        Err(e) => {
            let (status, text) = failure(&e);
            return pages::error_page(status, "Connected apps", &text);
        }
    };
    let api = &state.gatehouse.settings().api_audience;
    let page = AppsPage {
        frame: Frame::new(&signed, "apps", done.notice()),
        apps: apps.iter().map(|a| AppView::new(a, api)).collect(),
    };
    pages::html(StatusCode::OK, pages::render(&page), vec![])
}

/// `POST /account/apps/{id}/disconnect`.
async fn disconnect(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let form = read_form(&req, body).await.unwrap_or_default();
    let signed = or_page!(signed_in_form(&state, &req, &form, "/account/apps").await);
    match state.gatehouse.disconnect_my_app(&signed.caller, &id).await {
        Ok(_) => redirect(StatusCode::SEE_OTHER, "/account/apps?done=disconnected"),
        Err(ApiError::NotFound(_)) => redirect(StatusCode::SEE_OTHER, "/account/apps?done=gone"),
        Err(e) => {
            let (status, text) = failure(&e);
            pages::error_page(status, "Disconnect failed", &text)
        }
    }
}
