//! User passwords: argon2id with OWASP's parameters.
//!
//! Hashing takes tens of milliseconds of CPU by design, which would stall an
//! async worker, so the work sits behind the [`PasswordHasher`] port: the
//! server runs it on a blocking thread pool, tests and embedders may run it
//! inline with [`InlineHasher`].

use std::fmt;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;

use crate::model::{InvalidValue, PasswordHash};
use crate::secret::fill_random;

/// Shortest password accepted for new accounts (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: anything longer is hostile input meant to make
/// the hash expensive.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A plaintext password on its way to be hashed or checked. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password presented at login; only the length bound applies, so
    /// a user whose old password predates a policy can still sign in.
    pub fn presented(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.is_empty() || raw.len() > MAX_PASSWORD_BYTES {
            return Err(InvalidValue("password is missing or too long"));
        }
        Ok(Self(raw))
    }

    /// Validates a new password against the account policy.
    pub fn new_password(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.chars().count() < MIN_PASSWORD_CHARS || raw.len() > MAX_PASSWORD_BYTES {
            return Err(InvalidValue(
                "password must be at least 8 characters and at most 1024 bytes",
            ));
        }
        Ok(Self(raw))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password on the calling thread (CPU-heavy; see module docs).
pub fn hash_password_blocking(password: &Password) -> anyhow::Result<PasswordHash> {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    let hash = argon2()
        .hash_password_with_salt(password.bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Checks a password against a stored hash on the calling thread.
pub fn verify_password_blocking(password: &Password, hash: &PasswordHash) -> bool {
    argon2()
        .verify_password(password.bytes(), hash.0.as_str())
        .is_ok()
}

/// Hashes and checks passwords without blocking the caller's executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync + fmt::Debug {
    /// Hashes a new password.
    async fn hash(&self, password: Password) -> anyhow::Result<PasswordHash>;
    /// Whether `password` matches `hash`. A malformed hash is a mismatch.
    async fn verify(&self, password: Password, hash: PasswordHash) -> bool;
}

/// Runs argon2 on the calling task: right for tests and single-threaded
/// embedders, wrong for a busy server.
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineHasher;

#[async_trait]
impl PasswordHasher for InlineHasher {
    async fn hash(&self, password: Password) -> anyhow::Result<PasswordHash> {
        hash_password_blocking(&password)
    }

    async fn verify(&self, password: Password, hash: PasswordHash) -> bool {
        verify_password_blocking(&password, &hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let pw = Password::new_password("correct horse battery").unwrap();
        let hash = hash_password_blocking(&pw).unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password_blocking(&pw, &hash));
        let wrong = Password::presented("wrong password").unwrap();
        assert!(!verify_password_blocking(&wrong, &hash));
        assert!(!verify_password_blocking(
            &pw,
            &PasswordHash("garbage".into())
        ));
    }

    #[test]
    fn the_policy_bounds_new_passwords() {
        assert!(Password::new_password("short").is_err());
        assert!(Password::new_password("x".repeat(1025)).is_err());
        assert!(Password::presented("").is_err());
        assert_eq!(
            format!("{:?}", Password::presented("hunter22").unwrap()),
            "Password(<redacted>)"
        );
    }
}
