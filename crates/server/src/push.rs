//! RFC 8935 push delivery of Shared Signals events: the HTTP side of
//! [`gatehouse_core::service::ssf::SetPusher`], and the task that runs
//! delivery rounds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::service::Gatehouse;
use gatehouse_core::service::ssf::{PushOutcome, SetPusher};

/// Total time for one delivery.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How often due streams are looked for: the bound on push latency.
const ROUND: Duration = Duration::from_millis(500);

/// Posts SETs with reqwest. Receivers are confidential clients an
/// administrator registered, so private addresses are allowed (resource
/// servers often sit on an internal network); redirects are not followed.
#[derive(Debug, Clone)]
pub struct HttpPusher {
    client: reqwest::Client,
}

impl HttpPusher {
    /// A pusher trusting the Mozilla roots plus `extra_ca_file`.
    ///
    /// # Errors
    /// An unreadable CA file, or a client that cannot be built.
    pub fn new(extra_ca_file: Option<&str>) -> anyhow::Result<Self> {
        let tls = crate::fetch::client_tls(extra_ca_file)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl SetPusher for HttpPusher {
    async fn push(
        &self,
        endpoint_url: &str,
        authorization: Option<&str>,
        set: &str,
    ) -> PushOutcome {
        let mut req = self
            .client
            .post(endpoint_url)
            .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(set.to_owned());
        if let Some(a) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => return PushOutcome::Failed(e.without_url().to_string()),
        };
        let status = res.status();
        if status == reqwest::StatusCode::ACCEPTED || status == reqwest::StatusCode::OK {
            return PushOutcome::Accepted;
        }
        if status == reqwest::StatusCode::BAD_REQUEST {
            // RFC 8935 §2.3: `{err, description}`: the SET itself was
            // refused, and would be again.
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            if let Some(err) = body["err"].as_str() {
                let why = body["description"].as_str().unwrap_or_default();
                return PushOutcome::Rejected(format!("{err}: {why}"));
            }
        }
        PushOutcome::Failed(format!("the receiver answered {status}"))
    }
}

/// Runs push rounds every half second until the process ends.
pub fn spawn_pusher(gatehouse: Arc<Gatehouse>, pusher: Arc<dyn SetPusher>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROUND);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = gatehouse.push_due_streams(&pusher).await {
                tracing::warn!(error = %e, "a push round of security events failed");
            }
        }
    });
}
