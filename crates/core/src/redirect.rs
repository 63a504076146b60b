//! Redirect URIs: where an authorization response may be sent.
//!
//! Open redirectors and code theft start with loose matching, so the rule is
//! exact string comparison. The single exception is RFC 8252 §7.3: native
//! apps listen on an ephemeral loopback port, so for `http` loopback URIs the
//! port may differ while everything else must still be identical.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

/// Longest redirect URI accepted; real ones are far shorter.
const MAX_LEN: usize = 2000;

/// Schemes that would run code or read files instead of delivering a code.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "about", "blob"];

/// Why a redirect URI was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI.
    #[error("redirect URI must be an absolute URI")]
    NotAbsolute,
    /// Carries a `#fragment` (RFC 6749 §3.1.2).
    #[error("redirect URI must not contain a fragment")]
    Fragment,
    /// Plain `http` to a host other than loopback.
    #[error("http redirect URIs are allowed only for loopback hosts (127.0.0.1, [::1], localhost)")]
    InsecureHttp,
    /// A scheme that executes or reads locally.
    #[error("redirect URI scheme is not allowed")]
    ForbiddenScheme,
    /// Over the length bound.
    #[error("redirect URI is too long")]
    TooLong,
}

/// A registered redirect URI, validated once at registration.
#[derive(Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    /// Set for `http` loopback URIs, whose port may vary at authorization.
    loopback: Option<LoopbackParts>,
}

#[derive(Clone, PartialEq, Eq)]
struct LoopbackParts {
    host: String,
    path: String,
    query: Option<String>,
}

