//! Configuration from the environment: what the operator decides, checked
//! once at start-up so a typo fails loudly instead of as a stream of 401s.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use gatehouse_core::resource::canonical_resource;

/// A credential that must never reach a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Everything the server needs to know about itself and Gatehouse.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GATEHOUSE_ISSUER`: Gatehouse's issuer, e.g. `https://auth.example.com/api/v1/oauth`.
    pub issuer: String,
    /// `MCP_RESOURCE_URL`: this server's resource URI (the `aud` of the tokens
    /// it accepts, and the URL MCP clients connect to), in Gatehouse's
    /// canonical form.
    pub resource: String,
    /// `MCP_ADDR`: where to listen (default `127.0.0.1:8000`).
    pub addr: SocketAddr,
    /// `MCP_CLIENT_ID`: this server's own confidential client at Gatehouse,
    /// registered for token exchange with `resource` = [`Config::resource`].
    pub client_id: String,
    /// `MCP_CLIENT_SECRET`: that client's secret.
    pub client_secret: Secret,
    /// `GATEHOUSE_API_URL`: the platform API (default: the issuer without its
    /// trailing `/oauth`, i.e. `{base}/api/v1`).
    pub api_url: String,
    /// `MCP_REVOCATION`: how a revoked token is refused before it expires.
    pub revocation: Revocation,
    /// `MCP_MAX_TOKEN_LIFETIME` (seconds, default 3600): Gatehouse's
    /// access-token lifetime (`GATEHOUSE_ACCESS_TOKEN_TTL`) or more. With
    /// `signals`, older tokens are refused, since their revocations may
    /// have been forgotten.
    pub max_token_lifetime: Duration,
}

/// How the server learns of revocations (`MCP_REVOCATION`). The trade-off
/// is a round trip per request against how soon a revoked token stops
/// working; README.md has the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// `signals` (default): Gatehouse's Shared Signals stream, applied
    /// locally; introspection while the stream is stale.
    Signals,
    /// `introspection`: ask Gatehouse about every token.
    Introspection,
    /// `expiry`: signatures only; a revoked token works until it expires.
    Expiry,
}

impl Revocation {
    /// The value `MCP_REVOCATION` takes for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Signals => "signals",
            Revocation::Introspection => "introspection",
            Revocation::Expiry => "expiry",
        }
    }
}

impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable has a value that cannot work.
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

