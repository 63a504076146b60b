//! The services: every flow Gatehouse offers, as methods on [`Gatehouse`].
//!
//! One struct rather than one per flow because the flows share everything
//! (ports, keys, settings), and a handler should need exactly one handle.

mod accounts;
mod admin;
mod apps;
mod audit_log;
mod authorize;
mod directory;
mod identity;
mod invitations;
mod mfa;
mod oidc;
mod passkeys;
mod policy;
mod registration;
mod resources;
mod signals;
pub mod ssf;
mod token;
mod upstream;

use std::fmt;
use std::sync::{Arc, RwLock};

use time::{Duration, OffsetDateTime};

pub use accounts::{AdminPassword, Caller, LoginResponse, OPERATOR_EMAIL, PLATFORM_CLIENT_ID};
pub use admin::{ClientFilter, ClientPatch, NewClient};
pub use apps::ConnectedApp;
pub use audit_log::{AuditPage, AuditParams, DEFAULT_PAGE};
pub use authorize::{AuthorizeError, AuthorizeRequest, Decision, Prompt};
pub use directory::{MemberChange, NewOrganization, NewUser, OrgPatch, UserPatch};
pub use identity::{IdentityProviderInput, LinkedIdentityView};
pub use mfa::{MfaStatus, TotpSetup};
pub use oidc::{IdClaims, LogoutRequest, SignedIn, at_hash, session_id};
pub use passkeys::{MAX_PASSKEYS, PasskeyCeremony};
pub use policy::client_allows;
pub use registration::RegistrationPolicy;
pub use resources::ResourceInput;
pub use token::{
    AccessClaims, ClaimError, ClientCredentials, ClientCredentialsRequest, CodeRequest,
    ExchangeRequest, RefreshRequest, TokenRequest, TokenResponse,
};
pub use upstream::{UpstreamCallback, UpstreamError, UpstreamOutcome, UpstreamStart};

use crate::audit::{AuditEvent, AuditKind, AuditSink, AuditStore, StoreAudit};
use crate::clock::Clock;
use crate::jwt::{Keyring, PublicKey, SigningKey, derive_key, open_private_key, seal_private_key};
use crate::model::StoredKey;
use crate::password::PasswordHasher;
use crate::ports::{
    ClientRepo, FactorRepo, IdentityRepo, KeyStore, OrgRepo, ResourceRepo, StoreError, StreamStore,
    TokenStore, UserRepo,
};
use crate::secret::fill_random;

/// The adapters a [`Gatehouse`] runs on.
#[derive(Clone)]
pub struct Ports {
    /// OAuth clients.
    pub clients: Arc<dyn ClientRepo>,
    /// Users.
    pub users: Arc<dyn UserRepo>,
    /// Organizations.
    pub orgs: Arc<dyn OrgRepo>,
    /// Codes, grants, tokens, consents, sessions.
    pub tokens: Arc<dyn TokenStore>,
    /// Signing keys.
    pub keys: Arc<dyn KeyStore>,
    /// Protected resources.
    pub resources: Arc<dyn ResourceRepo>,
    /// Shared Signals streams.
    pub streams: Arc<dyn StreamStore>,
    /// Upstream identity providers and linked identities.
    pub identities: Arc<dyn IdentityRepo>,
    /// Second factors.
    pub factors: Arc<dyn FactorRepo>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Outbound fetches of client metadata documents; `None` disables CIMD.
    pub fetcher: Option<Arc<dyn crate::cimd::MetadataFetcher>>,
    /// Outbound HTTP to upstream identity providers; `None` disables
    /// signing in through them.
    pub upstream: Option<Arc<dyn crate::upstream::UpstreamHttp>>,
    /// Where outcomes are reported for metrics; [`crate::observe::NoObserver`]
    /// unless the embedder sets one.
    pub observer: Arc<dyn crate::observe::Observer>,
    /// The audit log's storage (listing and purging).
    pub audit_log: Arc<dyn AuditStore>,
    /// Where services hand audit events over; by default straight into
    /// `audit_log` ([`StoreAudit`]).
    pub audit: Arc<dyn AuditSink>,
}

impl fmt::Debug for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