fn loopback_parts(url: &Url) -> Option<LoopbackParts> {
    if url.scheme() != "http" {
        return None;
    }
    let is_loopback = match url.host()? {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    if !is_loopback || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    Some(LoopbackParts {
        host: url.host_str()?.to_ascii_lowercase(),
        path: url.path().to_owned(),
        query: url.query().map(str::to_owned),
    })
}

impl RedirectUri {
    /// Validates a redirect URI offered for registration.
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        if raw.len() > MAX_LEN {
            return Err(RedirectUriError::TooLong);
        }
        // URL parsers drop tabs, newlines and surrounding spaces, so a URI
        // with them would be registered as one string and followed as
        // another: refuse them outright.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RedirectUriError::NotAbsolute);
        }
        let url = Url::parse(raw).map_err(|_| RedirectUriError::NotAbsolute)?;
        if raw.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        let scheme = url.scheme();
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(RedirectUriError::ForbiddenScheme);
        }
        let loopback = loopback_parts(&url);
        if scheme == "http" && loopback.is_none() {
            return Err(RedirectUriError::InsecureHttp);
        }
        if (scheme == "http" || scheme == "https") && url.host_str().is_none_or(str::is_empty) {
            return Err(RedirectUriError::NotAbsolute);
        }
        Ok(Self {
            raw: raw.to_owned(),
            loopback,
        })
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host a user should see on the consent page ("where will my
    /// browser be sent?"); for custom schemes, the scheme itself.
    pub fn display_host(&self) -> String {
        match Url::parse(&self.raw) {
            Ok(u) => match u.host_str() {
                Some(h) => match u.port() {
                    Some(p) if self.loopback.is_none() => format!("{h}:{p}"),
                    _ => h.to_owned(),
                },
                None => format!("{}:", u.scheme()),
            },
            Err(_) => self.raw.clone(),
        }
    }

    /// Whether this is an `http` loopback URI (a native or CLI client).
    pub fn is_loopback(&self) -> bool {
        self.loopback.is_some()
    }

    /// Whether this is an `http` or `https` URI (as opposed to a native
    /// app's custom scheme, which any app on the device may claim).
    pub fn is_web(&self) -> bool {
        Url::parse(&self.raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
    }

    /// Whether a `redirect_uri` presented at `/authorize` or `/token` matches
    /// this registration: byte-for-byte, or for loopback `http` URIs equal in
    /// everything but the port.
    pub fn matches(&self, presented: &str) -> bool {
        if presented == self.raw {
            return true;
        }
        let Some(registered) = &self.loopback else {
            return false;
        };
        if presented.contains('#') {
            return false;
        }
        match Url::parse(presented).ok().as_ref().and_then(loopback_parts) {
            Some(p) => p == *registered,
            None => false,
        }
    }
}

impl fmt::Debug for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedirectUri({})", self.raw)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for RedirectUri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        RedirectUri::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any registration candidate is accepted or refused without
        /// panicking; an accepted one re-validates, matches itself, has no
        /// fragment, whitespace or control character, and is never plain
        /// http to a remote host or a forbidden scheme.
        #[test]
        fn accepted_redirect_uris_revalidate(raw in crate::testing::uri_like(), port in 1u16..) {
            if let Ok(r) = RedirectUri::parse(&raw) {
                prop_assert_eq!(RedirectUri::parse(r.as_str()), Ok(r.clone()));
                prop_assert!(r.matches(r.as_str()));
                prop_assert!(!raw.contains('#'));
                prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()));
                let url = Url::parse(&raw).unwrap();
                prop_assert!(!FORBIDDEN_SCHEMES.contains(&url.scheme()));
                prop_assert!(url.scheme() != "http" || r.is_loopback());
                // Only a loopback URI's port may vary.
                if r.is_web() {
                    let mut other = url.clone();
                    if other.set_port(Some(port)).is_ok() && other.as_str() != raw {
                        prop_assert_eq!(r.matches(other.as_str()), r.is_loopback());
                    }
                }
            }
        }

        /// Matching is total: anything presented is matched or not, and a
        /// non-loopback URI matches only itself.
        #[test]
        fn matching_never_panics(registered in crate::testing::uri_like(), presented in crate::testing::uri_like()) {
            if let Ok(r) = RedirectUri::parse(&registered) {
                let m = r.matches(&presented);
                if !r.is_loopback() {
                    prop_assert_eq!(m, presented == registered);
                }
            }
        }
    }

    #[test]
    fn https_uris_match_exactly_and_only_exactly() {
        let r = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(r.matches("https://app.example.com/cb"));
        assert!(!r.matches("https://app.example.com/cb/"));
        assert!(!r.matches("https://app.example.com/cb?x=1"));
        assert!(!r.matches("https://APP.example.com/cb"));
        assert!(!r.matches("https://app.example.com:444/cb"));
        assert!(!r.matches("https://app.example.com.evil.com/cb"));
    }

    #[test]
    fn loopback_uris_may_vary_only_the_port() {
        let r = RedirectUri::parse("http://localhost:8000/oauth/callback").unwrap();
        assert!(r.matches("http://localhost:8000/oauth/callback"));
        assert!(r.matches("http://localhost:53123/oauth/callback"));
        assert!(r.matches("http://localhost/oauth/callback"));
        assert!(!r.matches("http://localhost:8000/oauth/other"));
        assert!(!r.matches("http://127.0.0.1:8000/oauth/callback"));
        assert!(!r.matches("https://localhost:8000/oauth/callback"));
        assert!(!r.matches("http://user@localhost:8000/oauth/callback"));
        let ip = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(ip.matches("http://127.0.0.1:4000/cb"));
        let v6 = RedirectUri::parse("http://[::1]:1/cb").unwrap();
        assert!(v6.matches("http://[::1]:2/cb"));
    }

    #[test]
    fn registration_refuses_unsafe_uris() {
        assert_eq!(
            RedirectUri::parse("http://example.com/cb"),
            Err(RedirectUriError::InsecureHttp)
        );
        assert_eq!(
            RedirectUri::parse("https://example.com/cb#x"),
            Err(RedirectUriError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("/relative"),
            Err(RedirectUriError::NotAbsolute)
        );
        assert_eq!(
            RedirectUri::parse("javascript:alert(1)"),
            Err(RedirectUriError::ForbiddenScheme)
        );
        assert!(RedirectUri::parse("com.example.app:/oauth2redirect").is_ok());
    }

    #[test]
    fn display_host_is_what_the_user_should_check() {
        let r = RedirectUri::parse("https://app.example.com:8443/cb").unwrap();
        assert_eq!(r.display_host(), "app.example.com:8443");
        let l = RedirectUri::parse("http://localhost:8000/cb").unwrap();
        assert_eq!(l.display_host(), "localhost");
        assert!(l.is_loopback());
    }
}
