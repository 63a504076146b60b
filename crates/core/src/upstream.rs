//! Talking to upstream identity providers: the outbound HTTP port, OpenID
//! discovery, and checking an upstream's ID token against its JWKS.
//!
//! Gatehouse's own tokens are ES256 only ([`crate::jwt`]). Upstream ID
//! tokens are whatever the provider signs with (Google, Entra and Okta use
//! RS256), so this module accepts a fixed short list of asymmetric
//! algorithms, and only with a key of the matching type: `none` and every
//! HMAC algorithm are refused before any key is looked at, which closes the
//! algorithm-confusion attacks a general JOSE library has to be configured
//! against.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature;
use serde_json::Value;
use time::OffsetDateTime;

/// Why an outbound request to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamHttpError {
    /// No answer: refused, timed out, TLS failed, too large.
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    /// An answer that is not JSON.
    #[error("the identity provider answered with something other than JSON (HTTP {0})")]
    NotJson(u16),
}

/// A JSON answer and its status.
#[derive(Debug, Clone)]
pub struct JsonReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

/// Outbound HTTP to identity providers. The server implements it with
/// bounded time and size and no redirects; the core decides what to ask
/// and what to believe.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UpstreamHttp: Send + Sync {
    /// `GET url` with `Accept: application/json`, and a bearer token when
    /// given.
    async fn get_json(
        &self,
        url: &str,
        bearer: Option<String>,
    ) -> Result<JsonReply, UpstreamHttpError>;

    /// `POST url` with a form body, `Accept: application/json`, and HTTP
    /// Basic client authentication with `basic`'s id and secret when given
    /// (the implementation form-encodes them, RFC 6749 §2.3.1).
    async fn post_form(
        &self,
        url: &str,
        form: Vec<(String, String)>,
        basic: Option<(String, String)>,
    ) -> Result<JsonReply, UpstreamHttpError>;
}

/// What Gatehouse needs from an OpenID provider's discovery document.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderMetadata {
    /// The `issuer`, equal to the configured one byte for byte.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is redeemed.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Where claims missing from the ID token can be read.
    pub userinfo_endpoint: Option<String>,
    /// Whether the token endpoint takes `client_secret_basic`; otherwise
    /// the secret is posted in the form (`client_secret_post`).
    pub basic_auth: bool,
}

/// Reads a discovery document fetched for `issuer` (OpenID Connect
/// Discovery §4.3: its `issuer` must be exactly the one it was fetched
/// for, or a provider could speak for another).
///
/// # Errors
/// What is missing or wrong, for the admin to read.
pub fn parse_discovery(issuer: &str, doc: &Value) -> Result<ProviderMetadata, String> {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let url = |k: &str| -> Result<String, String> {
        let v = text(k).ok_or_else(|| format!("the discovery document has no {k}"))?;
        check_endpoint(&v).map_err(|e| format!("{k}: {e}"))?;
        Ok(v)
    };
    let found = text("issuer").unwrap_or_default();
    if found != issuer {
        return Err(format!(
            "the discovery document names issuer {found:?}, not {issuer:?}"
        ));
    }
    let methods: Vec<&str> = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Absent means client_secret_basic (Discovery §3).
    let basic_auth = methods.is_empty() || methods.contains(&"client_secret_basic");
    if !basic_auth && !methods.contains(&"client_secret_post") {
        return Err(
            "the token endpoint takes neither client_secret_basic nor client_secret_post".into(),
        );
    }
    Ok(ProviderMetadata {
        issuer: found,
        authorization_endpoint: url("authorization_endpoint")?,
        token_endpoint: url("token_endpoint")?,
        jwks_uri: url("jwks_uri")?,
        userinfo_endpoint: text("userinfo_endpoint").filter(|u| check_endpoint(u).is_ok()),
        basic_auth,
    })
}

