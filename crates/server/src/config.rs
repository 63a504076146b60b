//! Configuration: defaults, then an optional TOML file named by
//! `GATEHOUSE_CONFIG`, then `GATEHOUSE_*` environment variables (DESIGN §3).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use gatehouse_core::service::RegistrationPolicy;
use serde::{Deserialize, Serialize};

use crate::http::client_addr::TrustedProxies;
use crate::telemetry::LogFormat;

/// Everything an operator can set.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// `GATEHOUSE_ADDR`: where to listen.
    pub addr: SocketAddr,
    /// `GATEHOUSE_PUBLIC_URL`: the external base URL; defaults to
    /// `http://{addr}`.
    pub public_url: Option<String>,
    /// `GATEHOUSE_DATABASE_URL`: `sqlite://PATH` (the default, an embedded
    /// file), `postgres://…` (or `postgresql://…`), or `memory` (nothing
    /// survives a restart).
    pub database_url: DatabaseUrl,
    /// `GATEHOUSE_DATABASE_POOL_SIZE`: the most database connections this
    /// instance opens (PostgreSQL), or reading connections beside the one
    /// writer (SQLite).
    pub database_pool_size: u32,
    /// `GATEHOUSE_CACHE_TTL_SECONDS`: how long clients, users and protected
    /// resources read from a database store are reused before being read
    /// again. Changes made through this instance apply at once; other
    /// instances on the same database see them within this time. 0 turns
    /// the caches off.
    pub cache_ttl_seconds: u32,
    /// `GATEHOUSE_ADMIN_EMAIL`: the first admin's email.
    pub admin_email: String,
    /// `GATEHOUSE_ADMIN_PASSWORD`: the first admin's password; generated and
    /// printed once when unset.
    #[serde(default, deserialize_with = "string_like")]
    pub admin_password: Option<String>,
    /// `GATEHOUSE_SECRET_KEY`: the master key (at least 32 bytes).
    #[serde(default, deserialize_with = "string_like")]
    pub secret_key: Option<String>,
    /// `GATEHOUSE_ACCESS_TOKEN_TTL`: seconds.
    pub access_token_ttl: u32,
    /// `GATEHOUSE_REFRESH_TOKEN_TTL`: seconds.
    pub refresh_token_ttl: u32,
    /// `GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE`: failed password checks one
    /// client address may make on one account in a minute before waits
    /// begin (five times as many across accounts; see docs/security.md).
    pub login_attempts_per_minute: u32,
    /// `GATEHOUSE_TRUSTED_PROXIES`: comma-separated IPs and CIDRs of the
    /// reverse proxies whose `X-Forwarded-For`/`Forwarded` and
    /// `X-Forwarded-Proto` are believed. Empty: none.
    #[serde(default, deserialize_with = "proxies")]
    pub trusted_proxies: TrustedProxies,
    /// `GATEHOUSE_REGISTRATION`: `open`, `token` or `off`.
    pub registration: RegistrationPolicy,
    /// `GATEHOUSE_REGISTRATION_TOKEN`: the initial access token accepted
    /// when registration is `token` (admins' access tokens work too).
    #[serde(default, deserialize_with = "string_like")]
    pub registration_token: Option<String>,
    /// `GATEHOUSE_REFRESH_GRACE_SECONDS`: how long a just-rotated refresh
    /// token may be replayed once by its client; 0 disables.
    pub refresh_grace_seconds: u32,
    /// `GATEHOUSE_CIMD`: accept Client ID Metadata Documents.
    pub cimd: bool,
    /// `GATEHOUSE_CIMD_ALLOW_LOOPBACK`: let metadata documents be fetched
    /// from loopback addresses (tests only).
    pub cimd_allow_loopback: bool,
    /// `GATEHOUSE_EXTRA_CA_FILE`: PEM roots trusted for outbound fetches.
    pub extra_ca_file: Option<String>,
    /// `GATEHOUSE_LOG_FORMAT`: `text` (the default) or `json`.
    pub log_format: LogFormat,
    /// `GATEHOUSE_METRICS_ADDR`: serve `/metrics` only on this address
    /// (e.g. an internal interface), not on the main listener.
    pub metrics_addr: Option<SocketAddr>,
    /// `GATEHOUSE_AUDIT_RETENTION_DAYS`: how long audit events are kept.
    pub audit_retention_days: u32,
    /// `GATEHOUSE_OTLP_ENDPOINT`: an OTLP/HTTP collector (its base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`) to send traces to; unset, none are.
    pub otlp_endpoint: Option<String>,
    /// `GATEHOUSE_DEFAULT_RESOURCE`: the registered resource URI that
    /// dynamically registered and metadata-document clients get when an
    /// authorization request names no `resource` (docs/mcp.md).
    pub default_resource: Option<String>,
    /// `GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR`: dynamic registrations
    /// that create a client, per client address (IPv6: per /64) and hour;
    /// the same software registering again does not count. 0: no limit.
    pub registrations_per_address_per_hour: u32,
    /// `GATEHOUSE_DYNAMIC_CLIENT_IDLE_DAYS`: dynamic and metadata-document
    /// clients with no live grant, unused this many days, are deleted. 0:
    /// never.
    pub dynamic_client_idle_days: u32,
    /// `GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`: platform admins must set up a
    /// second factor before the console or an admin API token is theirs.
    pub require_mfa_for_admins: bool,
    /// `GATEHOUSE_CIMD_ALLOWED_HOSTS`: comma-separated hosts (`*.example.com`
    /// for any host below it) that may publish client metadata documents;
    /// empty: any.
    pub cimd_allowed_hosts: String,
    /// `GATEHOUSE_CIMD_DENIED_HOSTS`: hosts whose documents are refused,
    /// whatever the allow list says.
    pub cimd_denied_hosts: String,
}

