//! Server-rendered pages: sign-in, consent and errors. Plain HTML forms, so
//! they work without JavaScript; askama escapes every value.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use gatehouse_core::secret::random_token;
use gatehouse_core::service::AuthorizeRequest;

use super::AppState;

/// Cookie holding the browser session, over http (development).
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// Cookie the sign-in form's CSRF token is bound to, over http.
pub const CSRF_COOKIE: &str = "gatehouse_csrf";
/// The same cookies over https. Browsers accept a `__Host-` cookie only
/// from this very host, `Secure`, with `Path=/` and no `Domain`, so a page
/// on a sibling subdomain cannot plant or overwrite one (cookie tossing).
pub const HOST_SESSION_COOKIE: &str = "__Host-gatehouse_session";
/// See [`HOST_SESSION_COOKIE`].
pub const HOST_CSRF_COOKIE: &str = "__Host-gatehouse_csrf";
/// Path both cookies are scoped to (what `__Host-` requires).
const COOKIE_PATH: &str = "/";
/// Form fields that belong to the pages, not to the authorization request.
const PAGE_FIELDS: &[&str] = &["email", "password", "csrf_token", "decision"];

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    action: &'a str,
    client_name: &'a str,
    redirect_host: &'a str,
    error: Option<&'a str>,
    email: &'a str,
    csrf: &'a str,
    hidden: Vec<(String, String)>,
    providers: Vec<(String, String)>,
    passkey_next: Option<String>,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    action: &'a str,
    logout_action: &'a str,
    client_name: &'a str,
    client_description: &'a str,
    scopes: Vec<(String, String)>,
    redirect_host: &'a str,
    loopback: bool,
    origin_note: Option<String>,
    resource_name: Option<String>,
    user_email: &'a str,
    csrf: &'a str,
    hidden: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "end_session.html")]
struct EndSessionPage<'a> {
    action: &'a str,
    client_name: Option<&'a str>,
    user_email: &'a str,
    csrf: &'a str,
    hidden: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "unvetted.html")]
struct UnvettedPage<'a> {
    host: &'a str,
    url: &'a str,
    message: &'a str,
}

/// The authorization request's own parameters, to post back unchanged.
fn hidden_fields(req: &AuthorizeRequest) -> Vec<(String, String)> {
    req.params
        .pairs()
        .iter()
        .filter(|(k, _)| !PAGE_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// The session cookie's name for this deployment.
pub fn session_cookie(state: &AppState) -> &'static str {
    if state.secure_cookies {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

fn csrf_cookie(state: &AppState) -> &'static str {
    if state.secure_cookies {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// What a CSRF token is bound to. The sign-in form, shown before there is
/// a session, binds to a random cookie of its own; every form shown to a
/// signed-in user binds to the session itself, whose cookie is HttpOnly,
/// secret and never chosen by the browser: a (cookie, token) pair an
/// attacker fetched for themself and planted in a victim's browser then
/// matches nothing the victim holds. The prefix keeps the two kinds apart.
fn login_binding(cookie: &str) -> String {
    format!("login\0{cookie}")
}

fn session_binding(session: &str) -> String {
    format!("session\0{session}")
}

/// The sign-in form's CSRF token, and the cookie to set if it is new.
pub fn login_csrf(state: &AppState, req: &HttpRequest) -> (String, Option<Cookie<'static>>) {
    let name = csrf_cookie(state);
    let (value, new) = match req.cookie(name) {
        Some(c) if c.value().len() >= 32 => (c.value().to_owned(), None),
        _ => {
            let v = random_token("");
            (v.clone(), Some(cookie(state, req, name, v)))
        }
    };
    (state.gatehouse.csrf_token(&login_binding(&value)), new)
}

/// The CSRF token of the forms shown to the holder of `session`.
pub fn session_csrf(state: &AppState, session: &str) -> String {
    state.gatehouse.csrf_token(&session_binding(session))
}

/// Whether the posted sign-in form carries the token of this browser's
/// CSRF cookie.
pub fn login_csrf_ok(state: &AppState, req: &HttpRequest, token: Option<&str>) -> bool {
    match (req.cookie(csrf_cookie(state)), token) {
        (Some(c), Some(t)) => state.gatehouse.check_csrf(&login_binding(c.value()), t),
        _ => false,
    }
}

/// Whether a form posted by a signed-in user carries the token of the
/// session this browser holds.
pub fn session_csrf_ok(state: &AppState, req: &HttpRequest, token: Option<&str>) -> bool {
    match (req.cookie(session_cookie(state)), token) {
        (Some(c), Some(t)) => state.gatehouse.check_csrf(&session_binding(c.value()), t),
        _ => false,
    }
}

/// A cookie with the house attributes: HttpOnly, SameSite=Lax, Path=/,
/// and Secure when the public URL is https or a trusted proxy says the
/// browser reached it over https.
pub fn cookie(
    state: &AppState,
    req: &HttpRequest,
    name: &'static str,
    value: String,
) -> Cookie<'static> {
    let via_https = state
        .proxies
        .forwarded_https(req.peer_addr().map(|a| a.ip()), req.headers())
        == Some(true);
    Cookie::build(name, value)
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies || via_https)
        .finish()
}

/// An expired cookie that removes `name`.
pub fn removal(state: &AppState, req: &HttpRequest, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(state, req, name, String::new());
    c.make_removal();
    c
}

/// Wraps HTML with the page security headers of DESIGN §8.
pub fn html(status: StatusCode, body: String, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    for c in cookies {
        res.cookie(c);
    }
    res.body(body)
}

pub fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "template rendering failed");
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
    })
}

