//! What every request leaves behind for an operator, written once around
//! all handlers instead of in each: a request id (kept from `X-Request-Id`
//! when the caller sent a sane one, else generated) echoed in the response
//! and carried by a span, so every log line of the request, the core's
//! included, names it; and one access-log line with the route pattern,
//! status and duration.
//!
//! Paths are logged without their query string (it may carry a `state`, a
//! code or a token) and routes as patterns (`/api/v1/users/{id}`), never
//! raw paths, so ids do not explode log or metric cardinality.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument as _;

use super::AppState;

/// The request-id header, read and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Whether an incoming request id is safe to keep and log: 1 to 128
/// characters of `A–Z a–z 0–9 - _ . : /`, nothing that could forge a log
/// line or a header.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

/// The request's id: the caller's, if acceptable, else a fresh UUID.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// The middleware (`actix_web::middleware::from_fn`).
///
/// # Errors
/// Whatever the inner service returns; this adds none.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let method = req.method().clone();
    let path = req.path().to_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let client = state.as_ref().and_then(|s| s.client_ip(req.request()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
    );
    crate::telemetry::join_caller_trace(&span, req.headers());
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    // Microsecond precision is plenty and keeps lines short.
    let elapsed_ms = (elapsed * 1e6).round() / 1e3;
    let _entered = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Some(state) = &state {
                state.metrics.request(&route, &method, status, elapsed);
            }
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            tracing::info!(
                target: "gatehouse::access",
                status,
                path = %path,
                client = %client.map(|c| c.to_string()).unwrap_or_default(),
                elapsed_ms,
                "{method} {path} {status}"
            );
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(target: "gatehouse::access", path = %path, elapsed_ms, error = %e, "{method} {path} failed");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_kept() {
        for ok in [
            "abc",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "req:1/2_3.4",
            &"a".repeat(128),
        ] {
            assert!(acceptable(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a\nb",
            "a\"b",
            "<script>",
            "é",
            &"a".repeat(129),
            "a,b",
        ] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }
}
