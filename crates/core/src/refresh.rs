//! The refresh-token format (issue 16): a token says which family and
//! generation it is, and a MAC vouches for that, so the store keeps one
//! record per family (the current token's hash and the previous one's)
//! instead of every token ever issued.
//!
//! `gtr_` + base64url(version ‖ grant id ‖ generation ‖ key tag ‖ secret ‖
//! MAC), 81 bytes:
//!
//! - the **secret** (256 random bits) makes the token unguessable even to
//!   someone holding the MAC key: the store finds the family by the claim
//!   and accepts the token as current only if the SHA-256 of the whole
//!   token is the one it keeps;
//! - the **MAC** (HMAC-SHA256, first 128 bits) is what lets an *older*
//!   token be recognised as reuse: nobody without the key can mint a token
//!   of another family's old generation to get it revoked;
//! - the **key tag** names the MAC key: one per signing key, derived from
//!   the master key and that key's `kid` (HKDF), so the MAC keys are sealed
//!   by the master key, shared by every instance, and rotate with
//!   `gatehouse keys rotate`, every older key still verifying.
//!
//! Tokens issued before generations existed (`gtr_` + 32 random bytes) are
//! read as legacy: no claim, found only by their hash, rotated once into
//! this form.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use subtle::ConstantTimeEq as _;

use crate::jwt::derive_key;
use crate::model::{GrantId, PresentedRefresh, RefreshClaim};
use crate::secret::{Secret, TokenHash, fill_random};

/// The prefix, so scanners can spot a leaked token.
pub const PREFIX: &str = "gtr_";
const VERSION: u8 = 2;
const TAG: usize = 8;
const SECRET: usize = 32;
const MAC: usize = 16;
/// version ‖ grant ‖ generation ‖ key tag ‖ secret.
const BODY: usize = 1 + 16 + 8 + TAG + SECRET;
const LEN: usize = BODY + MAC;

/// The MAC keys of refresh tokens: one per signing key ever stored.
pub struct RefreshKeys {
    /// The key new tokens are MAC'd with: the active signing key's.
    active: ([u8; TAG], hmac::Key),
    /// Every key a token may name, the active one included.
    all: Vec<([u8; TAG], hmac::Key)>,
}

impl std::fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshKeys")
            .field("keys", &self.all.len())
            .finish_non_exhaustive()
    }
}

fn key_of(master: &[u8], kid: &str) -> ([u8; TAG], hmac::Key) {
    let digest = ring::digest::digest(&ring::digest::SHA256, kid.as_bytes());
    let mut tag = [0u8; TAG];
    tag.copy_from_slice(&digest.as_ref()[..TAG]);
    let key = derive_key(master, &format!("gatehouse/refresh-mac/v1/{kid}"));
    (tag, hmac::Key::new(hmac::HMAC_SHA256, &key))
}

