//! Second factors (issue 14, item 3; DESIGN §12): an authenticator app
//! (TOTP, RFC 6238), passkeys (WebAuthn), and the recovery codes that stand
//! in for them.

use time::OffsetDateTime;

use super::UserId;

/// A user's authenticator app. One per user; setting up a new one
/// replaces the old.
#[derive(Clone, PartialEq)]
pub struct TotpFactor {
    /// Whose.
    pub user: UserId,
    /// The shared secret, sealed with the master key: a code must be
    /// computed from it, so it cannot be hashed.
    pub sealed_secret: Vec<u8>,
    /// False while being set up: it counts only once a code from the app
    /// proved the app has it.
    pub confirmed: bool,
    /// The last time step a code was accepted for; a code of this step or
    /// an earlier one is never accepted again (RFC 6238 §5.2).
    pub last_step: i64,
    /// When it was set up.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpFactor")
            .field("user", &self.user)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// Names a registered passkey (our id, not the authenticator's credential
/// id, which is long and says nothing to a person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasskeyId(pub uuid::Uuid);

impl std::fmt::Display for PasskeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A passkey (a WebAuthn credential) registered to a user. It holds only a
/// public key: nothing here signs anyone in without the authenticator.
#[derive(Clone, PartialEq)]
pub struct PasskeyCredential {
    /// Ours.
    pub id: PasskeyId,
    /// Whose.
    pub user: UserId,
    /// The authenticator's credential id; unique across all users, since a
    /// sign-in without a username finds the account by it.
    pub credential_id: Vec<u8>,
    /// What the person called it ("Work laptop").
    pub name: String,
    /// The credential as the WebAuthn library keeps it (public key,
    /// signature counter, flags), as JSON: the store keeps it opaque so a
    /// library upgrade needs no migration.
    pub credential: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last signed in.
    pub last_used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for PasskeyCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyCredential")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a passkey ceremony is for; a challenge issued for one never
/// completes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyPurpose {
    /// Adding a passkey to the signed-in account.
    Register,
    /// The second step of a sign-in whose first step named the user.
    SecondFactor,
    /// A sign-in with a passkey alone (the authenticator names the user).
    SignIn,
}

impl PasskeyPurpose {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SecondFactor => "second_factor",
            Self::SignIn => "sign_in",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(Self::Register),
            "second_factor" => Some(Self::SecondFactor),
            "sign_in" => Some(Self::SignIn),
            _ => None,
        }
    }
}

/// A passkey ceremony in flight: the challenge the browser was given and
/// what the WebAuthn library needs to check the answer. Kept server-side
/// (not in a cookie) so that each challenge is answered at most once, on
/// any instance.
#[derive(Clone, PartialEq)]
pub struct PasskeyChallenge {
    /// Handed to the browser with the options, returned with the answer.
    pub id: uuid::Uuid,
    /// What it is for.
    pub purpose: PasskeyPurpose,
    /// The user it was issued to (none for a sign-in with a passkey alone).
    pub user: Option<UserId>,
    /// The library's ceremony state, as JSON.
    pub state: String,
    /// After this it cannot be answered.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}