impl Ports {
    /// All storage ports from one adapter that implements them all.
    pub fn from_store<S>(store: S, clock: Arc<dyn Clock>, hasher: Arc<dyn PasswordHasher>) -> Self
    where
        S: ClientRepo
            + UserRepo
            + OrgRepo
            + TokenStore
            + KeyStore
            + ResourceRepo
            + StreamStore
            + IdentityRepo
            + FactorRepo
            + AuditStore
            + Clone
            + 'static,
    {
        let audit_log: Arc<dyn AuditStore> = Arc::new(store.clone());
        Self {
            clients: Arc::new(store.clone()),
            users: Arc::new(store.clone()),
            orgs: Arc::new(store.clone()),
            tokens: Arc::new(store.clone()),
            resources: Arc::new(store.clone()),
            streams: Arc::new(store.clone()),
            identities: Arc::new(store.clone()),
            factors: Arc::new(store.clone()),
            keys: Arc::new(store),
            clock,
            hasher,
            fetcher: None,
            upstream: None,
            observer: Arc::new(crate::observe::NoObserver),
            audit: Arc::new(StoreAudit(audit_log.clone())),
            audit_log,
        }
    }
}

impl Ports {
    /// Puts the read-through caches of [`crate::cache`] in front of the
    /// client, user and resource ports, keeping what they read for `ttl`.
    /// For database stores; a zero `ttl` leaves the ports as they are.
    #[must_use]
    pub fn with_read_cache(mut self, ttl: std::time::Duration) -> Self {
        if ttl.is_zero() {
            return self;
        }
        self.clients = Arc::new(crate::cache::CachedClients::new(self.clients, ttl));
        self.users = Arc::new(crate::cache::CachedUsers::new(self.users, ttl));
        self.resources = Arc::new(crate::cache::CachedResources::new(self.resources, ttl));
        self
    }
}

/// What a deployment decides; everything else is protocol.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier, e.g. `https://auth.example.com/api/v1/oauth`.
    pub issuer: String,
    /// The `aud` of tokens for the platform API, e.g.
    /// `https://auth.example.com/api/v1`.
    pub api_audience: String,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime (each rotation starts a new one).
    pub refresh_token_ttl: Duration,
    /// Authorization-code lifetime (RFC 6749 recommends ≤ 10 min; OAuth 2.1
    /// and this server use 60 s).
    pub code_ttl: Duration,
    /// Browser session lifetime on the login page.
    pub session_ttl: Duration,
    /// How long after a rotation the previous refresh token may still be
    /// replayed once by the same client (network retries); zero disables.
    pub refresh_grace: Duration,
    /// Dynamic client registration policy.
    pub registration: RegistrationPolicy,
    /// SHA-256 of the configured initial access token, for
    /// [`RegistrationPolicy::Token`].
    pub registration_token: Option<crate::secret::TokenHash>,
    /// The sign-in throttle's limits, for every password check.
    pub sign_in: crate::throttle::ThrottlePolicy,
    /// How long audit events are kept (`GATEHOUSE_AUDIT_RETENTION_DAYS`).
    pub audit_retention: Duration,
    /// The resource self-registered clients get when an authorization
    /// request names none (`GATEHOUSE_DEFAULT_RESOURCE`): MCP clients that
    /// omit `resource` would otherwise get a platform-API token their MCP
    /// server refuses. Admin-registered clients are the platform's own apps
    /// and keep the platform API unless they carry a `default_resource`.
    pub default_resource: Option<String>,
    /// Dynamic registrations that may create a client per address and hour
    /// (`GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR`); 0: no limit.
    pub registrations_per_hour: u32,
    /// Self-registered clients (dynamic, metadata document) with no live
    /// grant and unused this long are deleted
    /// (`GATEHOUSE_DYNAMIC_CLIENT_IDLE_DAYS`); `None`: never.
    pub client_idle: Option<Duration>,
    /// Hosts allowed or denied to publish client metadata documents.
    pub cimd_hosts: crate::cimd::HostPolicy,
    /// Whether platform admins must set up a second factor before acting
    /// as admins (`GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`).
    pub require_mfa_for_admins: bool,
}