/// An upstream URL must be https, or http on a loopback host (a provider
/// on the same machine, as in tests and development).
///
/// # Errors
/// Why not.
pub fn check_endpoint(raw: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(raw).map_err(|_| "not a URL")?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a fragment or credentials");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        _ => Err("must be https (http only on a loopback host)"),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// What an upstream said about the person, after every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentity {
    /// The upstream's subject identifier.
    pub subject: String,
    /// Their email, if shared.
    pub email: Option<String>,
    /// Whether the upstream says it verified that email.
    pub email_verified: bool,
    /// Their name, if shared.
    pub name: Option<String>,
}

/// What an ID token must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The provider's issuer.
    pub issuer: &'a str,
    /// Gatehouse's client id there.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

/// Clock difference tolerated between Gatehouse and an upstream.
const SKEW: i64 = 120;

/// Why an ID token was refused, or `UnknownKey` when the JWKS should be
/// fetched again (the provider rotated its keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// No key in the JWKS has the token's `kid`.
    #[error("no key in the provider's JWKS matches the ID token")]
    UnknownKey,
    /// Anything else.
    #[error("the ID token is not valid: {0}")]
    Invalid(&'static str),
}

/// Checks an upstream ID token (OpenID Connect Core §3.1.3.7): signature by
/// a key of `jwks` with an accepted algorithm, issuer, audience (and `azp`
/// when there are several), expiry, issue time and nonce.
///
/// # Errors
/// [`IdTokenError`].
pub fn verify_id_token(
    token: &str,
    jwks: &Value,
    expected: Expected<'_>,
) -> Result<UpstreamIdentity, IdTokenError> {
    use IdTokenError::Invalid;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid("not a compact JWS"));
    };
    let header: Value = decode_json(h).ok_or(Invalid("malformed header"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kind = KeyKind::for_alg(alg).ok_or(Invalid("unaccepted signing algorithm"))?;
    if header.get("crit").is_some() {
        return Err(Invalid("critical header parameters are not understood"));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Invalid("malformed signature"))?;
    let key = find_key(jwks, kid, alg, kind)?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    key.verify(alg, signed, &sig)
        .map_err(|()| Invalid("the signature does not verify"))?;

    let claims: Value = decode_json(p).ok_or(Invalid("malformed claims"))?;
    let str_claim = |k: &str| claims.get(k).and_then(Value::as_str);
    if str_claim("iss") != Some(expected.issuer) {
        return Err(Invalid("wrong issuer"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&expected.client_id) {
        return Err(Invalid("not issued to Gatehouse (aud)"));
    }
    if let Some(azp) = str_claim("azp") {
        if azp != expected.client_id {
            return Err(Invalid("issued to another party (azp)"));
        }
    } else if audiences.len() > 1 {
        return Err(Invalid("several audiences but no azp"));
    }
    let now = expected.now.unix_timestamp();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Invalid("no exp"))?;
    if exp + SKEW <= now {
        return Err(Invalid("expired"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(Invalid("no iat"))?;
    if iat > now + SKEW {
        return Err(Invalid("issued in the future"));
    }
    let nonce = str_claim("nonce").unwrap_or("");
    if !crate::secret::constant_time_eq(nonce, expected.nonce) {
        return Err(Invalid("the nonce does not match this sign-in"));
    }
    let subject = str_claim("sub").unwrap_or("");
    if subject.is_empty() || subject.len() > 255 {
        return Err(Invalid("no usable sub"));
    }
    Ok(UpstreamIdentity {
        subject: subject.to_owned(),
        email: str_claim("email").map(str::to_owned),
        email_verified: claims.get("email_verified").is_some_and(is_true),
        name: str_claim("name").map(str::to_owned),
    })
}

/// `true`, or the string `"true"` that some providers send.
pub fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true) || v.as_str() == Some("true")
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.is_object().then_some(v)
}

/// The key types, by what the accepted algorithms need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    Ed25519,
}

impl KeyKind {
    fn for_alg(alg: &str) -> Option<Self> {
        match alg {
            "RS256" | "PS256" => Some(Self::Rsa),
            "ES256" => Some(Self::P256),
            "EdDSA" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

/// A verification key read from a JWK.
enum VerifyKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Point(Vec<u8>, KeyKind),
}

impl VerifyKey {
    fn verify(&self, alg: &str, msg: &[u8], sig: &[u8]) -> Result<(), ()> {
        match self {
            Self::Rsa { n, e } => {
                let params = if alg == "PS256" {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .map_err(|_| ())
            }
            Self::Point(bytes, KeyKind::P256) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, bytes)
                    .verify(msg, sig)
                    .map_err(|_| ())
            }
            Self::Point(bytes, _) => signature::UnparsedPublicKey::new(&signature::ED25519, bytes)
                .verify(msg, sig)
                .map_err(|_| ()),
        }
    }
}

/// The key for a token: the one with its `kid`, or (no `kid`) the only key
/// that fits. A key's own `alg` and `use`, when present, must allow this.
fn find_key(
    jwks: &Value,
    kid: Option<&str>,
    alg: &str,
    kind: KeyKind,
) -> Result<VerifyKey, IdTokenError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let fits = |k: &&Value| {
        let s = |f: &str| k.get(f).and_then(Value::as_str);
        s("use").is_none_or(|u| u == "sig")
            && s("alg").is_none_or(|a| a == alg)
            && match kind {
                KeyKind::Rsa => s("kty") == Some("RSA"),
                KeyKind::P256 => s("kty") == Some("EC") && s("crv") == Some("P-256"),
                KeyKind::Ed25519 => s("kty") == Some("OKP") && s("crv") == Some("Ed25519"),
            }
    };
    let candidates: Vec<&Value> = match kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .collect(),
        None => keys.iter().filter(fits).collect(),
    };
    let key = match candidates.as_slice() {
        [] => return Err(IdTokenError::UnknownKey),
        [one] => *one,
        _ => {
            return Err(IdTokenError::Invalid(
                "several keys fit and no kid says which",
            ));
        }
    };
    if !fits(&key) {
        return Err(IdTokenError::Invalid(
            "the key does not allow this algorithm",
        ));
    }
    let b64 = |f: &str| {
        key.get(f)
            .and_then(Value::as_str)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or(IdTokenError::Invalid("malformed key"))
    };
    Ok(match kind {
        KeyKind::Rsa => VerifyKey::Rsa {
            n: b64("n")?,
            e: b64("e")?,
        },
        KeyKind::P256 => {
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(IdTokenError::Invalid("malformed key"));
            }
            let mut point = vec![4u8];
            point.extend(x);
            point.extend(y);
            VerifyKey::Point(point, kind)
        }
        KeyKind::Ed25519 => VerifyKey::Point(b64("x")?, kind),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    struct Upstream {
        key: EcdsaKeyPair,
        jwks: Value,
    }

    fn upstream() -> Upstream {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = key.public_key().as_ref();
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }]});
        Upstream { key, jwks }
    }

    impl Upstream {
        fn sign(&self, header: Value, claims: Value) -> String {
            let msg = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.key.sign(&SystemRandom::new(), msg.as_bytes()).unwrap();
            format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example.com",
            client_id: "gatehouse",
            nonce: "n-0S6_WzA2Mj",
            now: now(),
        }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://idp.example.com", "aud": "gatehouse", "sub": "248289761001",
            "iat": 1_800_000_000, "exp": 1_800_000_300, "nonce": "n-0S6_WzA2Mj",
            "email": "jane@example.com", "email_verified": "true", "name": "Jane",
        })
    }

    fn with(change: impl FnOnce(&mut Value)) -> Value {
        let mut c = claims();
        change(&mut c);
        c
    }

    #[test]
    fn a_good_token_yields_the_identity() {
        let up = upstream();
        let t = up.sign(json!({"alg": "ES256", "kid": "k1"}), claims());
        let id = verify_id_token(&t, &up.jwks, expected()).unwrap();
        assert_eq!(id.subject, "248289761001");
        assert_eq!(id.email.as_deref(), Some("jane@example.com"));
        assert!(id.email_verified, "the string \"true\" counts");
        // Without a kid, the one fitting key is used.
        let t = up.sign(json!({"alg": "ES256"}), claims());
        assert!(verify_id_token(&t, &up.jwks, expected()).is_ok());
    }

    #[test]
    fn each_claim_check_refuses_its_own_violation() {
        let up = upstream();
        let cases: Vec<(&str, Value)> = vec![
            (
                "issuer",
                with(|c| c["iss"] = json!("https://evil.example.com")),
            ),
            ("audience", with(|c| c["aud"] = json!("someone-else"))),
            ("azp", with(|c| c["azp"] = json!("someone-else"))),
            (
                "several audiences",
                with(|c| c["aud"] = json!(["gatehouse", "x"])),
            ),
            ("expired", with(|c| c["exp"] = json!(1_800_000_000 - 121))),
            ("future", with(|c| c["iat"] = json!(1_800_000_000 + 121))),
            (
                "no exp",
                with(|c| {
                    c.as_object_mut()
                        .unwrap()
                        .remove("exp")
                        .map(|_| ())
                        .unwrap()
                }),
            ),
            ("nonce", with(|c| c["nonce"] = json!("other"))),
            (
                "no nonce",
                with(|c| {
                    c.as_object_mut()
                        .unwrap()
                        .remove("nonce")
                        .map(|_| ())
                        .unwrap()
                }),
            ),
            ("no sub", with(|c| c["sub"] = json!(""))),
        ];
        for (what, claims) in cases {
            let t = up.sign(json!({"alg": "ES256", "kid": "k1"}), claims);
            assert!(
                matches!(
                    verify_id_token(&t, &up.jwks, expected()),
                    Err(IdTokenError::Invalid(_))
                ),
                "{what} must be refused"
            );
        }
        let t = up.sign(
            json!({"alg": "ES256", "kid": "k1"}),
            with(|c| {
                c["aud"] = json!(["gatehouse", "x"]);
                c["azp"] = json!("gatehouse");
            }),
        );
        assert!(
            verify_id_token(&t, &up.jwks, expected()).is_ok(),
            "azp settles several audiences"
        );
    }

    #[test]
    fn forged_or_confused_signatures_are_refused() {
        let up = upstream();
        let other = upstream();
        let forged = other.sign(json!({"alg": "ES256", "kid": "k1"}), claims());
        assert!(matches!(
            verify_id_token(&forged, &up.jwks, expected()),
            Err(IdTokenError::Invalid(_))
        ));
        let good = up.sign(json!({"alg": "ES256", "kid": "k1"}), claims());
        let (head, _) = good.rsplit_once('.').unwrap();
        for alg in ["none", "HS256", "RS512"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
            let body = head.split_once('.').unwrap().1;
            let t = format!("{header}.{body}.");
            assert!(
                matches!(
                    verify_id_token(&t, &up.jwks, expected()),
                    Err(IdTokenError::Invalid(_))
                ),
                "{alg}"
            );
        }
        // An RSA algorithm named with an EC key is refused, not tried.
        let t = up.sign(json!({"alg": "RS256", "kid": "k1"}), claims());
        assert!(matches!(
            verify_id_token(&t, &up.jwks, expected()),
            Err(IdTokenError::Invalid(_))
        ));
        let t = up.sign(json!({"alg": "ES256", "kid": "rotated"}), claims());
        assert_eq!(
            verify_id_token(&t, &up.jwks, expected()),
            Err(IdTokenError::UnknownKey)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(
                verify_id_token(junk, &up.jwks, expected()).is_err(),
                "{junk}"
            );
        }
    }

    #[test]
    fn discovery_must_name_the_issuer_it_was_fetched_for() {
        let doc = json!({
            "issuer": "https://idp.example.com",
            "authorization_endpoint": "https://idp.example.com/auth",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        });
        let m = parse_discovery("https://idp.example.com", &doc).unwrap();
        assert!(!m.basic_auth);
        assert!(parse_discovery("https://idp.example.com/", &doc).is_err());
        let mut plain = doc.clone();
        plain["token_endpoint"] = json!("http://idp.example.com/token");
        assert!(parse_discovery("https://idp.example.com", &plain).is_err());
        plain["token_endpoint"] = json!("http://127.0.0.1:9000/token");
        assert!(parse_discovery("https://idp.example.com", &plain).is_ok());
    }
}
