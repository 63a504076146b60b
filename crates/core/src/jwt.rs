//! ES256 JSON Web Tokens for access tokens (RFC 9068), signed with ring.
//!
//! Gatehouse both issues and checks these tokens, and it only ever uses one
//! algorithm. A general JOSE library would have to be configured not to honour
//! `alg: none` or HMAC-with-the-public-key; this module cannot, because ES256
//! is the only thing it knows. It also holds each key parsed once, where
//! general-purpose crates re-parse the PKCS#8 document on every signature.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::secret::fill_random;

/// JWS `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// JWS `typ` of Security Event Tokens (RFC 8417 §2.3), which the Shared
/// Signals transmitter signs with the same keys. Distinct types keep a SET
/// from ever passing as an access token and the other way round.
pub const SECURITY_EVENT_TYP: &str = "secevent+jwt";
/// JWS `typ` of ID tokens (OIDC Core §2 leaves it open; `JWT` is what
/// RFC 7519 §5.1 recommends and what relying parties expect). It differs
/// from [`ACCESS_TOKEN_TYP`], so an ID token never passes as an access
/// token, which matters because its audience is a client, not a resource.
pub const ID_TOKEN_TYP: &str = "JWT";
/// Largest token accepted for verification; larger input is hostile.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url segments of JSON.
    #[error("token is malformed")]
    Malformed,
    /// Header names another algorithm or type.
    #[error("token uses an unsupported algorithm or type")]
    UnsupportedHeader,
    /// Signed by a key this issuer does not publish.
    #[error("token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
}

/// A P-256 signing key, parsed once.
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// Generates a new key; returns it with its PKCS#8 document for storage.
    pub fn generate() -> anyhow::Result<(Self, Vec<u8>)> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow::anyhow!("P-256 key generation failed"))?;
        let mut kid_bytes = [0u8; 12];
        fill_random(&mut kid_bytes);
        let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
        let key = Self::from_pkcs8(kid, pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// Loads a stored key.
    pub fn from_pkcs8(kid: String, pkcs8: &[u8]) -> anyhow::Result<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| anyhow::anyhow!("stored signing key {kid} is not a P-256 PKCS#8 key"))?;
        Ok(Self { kid, pair })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The uncompressed public point.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }
}

/// The keys of one issuer: one that signs, several that verify.
pub struct Keyring {
    signer: SigningKey,
    /// `base64url({"alg":"ES256","typ":"at+jwt","kid":…})`, computed once.
    header: String,
    verifier: Verifier,
    jwks: serde_json::Value,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("signer", &self.signer.kid)
            .field("verifier", &self.verifier)
            .finish()
    }
}

/// A public key as published in JWKS.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// Key id.
    pub kid: String,
    /// Uncompressed P-256 point.
    pub point: Vec<u8>,
}

fn jwk(key: &PublicKey) -> serde_json::Value {
    // An uncompressed point is 0x04 ‖ X (32 bytes) ‖ Y (32 bytes).
    let (x, y) = if key.point.len() == 65 {
        (&key.point[1..33], &key.point[33..65])
    } else {
        (&[][..], &[][..])
    };
    serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
        "kid": key.kid,
        "use": "sig",
        "alg": "ES256",
    })
}

impl Keyring {
    /// A keyring that signs with `signer` and also accepts tokens of
    /// `published` (older keys still within their tokens' lifetime).
    pub fn new(signer: SigningKey, published: Vec<PublicKey>) -> Self {
        let mut keys = vec![PublicKey {
            kid: signer.kid.clone(),
            point: signer.public_key().to_vec(),
        }];
        keys.extend(published.into_iter().filter(|k| k.kid != signer.kid));
        let verifier = Verifier::from_public_keys(&keys);
        let jwks = serde_json::json!({ "keys": keys.iter().map(jwk).collect::<Vec<_>>() });
        let header = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"alg": "ES256", "typ": ACCESS_TOKEN_TYP, "kid": signer.kid})
                .to_string(),
        );
        Self {
            signer,
            header,
            verifier,
            jwks,
            rng: SystemRandom::new(),
        }
    }

    /// The key id new tokens are signed with.
    pub fn active_kid(&self) -> &str {
        &self.signer.kid
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS access token (`typ: at+jwt`).
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        self.sign_with_header(&self.header, claims)
    }

    /// Signs a Security Event Token (`typ: secevent+jwt`, RFC 8417).
    pub fn sign_security_event<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let header = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"alg": "ES256", "typ": SECURITY_EVENT_TYP, "kid": self.signer.kid})
                .to_string(),
        );
        self.sign_with_header(&header, claims)
    }

    /// Signs an OpenID Connect ID token (`typ: JWT`).
    pub fn sign_id_token<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let header = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"alg": "ES256", "typ": ID_TOKEN_TYP, "kid": self.signer.kid})
                .to_string(),
        );
        self.sign_with_header(&header, claims)
    }

    /// Verifies an ID token this keyring (or an older key) signed.
    ///
    /// # Errors
    /// Why the token is not acceptable.
    pub fn verify_id_token<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.verifier.verify_id_token(token)
    }

    fn sign_with_header<T: Serialize>(&self, header: &str, claims: &T) -> anyhow::Result<String> {
        let payload = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let sig = self
            .signer
            .pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| anyhow::anyhow!("ES256 signing failed"))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut token);
        Ok(token)
    }

    /// Verifies a compact JWS and decodes its claims. Checks only the
    /// signature and header; time, issuer and audience are the caller's.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.verifier.verify(token)
    }
}