impl Settings {
    /// Settings for a server whose public base URL is `base` (no trailing
    /// slash), with the documented defaults.
    pub fn for_base_url(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        Self {
            issuer: format!("{base}/api/v1/oauth"),
            api_audience: format!("{base}/api/v1"),
            access_token_ttl: Duration::hours(1),
            refresh_token_ttl: Duration::days(30),
            code_ttl: Duration::seconds(60),
            session_ttl: Duration::hours(12),
            refresh_grace: Duration::ZERO,
            registration: RegistrationPolicy::Open,
            registration_token: None,
            sign_in: crate::throttle::ThrottlePolicy::default(),
            audit_retention: Duration::days(90),
            default_resource: None,
            registrations_per_hour: 20,
            client_idle: Some(Duration::days(30)),
            cimd_hosts: crate::cimd::HostPolicy::default(),
            require_mfa_for_admins: false,
        }
    }
}

/// The authorization server, independent of any transport.
pub struct Gatehouse {
    pub(crate) ports: Ports,
    pub(crate) settings: Settings,
    keyring: RwLock<Arc<Keyring>>,
    /// The MAC keys of refresh tokens, one per signing key.
    refresh_keys: RwLock<Arc<crate::refresh::RefreshKeys>>,
    /// HMAC key for CSRF tokens, derived from the master key.
    csrf_key: ring::hmac::Key,
    master_key: Vec<u8>,
    /// When keys were last re-read for an unknown `kid`; bounds how often a
    /// stream of forged tokens can make us hit the store.
    last_key_reload: std::sync::Mutex<OffsetDateTime>,
    /// Access tokens whose signature and issuer were already checked, by
    /// hash. A resource server introspects (and a client presents to
    /// userinfo) the same token many times over its life, and an ECDSA
    /// verification costs three times a signature; a hit costs one SHA-256.
    /// Only the signature check is skipped: expiry, audience and revocation
    /// are checked on every use.
    verified: quick_cache::sync::Cache<crate::secret::TokenHash, Arc<AccessClaims>>,
    /// Failed password checks, per account and address.
    pub(crate) throttle: crate::throttle::SignInThrottle,
    /// Token uses not yet written (see [`crate::usage`]).
    pub(crate) usage: crate::usage::UsageLog,
    /// Client-creating dynamic registrations per address.
    pub(crate) registrations: crate::rate::HourlyBudget,
    /// Passkey sign-ins begun without an account (each stores a challenge
    /// row until it is answered or expires) per address.
    pub(crate) passkey_challenges: crate::rate::HourlyBudget,
    /// Set when the server starts a graceful stop: held requests (RFC 8936
    /// long polls) answer at once instead of holding the stop up.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// Upstream providers' discovery documents and keys.
    pub(crate) upstream_cache: upstream::UpstreamCache,
}

/// How many verified access tokens [`Gatehouse`] remembers (a few hundred
/// bytes each). Beyond that the least used are evicted and verified again
/// when next presented.
pub const VERIFIED_TOKEN_CACHE: usize = 8192;

impl fmt::Debug for Gatehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatehouse")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// How the master key was obtained, so the server can warn about the weak
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// From configuration (`GATEHOUSE_SECRET_KEY`).
    Configured,
    /// Generated and kept in the store beside what it protects.
    Stored,
}