impl RefreshKeys {
    /// The keys of `kids` (every stored signing key), minting with
    /// `active`'s.
    pub fn new<'a>(master: &[u8], active: &str, kids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all: Vec<_> = kids.into_iter().map(|k| key_of(master, k)).collect();
        let (tag, _) = key_of(master, active);
        if !all.iter().any(|(t, _)| *t == tag) {
            all.push(key_of(master, active));
        }
        Self {
            active: key_of(master, active),
            all,
        }
    }

    /// A new token of `grant`'s family at `generation`.
    pub fn mint(&self, grant: GrantId, generation: u64) -> Secret {
        let mut raw = [0u8; LEN];
        raw[0] = VERSION;
        raw[1..17].copy_from_slice(grant.0.as_bytes());
        raw[17..25].copy_from_slice(&generation.to_be_bytes());
        raw[25..25 + TAG].copy_from_slice(&self.active.0);
        fill_random(&mut raw[25 + TAG..BODY]);
        let mac = hmac::sign(&self.active.1, &raw[..BODY]);
        raw[BODY..].copy_from_slice(&mac.as_ref()[..MAC]);
        Secret::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Reads a presented token: its hash always, and its claim when it is
    /// of the current form with a MAC one of our keys made.
    pub fn read(&self, token: &str) -> PresentedRefresh {
        PresentedRefresh {
            hash: TokenHash::of(token),
            claim: self.claim(token),
        }
    }

    fn claim(&self, token: &str) -> Option<RefreshClaim> {
        let body = token.strip_prefix(PREFIX)?;
        // 81 bytes are 108 base64url characters; anything else is not ours
        // (a legacy token is 43).
        if body.len() != 108 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        if raw.len() != LEN || raw[0] != VERSION {
            return None;
        }
        let (_, key) = self.all.iter().find(|(t, _)| t[..] == raw[25..25 + TAG])?;
        let mac = hmac::sign(key, &raw[..BODY]);
        if !bool::from(mac.as_ref()[..MAC].ct_eq(&raw[BODY..])) {
            return None;
        }
        let grant = uuid::Uuid::from_slice(&raw[1..17]).ok()?;
        let generation = u64::from_be_bytes(raw[17..25].try_into().ok()?);
        Some(RefreshClaim {
            grant: GrantId(grant),
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(master: &[u8], active: &str, kids: &[&str]) -> RefreshKeys {
        RefreshKeys::new(master, active, kids.iter().copied())
    }

    #[test]
    fn a_minted_token_reads_back_its_family_and_generation() {
        let k = keys(b"master", "kid-1", &["kid-1"]);
        let grant = GrantId(uuid::Uuid::new_v4());
        let t = k.mint(grant, 7);
        assert!(t.expose().starts_with(PREFIX));
        let p = k.read(t.expose());
        assert_eq!(p.hash, t.hash());
        assert_eq!(
            p.claim,
            Some(RefreshClaim {
                grant,
                generation: 7
            })
        );
        assert_ne!(
            k.mint(grant, 7).expose(),
            t.expose(),
            "a fresh secret each time"
        );
    }

    #[test]
    fn a_forged_or_altered_token_claims_nothing() {
        let k = keys(b"master", "kid-1", &["kid-1"]);
        let grant = GrantId(uuid::Uuid::new_v4());
        let t = k.mint(grant, 3);
        let mut raw = URL_SAFE_NO_PAD
            .decode(&t.expose()[PREFIX.len()..])
            .expect("base64url");
        // Another generation or family under the same MAC: refused.
        raw[24] ^= 1;
        let altered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(k.read(&altered).claim, None);
        raw[24] ^= 1;
        raw[5] ^= 0x80;
        let altered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw));
        assert_eq!(k.read(&altered).claim, None);
        // Another master key's token: refused.
        let other = keys(b"other", "kid-1", &["kid-1"]);
        assert_eq!(other.read(t.expose()).claim, None);
        // Legacy and junk: no claim, but still a hash to look up.
        let legacy = Secret::generate(PREFIX);
        let p = k.read(legacy.expose());
        assert_eq!(p.claim, None);
        assert_eq!(p.hash, legacy.hash());
        for junk in ["", "gtr_", "gtr_!!!!", "nope", &"A".repeat(5000)] {
            assert_eq!(k.read(junk).claim, None, "{junk:?}");
        }
    }

    #[test]
    fn tokens_of_a_retired_key_still_verify_after_a_rotation() {
        let before = keys(b"master", "kid-1", &["kid-1"]);
        let grant = GrantId(uuid::Uuid::new_v4());
        let old = before.mint(grant, 1);
        let after = keys(b"master", "kid-2", &["kid-2", "kid-1"]);
        assert!(after.read(old.expose()).claim.is_some());
        let new = after.mint(grant, 2);
        assert!(after.read(new.expose()).claim.is_some());
        // A key no longer stored verifies nothing.
        let dropped = keys(b"master", "kid-2", &["kid-2"]);
        assert_eq!(dropped.read(old.expose()).claim, None);
    }
}
