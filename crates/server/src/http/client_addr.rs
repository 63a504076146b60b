//! Who the client is, network-wise, when Gatehouse sits behind proxies
//! (DESIGN §10, `GATEHOUSE_TRUSTED_PROXIES`).
//!
//! Forwarded headers are written by whoever sends the request, so they are
//! believed only when the socket peer is a configured proxy, and then read
//! from the right: each trusted proxy appends the address it received the
//! request from, so the rightmost address that is not a trusted proxy is
//! the first hop nobody we trust vouches past, the client. Anything to its
//! left may be forged. `X-Forwarded-For` is read when present (what nginx,
//! HAProxy, Envoy and the cloud load balancers append to), `Forwarded`
//! (RFC 7239) otherwise: a proxy that appends only to `Forwarded` must drop
//! an incoming `X-Forwarded-For`, or clients could choose their address.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// The configured proxies: addresses and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl serde::Serialize for TrustedProxies {
    /// As the comma-separated list it is configured with.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        s.serialize_str(&list.join(","))
    }
}

impl TrustedProxies {
    /// Parses a comma-separated list of IPs and CIDRs (`10.0.0.0/8,
    /// 192.0.2.7, fd00::/8`). An empty list trusts nobody.
    ///
    /// # Errors
    /// The first entry that is neither an IP address nor a network.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip.to_canonical()),
                    Err(_) => anyhow::bail!(
                        "GATEHOUSE_TRUSTED_PROXIES: '{entry}' is neither an IP address nor a CIDR network"
                    ),
                },
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from socket peer `peer`.
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(|p| p.to_canonical());
        let Some(proxy) = peer.filter(|p| self.contains(*p)) else {
            return peer;
        };
        let hops = match joined(headers, "x-forwarded-for") {
            Some(v) => x_forwarded_for(&v),
            None => match joined(headers, "forwarded") {
                Some(v) => forwarded_for(&v),
                None => return Some(proxy),
            },
        };
        let mut client = proxy;
        for hop in hops.iter().rev() {
            match hop {
                // A hop nobody can name (`unknown`, an obfuscated
                // identifier, garbage): the last address we could vouch
                // for is as close to the client as we get.
                None => return Some(client),
                Some(ip) => {
                    client = *ip;
                    if !self.contains(*ip) {
                        return Some(client);
                    }
                }
            }
        }
        Some(client)
    }

    /// Whether the client reached the edge over https, per a trusted proxy's
    /// `X-Forwarded-Proto` (or `Forwarded: proto=`); `None` when no trusted
    /// proxy said.
    pub fn forwarded_https(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<bool> {
        if !peer.is_some_and(|p| self.contains(p)) {
            return None;
        }
        let proto = match joined(headers, "x-forwarded-proto") {
            Some(v) => v.rsplit(',').next().map(|p| p.trim().to_ascii_lowercase()),
            None => joined(headers, "forwarded").and_then(|v| {
                split_outside_quotes(&v, ',')
                    .into_iter()
                    .rev()
                    .find_map(|element| param(element, "proto"))
                    .map(|p| p.to_ascii_lowercase())
            }),
        }?;
        Some(proto == "https")
    }
}

/// Every field line of `name`, joined with commas as RFC 9110 §5.3 allows.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let v = v.to_str().unwrap_or("\u{0}");
        match &mut out {
            Some(s) => {
                s.push(',');
                s.push_str(v);
            }
            None => out = Some(v.to_owned()),
        }
    }
    out
}

/// `X-Forwarded-For: client, proxy1, proxy2`, left to right.
fn x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value.split(',').map(node).collect()
}

/// RFC 7239 `Forwarded: for=…;proto=…, for=…`, the `for` of each element,
/// left to right.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(|element| param(element, "for").as_deref().and_then(node))
        .collect()
}