/// The "Sign in with …" buttons: each provider's start URL, coming back
/// to `return_to`, and its name. A store failure shows no buttons (the
/// password form still works) rather than no page.
pub async fn upstream_buttons(state: &AppState, return_to: &str) -> Vec<(String, String)> {
    let providers = match state.gatehouse.sign_in_providers().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "identity providers could not be listed");
            return Vec::new();
        }
    };
    let back: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    providers
        .into_iter()
        .map(|(name, label)| {
            (
                format!("/api/v1/oauth/idp/{name}/start?return_to={back}"),
                label,
            )
        })
        .collect()
}

/// Where a "Sign in with a passkey" button comes back to, when passkeys
/// work here at all (the public URL has a domain name).
pub fn passkey_next(state: &AppState, return_to: &str) -> Option<String> {
    state
        .gatehouse
        .passkeys_available()
        .then(|| return_to.to_owned())
}

/// Where the authorization request continues after an upstream sign-in:
/// `/authorize` with its own parameters.
pub fn authorize_return(req: &AuthorizeRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in hidden_fields(req) {
        q.append_pair(&k, &v);
    }
    format!("/api/v1/oauth/authorize?{}", q.finish())
}

/// The sign-in page for an authorization request.
pub async fn login_page(
    state: &AppState,
    http: &HttpRequest,
    req: &AuthorizeRequest,
    status: StatusCode,
    error: Option<&str>,
    email: &str,
    mut cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let (csrf, new_cookie) = login_csrf(state, http);
    cookies.extend(new_cookie);
    let host = redirect_host(req);
    let page = LoginPage {
        action: "/api/v1/oauth/login",
        client_name: &req.client.name,
        redirect_host: &host,
        error,
        email,
        csrf: &csrf,
        hidden: hidden_fields(req),
        providers: upstream_buttons(state, &authorize_return(req)).await,
        passkey_next: passkey_next(state, &authorize_return(req)),
    };
    html(status, render(&page), cookies)
}

/// The consent page for the holder of `session` (the session cookie's
/// value: the browser's, or the one being set with this response).
pub fn consent_page(
    state: &AppState,
    session: &str,
    req: &AuthorizeRequest,
    scope: &gatehouse_core::scope::ScopeSet,
    user_email: &str,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let csrf = session_csrf(state, session);
    let host = redirect_host(req);
    let page = ConsentPage {
        action: "/api/v1/oauth/authorize",
        logout_action: "/api/v1/oauth/logout",
        client_name: &req.client.name,
        client_description: &req.client.description,
        scopes: scope.described(),
        redirect_host: &host,
        loopback: req
            .client
            .redirect_for(&req.redirect_to)
            .is_some_and(|r| r.is_loopback()),
        origin_note: origin_note(req),
        resource_name: req
            .resource
            .as_ref()
            .map(|r| format!("{} ({})", r.name, r.uri)),
        user_email,
        csrf: &csrf,
        hidden: hidden_fields(req),
    };
    html(StatusCode::OK, render(&page), cookies)
}

/// For clients no admin vetted, say so: their name is self-asserted.
fn origin_note(req: &AuthorizeRequest) -> Option<String> {
    use gatehouse_core::model::ClientOrigin;
    match req.client.origin {
        ClientOrigin::Admin => None,
        ClientOrigin::Dynamic => Some(
            "This app registered itself. Its name is not verified by your administrator."
                .to_owned(),
        ),
        ClientOrigin::Metadata => {
            let host = url::Url::parse(req.client.id.as_str())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            Some(format!(
                "This app is identified by a document published at {host}. Its name is not verified by your administrator."
            ))
        }
    }
}

fn redirect_host(req: &AuthorizeRequest) -> String {
    req.client
        .redirect_for(&req.redirect_to)
        .map(|r| r.display_host())
        .unwrap_or_else(|| req.redirect_to.clone())
}

/// "3 minutes", "40 seconds": a wait in words for the pages.
pub fn wait_phrase(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "a minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

/// An authorization error for a client no administrator registered and the
/// user never approved: shown here, naming where it would go, instead of
/// redirecting there (RFC 9700 §4.11.2). The link lets a user who did
/// start from that app go back to it, by choice.
pub fn unvetted_page(host: &str, url: &str, message: &str) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        render(&UnvettedPage { host, url, message }),
        vec![],
    )
}

/// An error page; used whenever redirecting back would be unsafe.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    html(status, render(&ErrorPage { title, message }), vec![])
}

/// RP-initiated logout's question, when the request does not prove it
/// comes from an app of this very session: the user decides.
pub fn end_session_page(
    state: &AppState,
    session: &str,
    logout: &gatehouse_core::service::LogoutRequest,
    user_email: &str,
) -> HttpResponse {
    let csrf = session_csrf(state, session);
    let page = EndSessionPage {
        action: "/api/v1/oauth/end_session",
        client_name: logout.client.as_ref().map(|c| c.name.as_str()),
        user_email,
        csrf: &csrf,
        hidden: logout
            .params
            .pairs()
            .iter()
            .filter(|(k, _)| !PAGE_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    html(StatusCode::OK, render(&page), vec![])
}

/// The end of a sign-out that has nowhere to send the browser.
pub fn signed_out_page(title: &str, message: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    html(
        StatusCode::OK,
        render(&SignedOutPage { title, message }),
        cookies,
    )
}
