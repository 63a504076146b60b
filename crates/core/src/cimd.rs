//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! the MCP specification's preferred registration): a `client_id` that is an
//! https URL names a JSON document describing the client, fetched on demand.
//!
//! Fetching is I/O and a server-side request forgery risk, so it sits behind
//! the [`MetadataFetcher`] port; the server's adapter refuses private targets
//! and bounds size and time. This module decides what a valid document is
//! and how long it may be trusted.

use async_trait::async_trait;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::metadata::{ClientMetadata, MAX_REDIRECT_URIS};
use crate::model::{
    ApplicationType, Client, ClientId, ClientOrigin, GrantType, TokenEndpointAuthMethod,
};

/// Shortest time a fetched document is trusted, whatever its headers say.
pub const MIN_CACHE: Duration = Duration::seconds(60);
/// Longest time a fetched document is trusted, whatever its headers say.
pub const MAX_CACHE: Duration = Duration::hours(24);
/// How long a document without cache headers is trusted.
pub const DEFAULT_CACHE: Duration = Duration::minutes(5);

/// A fetched document.
#[derive(Debug, Clone)]
pub struct FetchedDocument {
    /// The response body.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, if the server sent one.
    pub max_age: Option<Duration>,
}

/// Why a document could not be fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The URL points somewhere Gatehouse will not go (private address,
    /// redirect, non-https).
    #[error("refused to fetch the client metadata document: {0}")]
    Refused(String),
    /// The fetch failed (timeout, status, size, TLS).
    #[error("could not fetch the client metadata document: {0}")]
    Failed(String),
}

/// Fetches client metadata documents from the network.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MetadataFetcher: Send + Sync {
    /// GETs `url` (already checked by [`is_metadata_client_id`]).
    ///
    /// # Errors
    /// [`FetchError::Refused`] for forbidden targets, [`FetchError::Failed`]
    /// for everything else; never follows redirects.
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError>;
}

/// Whether `client_id` is a metadata-document URL: https, with a path, no
/// fragment, no credentials, no dot segments, whether written plainly or
/// percent-encoded (`/%2e%2e/`, which URL parsers resolve like `/../`),
/// and no encoded or backslash separators.
pub fn is_metadata_client_id(client_id: &str) -> bool {
    if !client_id.starts_with("https://") || client_id.contains(['#', '\\']) {
        return false;
    }
    let Ok(url) = Url::parse(client_id) else {
        return false;
    };
    let raw_path = client_id
        .trim_start_matches("https://")
        .split_once('/')
        .map(|(_, p)| p)
        .unwrap_or("");
    let path = raw_path.split('?').next().unwrap_or("");
    let sneaky = |seg: &str| {
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        decoded == "." || decoded == ".." || decoded.contains(['/', '\\'])
    };
    url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some()
        && url.path() != "/"
        && !path.split('/').any(sneaky)
}

/// Which hosts may publish client metadata documents
/// (`GATEHOUSE_CIMD_ALLOWED_HOSTS` / `GATEHOUSE_CIMD_DENIED_HOSTS`): an
/// operator who only wants known MCP clients lists their hosts; one who
/// wants everyone but a nuisance denies it. Denial wins over allowance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    allowed: Vec<HostPattern>,
    denied: Vec<HostPattern>,
}

/// `example.com` (that host only) or `*.example.com` (any host below it,
/// not `example.com` itself). Compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    /// Lower-cased, without the `*.`.
    host: String,
    subdomains: bool,
}

impl HostPattern {
    fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim().to_ascii_lowercase();
        let (host, subdomains) = match raw.strip_prefix("*.") {
            Some(rest) => (rest.to_owned(), true),
            None => (raw.clone(), false),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!("'{raw}' is not a host name or a *.domain pattern"));
        }
        Ok(Self { host, subdomains })
    }

    fn matches(&self, host: &str) -> bool {
        if self.subdomains {
            host.strip_suffix(&self.host)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            host == self.host
        }
    }
}

impl HostPolicy {
    /// Parses the two comma-separated lists (either may be empty).
    ///
    /// # Errors
    /// Which entry is not a host name or `*.domain` pattern.
    pub fn parse(allowed: &str, denied: &str) -> Result<Self, String> {
        let list = |raw: &str| {
            raw.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(HostPattern::parse)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            allowed: list(allowed)?,
            denied: list(denied)?,
        })
    }

    /// Whether documents at `client_id`'s host may be used: not denied,
    /// and allowed when an allow list is set.
    pub fn permits(&self, client_id: &str) -> bool {
        let Some(host) = Url::parse(client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        else {
            return false;
        };
        let host = host.trim_end_matches('.');
        !self.denied.iter().any(|p| p.matches(host))
            && (self.allowed.is_empty() || self.allowed.iter().any(|p| p.matches(host)))
    }
}

