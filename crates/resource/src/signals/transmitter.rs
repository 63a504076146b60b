//! The transmitter as seen from here: its SSF metadata, stream management
//! and RFC 8936 polling, as named wire structs. Every call carries the
//! receiver's client credential (HTTP Basic); that credential is also what
//! the transmitter scopes streams to.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::events::{SESSION_REVOKED, SetError};

/// RFC 8936: the receiver polls.
const POLL_METHOD: &str = "urn:ietf:rfc:8936";

/// Why a call to the transmitter failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransmitterError {
    /// Unreachable, timed out, or an unreadable answer.
    #[error("{0}")]
    Http(String),
    /// An error status.
    #[error("the transmitter answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The stream was deleted (or expired) at the transmitter.
    #[error("the stream no longer exists")]
    StreamGone,
    /// The transmitter refused one more stream for this client (409).
    #[error(
        "the transmitter refuses another stream for this client (409); \
         streams of stopped receivers expire after their inactivity timeout"
    )]
    TooManyStreams,
    /// The answer is well-formed JSON that cannot work.
    #[error("{0}")]
    Invalid(String),
}

fn http_error(e: reqwest::Error) -> TransmitterError {
    TransmitterError::Http(e.to_string())
}

/// The SSF metadata document's fields this receiver uses.
#[derive(Debug, Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: Option<String>,
    #[serde(default)]
    delivery_methods_supported: Vec<String>,
    configuration_endpoint: Option<String>,
}

#[derive(Debug, Serialize)]
struct CreateStream<'a> {
    delivery: DeliveryRequest,
    events_requested: [&'a str; 1],
    description: &'a str,
}

#[derive(Debug, Serialize)]
struct DeliveryRequest {
    method: &'static str,
}

/// A stream's configuration, as the transmitter answers it.
#[derive(Debug, Deserialize)]
struct StreamConfig {
    stream_id: String,
    delivery: DeliveryConfig,
    events_delivered: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct DeliveryConfig {
    method: String,
    endpoint_url: Option<String>,
}

/// A stream this receiver created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stream {
    /// `stream_id`.
    pub id: String,
    /// Where to poll.
    pub poll_url: String,
}

/// RFC 8936 §2.4: a poll, acknowledging and reporting on the SETs the
/// previous answer carried.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PollRequest<'a> {
    pub max_events: u32,
    pub return_immediately: bool,
    pub ack: &'a [String],
    pub set_errs: &'a BTreeMap<String, SetErr>,
}

/// One entry of `setErrs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SetErr {
    pub err: &'static str,
    pub description: String,
}

impl From<SetError> for SetErr {
    fn from(e: SetError) -> Self {
        Self {
            err: e.err,
            description: e.description,
        }
    }
}

/// RFC 8936 §2.5: SETs by `jti`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PollResponse {
    #[serde(default)]
    pub sets: BTreeMap<String, String>,
    #[serde(default)]
    pub more_available: bool,
}

/// A transmitter and the credential this receiver uses with it.
pub(crate) struct Transmitter {
    http: reqwest::Client,
    client_id: String,
    secret: String,
    configuration_endpoint: String,
    /// Where the transmitter says its keys are.
    pub jwks_uri: Option<String>,
}

impl fmt::Debug for Transmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmitter")
            .field("client_id", &self.client_id)
            .field("configuration_endpoint", &self.configuration_endpoint)
            .finish_non_exhaustive()
    }
}

/// SSF §7.2: the metadata URL inserts the well-known segment between the
/// issuer's origin and path, as RFC 8414 does.
pub(crate) fn metadata_url(issuer: &str) -> Result<String, TransmitterError> {
    let u = url::Url::parse(issuer).map_err(|e| TransmitterError::Invalid(e.to_string()))?;
    Ok(format!(
        "{}/.well-known/ssf-configuration{}",
        u.origin().ascii_serialization(),
        u.path().trim_end_matches('/')
    ))
}

async fn checked(res: reqwest::Response) -> Result<reqwest::Response, TransmitterError> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let body = res
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(TransmitterError::Status {
        status: status.as_u16(),
        body,
    })
}

