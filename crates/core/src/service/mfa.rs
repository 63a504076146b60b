//! Second factors (issue 14, item 3; DESIGN §12): setting up an
//! authenticator app, recovery codes, and the second step of a sign-in.
//!
//! A sign-in of an account with a second factor happens in two steps: the
//! first (a password, or an upstream provider) yields a short-lived sealed
//! token instead of a session, and only a valid code with that token
//! starts the session. Codes are checked under the same failure budget as
//! passwords (the sign-in throttle), so a stolen password does not make
//! the six digits guessable.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::Duration;

use super::Gatehouse;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{Role, TotpFactor, User, UserId};
use crate::secret::{TokenHash, fill_random};
use crate::totp;

/// How long the second step of a sign-in may take.
const PENDING_TTL: Duration = Duration::minutes(5);
/// Recovery codes per set.
const RECOVERY_CODES: usize = 10;
const PENDING_AD: &str = "gatehouse/second-factor/v1";

/// What an account has set up.
#[derive(Debug, Clone, PartialEq)]
pub struct MfaStatus {
    /// A confirmed authenticator app.
    pub totp: bool,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<crate::model::PasskeyCredential>,
    /// Unspent recovery codes.
    pub recovery_left: u32,
}

impl MfaStatus {
    /// Whether signing in takes a second step.
    #[must_use]
    pub fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// An authenticator app being set up: what the person scans or types.
#[derive(Clone)]
pub struct TotpSetup {
    /// The secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://` URI, for the QR code.
    pub uri: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetup(<redacted>)")
    }
}

/// The sealed pending sign-in's content.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// The user.
    u: uuid::Uuid,
    /// Their sign-in epoch then: a password change in between voids it.
    s: u32,
    /// Expiry, Unix seconds.
    e: i64,
}

/// A recovery code as shown: ten base32 characters in two groups.
fn new_recovery_code() -> String {
    let mut bytes = [0u8; 7];
    fill_random(&mut bytes);
    let raw = data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase();
    format!("{}-{}", &raw[..5], &raw[5..10])
}

/// A presented recovery code, as stored: separators and case ignored.
fn recovery_hash(presented: &str) -> TokenHash {
    let normal: String = presented
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    TokenHash::of(&format!("recovery:{normal}"))
}

fn bad_code() -> ApiError {
    ApiError::Forbidden("the code is not correct".into())
}

impl Gatehouse {
    fn totp_secret(&self, f: &TotpFactor) -> Result<Vec<u8>, ApiError> {
        crate::jwt::open_private_key(
            &self.master_key,
            &format!("totp:{}", f.user),
            &f.sealed_secret,
        )
        .map_err(ApiError::Unexpected)
    }

    fn setup_of(&self, user: &User, secret: &[u8]) -> TotpSetup {
        TotpSetup {
            secret: totp::base32(secret),
            uri: totp::otpauth_uri(secret, "Gatehouse", user.email.as_str()),
        }
    }

    /// What `user` has set up.
    ///
    /// # Errors
    /// A store failure.
    pub async fn mfa_status(&self, user: &User) -> Result<MfaStatus, ApiError> {
        let totp = self.has_totp(user).await?;
        let passkeys = self.ports.factors.passkeys(user.id).await?;
        let recovery_left = if totp || !passkeys.is_empty() {
            self.ports.factors.recovery_codes_left(user.id).await?
        } else {
            0
        };
        Ok(MfaStatus {
            totp,
            passkeys,
            recovery_left,
        })
    }

    async fn has_totp(&self, user: &User) -> Result<bool, ApiError> {
        Ok(self
            .ports
            .factors
            .get_totp(user.id)
            .await?
            .is_some_and(|f| f.confirmed))
    }

    /// Whether signing in as `user` takes a second step: an authenticator
    /// app or a passkey.
    ///
    /// # Errors
    /// A store failure.
    pub async fn has_second_factor(&self, user: &User) -> Result<bool, ApiError> {
        Ok(self.has_totp(user).await? || !self.ports.factors.passkeys(user.id).await?.is_empty())
    }

    /// Whether `user` must set up a second factor before acting as an
    /// administrator (`GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`).
    ///
    /// # Errors
    /// A store failure.
    pub async fn must_set_up_mfa(&self, user: &User) -> Result<bool, ApiError> {
        Ok(self.settings.require_mfa_for_admins
            && user.role == Role::Admin
            && !self.has_second_factor(user).await?)
    }

