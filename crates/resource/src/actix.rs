//! An actix-web extractor: add `web::Data<Arc<Verifier>>` to the app and
//! take [`Bearer`] as a handler argument.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::{AuthError, Authenticated, Verifier};

/// A request with a verified token (no scope required; call
/// [`Authenticated::require`] in the handler, and return its error with
/// [`Bearer::deny`]).
#[derive(Debug, Clone)]
pub struct Bearer(pub Authenticated, Arc<Verifier>);

impl Bearer {
    /// Requires `scopes`, turning a failure into the proper 403.
    ///
    /// # Errors
    /// [`Rejection`] with `insufficient_scope`.
    pub fn require(&self, scopes: &[&str]) -> Result<&Authenticated, Rejection> {
        self.0
            .require(scopes)
            .map_err(|e| Rejection::new(e, &self.1))?;
        Ok(&self.0)
    }
}

/// An [`AuthError`] as an actix-web response.
#[derive(Debug)]
pub struct Rejection {
    error: AuthError,
    resource_metadata: String,
}

impl Rejection {
    fn new(error: AuthError, verifier: &Verifier) -> Self {
        Self {
            error,
            resource_metadata: verifier.metadata_url().to_owned(),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(c) = self.error.challenge(&self.resource_metadata) {
            res.insert_header((header::WWW_AUTHENTICATE, c));
        }
        let mut body = serde_json::json!({ "error_description": self.error.to_string() });
        if let Some(c) = self.error.code() {
            body["error"] = serde_json::json!(c);
        }
        res.json(body)
    }
}

impl FromRequest for Bearer {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req
            .app_data::<web::Data<Arc<Verifier>>>()
            .map(|v| v.get_ref().clone());
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let verifier = verifier.ok_or_else(|| {
                actix_web::error::ErrorInternalServerError(
                    "gatehouse_resource::Verifier is not registered as app data",
                )
            })?;
            match verifier.verify(header.as_deref(), &[]).await {
                Ok(auth) => Ok(Bearer(auth, verifier)),
                Err(e) => Err(Rejection::new(e, &verifier).into()),
            }
        })
    }
}