impl Transmitter {
    /// Reads the transmitter's metadata and checks it names `issuer` and
    /// supports poll delivery.
    pub(crate) async fn discover(
        http: reqwest::Client,
        issuer: &str,
        client_id: String,
        secret: String,
    ) -> Result<Self, TransmitterError> {
        let meta: Metadata = checked(
            http.get(metadata_url(issuer)?)
                .basic_auth(&client_id, Some(&secret))
                .send()
                .await
                .map_err(http_error)?,
        )
        .await?
        .json()
        .await
        .map_err(http_error)?;
        if meta.issuer != issuer {
            return Err(TransmitterError::Invalid(format!(
                "the SSF metadata's issuer {} is not {issuer}",
                meta.issuer
            )));
        }
        if !meta
            .delivery_methods_supported
            .iter()
            .any(|m| m == POLL_METHOD)
        {
            return Err(TransmitterError::Invalid(
                "the transmitter does not offer poll delivery (urn:ietf:rfc:8936)".into(),
            ));
        }
        let configuration_endpoint = meta.configuration_endpoint.ok_or_else(|| {
            TransmitterError::Invalid("the SSF metadata has no configuration_endpoint".into())
        })?;
        Ok(Self {
            http,
            client_id,
            secret,
            configuration_endpoint,
            jwks_uri: meta.jwks_uri,
        })
    }

    /// The receiver's client id: the `aud` of its SETs.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The credential, for introspection when the stream is stale.
    pub(crate) fn credential(&self) -> (&str, &str) {
        (&self.client_id, &self.secret)
    }

    /// Creates a poll stream for session revocations.
    pub(crate) async fn create_stream(
        &self,
        description: &str,
    ) -> Result<Stream, TransmitterError> {
        let res = self
            .http
            .post(&self.configuration_endpoint)
            .basic_auth(&self.client_id, Some(&self.secret))
            .json(&CreateStream {
                delivery: DeliveryRequest {
                    method: POLL_METHOD,
                },
                events_requested: [SESSION_REVOKED],
                description,
            })
            .send()
            .await
            .map_err(http_error)?;
        if res.status() == reqwest::StatusCode::CONFLICT {
            return Err(TransmitterError::TooManyStreams);
        }
        let config: StreamConfig = checked(res).await?.json().await.map_err(http_error)?;
        let stream = Stream {
            poll_url: match config.delivery {
                DeliveryConfig {
                    method,
                    endpoint_url: Some(url),
                } if method == POLL_METHOD => url,
                _ => {
                    self.delete_stream(&config.stream_id).await.ok();
                    return Err(TransmitterError::Invalid(
                        "the stream's delivery is not poll with an endpoint_url".into(),
                    ));
                }
            },
            id: config.stream_id,
        };
        // A stream that will never carry revocations would leave the
        // deny-set empty while looking healthy.
        if let Some(delivered) = config.events_delivered
            && !delivered.iter().any(|e| e == SESSION_REVOKED)
        {
            self.delete_stream(&stream.id).await.ok();
            return Err(TransmitterError::Invalid(
                "the transmitter will not deliver session-revoked events".into(),
            ));
        }
        Ok(stream)
    }

    /// Deletes a stream.
    pub(crate) async fn delete_stream(&self, id: &str) -> Result<(), TransmitterError> {
        let res = self
            .http
            .delete(&self.configuration_endpoint)
            .query(&[("stream_id", id)])
            .basic_auth(&self.client_id, Some(&self.secret))
            .send()
            .await
            .map_err(http_error)?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        checked(res).await.map(drop)
    }

    /// One poll. `timeout` replaces the client's default, which is too
    /// short for a long poll.
    pub(crate) async fn poll(
        &self,
        url: &str,
        request: &PollRequest<'_>,
        timeout: Duration,
    ) -> Result<PollResponse, TransmitterError> {
        let res = self
            .http
            .post(url)
            .basic_auth(&self.client_id, Some(&self.secret))
            .timeout(timeout)
            .json(request)
            .send()
            .await
            .map_err(http_error)?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(TransmitterError::StreamGone);
        }
        checked(res).await?.json().await.map_err(http_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_segment() {
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/api/v1/oauth").unwrap(),
            "http://127.0.0.1:8080/.well-known/ssf-configuration/api/v1/oauth"
        );
        assert_eq!(
            metadata_url("https://as.example").unwrap(),
            "https://as.example/.well-known/ssf-configuration"
        );
    }

    #[test]
    fn a_poll_is_the_rfc_8936_shape() {
        let mut errs = BTreeMap::new();
        errs.insert(
            "j2".to_owned(),
            SetErr {
                err: "invalid_key",
                description: "bad".into(),
            },
        );
        let body = serde_json::to_value(PollRequest {
            max_events: 100,
            return_immediately: false,
            ack: &["j1".to_owned()],
            set_errs: &errs,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "maxEvents": 100, "returnImmediately": false, "ack": ["j1"],
                "setErrs": {"j2": {"err": "invalid_key", "description": "bad"}}
            })
        );
        let res: PollResponse =
            serde_json::from_str(r#"{"sets":{"j":"a.b.c"},"moreAvailable":true}"#).unwrap();
        assert!(res.more_available && res.sets["j"] == "a.b.c");
    }
}
