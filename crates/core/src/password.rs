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

    /// Validates a new password against the account policy: 8 characters
    /// to 1024 bytes, and not one of the most common passwords.
    pub fn new_password(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.chars().count() < MIN_PASSWORD_CHARS || raw.len() > MAX_PASSWORD_BYTES {
            return Err(InvalidValue(
                "password must be at least 8 characters and at most 1024 bytes",
            ));
        }
        if is_common_password(&raw) {
            return Err(InvalidValue(
                "this password is one of the most commonly used; choose another",
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

/// The most common passwords of 8 characters or more (17,950 of them, from
/// zxcvbn's frequency list; see `data/README.md`), lower-cased and sorted
/// bytewise, one a line. ASVS V2.1.7 asks that new passwords be checked
/// against such a list; NIST SP 800-63B §5.1.1.2 likewise.
static COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether `password`, ignoring case and surrounding spaces, is on the
/// common-password list. A binary search over the embedded text: nothing is
/// allocated or indexed at start-up.
pub fn is_common_password(password: &str) -> bool {
    let candidate = password.trim().to_lowercase();
    sorted_lines_contain(COMMON_PASSWORDS, &candidate)
}

/// Binary search for a whole line in `text`, whose lines are sorted
/// bytewise. `lo` and `hi` always sit on line starts.
fn sorted_lines_contain(text: &str, needle: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut lo, mut hi) = (0, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = bytes[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |i| lo + i + 1);
        let end = bytes[start..hi]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(hi, |i| start + i);
        match bytes[start..end].cmp(needle.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// Why a hash or a check did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are queued already: try again shortly. Raised
    /// instead of queueing without bound, so a flood of sign-ins answers
    /// 503 at once rather than making every user wait behind it.
    #[error("password checking is busy; try again shortly")]
    Busy,
    /// argon2 or the hashing thread failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
fn owasp_params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp_params())
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

/// Most argon2 memory a stored hash may ask for when it is checked (the
/// `m` of its PHC string); ours use 19 MiB. Bounds what a corrupt or
/// hostile row could make the server allocate.
const MAX_VERIFY_MEMORY_KIB: u32 = 256 * 1024;

/// argon2 with one working buffer, reused by every hash and check.
///
/// `Argon2::hash_password` allocates its 19 MiB anew each time (aligned to
/// 64 bytes), and glibc does not reuse those blocks well: a server's
/// resident memory grew by 19 MiB per sign-in until it held five of them,
/// ~100 MB, for good. Kept by the one thread that hashes, this buffer is
/// allocated once, at the first hash, and is the only argon2 memory the
/// process holds.
#[derive(Default)]
pub struct Argon2Worker {
    blocks: Vec<argon2::Block>,
}

impl fmt::Debug for Argon2Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Worker")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Argon2Worker {
    /// A worker; the buffer is allocated at the first hash.
    pub fn new() -> Self {
        Self::default()
    }

    fn run(
        &mut self,
        argon2: &Argon2<'_>,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, argon2::Block::default());
        }
        let blocks = self
            .blocks
            .get_mut(..needed)
            .ok_or(argon2::Error::MemoryTooLittle)?;
        argon2.hash_password_into_with_memory(password, salt, out, blocks)
    }

    /// Hashes a new password (argon2id, OWASP parameters) into a PHC string,
    /// the same format `hash_password_blocking` produces.
    ///
    /// # Errors
    /// argon2 refused the input (it cannot, for a valid [`Password`]).
    pub fn hash(&mut self, password: &Password) -> anyhow::Result<PasswordHash> {
        use argon2::password_hash::phc;
        let params = owasp_params();
        let mut salt = [0u8; 16];
        fill_random(&mut salt);
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        self.run(&argon2, &params, password.bytes(), &salt, &mut out)
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
        let phc = phc::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: phc::ParamsString::try_from(&params)
                .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
            salt: Some(phc::Salt::new(&salt).map_err(|e| anyhow::anyhow!("argon2 salt: {e}"))?),
            hash: Some(phc::Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    /// Whether `password` matches `hash` (any argon2 variant, version and
    /// parameters a PHC string names, memory up to 256 MiB). A malformed
    /// hash is a mismatch. The comparison is constant time.
    pub fn verify(&mut self, password: &Password, hash: &PasswordHash) -> bool {
        use argon2::password_hash::phc;
        use subtle::ConstantTimeEq as _;
        let Ok(phc) = phc::PasswordHash::new(&hash.0) else {
            return false;
        };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
            Algorithm::new(phc.algorithm.as_str()),
            Params::try_from(&phc),
            phc.salt.as_ref(),
            phc.hash.as_ref(),
        ) else {
            return false;
        };
        let version = match phc.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        if params.m_cost() > MAX_VERIFY_MEMORY_KIB {
            return false;
        }
        let mut out = vec![0u8; expected.as_bytes().len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        self.run(&argon2, &params, password.bytes(), salt.as_ref(), &mut out)
            .is_ok()
            && bool::from(out.ct_eq(expected.as_bytes()))
    }
}

/// Hashes and checks passwords without blocking the caller's executor.
#[async_trait]
pub trait PasswordHasher: Send + Sync + fmt::Debug {
    /// Hashes a new password.
    ///
    /// # Errors
    /// [`HashError::Busy`] when the work cannot be queued now.
    async fn hash(&self, password: Password) -> Result<PasswordHash, HashError>;
    /// Whether `password` matches `hash`. A malformed hash is a mismatch.
    ///
    /// # Errors
    /// [`HashError::Busy`] when the work cannot be queued now; the password
    /// was then not checked at all.
    async fn verify(&self, password: Password, hash: PasswordHash) -> Result<bool, HashError>;
}

/// Runs argon2 on the calling task: right for tests and single-threaded
/// embedders, wrong for a busy server.
#[derive(Debug, Default, Clone, Copy)]
pub struct InlineHasher;

#[async_trait]
impl PasswordHasher for InlineHasher {
    async fn hash(&self, password: Password) -> Result<PasswordHash, HashError> {
        Ok(hash_password_blocking(&password)?)
    }

    async fn verify(&self, password: Password, hash: PasswordHash) -> Result<bool, HashError> {
        Ok(verify_password_blocking(&password, &hash))
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
    fn the_reusing_worker_speaks_the_same_phc_strings() {
        let pw = Password::new_password("correct horse battery").unwrap();
        let wrong = Password::presented("wrong password").unwrap();
        let mut worker = Argon2Worker::new();
        // Ours verified by the argon2 crate, and the crate's by ours.
        let ours = worker.hash(&pw).unwrap();
        assert!(ours.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password_blocking(&pw, &ours));
        assert!(!verify_password_blocking(&wrong, &ours));
        let theirs = hash_password_blocking(&pw).unwrap();
        assert!(worker.verify(&pw, &theirs));
        assert!(!worker.verify(&wrong, &theirs));
        // Other parameters and variants, as older rows may hold.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"correct horse battery", b"saltsaltsaltsalt")
        .unwrap()
        .to_string();
        assert!(worker.verify(&pw, &PasswordHash(argon2i.clone())));
        assert!(!worker.verify(&wrong, &PasswordHash(argon2i)));
        // Malformed, truncated, or asking for absurd memory: a mismatch.
        for bad in [
            "garbage",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$scrypt$ln=16,r=8,p=1$c2FsdA$AAAA",
        ] {
            assert!(!worker.verify(&pw, &PasswordHash(bad.into())), "{bad}");
        }
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "12345678",
            "Password1",
            "QWERTYUIOP",
            " iloveyou ",
            "changeme",
        ] {
            assert!(Password::new_password(common).is_err(), "{common}");
        }
        for fine in [
            "correct-horse-battery",
            "a rather long passphrase",
            "Tr0ub4dor&3x",
        ] {
            assert!(Password::new_password(fine).is_ok(), "{fine}");
        }
        // Signing in with one still works: the policy is for new passwords.
        assert!(Password::presented("password").is_ok());
    }

    #[test]
    fn the_embedded_list_is_large_sorted_and_searchable_end_to_end() {
        let lines: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert!(lines.len() >= 10_000, "{} entries", lines.len());
        assert!(lines.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
        // Every entry is found, and neighbours of entries are not.
        for l in &lines {
            assert!(sorted_lines_contain(COMMON_PASSWORDS, l), "{l}");
            assert!(!sorted_lines_contain(
                COMMON_PASSWORDS,
                &format!("{l}\u{1}")
            ));
        }
        assert!(!sorted_lines_contain(COMMON_PASSWORDS, ""));
        assert!(!sorted_lines_contain("", "x"));
        assert!(sorted_lines_contain("a\nb\nc", "c"));
        assert!(sorted_lines_contain("a\nb\nc\n", "a"));
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