impl Gatehouse {
    /// Builds the server: settles the master key and loads (or creates) the
    /// signing key.
    ///
    /// # Errors
    /// Fails if the store is unreachable or a stored key cannot be decrypted
    /// with the master key (a changed `GATEHOUSE_SECRET_KEY`).
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn start(
        ports: Ports,
        settings: Settings,
        master_key: Option<Vec<u8>>,
    ) -> anyhow::Result<(Self, MasterKeySource)> {
        let (master_key, source) = match master_key {
            Some(k) => (k, MasterKeySource::Configured),
            None => {
                let mut candidate = [0u8; 32];
                fill_random(&mut candidate);
                (
                    ports.keys.master_key_or_init(&candidate).await?,
                    MasterKeySource::Stored,
                )
            }
        };
        let keyring = load_keyring(&ports, &settings, &master_key).await?;
        let refresh_keys = load_refresh_keys(&ports, &keyring, &master_key).await?;
        let csrf_key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &derive_key(&master_key, "gatehouse/csrf/v1"),
        );
        let throttle = crate::throttle::SignInThrottle::new(settings.sign_in.clone());
        Ok((
            Self {
                throttle,
                usage: crate::usage::UsageLog::default(),
                registrations: crate::rate::HourlyBudget::new(settings.registrations_per_hour),
                passkey_challenges: crate::rate::HourlyBudget::new(
                    passkeys::ANONYMOUS_CHALLENGES_PER_HOUR,
                ),
                draining: std::sync::atomic::AtomicBool::new(false),
                upstream_cache: upstream::UpstreamCache::default(),
                ports,
                settings,
                keyring: RwLock::new(Arc::new(keyring)),
                refresh_keys: RwLock::new(Arc::new(refresh_keys)),
                csrf_key,
                master_key,
                last_key_reload: std::sync::Mutex::new(OffsetDateTime::UNIX_EPOCH),
                verified: quick_cache::sync::Cache::new(VERIFIED_TOKEN_CACHE),
            },
            source,
        ))
    }

    /// Marks the start of a graceful stop: requests held open waiting for
    /// something (Shared Signals long polls) answer now, so in-flight
    /// requests finish promptly.
    pub fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The deployment settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The ports, for health checks and background jobs.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// The current time, per the configured clock.
    pub fn now(&self) -> OffsetDateTime {
        self.ports.clock.now()
    }

    pub(crate) fn keyring(&self) -> Arc<Keyring> {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn refresh_keys(&self) -> Arc<crate::refresh::RefreshKeys> {
        self.refresh_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The public JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.keyring().jwks().clone()
    }

    /// Whether an unknown `kid` may trigger a key reload now (at most once a
    /// second); records the attempt.
    pub(crate) fn may_reload_keys(&self) -> bool {
        let now = self.now();
        let mut last = self
            .last_key_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if now - *last >= Duration::seconds(1) {
            *last = now;
            true
        } else {
            false
        }
    }

    /// Re-reads the keys from the store (another instance may have rotated).
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        let kr = load_keyring(&self.ports, &self.settings, &self.master_key).await?;
        let rk = load_refresh_keys(&self.ports, &kr, &self.master_key).await?;
        *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(kr);
        *self.refresh_keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rk);
        // A key may have left the set: nothing verified with it may stand.
        self.verified.clear();
        Ok(())
    }

    /// Starts signing with a new key. The old one stays published until the
    /// tokens it signed have expired.
    pub async fn rotate_signing_key(&self) -> anyhow::Result<String> {
        let now = self.now();
        let old = self.keyring().active_kid().to_owned();
        let kid = create_key(&self.ports, &self.master_key, now).await?;
        self.ports.keys.retire_signing_key(&old, now).await?;
        self.reload_keys().await?;
        self.audit(
            AuditEvent::new(AuditKind::KeyRotated, now)
                .detail("kid", kid.clone())
                .detail("previous", old),
        )
        .await;
        Ok(kid)
    }

    /// Removes expired codes, tokens and sessions, self-registered clients
    /// idle longer than `GATEHOUSE_DYNAMIC_CLIENT_IDLE_DAYS`, signal streams
    /// nobody polled for a day, and forgets
    /// sign-in failures old enough not to matter.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        self.throttle.prune(now);
        self.registrations.prune(now);
        let reaped = match self.settings.client_idle {
            Some(idle) => self.reap_idle_clients(now - idle, "idle").await?,
            None => 0,
        };
        let streams = self.reap_idle_streams().await?;
        let tokens = self.ports.tokens.purge_expired(now).await?;
        let audit = self
            .ports
            .audit_log
            .purge_audit(now - self.settings.audit_retention)
            .await?;
        Ok(tokens + audit + reaped + streams)
    }

    /// Deletes self-registered clients with no live grant, unused since
    /// `idle_before`, in batches, each with a `client.deleted` audit event
    /// giving `reason`. Returns how many went.
    ///
    /// # Errors
    /// A store failure (what was deleted before it stays deleted).
    pub(crate) async fn reap_idle_clients(
        &self,
        idle_before: OffsetDateTime,
        reason: &'static str,
    ) -> Result<u64, StoreError> {
        const BATCH: u32 = 500;
        let mut total = 0u64;
        loop {
            let gone = self
                .ports
                .clients
                .delete_idle_clients(idle_before, BATCH)
                .await?;
            for id in &gone {
                self.publish_revocation(
                    crate::model::RevokedSubject::Client { client: id.clone() },
                    "client_deleted",
                )
                .await;
                self.audit(
                    AuditEvent::new(AuditKind::ClientDeleted, self.now())
                        .client(id)
                        .detail("reason", reason),
                )
                .await;
            }
            total += gone.len() as u64;
            if gone.len() < BATCH as usize {
                break;
            }
        }
        if total > 0 {
            tracing::info!(
                clients = total,
                reason,
                "idle self-registered clients deleted"
            );
        }
        Ok(total)
    }

    /// Writes the last-used times recorded since the previous call, as one
    /// batch; called about once a minute and at shutdown. Returns how many
    /// grants and clients were touched. A failed batch is kept for the
    /// next call.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn flush_usage(&self) -> Result<usize, StoreError> {
        let batch = self.usage.drain();
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        match self.ports.tokens.record_use(&batch).await {
            Ok(()) => Ok(n),
            Err(e) => {
                self.usage.restore(batch);
                Err(e)
            }
        }
    }

    /// Logs `event` at `gatehouse::audit` and hands it to the audit sink.
    /// Never fails the caller: the sink reports its own trouble.
    pub(crate) async fn audit(&self, event: AuditEvent) {
        crate::audit::log(&event);
        self.ports.audit.record(event).await;
    }

    /// The sign-in throttle (for inspection; every password check already
    /// goes through it).
    pub fn sign_in_throttle(&self) -> &crate::throttle::SignInThrottle {
        &self.throttle
    }

    /// Whether the store answers.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.ports.keys.ping().await
    }
}

