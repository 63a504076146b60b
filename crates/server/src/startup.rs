//! The composition root: the one place that names concrete adapters and
//! wires them into the core and the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{App, HttpServer, web};
use gatehouse_core::clock::SystemClock;
use gatehouse_core::password::hash_password_blocking;
use gatehouse_core::secret::TokenHash;
use gatehouse_core::service::{AdminPassword, MasterKeySource};
use gatehouse_core::{Gatehouse, Ports, Settings};
use gatehouse_store_memory::MemoryStore;
use gatehouse_store_postgres::PostgresStore;
use gatehouse_store_sqlite::SqliteStore;

use crate::audit::QueuedAudit;
use crate::config::{Config, DatabaseUrl};
use crate::hasher::{BlockingHasher, HASH_QUEUE};
use crate::http::{self, AppState};
use crate::metrics::Metrics;

/// Builds the ports for `database_url`, applying pending migrations first.
/// `pool_size` bounds the connections a database store opens; `cache_ttl`
/// is how long clients, users and resources read from a database store are
/// kept in memory (`gatehouse_core::cache`).
///
/// # Errors
/// An unsupported URL, an unreachable database, or a failed migration.
pub async fn open_store(
    database_url: &DatabaseUrl,
    pool_size: u32,
    cache_ttl: std::time::Duration,
) -> anyhow::Result<Ports> {
    let clock = Arc::new(SystemClock);
    let hasher = Arc::new(BlockingHasher::start(HASH_QUEUE)?);
    let pool_size = usize::try_from(pool_size).unwrap_or(1).max(1);
    match database_url {
        DatabaseUrl::Memory => {
            tracing::warn!("using the in-memory store: nothing survives a restart");
            Ok(Ports::from_store(MemoryStore::new(), clock, hasher))
        }
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::open(path, pool_size).await?;
            tracing::info!(path = %path.display(), "using the SQLite store");
            Ok(Ports::from_store(store, clock, hasher).with_read_cache(cache_ttl))
        }
        DatabaseUrl::Postgres(url) => {
            let store = PostgresStore::connect(url, pool_size).await?;
            tracing::info!(pool_size, sslmode = %store.ssl_mode(), "using the PostgreSQL store");
            Ok(Ports::from_store(store, clock, hasher).with_read_cache(cache_ttl))
        }
    }
}

/// Applies the pending migrations of the store `database_url` names and
/// returns the versions applied (`gatehouse migrate`). The memory store has
/// no schema, so nothing is applied.
///
/// # Errors
/// An unsupported URL, an unreachable database, or a failed migration.
pub async fn migrate_store(database_url: &DatabaseUrl) -> anyhow::Result<Vec<String>> {
    match database_url {
        DatabaseUrl::Memory => Ok(Vec::new()),
        DatabaseUrl::Sqlite(path) => gatehouse_store_sqlite::migrate(path).await,
        DatabaseUrl::Postgres(url) => gatehouse_store_postgres::migrate(url).await,
    }
}

/// The core's settings from the configuration, for the server at `base_url`.
fn settings_for(config: &Config, base_url: &str) -> Settings {
    let mut settings = Settings::for_base_url(base_url);
    settings.access_token_ttl = time::Duration::seconds(config.access_token_ttl.into());
    settings.refresh_token_ttl = time::Duration::seconds(config.refresh_token_ttl.into());
    settings.refresh_grace = time::Duration::seconds(config.refresh_grace_seconds.into());
    settings.registration = config.registration;
    settings.registration_token = config.registration_token.as_deref().map(TokenHash::of);
    settings.sign_in =
        gatehouse_core::throttle::ThrottlePolicy::with_per_minute(config.login_attempts_per_minute);
    settings.audit_retention = time::Duration::days(config.audit_retention_days.into());
    // Validated at load; kept canonical so it compares byte for byte.
    settings.default_resource = config
        .default_resource
        .as_deref()
        .and_then(|r| gatehouse_core::resource::canonical_resource(r).ok());
    settings.registrations_per_hour = config.registrations_per_address_per_hour;
    settings.client_idle = (config.dynamic_client_idle_days > 0)
        .then(|| time::Duration::days(config.dynamic_client_idle_days.into()));
    // Validated at load.
    settings.cimd_hosts = config.cimd_hosts().unwrap_or_default();
    settings.require_mfa_for_admins = config.require_mfa_for_admins;
    settings
}

