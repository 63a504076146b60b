//! Configuration: defaults, then an optional TOML file named by
//! `GATEHOUSE_CONFIG`, then `GATEHOUSE_*` environment variables (DESIGN §3).

use std::fmt;
use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

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
    pub database_url: String,
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
    #[serde(default, deserialize_with = "string_like")]
    pub trusted_proxies: Option<String>,
    /// `GATEHOUSE_REGISTRATION`: `open`, `token` or `off`.
    pub registration: String,
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
            database_url: "sqlite://gatehouse.db".into(),
            database_pool_size: 10,
            cache_ttl_seconds: 1,
            admin_email: "admin@localhost".into(),
            admin_password: None,
            secret_key: None,
            access_token_ttl: 3600,
            refresh_token_ttl: 2_592_000,
            login_attempts_per_minute: 10,
            trusted_proxies: None,
            registration: "open".into(),
            registration_token: None,
            refresh_grace_seconds: 0,
            cimd: true,
            cimd_allow_loopback: false,
            extra_ca_file: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("public_url", &self.public_url)
            .field("database_url", &redact_url(&self.database_url))
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
        if !matches!(self.registration.as_str(), "open" | "token" | "off") {
            anyhow::bail!("GATEHOUSE_REGISTRATION must be open, token or off");
        }
        if self.registration == "token"
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
        crate::http::client_addr::TrustedProxies::parse(
            self.trusted_proxies.as_deref().unwrap_or(""),
        )?;
        let db = self.database_url.as_str();
        let known = matches!(db, "memory" | "memory://")
            || gatehouse_store_sqlite::path_from_url(db).is_some()
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://");
        if !known {
            anyhow::bail!("GATEHOUSE_DATABASE_URL must be memory, sqlite://PATH or postgres://…");
        }
        if !(1..=1000).contains(&self.database_pool_size) {
            anyhow::bail!("GATEHOUSE_DATABASE_POOL_SIZE must be between 1 and 1000");
        }
        Ok(())
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
    fn defaults_match_the_design() {
        let c = Config::default();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.access_token_ttl, 3600);
        assert_eq!(c.refresh_token_ttl, 2_592_000);
        assert_eq!(c.database_url, "sqlite://gatehouse.db");
        assert_eq!(c.database_pool_size, 10);
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
            let c = Config {
                database_url: ok.into(),
                ..Config::default()
            };
            assert!(c.validate().is_ok(), "{ok} is refused");
        }
        for bad in [
            "sqlite://",
            "sqlite://:memory:",
            "mysql://db/gatehouse",
            "gatehouse.db",
            "",
        ] {
            let c = Config {
                database_url: bad.into(),
                ..Config::default()
            };
            assert!(c.validate().is_err(), "{bad} is accepted");
        }
        let c = Config {
            database_pool_size: 0,
            ..Config::default()
        };
        assert!(c.validate().is_err());
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
            database_url: "postgres://u:pw@localhost/db".into(),
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