async fn create_key(ports: &Ports, master: &[u8], now: OffsetDateTime) -> anyhow::Result<String> {
    let (key, pkcs8) = SigningKey::generate()?;
    let stored = StoredKey {
        kid: key.kid().to_owned(),
        encrypted_private_key: seal_private_key(master, key.kid(), &pkcs8)?,
        public_key: key.public_key().to_vec(),
        created_at: now,
        retired_at: None,
    };
    ports.keys.insert_signing_key(&stored).await?;
    Ok(stored.kid)
}

/// The refresh tokens' MAC keys: one per signing key ever stored (a
/// refresh token outlives the access tokens its key signed), minting with
/// the active key's.
async fn load_refresh_keys(
    ports: &Ports,
    keyring: &Keyring,
    master: &[u8],
) -> anyhow::Result<crate::refresh::RefreshKeys> {
    let keys = ports.keys.signing_keys().await?;
    Ok(crate::refresh::RefreshKeys::new(
        master,
        keyring.active_kid(),
        keys.iter().map(|k| k.kid.as_str()),
    ))
}

async fn load_keyring(
    ports: &Ports,
    settings: &Settings,
    master: &[u8],
) -> anyhow::Result<Keyring> {
    let now = ports.clock.now();
    let mut keys = ports.keys.signing_keys().await?;
    if !keys.iter().any(|k| k.retired_at.is_none()) {
        create_key(ports, master, now).await?;
        keys = ports.keys.signing_keys().await?;
    }
    // Several instances may create a key at once; all pick the same one: the
    // newest active key, ties broken by kid.
    let active = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .max_by(|a, b| a.created_at.cmp(&b.created_at).then(a.kid.cmp(&b.kid)))
        .ok_or_else(|| anyhow::anyhow!("no active signing key after creating one"))?;
    let pkcs8 = open_private_key(master, &active.kid, &active.encrypted_private_key)?;
    let signer = SigningKey::from_pkcs8(active.kid.clone(), &pkcs8)?;
    // A retired key stays published for as long as a token it signed can live.
    let published = keys
        .iter()
        .filter(|k| k.kid != active.kid)
        .filter(|k| {
            k.retired_at
                .is_none_or(|at| at + settings.access_token_ttl > now)
        })
        .map(|k| PublicKey {
            kid: k.kid.clone(),
            point: k.public_key.clone(),
        })
        .collect();
    Ok(Keyring::new(signer, published))
}
