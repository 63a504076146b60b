//! Contracts of [`UserRepo`](gatehouse_core::ports::UserRepo).

use gatehouse_core::model::{Email, Role, User, UserId};
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures};

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}

/// A user reads back by id and by email, as stored and as updated, and is
/// gone once deleted.
pub async fn users_round_trip_through_insert_get_update_and_delete(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    s.users.insert_user(&ann).await.expect("insert");
    assert_eq!(
        s.users.get_user(ann.id).await.expect("get"),
        Some(ann.clone())
    );
    assert_eq!(
        s.users
            .get_user_by_email(&email("ann@example.com"))
            .await
            .expect("get by email"),
        Some(ann.clone())
    );

    let changed = User {
        name: "Ann Admin".to_owned(),
        role: Role::Admin,
        email_verified: false,
        updated_at: ann.updated_at + Duration::minutes(1),
        ..ann.clone()
    };
    s.users.update_user(&changed).await.expect("update");
    assert_eq!(
        s.users.get_user(ann.id).await.expect("get"),
        Some(changed.clone())
    );
    assert_eq!(
        s.users
            .get_user_by_email(&ann.email)
            .await
            .expect("get by email"),
        Some(changed)
    );

    assert!(s.users.delete_user(ann.id).await.expect("delete"));
    assert_eq!(s.users.get_user(ann.id).await.expect("get"), None);
    assert_eq!(
        s.users
            .get_user_by_email(&ann.email)
            .await
            .expect("get by email"),
        None
    );
    assert!(!s.users.delete_user(ann.id).await.expect("delete again"));
    assert_eq!(s.users.get_user(UserId::new()).await.expect("get"), None);
}

/// A second user with a taken email is a conflict; the first keeps it.
pub async fn an_email_address_belongs_to_one_user_only(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    s.users.insert_user(&ann).await.expect("insert");
    let other = fixtures::user("ann@example.com");
    assert_conflict(
        s.users.insert_user(&other).await,
        "inserting a second user with the same email",
    );
    assert_eq!(s.users.get_user(other.id).await.expect("get"), None);
    assert_eq!(
        s.users
            .get_user_by_email(&ann.email)
            .await
            .expect("get by email")
            .map(|u| u.id),
        Some(ann.id)
    );
}

/// Changing one's email to another user's is a conflict, updating a missing
/// user is `NotFound`, and a changed email frees the old address.
pub async fn a_user_cannot_take_another_users_email(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&ann).await.expect("insert ann");
    s.users.insert_user(&bob).await.expect("insert bob");

    let grabbing = User {
        email: ann.email.clone(),
        ..bob.clone()
    };
    assert_conflict(
        s.users.update_user(&grabbing).await,
        "taking another user's email",
    );
    assert_eq!(
        s.users.get_user(bob.id).await.expect("get"),
        Some(bob.clone())
    );

    assert_not_found(
        s.users
            .update_user(&fixtures::user("ghost@example.com"))
            .await,
        "updating a missing user",
    );

    let moved = User {
        email: email("robert@example.com"),
        ..bob.clone()
    };
    s.users.update_user(&moved).await.expect("change own email");
    assert_eq!(
        s.users
            .get_user_by_email(&bob.email)
            .await
            .expect("old email"),
        None
    );
    assert_eq!(
        s.users
            .get_user_by_email(&moved.email)
            .await
            .expect("new email"),
        Some(moved)
    );
    s.users
        .insert_user(&fixtures::user("bob@example.com"))
        .await
        .expect("the freed address can be registered again");
}

/// `count_admins` counts platform admins only, following updates and
/// deletions.
pub async fn admins_are_counted(s: Stores) {
    assert_eq!(s.users.count_admins().await.expect("count"), 0);
    let root = fixtures::admin("root@example.com");
    let ops = fixtures::admin("ops@example.com");
    let ann = fixtures::user("ann@example.com");
    for u in [&root, &ops, &ann] {
        s.users.insert_user(u).await.expect("insert");
    }
    assert_eq!(s.users.count_admins().await.expect("count"), 2);

    let demoted = User {
        role: Role::User,
        ..ops.clone()
    };
    s.users.update_user(&demoted).await.expect("demote");
    assert_eq!(s.users.count_admins().await.expect("count"), 1);

    assert!(s.users.delete_user(root.id).await.expect("delete"));
    assert_eq!(s.users.count_admins().await.expect("count"), 0);
}

/// `list_users` returns every user, oldest first, whatever the insertion
/// order.
pub async fn users_are_listed_oldest_first(s: Stores) {
    let t0 = fixtures::now();
    let newest = User {
        created_at: t0 + Duration::seconds(2),
        ..fixtures::user("newest@example.com")
    };
    let oldest = User {
        created_at: t0,
        ..fixtures::user("oldest@example.com")
    };
    let middle = User {
        created_at: t0 + Duration::seconds(1),
        ..fixtures::user("middle@example.com")
    };
    for u in [&newest, &oldest, &middle] {
        s.users.insert_user(u).await.expect("insert");
    }
    let listed: Vec<_> = s
        .users
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(listed, vec![oldest.id, middle.id, newest.id]);
}

/// A user's sign-in epoch (moved on by a password change) is stored and
/// read back like every other field.
pub async fn a_users_sign_in_epoch_is_kept(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    s.users.insert_user(&ann).await.expect("insert");
    let mut changed = ann.clone();
    changed.sign_in_epoch = 3;
    s.users.update_user(&changed).await.expect("update");
    assert_eq!(
        s.users
            .get_user(ann.id)
            .await
            .expect("get")
            .map(|u| u.sign_in_epoch),
        Some(3)
    );
    // The whole range survives, the top of it included.
    changed.sign_in_epoch = u32::MAX;
    s.users.update_user(&changed).await.expect("update");
    assert_eq!(
        s.users
            .get_user_by_email(&ann.email)
            .await
            .expect("get")
            .map(|u| u.sign_in_epoch),
        Some(u32::MAX)
    );
}
