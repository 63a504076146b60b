//! The authorization endpoint and its pages: sign-in, consent, sign-out
//! (OAuth 2.1 §4.1, DESIGN §4 and §8).

use actix_web::http::{StatusCode, header};
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::ApiError;
use gatehouse_core::service::{AuthorizeError, AuthorizeRequest, Decision, Prompt, SignedIn};

use super::oauth::{parse_pairs, read_form, redirect};
use super::pages;
use super::{AppState, RawQuery};

fn authorize_failure(e: AuthorizeError, status: StatusCode) -> HttpResponse {
    match e {
        AuthorizeError::Fatal(err) => {
            if err.code == gatehouse_core::ErrorCode::ServerError {
                return pages::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Gatehouse could not complete the request. Please try again.",
                );
            }
            pages::error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &err.description,
            )
        }
        AuthorizeError::Redirect { url, .. } => redirect(status, &url),
        AuthorizeError::Unvetted { host, url, error } => {
            tracing::info!(error = %error, host = %host, "authorization error for an unvetted client shown, not redirected");
            pages::unvetted_page(&host, &url, &error.description)
        }
    }
}

pub(super) async fn session_user(
    state: &AppState,
    req: &HttpRequest,
) -> Option<gatehouse_core::model::User> {
    signed_in(state, req).await.map(|s| s.user)
}

/// The browser's live session, if it has one.
pub(super) async fn signed_in(state: &AppState, req: &HttpRequest) -> Option<SignedIn> {
    let cookie = req.cookie(pages::session_cookie(state))?;
    match state.gatehouse.signed_in(cookie.value()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            None
        }
    }
}

/// Sign-in done (now or earlier): consent page or straight back with a code.
///
/// `seen_a_page` says whether the user has just used a Gatehouse page (the
/// sign-in form); if not, errors for unvetted clients are screened.
async fn continue_as(
    state: &AppState,
    session: &str,
    req: &AuthorizeRequest,
    who: &SignedIn,
    cookies: Vec<actix_web::cookie::Cookie<'static>>,
    status: StatusCode,
    seen_a_page: bool,
) -> HttpResponse {
    match state.gatehouse.decide(req, who).await {
        Ok(Decision::Consent { scope }) => pages::consent_page(
            state,
            session,
            req,
            &scope,
            who.user.email.as_str(),
            cookies,
        ),
        Ok(Decision::Redirect(url)) => {
            let mut res = redirect(status, &url);
            for c in cookies {
                let _ = res.add_cookie(&c);
            }
            res
        }
        Err(e) if seen_a_page => authorize_failure(e, status),
        Err(e) => authorize_failure(state.gatehouse.screen(e, Some(&who.user)).await, status),
    }
}

/// `GET /authorize`.
pub async fn authorize(state: Data<AppState>, http: HttpRequest, query: RawQuery) -> HttpResponse {
    let Some(params) = parse_pairs(query.0.as_bytes()) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The request's query string is malformed.",
        );
    };
    let who = signed_in(&state, &http).await;
    let req = match state.gatehouse.validate_authorize(params).await {
        Ok(r) => r,
        Err(e) => {
            let e = state
                .gatehouse
                .screen(e, who.as_ref().map(|w| &w.user))
                .await;
            return authorize_failure(e, StatusCode::FOUND);
        }
    };
    // A sign-in too old for `max_age`, or `prompt=login`, counts as none.
    let who = who.filter(|w| !state.gatehouse.needs_sign_in(&req, w));
    match who {
        None if req.prompt == Prompt::None => {
            let e = state.gatehouse.login_required(&req);
            authorize_failure(state.gatehouse.screen(e, None).await, StatusCode::FOUND)
        }
        Some(who) => {
            let session = http
                .cookie(pages::session_cookie(&state))
                .map(|c| c.value().to_owned())
                .unwrap_or_default();
            continue_as(
                &state,
                &session,
                &req,
                &who,
                vec![],
                StatusCode::FOUND,
                false,
            )
            .await
        }
        None => pages::login_page(&state, &http, &req, StatusCode::OK, None, "", vec![]).await,
    }
}

