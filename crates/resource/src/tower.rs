//! A tower layer: put it in front of any `http` service (an axum router, or
//! the official Rust MCP SDK's streamable-HTTP service) and every request
//! is verified before it gets there.
//!
//! The verified [`Authenticated`] is placed in the request's extensions, so
//! handlers can read the user and, for calls to other APIs, exchange the
//! token rather than forward it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::{AuthError, Authenticated, Verifier};

/// Requires a valid token with `scopes` on every request.
#[derive(Debug, Clone)]
pub struct BearerAuthLayer {
    verifier: Arc<Verifier>,
    scopes: Arc<[String]>,
    advertised: Arc<[String]>,
}

impl BearerAuthLayer {
    /// A layer checking tokens with `verifier` and requiring all of
    /// `scopes` (use `&[]` to require only a valid token).
    pub fn new(verifier: Arc<Verifier>, scopes: &[&str]) -> Self {
        let scopes: Arc<[String]> = scopes.iter().map(|s| (*s).to_owned()).collect();
        Self {
            verifier,
            advertised: scopes.clone(),
            scopes,
        }
    }

    /// The scopes a bare 401 asks for, when the server needs more than the
    /// layer requires (MCP clients request exactly what the first challenge
    /// names, so name what the tools behind the layer will need).
    pub fn advertise(mut self, scopes: &[&str]) -> Self {
        self.advertised = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuth {
            inner,
            verifier: self.verifier.clone(),
            scopes: self.scopes.clone(),
            advertised: self.advertised.clone(),
        }
    }
}

/// The service [`BearerAuthLayer`] produces.
#[derive(Debug, Clone)]
pub struct BearerAuth<S> {
    inner: S,
    verifier: Arc<Verifier>,
    scopes: Arc<[String]>,
    advertised: Arc<[String]>,
}

/// The JSON body for `error`. A request without a token gets no error code,
/// as its challenge has none (RFC 6750 §3.1).
pub fn error_body(error: &AuthError) -> serde_json::Value {
    let mut body = serde_json::json!({ "error_description": error.to_string() });
    if let Some(c) = error.code() {
        body["error"] = serde_json::json!(c);
    }
    body
}

/// The 401/403/500/503 answer for `error`: status, `WWW-Authenticate` pointing
/// at the resource metadata, and a JSON body.
pub fn error_response<B>(
    error: &AuthError,
    resource_metadata: &str,
    scopes: &[impl AsRef<str>],
) -> http::Response<Either<B, Full<Bytes>>> {
    // The body's `error` agrees with the challenge: none without a token.
    let body = error_body(error).to_string();
    let mut res = http::Response::new(Either::Right(Full::new(Bytes::from(body))));
    *res.status_mut() =
        http::StatusCode::from_u16(error.status()).unwrap_or(http::StatusCode::UNAUTHORIZED);
    let h = res.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Some(c) = error.challenge_for(resource_metadata, scopes)
        && let Ok(v) = http::HeaderValue::from_str(&c)
    {
        h.insert(http::header::WWW_AUTHENTICATE, v);
    }
    res
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for BearerAuth<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = http::Response<Either<ResBody, Full<Bytes>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let scopes = self.scopes.clone();
        let advertised = self.advertised.clone();
        Box::pin(async move {
            let header = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
            match verifier.verify(header.as_deref(), &required).await {
                Ok(auth) => {
                    req.extensions_mut().insert::<Authenticated>(auth);
                    inner.call(req).await.map(|r| r.map(Either::Left))
                }
                Err(e) => Ok(error_response(&e, verifier.metadata_url(), &advertised[..])),
            }
        })
    }
}
