//! Shared Signals event streams: how one resource server receives the
//! revocation log (issue 13, item 5).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientId, StreamId};

/// How a stream's events reach its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethod {
    /// RFC 8936: the receiver polls Gatehouse, acknowledging what it got.
    Poll,
    /// RFC 8935: Gatehouse posts each event to the receiver.
    Push,
}

impl DeliveryMethod {
    /// The URN SSF names the method by.
    pub fn urn(self) -> &'static str {
        match self {
            Self::Poll => "urn:ietf:rfc:8936",
            Self::Push => "urn:ietf:rfc:8935",
        }
    }

    /// The method named by `urn`.
    pub fn from_urn(urn: &str) -> Option<Self> {
        match urn {
            "urn:ietf:rfc:8936" => Some(Self::Poll),
            "urn:ietf:rfc:8935" => Some(Self::Push),
            _ => None,
        }
    }
}

/// Whether a stream delivers (SSF §8.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Events are delivered.
    Enabled,
    /// Events are kept (up to their expiry) and delivered once re-enabled.
    Paused,
    /// Events are neither delivered nor kept for this stream.
    Disabled,
}

impl StreamStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Disabled => "disabled",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(Self::Enabled),
            "paused" => Some(Self::Paused),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// Where a push stream delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct PushTarget {
    /// The receiver's endpoint (https, or http on a loopback host).
    pub endpoint_url: String,
    /// The `Authorization` header value the receiver asked for, sealed with
    /// the master key (it is the receiver's credential, which Gatehouse must
    /// replay, so it cannot be hashed).
    pub sealed_authorization: Option<Vec<u8>>,
}

/// A verification event the receiver asked for (SSF §8.1.4), delivered
/// ahead of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingVerification {
    /// The event's `jti`, which the receiver acknowledges.
    pub jti: Uuid,
    /// The receiver's opaque `state`, echoed.
    pub state: Option<String>,
    /// When it was asked for.
    pub at: OffsetDateTime,
}

/// One receiver's stream over the revocation log.
///
/// The log is shared; a stream only remembers how far its receiver has
/// acknowledged it: `cursor` (every entry at or below it is done) and
/// `acked_ahead` (entries above the cursor acknowledged out of order).
/// Updates are optimistic: a store writes a stream only if its `version` is
/// unchanged, so two instances serving one stream never lose each other's
/// progress silently.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// The `stream_id`.
    pub id: StreamId,
    /// The receiver: a confidential client an administrator registered.
    pub client_id: ClientId,
    /// Bumped by the store on every write.
    pub version: i64,
    /// Poll or push.
    pub method: DeliveryMethod,
    /// For push streams.
    pub push: Option<PushTarget>,
    /// Event types the receiver asked for.
    pub events_requested: Vec<String>,
    /// The receiver's description.
    pub description: Option<String>,
    /// Enabled, paused or disabled.
    pub status: StreamStatus,
    /// Why the status was last set.
    pub status_reason: Option<String>,
    /// Every log entry with `seq` at or below this is acknowledged.
    pub cursor: i64,
    /// Log entries above `cursor` already acknowledged.
    pub acked_ahead: Vec<i64>,
    /// A verification event waiting for delivery.
    pub verification: Option<PendingVerification>,
    /// Consecutive failed push attempts, for backoff.
    pub failures: u32,
    /// No push before this (backoff).
    pub retry_at: Option<OffsetDateTime>,
    /// An instance is pushing this stream until then.
    pub lease_until: Option<OffsetDateTime>,
    /// Last poll (at most a minute stale): idle poll streams are deleted.
    pub last_polled_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last configuration change.
    pub updated_at: OffsetDateTime,
}
