//! Contracts of second factors: an authenticator app accepts each time
//! step once, a recovery code is spent once, under races too, and both go
//! with their user. Passkeys are in [`crate::passkeys`].

use gatehouse_core::model::{TotpFactor, UserId};
use gatehouse_core::secret::TokenHash;

use crate::{Stores, assert_not_found, fixtures, race};

fn totp(user: UserId) -> TotpFactor {
    TotpFactor {
        user,
        sealed_secret: vec![7; 48],
        confirmed: false,
        last_step: 0,
        created_at: fixtures::now(),
    }
}

/// A factor reads back whole, is confirmed by its first accepted step,
/// never accepts a step twice or an earlier one, is replaced by a new
/// set-up, and needs an existing user.
pub async fn an_authenticator_accepts_each_time_step_once(s: Stores) {
    let user = fixtures::user("totp@example.com");
    s.users.insert_user(&user).await.expect("user");
    assert_eq!(s.factors.get_totp(user.id).await.expect("none"), None);
    assert!(
        !s.factors
            .accept_totp_step(user.id, 5)
            .await
            .expect("no factor")
    );

    let pending = totp(user.id);
    s.factors.put_totp(&pending).await.expect("put");
    assert_eq!(
        s.factors.get_totp(user.id).await.expect("get"),
        Some(pending.clone())
    );
    assert!(
        s.factors
            .accept_totp_step(user.id, 100)
            .await
            .expect("first")
    );
    let confirmed = s
        .factors
        .get_totp(user.id)
        .await
        .expect("get")
        .expect("some");
    assert!(confirmed.confirmed);
    assert_eq!(confirmed.last_step, 100);
    assert!(
        !s.factors
            .accept_totp_step(user.id, 100)
            .await
            .expect("replay")
    );
    assert!(
        !s.factors
            .accept_totp_step(user.id, 99)
            .await
            .expect("earlier")
    );
    assert!(
        s.factors
            .accept_totp_step(user.id, 101)
            .await
            .expect("next")
    );

    let fresh = TotpFactor {
        sealed_secret: vec![9; 48],
        ..totp(user.id)
    };
    s.factors.put_totp(&fresh).await.expect("replace");
    assert_eq!(s.factors.get_totp(user.id).await.expect("get"), Some(fresh));

    assert_not_found(
        s.factors.put_totp(&totp(UserId::new())).await,
        "a factor for a user that does not exist",
    );
    assert!(s.factors.delete_totp(user.id).await.expect("delete"));
    assert!(!s.factors.delete_totp(user.id).await.expect("again"));
    assert_eq!(s.factors.get_totp(user.id).await.expect("gone"), None);
}

/// Recovery codes are spent once each, only by their owner, are replaced
/// as a set, and go with the authenticator app and with the user.
pub async fn a_recovery_code_is_spent_once_by_its_owner(s: Stores) {
    let alice = fixtures::user("alice@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&alice).await.expect("alice");
    s.users.insert_user(&bob).await.expect("bob");
    let codes: Vec<TokenHash> = ["a", "b", "c"].iter().map(|c| TokenHash::of(c)).collect();
    let now = fixtures::now();
    s.factors
        .replace_recovery_codes(alice.id, &codes, now)
        .await
        .expect("codes");
    assert_eq!(
        s.factors.recovery_codes_left(alice.id).await.expect("left"),
        3
    );
    assert!(
        !s.factors
            .use_recovery_code(bob.id, &codes[0], now)
            .await
            .expect("bob")
    );
    assert!(
        s.factors
            .use_recovery_code(alice.id, &codes[0], now)
            .await
            .expect("use")
    );
    assert!(
        !s.factors
            .use_recovery_code(alice.id, &codes[0], now)
            .await
            .expect("again")
    );
    assert!(
        !s.factors
            .use_recovery_code(alice.id, &TokenHash::of("z"), now)
            .await
            .expect("unknown")
    );
    assert_eq!(
        s.factors.recovery_codes_left(alice.id).await.expect("left"),
        2
    );

    let fresh: Vec<TokenHash> = ["d", "e"].iter().map(|c| TokenHash::of(c)).collect();
    s.factors
        .replace_recovery_codes(alice.id, &fresh, now)
        .await
        .expect("replace");
    assert_eq!(
        s.factors.recovery_codes_left(alice.id).await.expect("left"),
        2
    );
    assert!(
        !s.factors
            .use_recovery_code(alice.id, &codes[1], now)
            .await
            .expect("old set")
    );

    // Removing the app leaves the codes: they may stand in for a passkey.
    s.factors.put_totp(&totp(alice.id)).await.expect("totp");
    assert!(s.factors.delete_totp(alice.id).await.expect("delete"));
    assert_eq!(
        s.factors.recovery_codes_left(alice.id).await.expect("left"),
        2
    );
    s.factors
        .replace_recovery_codes(alice.id, &[], now)
        .await
        .expect("none");
    assert_eq!(
        s.factors.recovery_codes_left(alice.id).await.expect("left"),
        0
    );

    s.factors.put_totp(&totp(bob.id)).await.expect("bob totp");
    s.factors
        .replace_recovery_codes(bob.id, &codes, now)
        .await
        .expect("bob codes");
    assert!(s.users.delete_user(bob.id).await.expect("delete bob"));
    assert_eq!(s.factors.get_totp(bob.id).await.expect("bob's"), None);
    assert_eq!(
        s.factors.recovery_codes_left(bob.id).await.expect("bob's"),
        0
    );
    assert_not_found(
        s.factors
            .replace_recovery_codes(UserId::new(), &codes, now)
            .await,
        "codes for a user that does not exist",
    );
}

/// Sixteen sign-ins racing with one code: exactly one is accepted, for the
/// authenticator's time step and for a recovery code alike.
pub async fn racing_uses_of_one_code_accept_exactly_one(s: Stores) {
    let user = fixtures::user("race@example.com");
    s.users.insert_user(&user).await.expect("user");
    s.factors.put_totp(&totp(user.id)).await.expect("totp");
    let code = TokenHash::of("recovery");
    s.factors
        .replace_recovery_codes(user.id, &[code], fixtures::now())
        .await
        .expect("codes");
    let factors = s.factors.clone();
    let steps = race(16, |_| {
        let factors = factors.clone();
        async move {
            factors
                .accept_totp_step(user.id, 4242)
                .await
                .expect("accept")
        }
    })
    .await;
    assert_eq!(steps.iter().filter(|ok| **ok).count(), 1, "{steps:?}");
    let factors = s.factors.clone();
    let spent = race(16, |_| {
        let factors = factors.clone();
        async move {
            factors
                .use_recovery_code(user.id, &code, fixtures::now())
                .await
                .expect("use")
        }
    })
    .await;
    assert_eq!(spent.iter().filter(|ok| **ok).count(), 1, "{spent:?}");
}