/// Public keys that verify ES256 access tokens: what a resource server
/// builds from the issuer's JWKS, and what [`Keyring`] uses itself, so
/// there is one implementation of token verification.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, UnparsedPublicKey<Vec<u8>>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.keys()).finish()
    }
}

impl Verifier {
    /// From raw public points.
    pub fn from_public_keys(keys: &[PublicKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|k| {
                    (
                        k.kid.clone(),
                        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.point.clone()),
                    )
                })
                .collect(),
        }
    }

    /// From a JWK Set document. Keys that are not P-256 signing keys with a
    /// `kid` are skipped, not trusted.
    pub fn from_jwks(jwks: &serde_json::Value) -> Self {
        let mut keys = Vec::new();
        for k in jwks["keys"].as_array().into_iter().flatten() {
            let ok = k["kty"] == "EC"
                && k["crv"] == "P-256"
                && (k.get("alg").is_none() || k["alg"] == "ES256")
                && (k.get("use").is_none() || k["use"] == "sig");
            let (Some(kid), Some(x), Some(y)) =
                (k["kid"].as_str(), k["x"].as_str(), k["y"].as_str())
            else {
                continue;
            };
            let (Ok(x), Ok(y)) = (URL_SAFE_NO_PAD.decode(x), URL_SAFE_NO_PAD.decode(y)) else {
                continue;
            };
            if !ok || x.len() != 32 || y.len() != 32 {
                continue;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            keys.push(PublicKey {
                kid: kid.to_owned(),
                point,
            });
        }
        Self::from_public_keys(&keys)
    }

    /// Whether a key with this id is known.
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a compact JWS access token (`alg` pinned to ES256, `typ` to
    /// `at+jwt`) and decodes its claims. Time, issuer, audience and scope
    /// are checked by [`crate::service::AccessClaims::check`].
    ///
    /// # Errors
    /// Why the token is not acceptable.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.verify_typed(token, ACCESS_TOKEN_TYP)
    }

    /// Verifies a Security Event Token (`typ: secevent+jwt`) the way
    /// [`Verifier::verify`] verifies access tokens; an access token is
    /// refused here, and a SET there.
    ///
    /// # Errors
    /// Why the token is not acceptable.
    pub fn verify_security_event<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.verify_typed(token, SECURITY_EVENT_TYP)
    }

    /// Verifies an OpenID Connect ID token (`typ: JWT`); access tokens and
    /// SETs are refused here. Time, issuer, audience and nonce are the
    /// relying party's to check.
    ///
    /// # Errors
    /// Why the token is not acceptable.
    pub fn verify_id_token<T: DeserializeOwned>(&self, token: &str) -> Result<T, JwtError> {
        self.verify_typed(token, ID_TOKEN_TYP)
    }

    fn verify_typed<T: DeserializeOwned>(&self, token: &str, typ: &str) -> Result<T, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| JwtError::Malformed)?)
                .map_err(|_| JwtError::Malformed)?;
        if header.alg != "ES256"
            || !header.typ.as_deref().is_some_and(|t| {
                // RFC 7515 §4.1.9: `application/` may be omitted.
                let t = t
                    .get(..12)
                    .filter(|p| p.eq_ignore_ascii_case("application/"))
                    .map_or(t, |_| &t[12..]);
                t.eq_ignore_ascii_case(typ)
            })
            || header.crit.is_some()
        {
            return Err(JwtError::UnsupportedHeader);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(JwtError::UnknownKey)?;
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let signed_len = h.len() + 1 + p.len();
        key.verify(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| JwtError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)
    }
}

