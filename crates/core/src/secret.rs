//! Random secrets and their hashes.
//!
//! Every bearer credential Gatehouse hands out (client secrets, codes, refresh
//! tokens, session ids) is 256 random bits, so a single SHA-256 is a sufficient
//! one-way function: there is nothing to brute-force, and a slow hash would only
//! throttle the token endpoint. Only the hash is stored; only the hash is
//! compared, in constant time.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// Number of random bytes behind every credential Gatehouse issues (256 bits).
pub const SECRET_BYTES: usize = 32;

/// Fills `buf` from the operating system's CSPRNG.
///
/// The system generator failing is not a recoverable condition for an
/// authorization server: issuing a predictable credential would be worse than
/// stopping, so this panics rather than returning an error nobody can handle.
#[allow(clippy::expect_used)]
pub fn fill_random(buf: &mut [u8]) {
    SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random number generator failed");
}

/// `prefix` followed by 256 random bits in unpadded base64url.
///
/// The result uses only RFC 3986 unreserved characters, so it can travel in a
/// URL, a form body or a Basic header without escaping. The prefix lets secret
/// scanners recognise a leaked Gatehouse credential.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    fill_random(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 43);
    out.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut out);
    out
}

/// A plaintext credential on its way to its owner (a client secret shown once,
/// a refresh token in a token response).
///
/// It never prints: `Debug` shows the type name only, and there is no
/// `Display`, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential received from, or about to be sent to, a client.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// A fresh random credential with the given prefix.
    pub fn generate(prefix: &str) -> Self {
        Self(random_token(prefix))
    }

    /// The plaintext, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the credential is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 of a credential: what the stores keep instead of the credential.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented credential.
    pub fn of(value: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// Rebuilds a hash read back from storage.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Rebuilds a hash from a byte slice read from storage; `None` if the
    /// length is wrong, which means the row is corrupt.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw digest, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares in constant time, so a mismatch position leaks nothing.
    pub fn matches(&self, presented: &str) -> bool {
        self.ct_eq(&Self::of(presented))
    }

    /// Constant-time equality between two hashes.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash of a 256-bit secret is not itself sensitive, but printing it
        // would let logs be joined against the database; show a short prefix.
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Constant-time string equality, for values that are not hashed first.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_prefixed_unreserved_and_unique() {
        let a = random_token("secret_");
        let b = random_token("secret_");
        assert!(a.starts_with("secret_"));
        assert_eq!(a.len(), "secret_".len() + 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
    }

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("super-secret-value");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", s.hash()).contains("super"));
    }

    #[test]
    fn a_hash_matches_only_its_own_secret() {
        let s = Secret::generate("x_");
        let h = s.hash();
        assert!(h.matches(s.expose()));
        assert!(!h.matches("x_other"));
        assert_eq!(TokenHash::from_slice(h.as_bytes()), Some(h));
        assert_eq!(TokenHash::from_slice(&[0u8; 3]), None);
    }
}
