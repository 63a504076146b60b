//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an app
//! sends the browser to `end_session_endpoint` to end the user's Gatehouse
//! session, and may name where the browser goes afterwards.
//!
//! Two rules keep this from being a way to sign people out (or bounce them
//! anywhere) with a forged link: the post-logout redirect URI must be one
//! the app registered, matched exactly, and the session ends without a
//! question only when the request carries an ID token issued in that very
//! session (`id_token_hint` whose `sid` matches). Otherwise the user is
//! asked, on a form bound to their session.

use actix_web::http::StatusCode;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::params::Params;
use gatehouse_core::service::LogoutRequest;

use super::authorize::signed_in;
use super::oauth::{parse_pairs, read_form, redirect};
use super::{AppState, RawQuery, pages};

/// `GET /end_session`.
pub async fn end_session_get(
    state: Data<AppState>,
    http: HttpRequest,
    query: RawQuery,
) -> HttpResponse {
    match parse_pairs(query.0.as_bytes()) {
        Some(params) => end_session(&state, &http, params).await,
        None => invalid("The request's query string is malformed."),
    }
}

/// `POST /end_session`: an app's form post (the specification allows
/// both methods), or the user's answer on the confirmation page.
pub async fn end_session_post(
    state: Data<AppState>,
    http: HttpRequest,
    body: web::Payload,
) -> HttpResponse {
    let Ok(params) = read_form(&http, body).await else {
        return invalid("The form could not be read.");
    };
    end_session(&state, &http, params).await
}

fn invalid(message: &str) -> HttpResponse {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "This sign-out link is not valid",
        message,
    )
}

async fn end_session(state: &AppState, http: &HttpRequest, params: Params) -> HttpResponse {
    // The confirmation page's answer; an app's request never carries one.
    let decision = params.get("decision").ok().flatten().map(str::to_owned);
    let logout = match state.gatehouse.validate_logout(params).await {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(error = %e, "RP-initiated logout refused");
            return invalid(&e.description);
        }
    };
    let cookie = http
        .cookie(pages::session_cookie(state))
        .map(|c| c.value().to_owned());
    let who = signed_in(state, http).await;
    let (Some(cookie), Some(who)) = (cookie, who) else {
        // Nobody is signed in here: there is nothing to end.
        return done(state, http, &logout);
    };
    match decision.as_deref() {
        Some(answer) => {
            let token = logout.params.get("csrf_token").ok().flatten();
            if !pages::session_csrf_ok(state, http, token) {
                return pages::error_page(
                    StatusCode::BAD_REQUEST,
                    "Sign-out failed",
                    "The form expired or did not come from Gatehouse. Start again from the application.",
                );
            }
            if answer != "leave" {
                return pages::signed_out_page(
                    "You are still signed in",
                    "Your Gatehouse session goes on. You can close this page.",
                    vec![],
                );
            }
        }
        None if logout.names_session(&who) => {}
        None => return pages::end_session_page(state, &cookie, &logout, who.user.email.as_str()),
    }
    if let Err(e) = state.gatehouse.end_session(&cookie).await {
        tracing::error!(error = %e, "ending the session failed");
        return pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Gatehouse could not sign you out. Please try again.",
        );
    }
    tracing::info!(
        user = %who.user.id,
        client_id = logout.client.as_ref().map(|c| c.id.as_str()),
        "signed out by RP-initiated logout"
    );
    done(state, http, &logout)
}

/// Back to the app's registered post-logout URI, or a page saying so; the
/// session cookie is removed either way.
fn done(state: &AppState, http: &HttpRequest, logout: &LogoutRequest) -> HttpResponse {
    let gone = pages::removal(state, http, pages::session_cookie(state));
    match &logout.redirect {
        Some(url) => {
            let mut res = redirect(StatusCode::SEE_OTHER, url);
            let _ = res.add_cookie(&gone);
            res
        }
        None => pages::signed_out_page(
            "You are signed out",
            "Your Gatehouse session in this browser has ended. You can close this page.",
            vec![gone],
        ),
    }
}