    /// Starts (or restarts) setting up an authenticator app: a new secret,
    /// not counted until [`Gatehouse::confirm_totp`] sees a code from it.
    ///
    /// # Errors
    /// 409 when an app is already set up (remove it first).
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn begin_totp(&self, user: &User) -> Result<TotpSetup, ApiError> {
        if self.has_totp(user).await? {
            return Err(ApiError::Conflict(
                "an authenticator app is already set up; remove it first".into(),
            ));
        }
        let mut secret = [0u8; totp::SECRET_BYTES];
        fill_random(&mut secret);
        let sealed =
            crate::jwt::seal_private_key(&self.master_key, &format!("totp:{}", user.id), &secret)
                .map_err(ApiError::Unexpected)?;
        self.ports
            .factors
            .put_totp(&TotpFactor {
                user: user.id,
                sealed_secret: sealed,
                confirmed: false,
                last_step: 0,
                created_at: self.now(),
            })
            .await?;
        Ok(self.setup_of(user, &secret))
    }

    /// The app being set up, to show its QR code again.
    ///
    /// # Errors
    /// A store failure.
    pub async fn pending_totp(&self, user: &User) -> Result<Option<TotpSetup>, ApiError> {
        match self.ports.factors.get_totp(user.id).await? {
            Some(f) if !f.confirmed => Ok(Some(self.setup_of(user, &self.totp_secret(&f)?))),
            _ => Ok(None),
        }
    }