/// The value of `name` in one `Forwarded` element, unquoted.
fn param(element: &str, name: &str) -> Option<String> {
    split_outside_quotes(element, ';')
        .into_iter()
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then(|| {
                let v = v.trim();
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .map_or_else(|| v.to_owned(), |inner| inner.replace("\\\"", "\""))
            })
        })
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// One node: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`, `[2001:db8::1]`
/// or `[2001:db8::1]:8080`. Anything else is `None`.
fn node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (host, port) = raw.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Cases per property in the server's unit tests: 2,000, or
/// `PROPTEST_CASES` for a longer run.
#[cfg(test)]
pub(crate) fn proptest_config() -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    proptest::prelude::ProptestConfig {
        cases,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    }
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_trusted_proxies_the_socket_peer_is_the_client() {
        let p = TrustedProxies::parse("").unwrap();
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=1.2.3.4"),
        ]);
        assert_eq!(p.client_address(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        assert_eq!(p.forwarded_https(ip("192.0.2.1"), &h), None);
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client_address(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(p.forwarded_https(ip("192.0.2.1"), &h), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        // The client forged the first entry; our proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(p.client_address(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // Several field lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9:4711"),
        ]);
        assert_eq!(p.client_address(ip("192.0.2.7"), &h), ip("203.0.113.9"));
        // Only proxies in the chain: the leftmost is the best we know.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(p.client_address(ip("10.0.0.5"), &h), ip("10.9.9.9"));
        // No header at all: the proxy itself.
        assert_eq!(
            p.client_address(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        // Garbage right of the client stops the walk at the last good hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, not-an-ip")]);
        assert_eq!(p.client_address(ip("10.0.0.5"), &h), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_is_read_when_x_forwarded_for_is_absent() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = headers(&[(
            "forwarded",
            r#"for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.2.2.2;by=10.0.0.1"#,
        )]);
        assert_eq!(
            p.client_address(ip("10.0.0.5"), &h),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(p.forwarded_https(ip("10.0.0.5"), &h), Some(true));
        let h = headers(&[("forwarded", "for=unknown, for=10.2.2.2")]);
        assert_eq!(p.client_address(ip("10.0.0.5"), &h), ip("10.2.2.2"));
        let h = headers(&[("forwarded", r#"for="_hidden";proto=http"#)]);
        assert_eq!(p.forwarded_https(ip("10.0.0.5"), &h), Some(false));
    }

    #[test]
    fn mapped_and_bracketed_forms_are_one_address() {
        let p = TrustedProxies::parse("::ffff:10.0.0.1").unwrap();
        assert!(p.contains("10.0.0.1".parse().unwrap()));
        let h = headers(&[("x-forwarded-for", "[::ffff:203.0.113.9]:80")]);
        assert_eq!(
            p.client_address(ip("::ffff:10.0.0.1"), &h),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn bad_proxy_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
        assert!(TrustedProxies::parse(" 10.0.0.1 , ,fd00::/8 ").is_ok());
    }

    proptest! {
        #![proptest_config(proptest_config())]

        /// Whatever a client writes into the headers, a request straight
        /// from it is attributed to its socket address, and a request via a
        /// trusted proxy to an address the client wrote or the proxy's.
        #[test]
        fn forwarded_headers_never_panic_and_never_override_an_untrusted_peer(
            xff in "[ -~]{0,120}",
            fwd in "[ -~]{0,120}",
            last in any::<[u8; 4]>(),
        ) {
            let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&xff) { h.append(HeaderName::from_static("x-forwarded-for"), v); }
            if let Ok(v) = HeaderValue::from_str(&fwd) { h.append(HeaderName::from_static("forwarded"), v); }
            let outsider = IpAddr::from([203, 0, 113, last[3]]);
            prop_assert_eq!(p.client_address(Some(outsider), &h), Some(outsider));
            let proxy = IpAddr::from([10, last[1], last[2], last[3]]);
            let seen = p.client_address(Some(proxy), &h);
            prop_assert!(seen.is_some());
            let _ = p.forwarded_https(Some(proxy), &h);
        }

        #[test]
        fn nodes_round_trip(a in any::<[u8; 4]>(), port in 0u16..) {
            let v4 = IpAddr::from(a);
            prop_assert_eq!(node(&v4.to_string()), Some(v4));
            prop_assert_eq!(node(&format!("{v4}:{port}")), Some(v4));
            let v6 = IpAddr::from([a[0], a[1], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a[2], a[3], 1, 2]);
            prop_assert_eq!(node(&format!("[{v6}]:{port}")), Some(v6.to_canonical()));
        }
    }
}
