//! Passkeys (issue 14, item 3; DESIGN §12): WebAuthn credentials, as a
//! second factor after a password or upstream sign-in, or as a sign-in on
//! their own (the authenticator names the account and verifies the person
//! with a PIN or biometric, so it is two factors in one).
//!
//! The ceremonies are webauthn-rs's. Their state is kept in the store, not
//! in the browser: a challenge is taken by the one answer checked against
//! it, so a captured answer cannot be replayed, on any instance.

use std::net::IpAddr;

use time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use super::Gatehouse;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{PasskeyChallenge, PasskeyCredential, PasskeyId, PasskeyPurpose, User, UserId};
use crate::observe::SignInResult;

/// How long a ceremony may take: the authenticator's own timeout (five
/// minutes, WebAuthn's recommendation) plus nothing.
const CEREMONY_TTL: Duration = Duration::minutes(5);
/// Passkeys per account: enough for every device a person owns, few enough
/// that the options of a second step stay small.
pub const MAX_PASSKEYS: usize = 20;
/// Passkey sign-ins an address may begin per hour without naming an
/// account: each costs a stored challenge for five minutes, so this bounds
/// what one address can make the store hold (a burst of this many, then
/// one every six seconds), far above what a person signing in needs.
pub(crate) const ANONYMOUS_CHALLENGES_PER_HOUR: u32 = 600;
/// The longest passkey name, in characters.
const MAX_NAME: usize = 64;
/// The longest answer from a browser we read: a registration carries an
/// attestation object (a few kilobytes with a certificate chain).
const MAX_RESPONSE: usize = 64 * 1024;

/// A ceremony begun: the options for `navigator.credentials.create()` or
/// `.get()` (WebAuthn's JSON form, binary fields in base64url), and the id
/// the answer must come back with.
#[derive(Debug, Clone)]
pub struct PasskeyCeremony {
    /// Returned with the browser's answer.
    pub challenge: Uuid,
    /// `{"publicKey": {...}}`.
    pub options: serde_json::Value,
}

fn refused() -> ApiError {
    ApiError::Forbidden("the passkey was not accepted".into())
}

fn expired() -> ApiError {
    ApiError::BadRequest("this passkey request expired or was already used; start again".into())
}

/// Reads the browser's answer, refusing what is not one.
fn answer<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, ApiError> {
    if json.len() > MAX_RESPONSE {
        return Err(ApiError::BadRequest(
            "the passkey response is too large".into(),
        ));
    }
    serde_json::from_str(json)
        .map_err(|_| ApiError::BadRequest("the passkey response is not valid".into()))
}

/// A passkey name as kept: trimmed, control characters refused, a default
/// when empty.
fn passkey_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.chars().any(char::is_control) || name.chars().count() > MAX_NAME {
        return Err(ApiError::Unprocessable(
            format!("a passkey name is at most {MAX_NAME} characters, without control characters")
                .into(),
        ));
    }
    Ok(if name.is_empty() { "Passkey" } else { name }.to_owned())
}

fn unexpected(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unexpected(anyhow::anyhow!("passkey state: {e}"))
}

