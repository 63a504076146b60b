//! Revocation without a round trip per request: a Shared Signals receiver
//! (OpenID SSF 1.0, CAEP `session-revoked`, RFC 8936 poll delivery).
//!
//! A resource server that only checks signatures accepts a revoked token
//! until it expires; one that introspects every token pays a round trip per
//! request and fails when the issuer is unreachable. This receiver sits in
//! between: it polls the issuer's transmitter for revocations and keeps them
//! in a bounded deny-set, which [`crate::Verifier::verify`] consults
//! after its own checks. A revocation takes effect within about one poll
//! round trip (a second or two).
//!
//! What it never does is fail open:
//!
//! - **Start-up.** A new stream first delivers every revocation still
//!   relevant, and discovery drains it before returning, so the first
//!   request is judged with a complete deny-set.
//! - **Staleness.** If no poll has succeeded for `stale_after`, revocations
//!   may be waiting that we have not seen. Until polling recovers, every
//!   token is introspected (RFC 7662) with the same client credential, so a
//!   network split costs latency, not correctness.
//! - **Memory.** The deny-set forgets a revocation once every token it
//!   covers is too old to be accepted at all; the verifier refuses tokens
//!   issued more than `max_token_lifetime` (plus leeway) ago for exactly that
//!   reason. If it still overflows, it refuses more, never less: the oldest
//!   revocation is folded into a floor, and every token issued at or before
//!   the floor is refused.
//! - **Bad events.** A SET that fails verification is reported to the
//!   transmitter (`setErrs`) and never applied.

mod deny;
mod events;
mod transmitter;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use gatehouse_core::jwt::{JwtError, Verifier as KeySet};
use gatehouse_core::service::AccessClaims;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::deny::{DenySet, Revocation};
use self::events::SetError;
use self::transmitter::{PollRequest, SetErr, Transmitter, TransmitterError};
use crate::keys::KeyCache;
use crate::verifier::{AuthError, DiscoveryError, ResourceConfig, now_unix};

/// How many SETs to ask for per poll while draining at start-up: as many
/// as the transmitter will give, to be ready sooner.
const DRAIN_BATCH: u32 = 1000;
/// How many SETs to ask for per long poll.
const LONG_POLL_BATCH: u32 = 100;
/// Time limit of a poll. A long poll is held by the transmitter until
/// events exist (about 10 s at Gatehouse), so the client's usual 5 s limit
/// would cut every quiet poll short.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// First and largest pause between failed polls.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a resource server receives revocations, and how much it remembers.
#[derive(Clone)]
pub struct SignalsConfig {
    /// The receiver's confidential client at the issuer (HTTP Basic on
    /// every SSF call, and on introspection while the stream is stale). The
    /// transmitter addresses SETs to it (`aud`).
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
    /// The longest access-token lifetime to expect (default one hour,
    /// Gatehouse's default). Tokens issued longer ago, plus leeway, are
    /// refused, so revocations can be forgotten after that long; set it to
    /// the issuer's real lifetime if that is longer.
    pub max_token_lifetime: Duration,
    /// Most revocations held (default 100 000); beyond, the oldest are
    /// folded into a floor that refuses every token issued before it.
    pub max_entries: usize,
    /// How long without a successful poll before every token is
    /// introspected instead (default 30 s). Must exceed the transmitter's
    /// long-poll hold (10 s at Gatehouse), or a quiet stream reads as stale.
    pub stale_after: Duration,
    /// The stream's `description`, for the issuer's operators (default
    /// names this resource).
    pub description: Option<String>,
}

impl fmt::Debug for SignalsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalsConfig")
            .field("client_id", &self.client_id)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("max_entries", &self.max_entries)
            .field("stale_after", &self.stale_after)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl SignalsConfig {
    /// Signals received with this client credential, and default limits.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            max_token_lifetime: Duration::from_secs(3600),
            max_entries: 100_000,
            stale_after: Duration::from_secs(30),
            description: None,
        }
    }
}