/// Where the data lives: `GATEHOUSE_DATABASE_URL`, parsed once at load, so
/// the set of valid URLs is written in one place.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DatabaseUrl {
    /// `memory`: process memory; nothing survives a restart.
    Memory,
    /// `sqlite://PATH`: an embedded SQLite file (created if missing).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: a PostgreSQL server.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a `GATEHOUSE_DATABASE_URL`.
    ///
    /// # Errors
    /// A scheme Gatehouse has no store for, or an SQLite URL naming no file
    /// (or SQLite's in-memory database, which each pooled connection would
    /// see separately).
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if matches!(url, "memory" | "memory://") {
            Ok(Self::Memory)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(path) = gatehouse_store_sqlite::path_from_url(url) {
            Ok(Self::Sqlite(path.to_path_buf()))
        } else {
            anyhow::bail!("GATEHOUSE_DATABASE_URL must be memory, sqlite://PATH or postgres://…")
        }
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = anyhow::Error;
    fn try_from(url: String) -> anyhow::Result<Self> {
        Self::parse(&url)
    }
}

impl From<DatabaseUrl> for String {
    fn from(url: DatabaseUrl) -> Self {
        match url {
            DatabaseUrl::Memory => "memory".to_owned(),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url,
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    /// The URL with any password replaced.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&String::from(self.clone())))
    }
}

/// Reads `GATEHOUSE_TRUSTED_PROXIES` (a string, possibly absent) into the
/// parsed list.
fn proxies<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TrustedProxies, D::Error> {
    let raw = string_like(d)?;
    TrustedProxies::parse(raw.as_deref().unwrap_or("")).map_err(serde::de::Error::custom)
}

/// Accepts a string, or a number or boolean that the environment provider
/// parsed from an unquoted value, as its text: `GATEHOUSE_ADMIN_PASSWORD=12345678`
/// is a password, not an integer.
fn string_like<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            )));
        }
    })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: DatabaseUrl::Sqlite(PathBuf::from("gatehouse.db")),
            database_pool_size: 10,
            cache_ttl_seconds: 1,
            admin_email: "admin@localhost".into(),
            admin_password: None,
            secret_key: None,
            access_token_ttl: 3600,
            refresh_token_ttl: 2_592_000,
            login_attempts_per_minute: 10,
            trusted_proxies: TrustedProxies::default(),
            registration: RegistrationPolicy::Open,
            registration_token: None,
            refresh_grace_seconds: 0,
            cimd: true,
            cimd_allow_loopback: false,
            extra_ca_file: None,
            log_format: LogFormat::Text,
            metrics_addr: None,
            audit_retention_days: 90,
            otlp_endpoint: None,
            default_resource: None,
            registrations_per_address_per_hour: 20,
            dynamic_client_idle_days: 30,
            require_mfa_for_admins: false,
            cimd_allowed_hosts: String::new(),
            cimd_denied_hosts: String::new(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("database_url", &self.database_url)
            .field("database_pool_size", &self.database_pool_size)
            .field("cache_ttl_seconds", &self.cache_ttl_seconds)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("login_attempts_per_minute", &self.login_attempts_per_minute)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("registration", &self.registration)
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_grace_seconds", &self.refresh_grace_seconds)
            .field("cimd", &self.cimd)
            .field("cimd_allow_loopback", &self.cimd_allow_loopback)
            .field("extra_ca_file", &self.extra_ca_file)
            .field("log_format", &self.log_format)
            .field("metrics_addr", &self.metrics_addr)
            .field("audit_retention_days", &self.audit_retention_days)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .field("default_resource", &self.default_resource)
            .field(
                "registrations_per_address_per_hour",
                &self.registrations_per_address_per_hour,
            )
            .field("dynamic_client_idle_days", &self.dynamic_client_idle_days)
            .field("require_mfa_for_admins", &self.require_mfa_for_admins)
            .field("cimd_allowed_hosts", &self.cimd_allowed_hosts)
            .field("cimd_denied_hosts", &self.cimd_denied_hosts)
            .finish()
    }
}

