//! The Shared Signals transmitter's endpoints (OpenID SSF 1.0): metadata,
//! stream management, status, verification and RFC 8936 polling. The
//! protocol lives in `gatehouse_core::service::ssf`; this is its HTTP.

use actix_web::http::{Method, header};
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_core::ApiError;
use gatehouse_core::service::ClientCredentials;
use gatehouse_core::service::ssf::{PollRequest, ReceiverCredentials, StreamRequest};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::api::{ApiResult, no_store};
use super::errors::ApiFailure;
use super::oauth::{Basic, parse_basic};
use super::openapi::{BadRequest, Conflict, Forbidden, NotFound, ServerError, Unauthorized};
use super::{AppState, Endpoint};

/// How long a poll with nothing to deliver is held open (RFC 8936 §2.5):
/// long enough that an idle receiver costs a request every few seconds,
/// short enough for proxies' idle timeouts and a graceful stop.
const POLL_HOLD: std::time::Duration = std::time::Duration::from_secs(10);

/// Endpoints under the issuer.
pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/.well-known/ssf-configuration", configuration).machine(),
        Endpoint::new(M::POST, "/ssf/streams", create_stream),
        Endpoint::new(M::GET, "/ssf/streams", read_streams),
        Endpoint::new(M::PATCH, "/ssf/streams", update_stream),
        Endpoint::new(M::PUT, "/ssf/streams", replace_stream),
        Endpoint::new(M::DELETE, "/ssf/streams", delete_stream),
        Endpoint::new(M::GET, "/ssf/status", read_status),
        Endpoint::new(M::POST, "/ssf/status", update_status),
        Endpoint::new(M::POST, "/ssf/verify", verify),
        Endpoint::new(M::POST, "/ssf/poll/{stream_id}", poll),
    ]
}

/// Reads the receiver's credentials: Basic client credentials, or a
/// bearer token from the client-credentials grant.
fn credentials(req: &HttpRequest) -> Result<ReceiverCredentials, ApiError> {
    let Some(v) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(ReceiverCredentials::Missing);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::InvalidToken("malformed Authorization header".into()))?;
    if let Some((scheme, token)) = v.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Ok(ReceiverCredentials::Bearer(token.trim().to_owned()));
    }
    match parse_basic(v) {
        Basic::Credentials(id, secret) => {
            Ok(ReceiverCredentials::Basic(ClientCredentials::Basic {
                id,
                secret,
            }))
        }
        _ => Err(ApiError::InvalidToken(
            "use Basic client credentials or a Bearer token".into(),
        )),
    }
}

async fn receiver(
    state: &AppState,
    req: &HttpRequest,
) -> Result<gatehouse_core::model::Client, ApiFailure> {
    Ok(state.gatehouse.ssf_receiver(&credentials(req)?).await?)
}

/// `?stream_id=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StreamQuery {
    /// The stream.
    stream_id: Option<String>,
}

/// The receiver-supplied members of a stream configuration (SSF 1.0
/// §8.1.1); `stream_id` names the stream on update and replace.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the shape; the core parses it
pub struct StreamConfigRequest {
    stream_id: Option<String>,
    /// `{"method": "urn:ietf:rfc:8936"}` (poll, the default) or
    /// `{"method": "urn:ietf:rfc:8935", "endpoint_url": …,
    /// "authorization_header": …}` (push).
    #[schema(value_type = Object)]
    delivery: Option<serde_json::Value>,
    events_requested: Option<Vec<String>>,
    description: Option<String>,
}

/// `{stream_id, status, reason}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusRequest {
    stream_id: Option<String>,
    /// `enabled`, `paused` or `disabled`.
    status: Option<String>,
    reason: Option<String>,
}

/// `{stream_id, state}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyRequest {
    stream_id: Option<String>,
    state: Option<String>,
}

/// An RFC 8936 poll.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documents the shape; the core parses it
pub struct PollBody {
    max_events: Option<u32>,
    return_immediately: Option<bool>,
    ack: Option<Vec<String>>,
    #[schema(value_type = Object)]
    set_errs: Option<serde_json::Value>,
}

/// The Shared Signals transmitter's configuration (SSF 1.0 §7), at the
/// path-inserted location and below the issuer.
#[utoipa::path(
    get,
    path = "/.well-known/ssf-configuration/api/v1/oauth",
    tag = "discovery",
    security(()),
    responses((status = 200, description = "Transmitter configuration metadata; `Cache-Control: public, max-age=60`.", body = Object))
)]
pub async fn configuration(state: Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(state.gatehouse.ssf_configuration())
}