fn invalid(name: &'static str, reason: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_string(),
    }
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// A missing or unusable variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (the environment, or a map in tests).
    ///
    /// # Errors
    /// A missing or unusable variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));

        let issuer = required("GATEHOUSE_ISSUER")?;
        let parsed = url::Url::parse(&issuer).map_err(|e| invalid("GATEHOUSE_ISSUER", e))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("GATEHOUSE_ISSUER", "must be an http(s) URL"));
        }

        let addr: SocketAddr = var("MCP_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8000".to_owned())
            .parse()
            .map_err(|e| invalid("MCP_ADDR", e))?;

        // The verifier compares `aud` byte for byte, and Gatehouse puts the
        // canonical form in `aud`: `https://Files.example.com/mcp/` would
        // refuse every token. Canonicalise the same way here.
        let raw_resource = match var("MCP_RESOURCE_URL") {
            Some(url) => url,
            // Only a loopback address is also a URL clients can use; an
            // address like 0.0.0.0 says where to listen, not where clients
            // connect, so the error names what the user set.
            None if addr.ip().is_loopback() => format!("http://{addr}/mcp"),
            None => {
                return Err(invalid(
                    "MCP_ADDR",
                    format!(
                        "{addr} is not a loopback address, so the URL clients connect to cannot be \
                         derived from it: set MCP_RESOURCE_URL to the public URL of the MCP \
                         endpoint (https://…/mcp), as registered with Gatehouse"
                    ),
                ));
            }
        };
        let resource =
            canonical_resource(&raw_resource).map_err(|e| invalid("MCP_RESOURCE_URL", e))?;
        if resource.contains('?') {
            return Err(invalid("MCP_RESOURCE_URL", "must not have a query"));
        }

        let api_url = match var("GATEHOUSE_API_URL") {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => match issuer.trim_end_matches('/').strip_suffix("/oauth") {
                Some(base) => base.to_owned(),
                None => {
                    return Err(invalid(
                        "GATEHOUSE_API_URL",
                        "cannot be derived from an issuer that does not end in /oauth; set it",
                    ));
                }
            },
        };

        // MCP_INTROSPECTION predates the choice of three; it still means
        // what it meant when MCP_REVOCATION is unset.
        let revocation = match var("MCP_REVOCATION").map(|v| v.to_ascii_lowercase()) {
            Some(v) => match v.as_str() {
                "signals" => Revocation::Signals,
                "introspection" => Revocation::Introspection,
                "expiry" => Revocation::Expiry,
                other => {
                    return Err(invalid(
                        "MCP_REVOCATION",
                        format!("'{other}' is none of signals, introspection, expiry"),
                    ));
                }
            },
            None => match var("MCP_INTROSPECTION").as_deref() {
                None => Revocation::Signals,
                Some("true" | "1" | "yes" | "on") => Revocation::Introspection,
                Some("false" | "0" | "no" | "off") => Revocation::Expiry,
                Some(other) => {
                    return Err(invalid(
                        "MCP_INTROSPECTION",
                        format!("'{other}' is neither true nor false"),
                    ));
                }
            },
        };

        let max_token_lifetime = match var("MCP_MAX_TOKEN_LIFETIME") {
            None => Duration::from_secs(3600),
            Some(v) => match v.parse::<u64>() {
                Ok(s @ 60..=86_400) => Duration::from_secs(s),
                _ => {
                    return Err(invalid(
                        "MCP_MAX_TOKEN_LIFETIME",
                        format!("'{v}' is not a number of seconds from 60 to 86400"),
                    ));
                }
            },
        };

        Ok(Self {
            issuer,
            resource,
            addr,
            client_id: required("MCP_CLIENT_ID")?,
            client_secret: Secret::new(required("MCP_CLIENT_SECRET")?),
            api_url,
            revocation,
            max_token_lifetime,
        })
    }

    /// The path MCP clients post to: the resource URI's path.
    pub fn mcp_path(&self) -> String {
        match url::Url::parse(&self.resource) {
            Ok(u) if !u.path().is_empty() => u.path().to_owned(),
            _ => "/".to_owned(),
        }
    }

    /// The host names the MCP endpoint answers to (DNS-rebinding protection
    /// of rmcp's transport): the resource URI's host.
    pub fn allowed_hosts(&self) -> Vec<String> {
        url::Url::parse(&self.resource)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("GATEHOUSE_ISSUER", "http://127.0.0.1:8080/api/v1/oauth"),
        ("MCP_CLIENT_ID", "oauth_abc"),
        ("MCP_CLIENT_SECRET", "secret_xyz"),
    ];

    #[test]
    fn defaults_derive_the_resource_and_the_platform_api() {
        let c = config(BASE).unwrap();
        assert_eq!(c.resource, "http://127.0.0.1:8000/mcp");
        assert_eq!(c.api_url, "http://127.0.0.1:8080/api/v1");
        assert_eq!(c.mcp_path(), "/mcp");
        assert_eq!(c.allowed_hosts(), vec!["127.0.0.1".to_owned()]);
        assert_eq!(c.revocation, Revocation::Signals);
        assert_eq!(c.max_token_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn the_token_lifetime_is_bounded_like_gatehouses() {
        let mut vars = BASE.to_vec();
        vars.push(("MCP_MAX_TOKEN_LIFETIME", "900"));
        assert_eq!(
            config(&vars).unwrap().max_token_lifetime,
            Duration::from_secs(900)
        );
        for bad in ["59", "86401", "1h"] {
            let mut vars = BASE.to_vec();
            vars.push(("MCP_MAX_TOKEN_LIFETIME", bad));
            assert!(matches!(
                config(&vars),
                Err(ConfigError::Invalid {
                    name: "MCP_MAX_TOKEN_LIFETIME",
                    ..
                })
            ));
        }
    }

    fn revocation(extra: &[(&str, &str)]) -> Result<Revocation, ConfigError> {
        let mut vars = BASE.to_vec();
        vars.extend_from_slice(extra);
        config(&vars).map(|c| c.revocation)
    }

    #[test]
    fn the_revocation_mode_is_named_or_derived_from_the_deprecated_switch() {
        assert_eq!(
            revocation(&[("MCP_REVOCATION", "introspection")]).unwrap(),
            Revocation::Introspection
        );
        assert_eq!(
            revocation(&[("MCP_REVOCATION", "Expiry")]).unwrap(),
            Revocation::Expiry
        );
        assert_eq!(
            revocation(&[("MCP_INTROSPECTION", "true")]).unwrap(),
            Revocation::Introspection
        );
        assert_eq!(
            revocation(&[("MCP_INTROSPECTION", "false")]).unwrap(),
            Revocation::Expiry
        );
        // The new variable wins over the old one.
        assert_eq!(
            revocation(&[
                ("MCP_REVOCATION", "signals"),
                ("MCP_INTROSPECTION", "false")
            ])
            .unwrap(),
            Revocation::Signals
        );
        assert!(matches!(
            revocation(&[("MCP_REVOCATION", "sometimes")]),
            Err(ConfigError::Invalid {
                name: "MCP_REVOCATION",
                ..
            })
        ));
    }

    #[test]
    fn the_resource_is_put_in_gatehouses_canonical_form() {
        let mut vars = BASE.to_vec();
        vars.push(("MCP_RESOURCE_URL", "HTTPS://Files.Example.com/mcp/"));
        let c = config(&vars).unwrap();
        assert_eq!(c.resource, "https://files.example.com/mcp");
        assert_eq!(c.allowed_hosts(), vec!["files.example.com".to_owned()]);
    }

    #[test]
    fn listening_on_every_interface_needs_the_public_url_and_says_so() {
        let mut vars = BASE.to_vec();
        vars.push(("MCP_ADDR", "0.0.0.0:8000"));
        match config(&vars) {
            Err(
                e @ ConfigError::Invalid {
                    name: "MCP_ADDR", ..
                },
            ) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("0.0.0.0:8000") && msg.contains("MCP_RESOURCE_URL"),
                    "{msg}"
                );
            }
            other => panic!("{other:?}"),
        }
        vars.push(("MCP_RESOURCE_URL", "https://files.example.com/mcp"));
        let c = config(&vars).unwrap();
        assert_eq!(c.resource, "https://files.example.com/mcp");
    }

    #[test]
    fn unusable_values_are_refused_by_name() {
        let mut vars = BASE.to_vec();
        vars.push(("MCP_RESOURCE_URL", "http://files.example.com/mcp"));
        assert!(matches!(
            config(&vars),
            Err(ConfigError::Invalid {
                name: "MCP_RESOURCE_URL",
                ..
            })
        ));
        assert!(matches!(
            config(&BASE[..2]),
            Err(ConfigError::Missing("MCP_CLIENT_SECRET"))
        ));
        let mut vars = BASE.to_vec();
        vars.push(("MCP_INTROSPECTION", "maybe"));
        assert!(config(&vars).is_err());
    }

    #[test]
    fn the_secret_is_not_printed() {
        let c = config(BASE).unwrap();
        assert!(!format!("{c:?}").contains("secret_xyz"));
    }
}