/// The core on the configured store, without a server: what the operator's
/// commands (`gatehouse users …`, `rotate-key`) act through, so every rule
/// and audit event applies as it does over HTTP. Audit events are written
/// straight to the store (no queue to flush at exit).
///
/// # Errors
/// An unreachable store, a failed migration, or a master key that cannot
/// open the stored keys.
pub async fn open_core(config: &Config) -> anyhow::Result<Gatehouse> {
    let ports = open_store(
        &config.database_url,
        config.database_pool_size,
        config.cache_ttl(),
    )
    .await?;
    let settings = settings_for(config, &config.base_url(config.addr));
    let master = config.secret_key.as_ref().map(|k| k.as_bytes().to_vec());
    let (gatehouse, _) = Gatehouse::start(ports, settings, master).await?;
    Ok(gatehouse)
}

/// Starts signing with a new key (`gatehouse rotate-key`). Every instance on
/// the same store picks it up when it first sees a token signed with it; the
/// old key stays published until its tokens have expired. Returns the new
/// key id.
///
/// # Errors
/// Store failures, or a master key that cannot open the stored keys.
pub async fn rotate_signing_key(config: &Config) -> anyhow::Result<String> {
    open_core(config).await?.rotate_signing_key().await
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    base_url: String,
    server: Server,
    /// The `/metrics` listener when `GATEHOUSE_METRICS_ADDR` is set.
    metrics_server: Option<(u16, Server)>,
    /// Flushed when the server stops, so a graceful stop loses no event.
    audit: Arc<QueuedAudit>,
    gatehouse: Arc<Gatehouse>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the listener, opens the store, starts the core, creates the
    /// first admin, and prepares the HTTP server.
    ///
    /// # Errors
    /// Bind failures, store failures, invalid admin settings.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // One TLS crypto provider for every outbound client in the process
        // (ring, as for JWTs); an error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind(config.addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        let bound = listener.local_addr()?;
        let metrics_listener = config
            .metrics_addr
            .map(|addr| {
                TcpListener::bind(addr).map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} (GATEHOUSE_METRICS_ADDR): {e}")
                })
            })
            .transpose()?;
        let base_url = config.base_url(bound);
        // The first admin's argon2 hash takes longer than the rest of a
        // start; compute it while the store and keys load. Wasted (on the
        // other core) when an admin exists already. An invalid configured
        // password is reported below, only if an admin is to be created.
        let early_admin = AdminPassword::new(config.admin_password.as_deref())
            .ok()
            .map(|admin| {
                let password = admin.password().clone();
                // Not on the hashing thread: this one-off hash's buffer is
                // the process's first large allocation, which the allocator
                // maps and unmaps, so an idle server keeps nothing of it.
                let hash = tokio::task::spawn_blocking(move || hash_password_blocking(&password));
                (admin, hash)
            });
        let mut ports = open_store(
            &config.database_url,
            config.database_pool_size,
            config.cache_ttl(),
        )
        .await?;
        if config.cimd {
            ports.fetcher = Some(Arc::new(crate::fetch::HttpFetcher::new(
                config.extra_ca_file.as_deref(),
                config.cimd_allow_loopback,
            )?));
        }
        ports.upstream = Some(Arc::new(crate::upstream::HttpUpstream::new(
            config.extra_ca_file.as_deref(),
        )?));
        let metrics = Arc::new(Metrics::new());
        ports.observer = metrics.clone();
        let audit = Arc::new(QueuedAudit::spawn(ports.audit_log.clone(), metrics.clone()));
        ports.audit = audit.clone();
        let settings = settings_for(&config, &base_url);
        let master = config.secret_key.as_ref().map(|k| k.as_bytes().to_vec());
        let (gatehouse, source) = Gatehouse::start(ports, settings, master).await?;
        if source == MasterKeySource::Stored {
            tracing::warn!(
                "GATEHOUSE_SECRET_KEY is not set: using a generated master key kept in the store. \
                 Set GATEHOUSE_SECRET_KEY in production so the signing keys are not stored beside their key."
            );
        }
        let gatehouse = Arc::new(gatehouse);
        let created = match early_admin {
            Some((admin, hash)) => {
                gatehouse
                    .ensure_admin_hashed(&config.admin_email, admin, async move { hash.await? })
                    .await
            }
            None => {
                gatehouse
                    .ensure_admin(&config.admin_email, config.admin_password.as_deref())
                    .await
            }
        };
        match created {
            Ok(Some((email, password))) => {
                // Printed, not logged: the operator needs it once, log
                // pipelines must never see it.
                println!(
                    "\n  Gatehouse created the first administrator.\n  email:    {}\n  password: {}\n  This password is shown only once.\n",
                    email.as_str(),
                    password.expose()
                );
            }
            Ok(None) => {}
            Err(e) => anyhow::bail!("cannot create the first administrator: {e}"),
        }
        if gatehouse.default_resource_is_usable().await == Some(false) {
            tracing::warn!(
                resource = config.default_resource.as_deref().unwrap_or_default(),
                "GATEHOUSE_DEFAULT_RESOURCE is not a registered resource: authorization requests \
                 that name no resource will fail with invalid_target until it is registered"
            );
        }
        spawn_purger(gatehouse.clone());
        crate::push::spawn_pusher(
            gatehouse.clone(),
            Arc::new(crate::push::HttpPusher::new(
                config.extra_ca_file.as_deref(),
            )?),
        );
        let state = AppState::new(
            gatehouse.clone(),
            base_url.clone(),
            config.trusted_proxies.clone(),
            metrics.clone(),
        );
        // `/metrics` on the main listener, unless an operator gave it an
        // address of its own (an internal interface, say).
        let metrics_here = metrics_listener.is_none();
        let metrics_data = web::Data::from(metrics.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(metrics_data.clone())
                .configure(|cfg| {
                    if metrics_here {
                        cfg.route("/metrics", web::get().to(http::metrics));
                    }
                })
                .wrap(actix_web::middleware::from_fn(
                    http::resource_metadata_challenge,
                ))
                .wrap(Compress::default())
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(actix_web::middleware::from_fn(http::observe::observe))
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        tracing::info!(issuer = %gatehouse.settings().issuer, addr = %bound, "Gatehouse is listening");
        let metrics_server = match metrics_listener {
            Some(listener) => {
                let addr = listener.local_addr()?;
                let data = web::Data::from(metrics);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/metrics", web::get().to(http::metrics))
                        .default_service(web::to(http::not_found))
                })
                .workers(1)
                .shutdown_timeout(5)
                .listen(listener)?
                .run();
                tracing::info!(addr = %addr, "metrics are served at /metrics on their own address");
                Some((addr.port(), server))
            }
            None => None,
        };
        Ok(Self {
            port: bound.port(),
            base_url,
            server,
            metrics_server,
            audit,
            gatehouse,
        })
    }

    /// The bound port (useful with port 0 in tests).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The core, for tests that want to inspect or seed state.
    pub fn gatehouse(&self) -> Arc<Gatehouse> {
        self.gatehouse.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (drains in-flight requests) or
    /// [`ServerHandle::stop`].
    ///
    /// # Errors
    /// An I/O failure of the server.
    ///
    /// The metrics listener, if any, stops when the main server does.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        // actix-server stops on SIGTERM by itself; this only tells the core
        // so held long polls answer now rather than delay the stop.
        let gatehouse = self.gatehouse.clone();
        let drain = tokio::spawn(async move {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                gatehouse.drain();
            }
        });
        let result = self.server.await;
        drain.abort();
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        if !self.audit.flush(Duration::from_secs(10)).await {
            tracing::warn!("audit events still queued at shutdown were not all stored");
        }
        if let Err(e) = self.gatehouse.flush_usage().await {
            tracing::warn!(error = %e, "last-used times recorded since the last minute were not stored");
        }
        result
    }

    /// The port of the separate metrics listener, if one was configured.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }
}

/// Once a minute, off the request path: re-reads the signing keys, writes
/// the minute's last-used times, and drops expired codes, tokens and
/// sessions.
fn spawn_purger(gatehouse: Arc<Gatehouse>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            // Pick up keys rotated by `gatehouse rotate-key` or another
            // instance, so every instance signs with the newest key.
            if let Err(e) = gatehouse.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
            if let Err(e) = gatehouse.flush_usage().await {
                tracing::warn!(error = %e, "storing last-used times failed; kept for the next minute");
            }
            match gatehouse.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "purged expired records"),
                Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
            }
        }
    });
}