/// Creates a stream. It starts with every revocation whose tokens could
/// still be valid, then follows the log.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/ssf/streams",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    request_body = StreamConfigRequest,
    responses(
        (status = 201, description = "The stream's configuration.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 500, response = ServerError),
    )
)]
async fn create_stream(
    state: Data<AppState>,
    req: HttpRequest,
    body: Json<StreamRequest>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let config = state
        .gatehouse
        .create_stream(&client, body.into_inner())
        .await?;
    Ok(no_store(HttpResponse::Created(), config))
}

/// One stream's configuration, or all of the receiver's as an array.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/ssf/streams",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    params(StreamQuery),
    responses(
        (status = 200, description = "A configuration, or an array of them.", body = Object),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn read_streams(state: Data<AppState>, req: HttpRequest, q: Query<StreamQuery>) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let out = state
        .gatehouse
        .read_streams(&client, q.stream_id.as_deref())
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}

/// Changes the members the request names.
#[utoipa::path(
    patch,
    path = "/api/v1/oauth/ssf/streams",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    request_body = StreamConfigRequest,
    responses(
        (status = 200, description = "The updated configuration.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn update_stream(
    state: Data<AppState>,
    req: HttpRequest,
    body: Json<StreamRequest>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let out = state
        .gatehouse
        .change_stream(&client, body.into_inner(), false)
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}

/// Replaces the receiver-supplied members; those left out are cleared.
#[utoipa::path(
    put,
    path = "/api/v1/oauth/ssf/streams",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    request_body = StreamConfigRequest,
    responses(
        (status = 200, description = "The new configuration.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn replace_stream(
    state: Data<AppState>,
    req: HttpRequest,
    body: Json<StreamRequest>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let out = state
        .gatehouse
        .change_stream(&client, body.into_inner(), true)
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}

/// Deletes a stream.
#[utoipa::path(
    delete,
    path = "/api/v1/oauth/ssf/streams",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    params(StreamQuery),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn delete_stream(
    state: Data<AppState>,
    req: HttpRequest,
    q: Query<StreamQuery>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    state
        .gatehouse
        .delete_stream(&client, q.stream_id.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A stream's status.
#[utoipa::path(
    get,
    path = "/api/v1/oauth/ssf/status",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    params(StreamQuery),
    responses(
        (status = 200, description = "`{stream_id, status, reason}`.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn read_status(state: Data<AppState>, req: HttpRequest, q: Query<StreamQuery>) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let out = state
        .gatehouse
        .stream_status(&client, q.stream_id.as_deref())
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}

/// Enables, pauses or disables a stream.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/ssf/status",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "`{stream_id, status, reason}`.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn update_status(
    state: Data<AppState>,
    req: HttpRequest,
    body: Json<StatusRequest>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let b = body.into_inner();
    let out = state
        .gatehouse
        .set_stream_status(
            &client,
            b.stream_id.as_deref(),
            b.status.as_deref(),
            b.reason,
        )
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}

/// Asks for a verification event on the stream.
#[utoipa::path(
    post,
    path = "/api/v1/oauth/ssf/verify",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 204, description = "The event will be delivered."),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn verify(state: Data<AppState>, req: HttpRequest, body: Json<VerifyRequest>) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let b = body.into_inner();
    state
        .gatehouse
        .request_verification(&client, b.stream_id.as_deref(), b.state)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// RFC 8936 poll: acknowledges, then returns the SETs not yet
/// acknowledged, holding the request up to ten seconds when there are
/// none (unless `returnImmediately`).
#[utoipa::path(
    post,
    path = "/api/v1/oauth/ssf/poll/{stream_id}",
    tag = "signals",
    security(("client_secret_basic" = []), ("bearer" = [])),
    params(("stream_id" = uuid::Uuid, Path, description = "The stream.")),
    request_body = PollBody,
    responses(
        (status = 200, description = "`{sets: {jti: SET}, moreAvailable}`.", body = Object),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = ServerError),
    )
)]
async fn poll(
    state: Data<AppState>,
    req: HttpRequest,
    id: Path<String>,
    body: Json<PollRequest>,
) -> ApiResult {
    let client = receiver(&state, &req).await?;
    let out = state
        .gatehouse
        .poll_stream(
            &client,
            &id,
            body.into_inner(),
            POLL_HOLD,
            tokio::time::sleep,
        )
        .await?;
    Ok(no_store(HttpResponse::Ok(), out))
}
