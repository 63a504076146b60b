//! Resource indicators (RFC 8707): which API a token is for.
//!
//! Clients send the URI they connected to, and servers publish the URI they
//! answer to; the two rarely agree byte for byte (`HTTPS://MCP.example.com/`
//! vs `https://mcp.example.com`). Every URI is therefore put in one canonical
//! form before it is stored, compared, or placed in `aud`.

use std::net::IpAddr;

use url::{Host, Url};

/// Why a resource URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceUriError {
    /// Not an absolute URI.
    #[error("resource must be an absolute URI")]
    NotAbsolute,
    /// Carries a fragment (RFC 8707 §2).
    #[error("resource must not contain a fragment")]
    Fragment,
    /// Neither https nor http on a loopback host.
    #[error("resource must be an https URI (http only for loopback hosts)")]
    Insecure,
    /// Longer than any real URI.
    #[error("resource URI is too long")]
    TooLong,
}

/// Puts a resource URI in canonical form: scheme and host lower-cased,
/// default port dropped, no trailing slash on the path (`https://a.b/` and
/// `https://a.b` are one resource, as are `/mcp/` and `/mcp`), query kept.
///
/// # Errors
/// Relative URIs, fragments, and plain http to a non-loopback host.
pub fn canonical_resource(raw: &str) -> Result<String, ResourceUriError> {
    if raw.len() > 2000 {
        return Err(ResourceUriError::TooLong);
    }
    if raw.contains('#') {
        return Err(ResourceUriError::Fragment);
    }
    let url = Url::parse(raw).map_err(|_| ResourceUriError::NotAbsolute)?;
    let host = url.host().ok_or(ResourceUriError::NotAbsolute)?;
    let loopback = match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(ResourceUriError::Insecure),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ResourceUriError::NotAbsolute);
    }
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let path = url.path().trim_end_matches('/');
    out.push_str(path);
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Canonical form is a fixed point, and never has a fragment,
        /// credentials or plain http to a remote host.
        #[test]
        fn canonical_resources_are_fixed_points(raw in crate::testing::uri_like()) {
            if let Ok(c) = canonical_resource(&raw) {
                prop_assert_eq!(canonical_resource(&c), Ok(c.clone()));
                prop_assert!(!c.contains('#'));
                prop_assert!(c.starts_with("https://") || c.starts_with("http://"));
            }
        }
    }

    #[test]
    fn equivalent_spellings_share_one_canonical_form() {
        let want = "https://mcp.example.com/mcp";
        for raw in [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcp/",
            "HTTPS://MCP.Example.COM/mcp",
            "https://mcp.example.com:443/mcp",
        ] {
            assert_eq!(canonical_resource(raw).unwrap(), want, "{raw}");
        }
        assert_eq!(
            canonical_resource("https://a.example/").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            canonical_resource("https://a.example").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            canonical_resource("http://127.0.0.1:8080/api/v1").unwrap(),
            "http://127.0.0.1:8080/api/v1"
        );
    }

    #[test]
    fn paths_stay_case_sensitive_and_distinct() {
        assert_ne!(
            canonical_resource("https://a.example/MCP").unwrap(),
            canonical_resource("https://a.example/mcp").unwrap()
        );
        assert_ne!(
            canonical_resource("https://a.example/mcp").unwrap(),
            canonical_resource("https://a.example/mcp2").unwrap()
        );
    }

    #[test]
    fn unsafe_or_malformed_uris_are_refused() {
        assert_eq!(
            canonical_resource("mcp"),
            Err(ResourceUriError::NotAbsolute)
        );
        assert_eq!(
            canonical_resource("https://a.example/#x"),
            Err(ResourceUriError::Fragment)
        );
        assert_eq!(
            canonical_resource("http://a.example/"),
            Err(ResourceUriError::Insecure)
        );
        assert_eq!(
            canonical_resource("ftp://a.example/"),
            Err(ResourceUriError::Insecure)
        );
        assert!(canonical_resource("https://user:pw@a.example/").is_err());
    }
}
