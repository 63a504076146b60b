//! Outbound HTTP to upstream identity providers (`UpstreamHttp`).
//!
//! Providers are configured by an administrator, so unlike client metadata
//! documents ([`crate::fetch`]) private and loopback addresses are allowed
//! (a company IdP on the internal network, a local provider in tests). The
//! requests are still bounded: no redirects, 10 s in all, 256 KiB at most,
//! and JSON only.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::upstream::{JsonReply, UpstreamHttp, UpstreamHttpError};

/// Largest answer read (JWKS of big tenants run to tens of KiB).
const MAX_BODY: usize = 256 * 1024;

/// The production client.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    client: reqwest::Client,
}

impl HttpUpstream {
    /// A client trusting the Mozilla roots plus `extra_ca_file`.
    ///
    /// # Errors
    /// An unreadable CA file, or a client that cannot be built.
    pub fn new(extra_ca_file: Option<&str>) -> anyhow::Result<Self> {
        let tls = crate::fetch::client_tls(extra_ca_file)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    async fn read(&self, req: reqwest::RequestBuilder) -> Result<JsonReply, UpstreamHttpError> {
        let unreachable = |e: reqwest::Error| UpstreamHttpError::Unreachable(e.to_string());
        let mut res = req
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = res.status().as_u16();
        if res.content_length().is_some_and(|l| l > MAX_BODY as u64) {
            return Err(UpstreamHttpError::Unreachable(
                "the answer is too large".into(),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(UpstreamHttpError::Unreachable(
                    "the answer is too large".into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let body = serde_json::from_slice(&body).map_err(|_| UpstreamHttpError::NotJson(status))?;
        Ok(JsonReply { status, body })
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before they
/// go into the Basic header.
fn form_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[async_trait]
impl UpstreamHttp for HttpUpstream {
    async fn get_json(
        &self,
        url: &str,
        bearer: Option<String>,
    ) -> Result<JsonReply, UpstreamHttpError> {
        let mut req = self.client.get(url);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.read(req).await
    }

    async fn post_form(
        &self,
        url: &str,
        form: Vec<(String, String)>,
        basic: Option<(String, String)>,
    ) -> Result<JsonReply, UpstreamHttpError> {
        let mut req = self.client.post(url).form(&form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(form_encoded(&id), Some(form_encoded(&secret)));
        }
        self.read(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encoded("a b:c/é"), "a+b%3Ac%2F%C3%A9");
        assert_eq!(form_encoded("plain-id_1.2~"), "plain-id_1.2%7E");
    }
}