    /// Confirms the app being set up with a code from it, and returns a
    /// first set of recovery codes (shown once; only their hashes stay).
    ///
    /// # Errors
    /// 403 for a wrong code; 404 when nothing is being set up.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn confirm_totp(
        &self,
        user: &User,
        code: &str,
        from: Option<IpAddr>,
    ) -> Result<Vec<String>, ApiError> {
        let f = match self.ports.factors.get_totp(user.id).await? {
            Some(f) if !f.confirmed => f,
            _ => return Err(ApiError::NotFound("authenticator app being set up")),
        };
        let attempt = self.throttle.begin(user.email.as_str(), from, self.now())?;
        let secret = self.totp_secret(&f)?;
        let step = totp::matching_step(&secret, code.trim(), self.now());
        let accepted = match step {
            Some(s) => self.ports.factors.accept_totp_step(user.id, s).await?,
            None => false,
        };
        if !accepted {
            return Err(bad_code());
        }
        self.throttle.succeeded(attempt, self.now());
        // A passkey set up first already came with recovery codes.
        let codes = if self.ports.factors.recovery_codes_left(user.id).await? == 0 {
            self.replace_recovery_codes(user).await?
        } else {
            Vec::new()
        };
        tracing::info!(user = %user.id, "authenticator app set up");
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(from)
                .detail("second_factor", "totp_added"),
        )
        .await;
        Ok(codes)
    }

    pub(crate) async fn replace_recovery_codes(
        &self,
        user: &User,
    ) -> Result<Vec<String>, ApiError> {
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<TokenHash> = codes.iter().map(|c| recovery_hash(c)).collect();
        self.ports
            .factors
            .replace_recovery_codes(user.id, &hashes, self.now())
            .await?;
        Ok(codes)
    }

    /// A new set of recovery codes (the old ones stop working), on proof:
    /// a code from the app or an unspent recovery code; for an account
    /// whose second factors are passkeys only, its password (a passkey
    /// cannot be typed, and the last recovery code may be spent).
    ///
    /// # Errors
    /// 403 for a wrong proof; 404 without a second factor; 429 when
    /// throttled.
    pub async fn new_recovery_codes(
        &self,
        user: &User,
        proof: &str,
        from: Option<IpAddr>,
    ) -> Result<Vec<String>, ApiError> {
        if !self.has_second_factor(user).await? {
            return Err(ApiError::NotFound("second factor"));
        }
        if !self.has_totp(user).await? && user.password_hash.is_usable() {
            self.confirm_password(user, proof, from).await?;
        } else {
            self.check_second_factor(user, proof, from).await?;
        }
        self.replace_recovery_codes(user).await
    }

    /// Removes the authenticator app and its recovery codes, on proof: the
    /// account's password, or (for an account without one) a code.
    ///
    /// # Errors
    /// 403 for a wrong proof; 404 without an app; 429 when throttled.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn remove_totp(
        &self,
        user: &User,
        proof: &str,
        from: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        if self.ports.factors.get_totp(user.id).await?.is_none() {
            return Err(ApiError::NotFound("authenticator app"));
        }
        if user.password_hash.is_usable() {
            self.confirm_password(user, proof, from).await?;
        } else {
            self.check_second_factor(user, proof, from).await?;
        }
        self.ports.factors.delete_totp(user.id).await?;
        self.forget_recovery_codes_if_unneeded(user).await?;
        tracing::info!(user = %user.id, "authenticator app removed");
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(from)
                .detail("second_factor", "totp_removed"),
        )
        .await;
        Ok(())
    }

    /// Checks a code from the authenticator app (each time step accepted
    /// once) or an unspent recovery code (then spent), under the sign-in
    /// throttle's budget for this account and address.
    ///
    /// # Errors
    /// 403 for a wrong, replayed or spent code; 429 when throttled.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
        from: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.is_empty() || code.len() > 64 {
            return Err(bad_code());
        }
        let attempt = self.throttle.begin(user.email.as_str(), from, self.now())?;
        let verdict = self.code_verdict(user, &code).await;
        match verdict {
            Ok(true) => {
                self.throttle.succeeded(attempt, self.now());
                Ok(())
            }
            Ok(false) => {
                self.audit(
                    AuditEvent::new(AuditKind::SignInFailed, self.now())
                        .user(user.id)
                        .ip(from)
                        .detail("reason", "wrong_second_factor"),
                )
                .await;
                Err(bad_code())
            }
            Err(e) => {
                self.throttle.cancelled(attempt, self.now());
                Err(e)
            }
        }
    }

    /// A code from the app, or else a recovery code (which exist only
    /// while some second factor does).
    async fn code_verdict(&self, user: &User, code: &str) -> Result<bool, ApiError> {
        if code.len() == totp::DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
            let Some(f) = self
                .ports
                .factors
                .get_totp(user.id)
                .await?
                .filter(|f| f.confirmed)
            else {
                return Ok(false);
            };
            let secret = self.totp_secret(&f)?;
            return match totp::matching_step(&secret, code, self.now()) {
                Some(step) => Ok(self.ports.factors.accept_totp_step(user.id, step).await?),
                None => Ok(false),
            };
        }
        Ok(self
            .ports
            .factors
            .use_recovery_code(user.id, &recovery_hash(code), self.now())
            .await?)
    }

    /// The token that carries a sign-in whose first step succeeded to its
    /// second: sealed, five minutes, void after a password change.
    ///
    /// # Errors
    /// Sealing failed.
    pub fn second_factor_token(&self, user: &User) -> Result<String, ApiError> {
        let p = Pending {
            u: user.id.0,
            s: user.sign_in_epoch,
            e: (self.now() + PENDING_TTL).unix_timestamp(),
        };
        let json = serde_json::to_vec(&p).map_err(|e| ApiError::Unexpected(e.into()))?;
        let sealed = crate::jwt::seal_private_key(&self.master_key, PENDING_AD, &json)
            .map_err(ApiError::Unexpected)?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The user a second-factor token is for, if it is ours, unexpired and
    /// still of the user's current sign-in epoch.
    ///
    /// # Errors
    /// A store failure.
    pub async fn second_factor_user(&self, token: &str) -> Result<Option<User>, ApiError> {
        let Some(p) = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|sealed| {
                crate::jwt::open_private_key(&self.master_key, PENDING_AD, &sealed).ok()
            })
            .and_then(|json| serde_json::from_slice::<Pending>(&json).ok())
            .filter(|p| p.e > self.now().unix_timestamp())
        else {
            return Ok(None);
        };
        Ok(self
            .ports
            .users
            .get_user(UserId(p.u))
            .await?
            .filter(|u| u.sign_in_epoch == p.s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_read_loosely_and_stored_as_hashes() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(&c[5..6], "-");
        assert_eq!(
            recovery_hash(&c),
            recovery_hash(&c.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(&c), recovery_hash(&new_recovery_code()));
    }
}