/// The key id a token names, without verifying anything (to decide whether
/// a JWKS refetch could help).
pub fn token_kid(token: &str) -> Option<String> {
    let h = token.split('.').next()?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    header.kid
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Derives a 256-bit purpose-specific key from the master key (HKDF-SHA256),
/// so one configured secret can encrypt keys and sign forms without reusing
/// key material across purposes.
pub fn derive_key(master: &[u8], purpose: &str) -> [u8; 32] {
    struct Len;
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"gatehouse");
    let prk = salt.extract(master);
    let mut out = [0u8; 32];
    let info = [purpose.as_bytes()];
    // expand/fill fail only for output lengths over 255 * 32 bytes.
    if let Ok(okm) = prk.expand(&info, Len) {
        let _ = okm.fill(&mut out);
    }
    out
}

fn aead_key(master: &[u8]) -> anyhow::Result<LessSafeKey> {
    let key = derive_key(master, "gatehouse/signing-key-encryption/v1");
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key).map_err(|_| anyhow::anyhow!("bad AEAD key"))?,
    ))
}

/// Encrypts a private key for storage: `nonce ‖ AES-256-GCM(ciphertext ‖ tag)`.
/// The `kid` is authenticated too, so a row cannot be swapped for another.
pub fn seal_private_key(master: &[u8], kid: &str, pkcs8: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = aead_key(master)?;
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce);
    let mut buf = pkcs8.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(kid.as_bytes()),
        &mut buf,
    )
    .map_err(|_| anyhow::anyhow!("sealing the signing key failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Decrypts a stored private key; fails if the master key is not the one it
/// was sealed with.
pub fn open_private_key(master: &[u8], kid: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        anyhow::bail!("stored signing key {kid} is truncated");
    }
    let key = aead_key(master)?;
    let (nonce, rest) = sealed.split_at(12);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| anyhow::anyhow!("bad nonce on signing key {kid}"))?;
    let mut buf = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| {
            anyhow::anyhow!(
                "signing key {kid} cannot be decrypted: GATEHOUSE_SECRET_KEY differs from the key it was stored with"
            )
        })?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Any string presented as a token is refused without panicking
        /// (or is the one genuine token), by the keyring and by a verifier
        /// built from its JWKS, and `token_kid` never panics.
        #[test]
        fn arbitrary_tokens_are_refused_without_panicking(
            raw in prop_oneof![
                any::<String>(),
                "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,90}",
            ],
        ) {
            let ring = shared_ring();
            prop_assert!(ring.verify::<Claims>(&raw).is_err());
            prop_assert!(Verifier::from_jwks(ring.jwks()).verify::<Claims>(&raw).is_err());
            let _ = token_kid(&raw);
        }

        /// Flipping any single character of a genuine token makes it
        /// invalid, or leaves it meaning exactly what was signed.
        #[test]
        fn a_tampered_token_never_verifies_as_something_else(index in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.=+/-]") {
            let ring = shared_ring();
            let claims = Claims { sub: "user-1".into() };
            let token = ring.sign(&claims).unwrap();
            let at = index.index(token.len());
            let mut tampered = token.clone();
            tampered.replace_range(at..at + 1, &with);
            match ring.verify::<Claims>(&tampered) {
                Ok(c) => prop_assert_eq!(c, claims),
                Err(_) => prop_assert_ne!(tampered, token),
            }
        }
    }

    fn shared_ring() -> &'static Keyring {
        static RING: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
        RING.get_or_init(ring)
    }

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
    }

    fn ring() -> Keyring {
        let (k, _) = SigningKey::generate().unwrap();
        Keyring::new(k, vec![])
    }

    fn forge(header: serde_json::Value, payload: &str, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let kr = ring();
        let t = kr.sign(&Claims { sub: "u1".into() }).unwrap();
        assert_eq!(kr.verify::<Claims>(&t).unwrap().sub, "u1");
    }

    #[test]
    fn a_tampered_payload_fails() {
        let kr = ring();
        let t = kr.sign(&Claims { sub: "u1".into() }).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let evil = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#);
        let forged = format!("{}.{}.{}", parts[0], evil, parts[2]);
        assert_eq!(
            kr.verify::<Claims>(&forged).unwrap_err(),
            JwtError::BadSignature
        );
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let kr = ring();
        let none = forge(
            serde_json::json!({"alg":"none","typ":"at+jwt","kid":kr.active_kid()}),
            r#"{"sub":"x"}"#,
            b"",
        );
        assert_eq!(
            kr.verify::<Claims>(&none).unwrap_err(),
            JwtError::UnsupportedHeader
        );
        let hs = forge(
            serde_json::json!({"alg":"HS256","typ":"at+jwt","kid":kr.active_kid()}),
            r#"{"sub":"x"}"#,
            &[0u8; 32],
        );
        assert_eq!(
            kr.verify::<Claims>(&hs).unwrap_err(),
            JwtError::UnsupportedHeader
        );
    }

    #[test]
    fn an_id_token_typ_or_unknown_kid_is_refused() {
        let kr = ring();
        let jwt = forge(
            serde_json::json!({"alg":"ES256","typ":"JWT","kid":kr.active_kid()}),
            "{}",
            &[0u8; 64],
        );
        assert_eq!(
            kr.verify::<Claims>(&jwt).unwrap_err(),
            JwtError::UnsupportedHeader
        );
        let other = ring();
        let t = other.sign(&Claims { sub: "u".into() }).unwrap();
        assert_eq!(kr.verify::<Claims>(&t).unwrap_err(), JwtError::UnknownKey);
    }

    #[test]
    fn security_events_and_access_tokens_never_pass_for_each_other() {
        let kr = ring();
        let claims = Claims { sub: "u".into() };
        let set = kr.sign_security_event(&claims).unwrap();
        let at = kr.sign(&claims).unwrap();
        let jwks = Verifier::from_jwks(kr.jwks());
        assert_eq!(jwks.verify_security_event::<Claims>(&set).unwrap(), claims);
        assert_eq!(
            jwks.verify::<Claims>(&set).unwrap_err(),
            JwtError::UnsupportedHeader
        );
        assert_eq!(
            jwks.verify_security_event::<Claims>(&at).unwrap_err(),
            JwtError::UnsupportedHeader
        );
        let long = forge(
            serde_json::json!({"alg":"ES256","typ":"application/secevent+jwt","kid":kr.active_kid()}),
            "{}",
            &[0u8; 64],
        );
        assert_eq!(
            jwks.verify_security_event::<Claims>(&long).unwrap_err(),
            JwtError::BadSignature
        );
    }

    #[test]
    fn id_tokens_access_tokens_and_security_events_are_three_disjoint_kinds() {
        let kr = ring();
        let claims = Claims { sub: "u".into() };
        let id = kr.sign_id_token(&claims).unwrap();
        let at = kr.sign(&claims).unwrap();
        let set = kr.sign_security_event(&claims).unwrap();
        let jwks = Verifier::from_jwks(kr.jwks());
        assert_eq!(jwks.verify_id_token::<Claims>(&id).unwrap(), claims);
        assert_eq!(kr.verify_id_token::<Claims>(&id).unwrap(), claims);
        for (name, result) in [
            ("id token as access token", jwks.verify::<Claims>(&id)),
            ("id token as SET", jwks.verify_security_event::<Claims>(&id)),
            (
                "access token as id token",
                jwks.verify_id_token::<Claims>(&at),
            ),
            ("SET as id token", jwks.verify_id_token::<Claims>(&set)),
        ] {
            assert_eq!(result.unwrap_err(), JwtError::UnsupportedHeader, "{name}");
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let kr = ring();
        for t in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(9000)] {
            assert!(kr.verify::<Claims>(t).is_err(), "{t}");
        }
    }

    #[test]
    fn older_published_keys_still_verify() {
        let (old, _) = SigningKey::generate().unwrap();
        let old_ring = Keyring::new(old, vec![]);
        let t = old_ring.sign(&Claims { sub: "u".into() }).unwrap();
        let (new, _) = SigningKey::generate().unwrap();
        let published = PublicKey {
            kid: old_ring.active_kid().to_owned(),
            point: old_ring.signer.public_key().to_vec(),
        };
        let rotated = Keyring::new(new, vec![published]);
        assert_eq!(rotated.verify::<Claims>(&t).unwrap().sub, "u");
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_verifier_built_from_the_published_jwks_verifies_like_the_keyring() {
        let kr = ring();
        let t = kr.sign(&Claims { sub: "u".into() }).unwrap();
        let v = Verifier::from_jwks(kr.jwks());
        assert_eq!(v.len(), 1);
        assert_eq!(v.verify::<Claims>(&t).unwrap().sub, "u");
        assert_eq!(token_kid(&t).as_deref(), Some(kr.active_kid()));
        let junk = serde_json::json!({"keys": [{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"},
                                               {"kty": "EC", "crv": "P-384", "kid": "p", "x": "AA", "y": "AA"}]});
        assert!(Verifier::from_jwks(&junk).is_empty());
    }

    #[test]
    fn sealed_keys_open_only_with_their_master_key_and_kid() {
        let sealed = seal_private_key(b"master-1", "kid1", b"pkcs8 bytes").unwrap();
        assert_eq!(
            open_private_key(b"master-1", "kid1", &sealed).unwrap(),
            b"pkcs8 bytes"
        );
        assert!(open_private_key(b"master-2", "kid1", &sealed).is_err());
        assert!(open_private_key(b"master-1", "kid2", &sealed).is_err());
        assert!(open_private_key(b"master-1", "kid1", &sealed[..5]).is_err());
    }
}