/// What the receiver knows, for operators and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalsStatus {
    /// The stream polled.
    pub stream_id: String,
    /// Revocations held.
    pub entries: usize,
    /// Every token issued at or before this moment (Unix seconds) is
    /// refused, because the deny-set overflowed.
    pub floor: Option<i64>,
    /// When a poll last succeeded with nothing left to fetch.
    pub last_poll_ok_at: Option<SystemTime>,
    /// Whether tokens are introspected because polling is behind (or the
    /// receiver was closed).
    pub stale: bool,
}

/// Whether the deny-set can be trusted alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Polling is current: the deny-set's word is final.
    Fresh,
    /// Revocations may be waiting unseen: introspect.
    Stale,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Health {
    stream: transmitter::Stream,
    last_ok: Option<Instant>,
    last_ok_at: Option<SystemTime>,
    closed: bool,
}

/// What the poll task and the verifier share.
struct Receiver {
    issuer: String,
    description: String,
    stale_after: Duration,
    retention: Duration,
    transmitter: Transmitter,
    keys: Arc<KeyCache>,
    deny: RwLock<DenySet>,
    health: RwLock<Health>,
    /// Whether the last staleness transition was logged as such, so an
    /// outage is one warning and one recovery, not one per request.
    stale_reported: AtomicBool,
}

impl fmt::Debug for Receiver {
    // The deny-set can hold 100 000 entries: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("transmitter", &self.transmitter)
            .field("stream_id", &read(&self.health).stream.id)
            .field("entries", &read(&self.deny).len())
            .finish_non_exhaustive()
    }
}

/// Acknowledgements and errors owed to the transmitter, sent with the next
/// poll: RFC 8936 acknowledges a delivery in the request after it.
#[derive(Debug, Default)]
struct Owed {
    ack: Vec<String>,
    errs: BTreeMap<String, SetErr>,
}

impl Receiver {
    fn stale_now(&self) -> bool {
        let h = read(&self.health);
        h.closed || h.last_ok.is_none_or(|t| t.elapsed() > self.stale_after)
    }

    /// Like [`Receiver::stale_now`], logging the transition to stale once.
    fn is_stale(&self) -> bool {
        let stale = self.stale_now();
        if stale && !self.stale_reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                stale_after = ?self.stale_after,
                "shared signals: no successful poll lately; introspecting every token until polling recovers"
            );
        }
        stale
    }

    fn mark_ok(&self) {
        {
            let mut h = write(&self.health);
            if h.closed {
                return;
            }
            h.last_ok = Some(Instant::now());
            h.last_ok_at = Some(SystemTime::now());
        }
        if self.stale_reported.swap(false, Ordering::Relaxed) {
            tracing::info!("shared signals: polling recovered; tokens are checked locally again");
        }
    }

    /// One poll: sends what is owed, applies what arrives, and says
    /// whether the stream is drained. Only a drained stream counts as a
    /// success for staleness: with more waiting we are still behind.
    async fn poll_once(
        &self,
        owed: &mut Owed,
        return_immediately: bool,
        max_events: u32,
    ) -> Result<bool, TransmitterError> {
        let url = read(&self.health).stream.poll_url.clone();
        let request = PollRequest {
            max_events,
            return_immediately,
            ack: &owed.ack,
            set_errs: &owed.errs,
        };
        let res = self.transmitter.poll(&url, &request, POLL_TIMEOUT).await?;
        owed.ack.clear();
        owed.errs.clear();
        // A transmitter that says "more" but sends nothing would otherwise
        // keep a drain spinning forever.
        let drained = !res.more_available || res.sets.is_empty();
        let mut revocations = Vec::new();
        for (jti, set) in res.sets {
            match self.read_set(&jti, &set).await {
                Ok(found) => {
                    revocations.extend(found);
                    owed.ack.push(jti);
                }
                Err(e) => {
                    tracing::warn!(%jti, err = e.err, description = %e.description, "shared signals: refusing a security event");
                    owed.errs.insert(jti, e.into());
                }
            }
        }
        let now = now_unix();
        {
            let mut deny = write(&self.deny);
            for r in revocations {
                tracing::debug!(subject = ?r.subject, at = r.at, "shared signals: revocation");
                deny.insert(r, now);
            }
            deny.purge(now);
        }
        if drained {
            self.mark_ok();
        }
        Ok(drained)
    }

    async fn read_set(&self, jti: &str, set: &str) -> Result<Vec<Revocation>, SetError> {
        let claims: serde_json::Value = self
            .keys
            .verify(set, |keys: &KeySet, t: &str| keys.verify_security_event(t))
            .await
            .map_err(|e| match e {
                JwtError::UnknownKey | JwtError::BadSignature => {
                    SetError::new("invalid_key", e.to_string())
                }
                JwtError::Malformed | JwtError::UnsupportedHeader => {
                    SetError::new("invalid_request", e.to_string())
                }
            })?;
        events::revocations(&claims, jti, &self.issuer, self.transmitter.client_id())
    }

    /// Replaces a stream the transmitter lost. The new stream redelivers
    /// every revocation still relevant, so nothing is missed; until it is
    /// drained the receiver stays stale.
    async fn replace_stream(&self, owed: &mut Owed) -> Result<(), TransmitterError> {
        let stream = self.transmitter.create_stream(&self.description).await?;
        let new = stream.id.clone();
        let old = {
            let mut h = write(&self.health);
            // Whatever the lost stream held back is only on the new one now.
            h.last_ok = None;
            std::mem::replace(&mut h.stream, stream)
        };
        *owed = Owed::default();
        tracing::info!(old = %old.id, new = %new, "shared signals: the stream was gone; polling a new one");
        Ok(())
    }
}