impl Gatehouse {
    /// The relying party: the issuer's host is the RP ID and its origin the
    /// only origin accepted. `None` when the issuer's host is an IP address,
    /// which WebAuthn does not allow as an RP ID.
    fn webauthn(&self) -> Option<Webauthn> {
        let issuer = Url::parse(&self.settings.issuer).ok()?;
        let rp_id = issuer.domain()?.to_owned();
        let origin = Url::parse(&issuer.origin().ascii_serialization()).ok()?;
        WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("Gatehouse").build())
            .ok()
    }

    fn relying_party(&self) -> Result<Webauthn, ApiError> {
        self.webauthn().ok_or_else(|| {
            ApiError::Conflict(
                "passkeys need the server's public URL to have a domain name, not an IP address"
                    .into(),
            )
        })
    }

    /// Whether passkeys can be used here (the public URL has a domain name).
    #[must_use]
    pub fn passkeys_available(&self) -> bool {
        self.webauthn().is_some()
    }

    /// The user's passkeys, oldest first.
    ///
    /// # Errors
    /// A store failure.
    pub async fn passkeys_of(&self, user: &User) -> Result<Vec<PasskeyCredential>, ApiError> {
        Ok(self.ports.factors.passkeys(user.id).await?)
    }

    async fn keep_challenge(
        &self,
        purpose: PasskeyPurpose,
        user: Option<UserId>,
        state: &impl serde::Serialize,
        options: &impl serde::Serialize,
    ) -> Result<PasskeyCeremony, ApiError> {
        let challenge = PasskeyChallenge {
            id: Uuid::new_v4(),
            purpose,
            user,
            state: serde_json::to_string(state).map_err(unexpected)?,
            expires_at: self.now() + CEREMONY_TTL,
        };
        self.ports
            .factors
            .put_passkey_challenge(&challenge, self.now())
            .await?;
        Ok(PasskeyCeremony {
            challenge: challenge.id,
            options: serde_json::to_value(options).map_err(unexpected)?,
        })
    }

    /// Takes the challenge an answer names, if it is of `purpose` and (for
    /// a named user) theirs.
    async fn take_challenge(
        &self,
        id: &str,
        purpose: PasskeyPurpose,
        user: Option<UserId>,
    ) -> Result<PasskeyChallenge, ApiError> {
        let id = Uuid::parse_str(id.trim()).map_err(|_| expired())?;
        match self
            .ports
            .factors
            .take_passkey_challenge(id, self.now())
            .await?
        {
            Some(c) if c.purpose == purpose && c.user == user => Ok(c),
            _ => Err(expired()),
        }
    }

    /// Starts adding a passkey to `user`'s account. The authenticator is
    /// asked for a discoverable credential (so it can later sign in without
    /// an email) and to verify the person; passkeys already registered are
    /// excluded, so one authenticator is not registered twice.
    ///
    /// # Errors
    /// 409 when passkeys are unavailable here or the account has the most
    /// it may have.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn begin_passkey_registration(
        &self,
        user: &User,
    ) -> Result<PasskeyCeremony, ApiError> {
        let rp = self.relying_party()?;
        let existing = self.ports.factors.passkeys(user.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(ApiError::Conflict(
                format!("an account has at most {MAX_PASSKEYS} passkeys; remove one first").into(),
            ));
        }
        let exclude = existing.iter().map(|p| p.credential_id.clone()).collect();
        let name = user.email.as_str();
        let display = if user.name.is_empty() {
            name
        } else {
            &user.name
        };
        let (options, state) = rp
            .start_passkey_registration(user.id.0, name, display, Some(exclude))
            .map_err(unexpected)?;
        let mut ceremony = self
            .keep_challenge(PasskeyPurpose::Register, Some(user.id), &state, &options)
            .await?;
        // Discoverable when the authenticator can: that is what lets the
        // passkey sign in without an email later. (The library asks for
        // "discouraged"; the finish does not depend on it.)
        if let Some(selection) = ceremony
            .options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok(ceremony)
    }

    /// Finishes adding a passkey with the browser's answer (the JSON of a
    /// `PublicKeyCredential`, binary fields in base64url). When it is the
    /// account's first second factor, returns a first set of recovery
    /// codes (shown once).
    ///
    /// # Errors
    /// 400 for an expired, reused or malformed answer; 403 when the
    /// authenticator's answer does not verify; 409 when the credential is
    /// already registered; 422 for a bad name.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        challenge: &str,
        response: &str,
        name: &str,
        from: Option<IpAddr>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let name = passkey_name(name)?;
        let response: RegisterPublicKeyCredential = answer(response)?;
        let rp = self.relying_party()?;
        let c = self
            .take_challenge(challenge, PasskeyPurpose::Register, Some(user.id))
            .await?;
        let state: PasskeyRegistration = serde_json::from_str(&c.state).map_err(unexpected)?;
        let passkey = rp
            .finish_passkey_registration(&response, &state)
            .map_err(|e| {
                tracing::info!(user = %user.id, error = %e, "passkey registration refused");
                refused()
            })?;
        let first = !self.has_second_factor(user).await?;
        let record = PasskeyCredential {
            id: PasskeyId(Uuid::new_v4()),
            user: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name,
            credential: serde_json::to_string(&passkey).map_err(unexpected)?,
            created_at: self.now(),
            last_used_at: None,
        };
        self.ports
            .factors
            .add_passkey(&record)
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::Conflict(_) => {
                    ApiError::Conflict("this passkey is already registered".into())
                }
                e => e.into(),
            })?;
        tracing::info!(user = %user.id, passkey = %record.id, "passkey added");
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(from)
                .detail("second_factor", "passkey_added"),
        )
        .await;
        if first && self.ports.factors.recovery_codes_left(user.id).await? == 0 {
            return Ok(Some(self.replace_recovery_codes(user).await?));
        }
        Ok(None)
    }

    /// Removes one of `user`'s passkeys, on the same proof as removing the
    /// authenticator app: the password, or (for an account without one) a
    /// code. The last way into a passwordless account that has no upstream
    /// identity cannot be removed.
    ///
    /// # Errors
    /// 403 for a wrong proof; 404 for a passkey that is not theirs; 409 for
    /// the last way in; 429 when throttled.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn remove_passkey(
        &self,
        user: &User,
        id: &str,
        proof: &str,
        from: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let id = Uuid::parse_str(id.trim()).map_err(|_| ApiError::NotFound("passkey"))?;
        let mine = self.ports.factors.passkeys(user.id).await?;
        if !mine.iter().any(|p| p.id.0 == id) {
            return Err(ApiError::NotFound("passkey"));
        }
        if !user.password_hash.is_usable()
            && mine.len() == 1
            && self
                .ports
                .identities
                .user_identities(user.id)
                .await?
                .is_empty()
        {
            return Err(ApiError::Conflict(
                "this passkey is the only way to sign in to this account".into(),
            ));
        }
        if user.password_hash.is_usable() {
            self.confirm_password(user, proof, from).await?;
        } else {
            self.check_second_factor(user, proof, from).await?;
        }
        if !self
            .ports
            .factors
            .delete_passkey(user.id, PasskeyId(id))
            .await?
        {
            return Err(ApiError::NotFound("passkey"));
        }
        self.forget_recovery_codes_if_unneeded(user).await?;
        tracing::info!(user = %user.id, passkey = %id, "passkey removed");
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(from)
                .detail("second_factor", "passkey_removed"),
        )
        .await;
        Ok(())
    }

    /// Recovery codes stand in for a second factor; with none left they
    /// would be a way in of their own, so they go.
    pub(crate) async fn forget_recovery_codes_if_unneeded(
        &self,
        user: &User,
    ) -> Result<(), ApiError> {
        if !self.has_second_factor(user).await? {
            self.ports
                .factors
                .replace_recovery_codes(user.id, &[], self.now())
                .await?;
        }
        Ok(())
    }

    /// Starts a sign-in with a passkey: the second step for `user` (only
    /// their passkeys allowed), or with `None` a sign-in with a passkey
    /// alone (the authenticator offers the accounts it holds).
    ///
    /// # Errors
    /// 409 when passkeys are unavailable here; 404 when `user` has none;
    /// 429 when `from` began too many sign-ins without an account.
    pub async fn begin_passkey_sign_in(
        &self,
        user: Option<&User>,
        from: Option<IpAddr>,
    ) -> Result<PasskeyCeremony, ApiError> {
        let rp = self.relying_party()?;
        match user {
            Some(user) => {
                let keys: Vec<Passkey> = self
                    .ports
                    .factors
                    .passkeys(user.id)
                    .await?
                    .iter()
                    .filter_map(|p| serde_json::from_str(&p.credential).ok())
                    .collect();
                if keys.is_empty() {
                    return Err(ApiError::NotFound("passkey"));
                }
                let (options, state) =
                    rp.start_passkey_authentication(&keys).map_err(unexpected)?;
                self.keep_challenge(
                    PasskeyPurpose::SecondFactor,
                    Some(user.id),
                    &state,
                    &options,
                )
                .await
            }
            None => {
                self.passkey_challenges
                    .spend(from, self.now())
                    .map_err(|wait| {
                        ApiError::Throttled(u64::try_from(wait.whole_seconds()).unwrap_or(1).max(1))
                    })?;
                let (mut options, state) =
                    rp.start_discoverable_authentication().map_err(unexpected)?;
                // A button starts it, not the email field's autofill.
                options.mediation = None;
                self.keep_challenge(PasskeyPurpose::SignIn, None, &state, &options)
                    .await
            }
        }
    }

    /// Finishes a sign-in with a passkey: `user` for the second step (the
    /// passkey must be theirs), `None` for a passkey alone (the passkey
    /// names the account). Returns the account; the caller starts the
    /// session.
    ///
    /// # Errors
    /// 400 for an expired, reused or malformed answer; 403 when it does not
    /// verify, names no registered passkey, or another account's.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn finish_passkey_sign_in(
        &self,
        challenge: &str,
        response: &str,
        user: Option<&User>,
        from: Option<IpAddr>,
    ) -> Result<User, ApiError> {
        let response: PublicKeyCredential = answer(response)?;
        let rp = self.relying_party()?;
        let purpose = if user.is_some() {
            PasskeyPurpose::SecondFactor
        } else {
            PasskeyPurpose::SignIn
        };
        let c = self
            .take_challenge(challenge, purpose, user.map(|u| u.id))
            .await?;
        let verdict = self.verify_assertion(&rp, &c, &response, user).await;
        match verdict {
            Ok(owner) => {
                self.ports.observer.sign_in(SignInResult::Succeeded);
                self.audit(
                    AuditEvent::new(AuditKind::SignInSucceeded, self.now())
                        .user(owner.id)
                        .ip(from)
                        .detail("method", "passkey"),
                )
                .await;
                Ok(owner)
            }
            Err(e) => {
                self.ports.observer.sign_in(SignInResult::Failed);
                let mut event = AuditEvent::new(AuditKind::SignInFailed, self.now())
                    .ip(from)
                    .detail("reason", "passkey_refused");
                if let Some(u) = user {
                    event = event.user(u.id);
                }
                self.audit(event).await;
                Err(e)
            }
        }
    }

    async fn verify_assertion(
        &self,
        rp: &Webauthn,
        c: &PasskeyChallenge,
        response: &PublicKeyCredential,
        user: Option<&User>,
    ) -> Result<User, ApiError> {
        let Some(stored) = self
            .ports
            .factors
            .passkey_by_credential(response.get_credential_id())
            .await?
        else {
            return Err(refused());
        };
        if user.is_some_and(|u| u.id != stored.user) {
            return Err(refused());
        }
        let mut key: Passkey = serde_json::from_str(&stored.credential).map_err(unexpected)?;
        let result = if user.is_some() {
            let state: PasskeyAuthentication =
                serde_json::from_str(&c.state).map_err(unexpected)?;
            rp.finish_passkey_authentication(response, &state)
        } else {
            // The authenticator's user handle must be the account the
            // credential is registered to.
            let (handle, _) = rp
                .identify_discoverable_authentication(response)
                .map_err(|_| refused())?;
            if handle != stored.user.0 {
                return Err(refused());
            }
            let state: DiscoverableAuthentication =
                serde_json::from_str(&c.state).map_err(unexpected)?;
            rp.finish_discoverable_authentication_v2(response, state, &key)
        };
        let result = result.map_err(|e| {
            tracing::info!(error = %e, "passkey assertion refused");
            refused()
        })?;
        key.update_credential(&result);
        let json = serde_json::to_string(&key).map_err(unexpected)?;
        self.ports
            .factors
            .record_passkey_use(stored.id, &json, self.now())
            .await?;
        match self.ports.users.get_user(stored.user).await? {
            Some(owner) => Ok(owner),
            None => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_defaulted() {
        assert_eq!(passkey_name("  Laptop ").expect("ok"), "Laptop");
        assert_eq!(passkey_name("").expect("default"), "Passkey");
        assert!(passkey_name("a\u{0}b").is_err());
        assert!(passkey_name(&"x".repeat(65)).is_err());
        assert_eq!(
            passkey_name(&"é".repeat(64))
                .expect("chars")
                .chars()
                .count(),
            64
        );
    }

    #[test]
    fn answers_that_are_not_credentials_are_bad_requests() {
        assert!(matches!(
            answer::<PublicKeyCredential>("{}"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            answer::<PublicKeyCredential>(&"x".repeat(MAX_RESPONSE + 1)),
            Err(ApiError::BadRequest(_))
        ));
    }
}
