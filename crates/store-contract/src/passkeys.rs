//! Contracts of passkeys: a credential id belongs to one account only, a
//! passkey goes with its user, and a ceremony's challenge is answered at
//! most once (under races too) and never after it expires.

use gatehouse_core::model::{
    PasskeyChallenge, PasskeyCredential, PasskeyId, PasskeyPurpose, UserId,
};
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures, race};

fn passkey(user: UserId, credential_id: &[u8], name: &str, age: Duration) -> PasskeyCredential {
    PasskeyCredential {
        id: PasskeyId(uuid::Uuid::new_v4()),
        user,
        credential_id: credential_id.to_vec(),
        name: name.to_owned(),
        credential: format!("{{\"cred\":\"{name}\"}}"),
        created_at: fixtures::now() - age,
        last_used_at: None,
    }
}

fn challenge(purpose: PasskeyPurpose, user: Option<UserId>, ttl: Duration) -> PasskeyChallenge {
    PasskeyChallenge {
        id: uuid::Uuid::new_v4(),
        purpose,
        user,
        state: "{\"ast\":1}".to_owned(),
        expires_at: fixtures::now() + ttl,
    }
}

/// Passkeys read back whole and oldest first, are found by credential id
/// whoever asks, record their use, are removed only by their owner, go
/// with their user, and a credential id registered once is refused again
/// (for anyone).
pub async fn passkeys_round_trip_and_credential_ids_stay_unique(s: Stores) {
    let alice = fixtures::user("pk-alice@example.com");
    let bob = fixtures::user("pk-bob@example.com");
    s.users.insert_user(&alice).await.expect("alice");
    s.users.insert_user(&bob).await.expect("bob");
    assert!(s.factors.passkeys(alice.id).await.expect("none").is_empty());

    let laptop = passkey(alice.id, b"cred-laptop", "Laptop", Duration::hours(2));
    let phone = passkey(alice.id, b"cred-phone", "Phone", Duration::hours(1));
    s.factors.add_passkey(&phone).await.expect("phone");
    s.factors.add_passkey(&laptop).await.expect("laptop");
    assert_eq!(
        s.factors.passkeys(alice.id).await.expect("list"),
        vec![laptop.clone(), phone.clone()]
    );
    assert_eq!(
        s.factors
            .passkey_by_credential(b"cred-phone")
            .await
            .expect("find"),
        Some(phone.clone())
    );
    assert_eq!(
        s.factors
            .passkey_by_credential(b"cred-other")
            .await
            .expect("none"),
        None
    );

    assert_conflict(
        s.factors
            .add_passkey(&passkey(bob.id, b"cred-phone", "Stolen", Duration::ZERO))
            .await,
        "a credential id already registered to someone else",
    );
    assert_not_found(
        s.factors
            .add_passkey(&passkey(UserId::new(), b"cred-x", "X", Duration::ZERO))
            .await,
        "a passkey for a user that does not exist",
    );

    let used_at = fixtures::now();
    assert!(
        s.factors
            .record_passkey_use(phone.id, "{\"counter\":7}", used_at)
            .await
            .expect("use")
    );
    let used = s
        .factors
        .passkey_by_credential(b"cred-phone")
        .await
        .expect("find")
        .expect("some");
    assert_eq!(used.credential, "{\"counter\":7}");
    assert_eq!(used.last_used_at, Some(used_at));
    assert!(
        !s.factors
            .record_passkey_use(PasskeyId(uuid::Uuid::new_v4()), "{}", used_at)
            .await
            .expect("unknown")
    );

    assert!(
        !s.factors
            .delete_passkey(bob.id, phone.id)
            .await
            .expect("not bob's")
    );
    assert!(
        s.factors
            .delete_passkey(alice.id, phone.id)
            .await
            .expect("alice's")
    );
    assert!(
        !s.factors
            .delete_passkey(alice.id, phone.id)
            .await
            .expect("gone")
    );
    assert_eq!(
        s.factors.passkeys(alice.id).await.expect("list"),
        vec![laptop.clone()]
    );
    // The credential id is free again once its passkey is removed.
    s.factors
        .add_passkey(&passkey(bob.id, b"cred-phone", "Bob's", Duration::ZERO))
        .await
        .expect("re-registered");

    assert!(s.users.delete_user(alice.id).await.expect("delete alice"));
    assert_eq!(
        s.factors
            .passkey_by_credential(b"cred-laptop")
            .await
            .expect("gone"),
        None
    );
}

/// A challenge is taken once; an expired one is never returned, and
/// storing a new one drops the expired ones; it goes with its user.
pub async fn a_passkey_challenge_is_taken_once_and_not_after_expiry(s: Stores) {
    let user = fixtures::user("pk-challenge@example.com");
    s.users.insert_user(&user).await.expect("user");
    let now = fixtures::now();

    let live = challenge(
        PasskeyPurpose::Register,
        Some(user.id),
        Duration::minutes(5),
    );
    s.factors
        .put_passkey_challenge(&live, now)
        .await
        .expect("put");
    assert_eq!(
        s.factors
            .take_passkey_challenge(live.id, now)
            .await
            .expect("take"),
        Some(live.clone())
    );
    assert_eq!(
        s.factors
            .take_passkey_challenge(live.id, now)
            .await
            .expect("again"),
        None
    );

    let anonymous = challenge(PasskeyPurpose::SignIn, None, Duration::minutes(5));
    s.factors
        .put_passkey_challenge(&anonymous, now)
        .await
        .expect("anonymous");
    assert_eq!(
        s.factors
            .take_passkey_challenge(anonymous.id, now + Duration::minutes(6))
            .await
            .expect("expired"),
        None
    );

    // Expired by the time the next one is stored: dropped, so not there
    // even for a clock that went back.
    let old = challenge(
        PasskeyPurpose::SecondFactor,
        Some(user.id),
        Duration::minutes(1),
    );
    s.factors
        .put_passkey_challenge(&old, now)
        .await
        .expect("old");
    let later = now + Duration::minutes(2);
    let next = challenge(PasskeyPurpose::SignIn, None, Duration::minutes(10));
    s.factors
        .put_passkey_challenge(&next, later)
        .await
        .expect("next");
    assert_eq!(
        s.factors
            .take_passkey_challenge(old.id, now)
            .await
            .expect("dropped"),
        None
    );

    let mine = challenge(
        PasskeyPurpose::Register,
        Some(user.id),
        Duration::minutes(5),
    );
    s.factors
        .put_passkey_challenge(&mine, now)
        .await
        .expect("mine");
    assert!(s.users.delete_user(user.id).await.expect("delete"));
    assert_eq!(
        s.factors
            .take_passkey_challenge(mine.id, now)
            .await
            .expect("with its user"),
        None
    );
    assert_eq!(
        s.factors
            .take_passkey_challenge(next.id, now)
            .await
            .expect("unrelated"),
        Some(next)
    );
}

/// Sixteen answers racing for one challenge: exactly one gets it.
pub async fn racing_takes_of_one_challenge_yield_exactly_one(s: Stores) {
    let c = challenge(PasskeyPurpose::SignIn, None, Duration::minutes(5));
    s.factors
        .put_passkey_challenge(&c, fixtures::now())
        .await
        .expect("put");
    let factors = s.factors.clone();
    let id = c.id;
    let taken = race(16, |_| {
        let factors = factors.clone();
        async move {
            factors
                .take_passkey_challenge(id, fixtures::now())
                .await
                .expect("take")
                .is_some()
        }
    })
    .await;
    assert_eq!(taken.iter().filter(|ok| **ok).count(), 1, "{taken:?}");
}
