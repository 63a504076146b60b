//! PKCE (RFC 7636), S256 only.
//!
//! `plain` offers no protection against an attacker who can read the
//! authorization request, so it is refused outright (OAuth 2.1 §4.1.1).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::secret::constant_time_eq;

/// Why a PKCE parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// A method other than `S256`.
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    /// A challenge that is not the base64url encoding of a SHA-256 digest.
    #[error("code_challenge must be 43 base64url characters (the S256 of the verifier)")]
    MalformedChallenge,
    /// A verifier outside RFC 7636 §4.1's 43–128 unreserved characters.
    #[error("code_verifier must be 43 to 128 unreserved characters")]
    MalformedVerifier,
}

/// An S256 code challenge as received on `/authorize`.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates `code_challenge` with its `code_challenge_method`. A missing
    /// method means `plain` (RFC 7636 §4.3), which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            Some("S256") => {}
            _ => return Err(PkceError::UnsupportedMethod),
        }
        let decoded = URL_SAFE_NO_PAD
            .decode(challenge)
            .map_err(|_| PkceError::MalformedChallenge)?;
        if decoded.len() != 32 || challenge.len() != 43 {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Rebuilds a challenge read back from storage.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The challenge string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S256 challenge of `verifier`, as a client computes it.
    pub fn s256(verifier: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Self(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }

    /// Checks a `code_verifier` against this challenge, in constant time.
    pub fn verify(&self, verifier: &str) -> Result<bool, PkceError> {
        if !(43..=128).contains(&verifier.len())
            || !verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(PkceError::MalformedVerifier);
        }
        Ok(constant_time_eq(&Self::s256(verifier).0, &self.0))
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeChallenge(S256)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_example_verifies() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(c.verify(VERIFIER), Ok(true));
        assert_eq!(CodeChallenge::s256(VERIFIER), c);
    }

    #[test]
    fn a_wrong_verifier_fails() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(c.verify(&"a".repeat(43)), Ok(false));
    }

    #[test]
    fn plain_and_missing_methods_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
    }

    #[test]
    fn malformed_challenges_and_verifiers_are_refused() {
        assert_eq!(
            CodeChallenge::parse("short", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            CodeChallenge::parse(&"*".repeat(43), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert_eq!(c.verify("too-short"), Err(PkceError::MalformedVerifier));
        assert_eq!(
            c.verify(&"a".repeat(129)),
            Err(PkceError::MalformedVerifier)
        );
        assert_eq!(c.verify(&"!".repeat(43)), Err(PkceError::MalformedVerifier));
    }
}
