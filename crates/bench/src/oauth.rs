//! The client side of standard OAuth: metadata discovery (RFC 8414 or
//! OpenID discovery), PKCE, and reading token and authorization responses.
//! Nothing here knows which server it talks to.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Deserialize;
use url::Url;

/// The endpoints a server's metadata document names.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the metadata came from.
    pub metadata: Url,
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization: Url,
    /// `token_endpoint`.
    pub token: Url,
    /// `introspection_endpoint`, if any.
    pub introspection: Option<Url>,
    /// `userinfo_endpoint`, if any.
    pub userinfo: Option<Url>,
    /// `jwks_uri`.
    pub jwks: Url,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    introspection_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
}

fn endpoint(name: &str, raw: &str) -> anyhow::Result<Url> {
    Url::parse(raw).with_context(|| format!("{name} {raw} is not a URL"))
}

/// The RFC 8414 metadata location for `issuer` (path-inserted
/// `.well-known`, as Gatehouse serves it).
pub fn rfc8414_location(issuer: &str) -> anyhow::Result<Url> {
    let u = Url::parse(issuer).context("--issuer is not a URL")?;
    let path = u.path().trim_end_matches('/');
    let mut m = u.clone();
    m.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    Ok(m)
}

/// Fetches and reads the metadata document.
///
/// # Errors
/// Unreachable server, non-200, or a document without the endpoints.
pub async fn discover(http: &reqwest::Client, metadata: Url) -> anyhow::Result<Endpoints> {
    let res = http
        .get(metadata.clone())
        .send()
        .await
        .with_context(|| format!("fetching {metadata}"))?;
    if !res.status().is_success() {
        bail!("{metadata} answered {}", res.status());
    }
    let m: Metadata = res
        .json()
        .await
        .with_context(|| format!("reading {metadata}"))?;
    Ok(Endpoints {
        metadata,
        issuer: m.issuer,
        authorization: endpoint("authorization_endpoint", &m.authorization_endpoint)?,
        token: endpoint("token_endpoint", &m.token_endpoint)?,
        introspection: m
            .introspection_endpoint
            .map(|u| endpoint("introspection_endpoint", &u))
            .transpose()?,
        userinfo: m
            .userinfo_endpoint
            .map(|u| endpoint("userinfo_endpoint", &u))
            .transpose()?,
        jwks: endpoint("jwks_uri", &m.jwks_uri)?,
    })
}

/// A client id and secret (`client_secret_post`).
#[derive(Clone)]
pub struct Credentials {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.id)
    }
}

/// A PKCE pair (RFC 7636, S256).
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The verifier: 43 base64url characters.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair from the system's random source.
    ///
    /// # Errors
    /// The random source failed.
    pub fn generate(rng: &SystemRandom) -> anyhow::Result<Self> {
        let mut raw = [0u8; 32];
        rng.fill(&mut raw)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        let verifier = URL_SAFE_NO_PAD.encode(raw);
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Ok(Self {
            challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            verifier,
        })
    }
}

/// The parts of a token response the workloads use.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// The (rotated) refresh token, when one was issued.
    pub refresh_token: Option<String>,
}

/// An authorization request to send with PKCE.
#[derive(Debug, Clone)]
pub struct AuthorizeParams {
    /// Client.
    pub client_id: String,
    /// Registered redirect URI.
    pub redirect_uri: String,
    /// Requested scope.
    pub scope: String,
    /// RFC 8707 resource, if any.
    pub resource: Option<String>,
}

impl AuthorizeParams {
    /// The full authorization URL for one attempt.
    pub fn url(&self, endpoint: &Url, state: &str, pkce: &Pkce) -> Url {
        let mut u = endpoint.clone();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scope)
                .append_pair("state", state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(r) = &self.resource {
                q.append_pair("resource", r);
            }
        }
        u
    }
}

/// What an authorization redirect carried back to `redirect_uri`.
///
/// # Errors
/// The redirect is an error response, lacks a code, or echoes another state.
pub fn code_from_redirect(location: &Url, state: &str) -> anyhow::Result<String> {
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    for (k, v) in location.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        bail!("authorization error: {e}");
    }
    if got_state.as_deref() != Some(state) {
        bail!("the redirect's state does not match");
    }
    code.context("the redirect carries no code")
}

/// Resolves a `Location` header against the URL that answered.
///
/// # Errors
/// A missing or unparsable header.
pub fn location(res: &reqwest::Response) -> anyhow::Result<Url> {
    let raw = res
        .headers()
        .get(reqwest::header::LOCATION)
        .context("redirect without Location")?
        .to_str()
        .context("Location is not text")?;
    res.url()
        .join(raw)
        .with_context(|| format!("bad Location {raw}"))
}

/// Form-encodes pairs for a request body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_location_inserts_the_well_known_segment_before_the_path() {
        assert_eq!(
            rfc8414_location("http://127.0.0.1:8080/api/v1/oauth")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/.well-known/oauth-authorization-server/api/v1/oauth"
        );
        assert_eq!(
            rfc8414_location("http://127.0.0.1:3000").unwrap().as_str(),
            "http://127.0.0.1:3000/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn pkce_challenge_is_the_s256_of_the_verifier() {
        let p = Pkce::generate(&SystemRandom::new()).unwrap();
        assert_eq!(p.verifier.len(), 43);
        let d = ring::digest::digest(&ring::digest::SHA256, p.verifier.as_bytes());
        assert_eq!(p.challenge, URL_SAFE_NO_PAD.encode(d));
    }

    #[test]
    fn redirects_yield_their_code_only_with_the_right_state() {
        let u = Url::parse("http://localhost:8000/cb?code=abc&state=s1&iss=x").unwrap();
        assert_eq!(code_from_redirect(&u, "s1").unwrap(), "abc");
        assert!(code_from_redirect(&u, "s2").is_err());
        let e = Url::parse("http://localhost:8000/cb?error=access_denied&state=s1").unwrap();
        assert!(code_from_redirect(&e, "s1").is_err());
    }
}