/// Validates a fetched document and turns it into a client record: the
/// shared metadata rules ([`ClientMetadata::parse`]) plus the draft's and
/// the MCP specification's own: the document names itself, holds no secret,
/// lists 1 to 20 redirect URIs, names the client, and asks only for the
/// authorization code grant (and refresh tokens).
///
/// # Errors
/// A description of the first problem, safe to show on the error page.
pub fn client_from_document(
    client_id: &str,
    doc: &FetchedDocument,
    now: OffsetDateTime,
) -> Result<Client, String> {
    let value: Value =
        serde_json::from_slice(&doc.body).map_err(|e| format!("the document is not JSON: {e}"))?;
    let body = value
        .as_object()
        .ok_or("the document must be a JSON object")?;
    let get = |k: &str| body.get(k).filter(|v| !v.is_null());
    if get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("the document's client_id must equal its URL exactly".into());
    }
    if get("client_secret").is_some() || get("client_secret_expires_at").is_some() {
        return Err("a metadata document must not contain a client secret".into());
    }
    let m = ClientMetadata::parse(&value).map_err(|e| e.to_string())?;
    if m.auth_method
        .is_some_and(|a| a != TokenEndpointAuthMethod::None)
    {
        return Err(
            "token_endpoint_auth_method must be none (no shared secret is possible)".into(),
        );
    }
    if m.redirect_uris.is_empty() {
        return Err(format!(
            "redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs"
        ));
    }
    let grant_types = m
        .grant_types
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode]);
    if let Some(g) = grant_types
        .iter()
        .find(|g| !matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
    {
        return Err(format!(
            "grant type '{}' is not available to metadata-document clients",
            g.as_str()
        ));
    }
    if !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err("grant_types must include authorization_code".into());
    }
    if m.response_types
        .is_some_and(|rt| rt.iter().any(|r| r != "code"))
    {
        return Err("response_types must be [\"code\"]".into());
    }
    // The MCP specification makes client_name required: it is what the
    // consent page shows.
    let name = m.client_name.ok_or("client_name is required")?;
    let host = Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let ttl = doc
        .max_age
        .unwrap_or(DEFAULT_CACHE)
        .clamp(MIN_CACHE, MAX_CACHE);
    Ok(Client {
        id: ClientId::parse(client_id).map_err(|e| e.0.to_owned())?,
        secret_hash: None,
        name,
        description: format!("Client metadata published at {host}"),
        redirect_uris: m.redirect_uris,
        allowed_scopes: m.scope,
        auth_method: TokenEndpointAuthMethod::None,
        grant_types,
        application_type: m.application_type.unwrap_or(ApplicationType::Native),
        origin: ClientOrigin::Metadata,
        require_pkce: true,
        registration_token_hash: None,
        metadata: Value::Object(m.extra),
        metadata_expires_at: Some(now + ttl),
        created_at: now,
        updated_at: now,
        last_used_at: None,
        registration_key: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn host_patterns_match_a_host_or_what_is_below_a_domain() {
        let p = super::HostPolicy::parse("claude.ai, *.Example.com", "bad.example.com").unwrap();
        for (id, ok) in [
            ("https://claude.ai/oauth/client.json", true),
            ("https://CLAUDE.ai./oauth/client.json", true),
            ("https://evil-claude.ai/c.json", false),
            ("https://api.claude.ai/c.json", false),
            ("https://tools.example.com/c.json", true),
            ("https://a.b.example.com/c.json", true),
            ("https://example.com/c.json", false),
            ("https://notexample.com/c.json", false),
            ("https://bad.example.com/c.json", false),
            ("not a url", false),
        ] {
            assert_eq!(p.permits(id), ok, "{id}");
        }
        let open = super::HostPolicy::parse("", "*.evil.test").unwrap();
        assert!(open.permits("https://anyone.example/c.json"));
        assert!(!open.permits("https://x.evil.test/c.json"));
        for bad in [
            "*",
            "*.",
            "exa mple.com",
            "https://x.com",
            "-x.com",
            "*.*.com",
        ] {
            assert!(super::HostPolicy::parse(bad, "").is_err(), "{bad}");
        }
    }

    use super::*;
    use crate::model::validate_name;
    use crate::redirect::RedirectUri;
    use crate::scope::ADMIN_SCOPE;
    use proptest::prelude::*;

    /// Metadata documents for `URL`, each field plausible or hostile.
    fn document_like() -> impl Strategy<Value = Value> {
        crate::testing::client_metadata_like().prop_map(|mut doc| {
            doc.insert("client_id".into(), json!(URL));
            Value::Object(doc)
        })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any fetched body is accepted or refused without panicking; an
        /// accepted document becomes a public client whose every field
        /// re-validates.
        #[test]
        fn accepted_documents_revalidate(doc in document_like(), junk in any::<Vec<u8>>()) {
            let now = OffsetDateTime::UNIX_EPOCH;
            let _ = client_from_document(URL, &FetchedDocument { body: junk, max_age: None }, now);
            let fetched = FetchedDocument { body: serde_json::to_vec(&doc).unwrap(), max_age: None };
            if let Ok(c) = client_from_document(URL, &fetched, now) {
                prop_assert!(!c.is_confidential());
                prop_assert_eq!(validate_name(&c.name), Ok(c.name.clone()));
                for r in &c.redirect_uris {
                    prop_assert_eq!(RedirectUri::parse(r.as_str()), Ok(r.clone()));
                }
                prop_assert!(!c.allowed_scopes.contains(ADMIN_SCOPE));
                let extra = c.metadata.as_object().unwrap();
                prop_assert_eq!(crate::metadata::optional_fields(extra), Ok(extra.clone()));
            }
        }

        /// Whatever is presented as a client_id, the check never panics,
        /// and a metadata URL is https with a path and no dot segment in
        /// any spelling.
        #[test]
        fn metadata_client_ids_are_clean(raw in crate::testing::uri_like()) {
            if is_metadata_client_id(&raw) {
                let url = Url::parse(&raw).unwrap();
                prop_assert_eq!(url.scheme(), "https");
                prop_assert!(!raw.contains('#'));
                prop_assert!(url.path() != "/");
                let path = raw["https://".len()..].split('?').next().unwrap_or("");
                for seg in path.split('/') {
                    let d = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
                    prop_assert!(d != "." && d != "..");
                }
            }
        }
    }

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn doc(v: Value, max_age: Option<Duration>) -> FetchedDocument {
        FetchedDocument {
            body: serde_json::to_vec(&v).unwrap(),
            max_age,
        }
    }

    #[test]
    fn metadata_client_ids_are_https_urls_with_a_path() {
        assert!(is_metadata_client_id(URL));
        assert!(!is_metadata_client_id("oauth_abc"));
        assert!(!is_metadata_client_id("http://app.example.com/client.json"));
        assert!(!is_metadata_client_id("https://app.example.com/"));
        assert!(!is_metadata_client_id("https://app.example.com"));
        assert!(!is_metadata_client_id(
            "https://app.example.com/a/../b.json"
        ));
        assert!(!is_metadata_client_id("https://u:p@app.example.com/c.json"));
        assert!(!is_metadata_client_id("https://app.example.com/c.json#x"));
        for encoded in [
            "https://app.example.com/a/%2e%2e/b.json",
            "https://app.example.com/a/%2E%2e/b.json",
            "https://app.example.com/a/.%2e/b.json",
            "https://app.example.com/a/%2e/b.json",
            "https://app.example.com/a%2f..%2fb.json",
            "https://app.example.com/a%5cb.json",
            "https://app.example.com/a\\..\\b.json",
            "https://app.example.com/%2e%2e",
        ] {
            assert!(!is_metadata_client_id(encoded), "{encoded}");
        }
        assert!(is_metadata_client_id(
            "https://app.example.com/a%20b/c.json"
        ));
        assert!(is_metadata_client_id(
            "https://app.example.com/c.json?v=..%2f"
        ));
    }

    #[test]
    fn a_valid_document_becomes_a_public_client_cached_within_bounds() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let d = doc(
            json!({"client_id": URL, "client_name": "App", "redirect_uris": ["http://127.0.0.1:3000/cb"],
                           "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}),
            Some(Duration::days(30)),
        );
        let c = client_from_document(URL, &d, now).unwrap();
        assert_eq!(c.name, "App");
        assert!(!c.is_confidential());
        assert_eq!(c.origin, ClientOrigin::Metadata);
        assert_eq!(c.metadata_expires_at, Some(now + MAX_CACHE));
        let d = doc(
            json!({"client_id": URL, "client_name": "B", "redirect_uris": ["https://app.example.com/cb"]}),
            Some(Duration::ZERO),
        );
        let c = client_from_document(URL, &d, now).unwrap();
        assert_eq!(c.metadata_expires_at, Some(now + MIN_CACHE));
        let d = doc(
            json!({"client_id": URL, "redirect_uris": ["https://app.example.com/cb"]}),
            None,
        );
        assert_eq!(
            client_from_document(URL, &d, now).unwrap_err(),
            "client_name is required"
        );
    }

    #[test]
    fn invalid_documents_are_refused() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let cases = [
            json!({"client_id": "https://other.example.com/c.json", "redirect_uris": ["https://a.example/cb"]}),
            json!({"client_id": URL}),
            json!({"client_id": URL, "redirect_uris": ["http://evil.example/cb"]}),
            json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "client_secret": "x"}),
            json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
            json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "scope": "admin"}),
            json!({"client_id": URL, "client_name": "A", "redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:alert(1)"}),
            json!({"client_id": URL, "client_name": "A", "redirect_uris": ["https://a.example/cb"], "client_uri": "data:text/html,x"}),
            json!({"client_id": URL, "client_name": "Goo\u{202e}elg", "redirect_uris": ["https://a.example/cb"]}),
            json!(["not an object"]),
        ];
        for c in cases {
            assert!(
                client_from_document(URL, &doc(c.clone(), None), now).is_err(),
                "{c}"
            );
        }
        let garbage = FetchedDocument {
            body: b"<html>".to_vec(),
            max_age: None,
        };
        assert!(client_from_document(URL, &garbage, now).is_err());
    }
}