/// Hides a password inside a database URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// Reads the configuration from the file and environment.
    ///
    /// # Errors
    /// A malformed value, with the variable it came from.
    pub fn load() -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("GATEHOUSE_CONFIG") {
            fig = fig.merge(Toml::file_exact(path));
        }
        let cfg: Config = fig
            .merge(Env::prefixed("GATEHOUSE_").ignore(&["config"]))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// How long database reads are cached ([`Config::cache_ttl_seconds`]).
    pub fn cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.cache_ttl_seconds))
    }

    /// Checks values that parse but make no sense.
    ///
    /// # Errors
    /// Which value is wrong and why.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(k) = &self.secret_key
            && k.len() < 32
        {
            anyhow::bail!(
                "GATEHOUSE_SECRET_KEY must be at least 32 bytes (use 32 random bytes, base64-encoded)"
            );
        }
        if let Some(u) = &self.public_url {
            let parsed =
                url::Url::parse(u).map_err(|e| anyhow::anyhow!("GATEHOUSE_PUBLIC_URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
                anyhow::bail!("GATEHOUSE_PUBLIC_URL must be an http(s) URL without a query");
            }
        }
        if self.access_token_ttl < 60 || self.access_token_ttl > 86_400 {
            anyhow::bail!("GATEHOUSE_ACCESS_TOKEN_TTL must be between 60 and 86400 seconds");
        }
        if self.refresh_token_ttl < 300 {
            anyhow::bail!("GATEHOUSE_REFRESH_TOKEN_TTL must be at least 300 seconds");
        }
        if self.registration == RegistrationPolicy::Token
            && self
                .registration_token
                .as_ref()
                .is_some_and(|t| t.len() < 32)
        {
            anyhow::bail!("GATEHOUSE_REGISTRATION_TOKEN must be at least 32 characters");
        }
        if self.cache_ttl_seconds > 60 {
            anyhow::bail!("GATEHOUSE_CACHE_TTL_SECONDS must be at most 60");
        }
        if self.refresh_grace_seconds > 300 {
            anyhow::bail!("GATEHOUSE_REFRESH_GRACE_SECONDS must be at most 300");
        }
        if self.login_attempts_per_minute == 0 {
            anyhow::bail!("GATEHOUSE_LOGIN_ATTEMPTS_PER_MINUTE must be at least 1");
        }
        if !(1..=3650).contains(&self.audit_retention_days) {
            anyhow::bail!("GATEHOUSE_AUDIT_RETENTION_DAYS must be between 1 and 3650");
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            crate::telemetry::traces_url(endpoint)?;
        }
        if let Some(r) = &self.default_resource {
            gatehouse_core::resource::canonical_resource(r)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_DEFAULT_RESOURCE: {e}"))?;
        }
        self.cimd_hosts()?;
        if self.registrations_per_address_per_hour > 100_000 {
            anyhow::bail!("GATEHOUSE_REGISTRATIONS_PER_ADDRESS_PER_HOUR must be at most 100000");
        }
        if self.dynamic_client_idle_days > 3650 {
            anyhow::bail!("GATEHOUSE_DYNAMIC_CLIENT_IDLE_DAYS must be at most 3650");
        }
        if !(1..=1000).contains(&self.database_pool_size) {
            anyhow::bail!("GATEHOUSE_DATABASE_POOL_SIZE must be between 1 and 1000");
        }
        Ok(())
    }

    /// The CIMD host lists, parsed.
    ///
    /// # Errors
    /// Which entry of which variable is not a host or `*.domain` pattern.
    pub fn cimd_hosts(&self) -> anyhow::Result<gatehouse_core::cimd::HostPolicy> {
        gatehouse_core::cimd::HostPolicy::parse(&self.cimd_allowed_hosts, "")
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_CIMD_ALLOWED_HOSTS: {e}"))?;
        gatehouse_core::cimd::HostPolicy::parse(&self.cimd_allowed_hosts, &self.cimd_denied_hosts)
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_CIMD_DENIED_HOSTS: {e}"))
    }

    /// The public base URL without a trailing slash, given the bound address.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn all_digit_secrets_stay_strings() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GATEHOUSE_ADMIN_PASSWORD", "1234567890");
            jail.set_env(
                "GATEHOUSE_SECRET_KEY",
                "12345678901234567890123456789012345",
            );
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(c.admin_password.as_deref(), Some("1234567890"));
            assert_eq!(
                c.secret_key.as_deref(),
                Some("12345678901234567890123456789012345")
            );
            Ok(())
        });
    }

    #[test]
    fn host_lists_name_the_variable_with_the_bad_entry() {
        let c = Config {
            cimd_allowed_hosts: "claude.ai, *.".into(),
            ..Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("GATEHOUSE_CIMD_ALLOWED_HOSTS")
        );
        let c = Config {
            cimd_denied_hosts: "evil .test".into(),
            ..Config::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("GATEHOUSE_CIMD_DENIED_HOSTS")
        );
        let c = Config {
            cimd_allowed_hosts: "claude.ai,*.example.com".into(),
            cimd_denied_hosts: "bad.example.com".into(),
            ..Config::default()
        };
        assert!(
            c.cimd_hosts()
                .unwrap()
                .permits("https://x.example.com/c.json")
        );
    }

    #[test]
    fn a_default_resource_must_be_a_canonicalizable_uri() {
        for bad in ["mcp", "http://mcp.example.com/mcp", "https://a.example/#x"] {
            let c = Config {
                default_resource: Some(bad.into()),
                ..Config::default()
            };
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("GATEHOUSE_DEFAULT_RESOURCE"), "{bad}: {e}");
        }
        let c = Config {
            default_resource: Some("https://MCP.example.com/mcp/".into()),
            ..Config::default()
        };
        assert!(c.validate().is_ok());
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.access_token_ttl, 3600);
        assert_eq!(c.refresh_token_ttl, 2_592_000);
        assert_eq!(
            String::from(c.database_url.clone()),
            "sqlite://gatehouse.db"
        );
        assert_eq!(c.registration, RegistrationPolicy::Open);
        assert_eq!(c.database_pool_size, 10);
        assert_eq!(c.registrations_per_address_per_hour, 20);
        assert_eq!(c.dynamic_client_idle_days, 30);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn database_urls_name_a_supported_store() {
        for ok in [
            "memory",
            "sqlite://gatehouse.db",
            "sqlite:///var/lib/gatehouse/gatehouse.db",
            "postgres://gatehouse:pw@db.internal:5432/gatehouse",
            "postgresql://db.internal/gatehouse",
        ] {
            assert!(DatabaseUrl::parse(ok).is_ok(), "{ok} is refused");
        }
        assert_eq!(DatabaseUrl::parse("memory").unwrap(), DatabaseUrl::Memory);
        for bad in [
            "sqlite://",
            "sqlite://:memory:",
            "mysql://db/gatehouse",
            "gatehouse.db",
            "",
        ] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad} is accepted");
        }
        let c = Config {
            database_pool_size: 0,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type
    fn choices_are_parsed_when_the_configuration_is_loaded() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GATEHOUSE_DATABASE_URL", "postgres://u:secret@db/gh");
            jail.set_env("GATEHOUSE_REGISTRATION", "token");
            jail.set_env("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7");
            let c = Config::load().map_err(|e| e.to_string())?;
            assert_eq!(
                c.database_url,
                DatabaseUrl::Postgres("postgres://u:secret@db/gh".into())
            );
            assert_eq!(c.registration, RegistrationPolicy::Token);
            assert!(c.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
            assert!(!format!("{c:?}").contains(":secret@"));
            for (var, bad) in [
                ("GATEHOUSE_DATABASE_URL", "mysql://db"),
                ("GATEHOUSE_REGISTRATION", "sometimes"),
                ("GATEHOUSE_TRUSTED_PROXIES", "proxy.internal"),
            ] {
                jail.set_env(var, bad);
                let err = Config::load()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(!err.is_empty(), "{var}={bad} is accepted");
                jail.set_env(
                    var,
                    match var {
                        "GATEHOUSE_DATABASE_URL" => "memory",
                        "GATEHOUSE_REGISTRATION" => "open",
                        _ => "",
                    },
                );
            }
            Ok(())
        });
    }

    #[test]
    fn the_cache_ttl_is_at_most_a_minute_and_zero_turns_it_off() {
        assert_eq!(
            Config::default().cache_ttl(),
            std::time::Duration::from_secs(1)
        );
        for (ttl, ok) in [(0, true), (60, true), (61, false)] {
            let c = Config {
                cache_ttl_seconds: ttl,
                ..Config::default()
            };
            assert_eq!(
                c.validate().is_ok(),
                ok,
                "GATEHOUSE_CACHE_TTL_SECONDS={ttl}"
            );
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config {
            admin_password: Some("hunter2hunter2".into()),
            secret_key: Some("k".repeat(40)),
            database_url: DatabaseUrl::parse("postgres://u:pw@localhost/db").unwrap(),
            ..Config::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"));
        assert!(!s.contains("kkkk"));
        assert!(!s.contains(":pw@"));
    }

    #[test]
    fn short_secret_keys_and_bad_urls_are_refused() {
        let c = Config {
            secret_key: Some("short".into()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            public_url: Some("ftp://x".into()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn base_url_defaults_to_the_bound_address() {
        let c = Config::default();
        assert_eq!(
            c.base_url("127.0.0.1:9999".parse().unwrap()),
            "http://127.0.0.1:9999"
        );
        let c = Config {
            public_url: Some("https://auth.example.com/".into()),
            ..Config::default()
        };
        assert_eq!(
            c.base_url("127.0.0.1:1".parse().unwrap()),
            "https://auth.example.com"
        );
    }
}