/// `POST /login`: the sign-in form.
pub async fn login(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let Ok(params) = read_form(&http, body).await else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The form could not be read.",
        );
    };
    let req = match state.gatehouse.validate_authorize(params.clone()).await {
        Ok(r) => r,
        // Not what the page posted: nobody saw it. Screened like GET.
        Err(e) => {
            let user = session_user(&state, &http).await;
            let e = state.gatehouse.screen(e, user.as_ref()).await;
            return authorize_failure(e, StatusCode::SEE_OTHER);
        }
    };
    let email = params.get("email").ok().flatten().unwrap_or("");
    if !pages::login_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::BAD_REQUEST,
            Some("Your sign-in form expired. Please try again."),
            email,
            vec![],
        )
        .await;
    }
    let password = params.get("password").ok().flatten().unwrap_or("");
    if email.is_empty() || password.is_empty() {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::BAD_REQUEST,
            Some("Enter your email and password."),
            email,
            vec![],
        )
        .await;
    }
    let refused = async |status: StatusCode, message: &str, retry_after: Option<u64>| {
        let mut res =
            pages::login_page(&state, &http, &req, status, Some(message), email, vec![]).await;
        if let Some(secs) = retry_after
            && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    };
    let user = match state
        .gatehouse
        .check_password(email, password, state.client_ip(&http))
        .await
    {
        Ok(u) => u,
        Err(ApiError::BadCredentials) => {
            return refused(
                StatusCode::UNAUTHORIZED,
                "The email or password is not correct.",
                None,
            )
            .await;
        }
        Err(ApiError::Throttled(secs)) => {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many failed sign-in attempts. Try again in {}.",
                    pages::wait_phrase(secs)
                ),
                Some(secs),
            )
            .await;
        }
        Err(ApiError::Busy(secs)) => {
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "Gatehouse is busy checking other sign-ins. Try again in a moment.",
                Some(secs),
            )
            .await;
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    match state.gatehouse.has_second_factor(&user).await {
        Ok(true) => {
            let back = pages::authorize_return(&req);
            return super::security::ask_for_code(&state, &http, &user, &back).await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    }
    let (session, who) = match state.gatehouse.sign_in(user).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not start a session");
            return pages::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    tracing::info!(user = %who.user.id, client_id = %req.client.id, "signed in on the authorization page");
    let cookie = pages::cookie(
        &state,
        &http,
        pages::session_cookie(&state),
        session.expose().to_owned(),
    );
    continue_as(
        &state,
        session.expose(),
        &req,
        &who,
        vec![cookie],
        StatusCode::SEE_OTHER,
        true,
    )
    .await
}

/// `POST /logout`: "Not you?" on the consent page; back to sign-in.
pub async fn logout(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let params = read_form(&http, body).await.unwrap_or_default();
    if !pages::session_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Sign-out failed",
            "The form expired. Please go back and try again.",
        );
    }
    if let Some(c) = http.cookie(pages::session_cookie(&state)) {
        let _ = state.gatehouse.end_session(c.value()).await;
    }
    let gone = pages::removal(&state, &http, pages::session_cookie(&state));
    match state.gatehouse.validate_authorize(params).await {
        Ok(req) => {
            pages::login_page(&state, &http, &req, StatusCode::OK, None, "", vec![gone]).await
        }
        Err(_) => pages::html(
            StatusCode::OK,
            "<!doctype html><title>Signed out</title><p>You are signed out of Gatehouse.</p>"
                .into(),
            vec![gone],
        ),
    }
}

/// `POST /authorize`: the consent form.
pub async fn consent(state: Data<AppState>, http: HttpRequest, body: web::Payload) -> HttpResponse {
    let Ok(params) = read_form(&http, body).await else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "The form could not be read.",
        );
    };
    let req = match state.gatehouse.validate_authorize(params.clone()).await {
        Ok(r) => r,
        // Not what the page posted: nobody saw it. Screened like GET.
        Err(e) => {
            let user = session_user(&state, &http).await;
            let e = state.gatehouse.screen(e, user.as_ref()).await;
            return authorize_failure(e, StatusCode::SEE_OTHER);
        }
    };
    let Some(who) = signed_in(&state, &http).await else {
        return pages::login_page(
            &state,
            &http,
            &req,
            StatusCode::OK,
            Some("Your session ended. Sign in again to continue."),
            "",
            vec![],
        )
        .await;
    };
    if !pages::session_csrf_ok(&state, &http, params.get("csrf_token").ok().flatten()) {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "The consent form expired or did not come from Gatehouse. Start again from the application.",
        );
    }
    match params.get("decision") {
        Ok(Some("allow")) => match state.gatehouse.approve(&req, &who).await {
            Ok(url) => redirect(StatusCode::SEE_OTHER, &url),
            Err(e) => authorize_failure(e, StatusCode::SEE_OTHER),
        },
        Ok(Some("deny")) => redirect(
            StatusCode::SEE_OTHER,
            &state.gatehouse.deny(&req, &who.user).await,
        ),
        _ => pages::error_page(
            StatusCode::BAD_REQUEST,
            "Authorization failed",
            "Choose Allow or Deny.",
        ),
    }
}