/// The long-poll loop. It ends when `stop` says so or its sender is
/// dropped (the verifier was), even in the middle of a poll.
async fn run(receiver: Arc<Receiver>, mut stop: watch::Receiver<bool>, mut owed: Owed) {
    let mut backoff = MIN_BACKOFF;
    let mut stream_gone = false;
    let mut failing = false;
    loop {
        let round = async {
            if stream_gone {
                receiver.replace_stream(&mut owed).await
            } else {
                receiver
                    .poll_once(&mut owed, false, LONG_POLL_BATCH)
                    .await
                    .map(drop)
            }
        };
        let result = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            r = round => r,
        };
        match result {
            Ok(()) => {
                stream_gone = false;
                failing = false;
                backoff = MIN_BACKOFF;
                continue;
            }
            Err(TransmitterError::StreamGone) => stream_gone = true,
            Err(e) if !failing => {
                tracing::warn!(error = %e, "shared signals: polling failed; retrying");
            }
            Err(e) => tracing::debug!(error = %e, "shared signals: polling failed again"),
        }
        failing = true;
        receiver.is_stale();
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A running receiver, owned by its verifier.
pub(crate) struct Signals {
    receiver: Arc<Receiver>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

fn signals_error(e: impl fmt::Display) -> DiscoveryError {
    DiscoveryError::Signals(e.to_string())
}

impl Signals {
    /// Finds the transmitter, creates a stream, drains it, and starts
    /// long-polling.
    pub(crate) async fn start(
        resource: &ResourceConfig,
        config: &SignalsConfig,
        http: reqwest::Client,
        keys: Arc<KeyCache>,
    ) -> Result<Self, DiscoveryError> {
        let issuer = resource.issuer.as_str();
        let transmitter = Transmitter::discover(
            http.clone(),
            issuer,
            config.client_id.clone(),
            config.client_secret.clone(),
        )
        .await
        .map_err(signals_error)?;
        // Gatehouse signs SETs with its access-token keys; another
        // transmitter may not.
        let keys = match &transmitter.jwks_uri {
            Some(uri) if uri != keys.uri() => {
                Arc::new(KeyCache::fetch(http, uri.clone(), resource.jwks_refetch_interval).await?)
            }
            _ => keys,
        };
        let description = config.description.clone().unwrap_or_else(|| {
            format!("gatehouse-resource: revocations for {}", resource.resource)
        });
        let retention = config.max_token_lifetime + resource.leeway;
        let stream = transmitter
            .create_stream(&description)
            .await
            .map_err(signals_error)?;
        let receiver = Arc::new(Receiver {
            issuer: issuer.to_owned(),
            description,
            stale_after: config.stale_after,
            retention,
            transmitter,
            keys,
            deny: RwLock::new(DenySet::new(config.max_entries, retention)),
            health: RwLock::new(Health {
                stream: stream.clone(),
                last_ok: None,
                last_ok_at: None,
                closed: false,
            }),
            stale_reported: AtomicBool::new(false),
        });
        let mut owed = Owed::default();
        let mut drained = false;
        while !drained {
            match receiver.poll_once(&mut owed, true, DRAIN_BATCH).await {
                Ok(d) => drained = d,
                Err(e) => {
                    if let Err(d) = receiver.transmitter.delete_stream(&stream.id).await {
                        tracing::warn!(stream_id = %stream.id, error = %d, "shared signals: cannot delete the stream");
                    }
                    return Err(signals_error(format_args!(
                        "draining the stream failed: {e}"
                    )));
                }
            }
        }
        tracing::info!(
            stream_id = %stream.id,
            revocations = read(&receiver.deny).len(),
            "shared signals: receiving revocations"
        );
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(receiver.clone(), stopped, owed));
        Ok(Self {
            receiver,
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Judges claims that passed every other check.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a revoked token, or one too old for
    /// the deny-set to vouch for.
    pub(crate) fn check(&self, claims: &AccessClaims, now: i64) -> Result<Freshness, AuthError> {
        {
            let deny = read(&self.receiver.deny);
            if deny.too_old(claims.iat, now) {
                return Err(AuthError::InvalidToken(format!(
                    "the token was issued more than {} s ago, longer than this server remembers revocations for; get a new one",
                    self.receiver.retention.as_secs()
                )));
            }
            if deny.revokes(claims) {
                return Err(AuthError::InvalidToken("the token was revoked".into()));
            }
        }
        Ok(if self.receiver.is_stale() {
            Freshness::Stale
        } else {
            Freshness::Fresh
        })
    }

    /// The client credential, for introspection while stale.
    pub(crate) fn credential(&self) -> (&str, &str) {
        self.receiver.transmitter.credential()
    }

    pub(crate) fn status(&self) -> SignalsStatus {
        let (entries, floor) = {
            let deny = read(&self.receiver.deny);
            (deny.len(), deny.floor())
        };
        let stale = self.receiver.stale_now();
        let h = read(&self.receiver.health);
        SignalsStatus {
            stream_id: h.stream.id.clone(),
            entries,
            floor,
            last_poll_ok_at: h.last_ok_at,
            stale,
        }
    }

    /// Stops polling and deletes the stream. From then on every token is
    /// introspected: without a stream, the deny-set goes out of date.
    pub(crate) async fn close(&self) {
        let Some(task) = lock(&self.task).take() else {
            return;
        };
        write(&self.receiver.health).closed = true;
        // An intended stop is not an outage: no staleness warning.
        self.receiver.stale_reported.store(true, Ordering::Relaxed);
        self.stop.send_replace(true);
        if let Err(e) = task.await
            && e.is_panic()
        {
            tracing::error!(error = %e, "shared signals: the poll task panicked");
        }
        let id = read(&self.receiver.health).stream.id.clone();
        match self.receiver.transmitter.delete_stream(&id).await {
            Ok(()) => tracing::info!(stream_id = %id, "shared signals: stream deleted"),
            Err(e) => {
                tracing::warn!(stream_id = %id, error = %e, "shared signals: cannot delete the stream; it expires at the transmitter");
            }
        }
    }
}
