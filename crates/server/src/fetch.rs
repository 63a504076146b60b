//! Outbound fetches of client metadata documents, guarded against
//! server-side request forgery.
//!
//! A client_id URL is chosen by whoever sends the authorization request, so
//! the fetch must never reach the operator's private network: every address
//! the host resolves to must be public (or loopback, when tests allow it),
//! the connection goes to the address that was checked (no DNS rebinding
//! between check and connect), redirects are not followed, and size and time
//! are bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::cimd::{FetchError, FetchedDocument, MetadataFetcher};

/// Largest document accepted.
const MAX_DOCUMENT: usize = 64 * 1024;
/// Total time for one fetch.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The production fetcher.
#[derive(Clone)]
pub struct HttpFetcher {
    tls: Arc<rustls::ClientConfig>,
    allow_loopback: bool,
}

impl std::fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("allow_loopback", &self.allow_loopback)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// A fetcher trusting the Mozilla roots plus the PEM certificates in
    /// `extra_ca_file`.
    ///
    /// # Errors
    /// An unreadable or invalid CA file.
    pub fn new(extra_ca_file: Option<&str>, allow_loopback: bool) -> anyhow::Result<Self> {
        let tls = client_tls(extra_ca_file)?;
        Ok(Self {
            tls: Arc::new(tls),
            allow_loopback,
        })
    }
}

/// TLS for Gatehouse's outbound requests: the Mozilla roots plus the PEM
/// certificates in `extra_ca_file` (`GATEHOUSE_EXTRA_CA_FILE`), on the ring
/// provider (the process's one crypto library).
///
/// # Errors
/// An unreadable CA file, or one without a certificate.
pub fn client_tls(extra_ca_file: Option<&str>) -> anyhow::Result<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("GATEHOUSE_EXTRA_CA_FILE {path}: {e}"))?
        {
            let cert = cert.map_err(|e| anyhow::anyhow!("GATEHOUSE_EXTRA_CA_FILE {path}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("GATEHOUSE_EXTRA_CA_FILE {path}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("GATEHOUSE_EXTRA_CA_FILE {path} holds no certificate");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Whether an address may be fetched from: globally routable unicast only.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b)) // NAT64 to anything
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}

fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    is_public(ip) || (allow_loopback && ip.is_loopback())
}

/// `max-age` from a Cache-Control header; `no-store`/`no-cache` mean zero.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<time::Duration> {
    let cc = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for d in cc.split(',').map(str::trim) {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(time::Duration::ZERO);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            age = v
                .trim_matches('"')
                .parse::<i64>()
                .ok()
                .map(time::Duration::seconds);
        }
    }
    age
}

#[async_trait]
impl MetadataFetcher for HttpFetcher {
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError> {
        let parsed = url::Url::parse(url).map_err(|e| FetchError::Refused(e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(FetchError::Refused("only https URLs are fetched".into()));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| FetchError::Refused("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
                .await
                .map_err(|_| FetchError::Failed("DNS lookup timed out".into()))?
                .map_err(|e| FetchError::Failed(format!("DNS lookup failed: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(FetchError::Failed("the host has no address".into()));
        }
        // Every address must pass: an attacker controlling DNS could mix a
        // public address with a private one.
        if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip(), self.allow_loopback)) {
            return Err(FetchError::Refused(format!(
                "{} resolves to a non-public address ({})",
                host,
                bad.ip()
            )));
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .no_proxy()
            // Connect to the address just checked, not to a fresh lookup.
            .resolve_to_addrs(&host, &addrs)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        let res = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Failed(e.to_string()))?;
        if res.status().is_redirection() {
            return Err(FetchError::Refused("redirects are not followed".into()));
        }
        if !res.status().is_success() {
            return Err(FetchError::Failed(format!("status {}", res.status())));
        }
        if res
            .content_length()
            .is_some_and(|l| l > MAX_DOCUMENT as u64)
        {
            return Err(FetchError::Failed("the document is too large".into()));
        }
        let age = max_age(res.headers());
        let mut body = Vec::new();
        let mut res = res;
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| FetchError::Failed(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(FetchError::Failed("the document is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedDocument { body, max_age: age })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true));
        assert!(!allowed("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn cache_headers_are_read() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Some(time::Duration::seconds(600)));
        h.insert(reqwest::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&h), Some(time::Duration::ZERO));
    }

    #[tokio::test]
    async fn forbidden_targets_are_refused_before_any_connection() {
        let f = HttpFetcher::new(None, false).unwrap();
        for url in [
            "https://127.0.0.1/client.json",
            "https://10.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "https://localhost/client.json",
            "http://example.com/client.json",
        ] {
            assert!(
                matches!(f.fetch(url).await, Err(FetchError::Refused(_))),
                "{url}"
            );
        }
    }
}
