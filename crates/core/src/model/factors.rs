//! Second factors (issue 14, item 3; DESIGN §12): an authenticator app
//! (TOTP, RFC 6238) and the recovery codes that stand in for it.

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
