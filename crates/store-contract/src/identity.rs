//! Contracts of upstream identity providers and linked identities: names
//! and `(issuer, subject)` are unique, a link needs its user and provider
//! and goes with either, and one user cannot remove another's link.

use gatehouse_core::model::{IdentityProvider, IdpId, IdpKind, IdpName, LinkedIdentity, UserId};
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures, race};

fn provider(name: &str) -> IdentityProvider {
    let now = fixtures::now();
    IdentityProvider {
        id: IdpId::new(),
        name: IdpName::parse(name).expect("name"),
        display_name: format!("{name} accounts"),
        kind: IdpKind::Oidc,
        issuer: format!("https://{name}.example.com"),
        client_id: "gatehouse".to_owned(),
        sealed_secret: vec![0, 1, 2, 255],
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        create_users: true,
        link_by_verified_email: false,
        created_at: now,
        updated_at: now,
    }
}

fn link(p: &IdentityProvider, subject: &str, user: UserId) -> LinkedIdentity {
    let now = fixtures::now();
    LinkedIdentity {
        provider: p.id,
        issuer: p.issuer.clone(),
        subject: subject.to_owned(),
        user,
        email: Some(format!("{subject}@upstream.example")),
        created_at: now,
        last_used_at: now,
    }
}

/// A provider reads back whole by id and by name, changes, lists by name,
/// and its name stays unique through inserts and updates.
pub async fn identity_providers_round_trip_and_keep_unique_names(s: Stores) {
    let google = provider("google");
    s.identities.insert_provider(&google).await.expect("insert");
    assert_eq!(
        s.identities.get_provider(google.id).await.expect("get"),
        Some(google.clone())
    );
    assert_eq!(
        s.identities
            .provider_by_name("google")
            .await
            .expect("by name"),
        Some(google.clone())
    );
    assert_eq!(
        s.identities.provider_by_name("okta").await.expect("none"),
        None
    );
    assert_conflict(
        s.identities.insert_provider(&provider("google")).await,
        "a second provider named google",
    );

    let github = IdentityProvider {
        kind: IdpKind::Github,
        create_users: false,
        link_by_verified_email: true,
        scopes: vec![],
        ..provider("github")
    };
    s.identities.insert_provider(&github).await.expect("github");
    let names: Vec<String> = s
        .identities
        .list_providers()
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["github", "google"]);

    let renamed = IdentityProvider {
        name: IdpName::parse("google-work").expect("name"),
        display_name: "Google Workspace".to_owned(),
        sealed_secret: vec![9; 40],
        scopes: vec!["openid".to_owned()],
        updated_at: google.updated_at + Duration::seconds(5),
        ..google.clone()
    };
    s.identities
        .update_provider(&renamed)
        .await
        .expect("update");
    assert_eq!(
        s.identities.get_provider(google.id).await.expect("get"),
        Some(renamed.clone())
    );
    assert_eq!(
        s.identities.provider_by_name("google").await.expect("old"),
        None
    );
    assert_conflict(
        s.identities
            .update_provider(&IdentityProvider {
                name: github.name.clone(),
                ..renamed.clone()
            })
            .await,
        "renaming onto github",
    );
    assert_not_found(
        s.identities.update_provider(&provider("missing")).await,
        "updating a provider never stored",
    );

    assert!(
        s.identities
            .delete_provider(github.id)
            .await
            .expect("delete")
    );
    assert!(
        !s.identities
            .delete_provider(github.id)
            .await
            .expect("again")
    );
    assert_eq!(
        s.identities.get_provider(github.id).await.expect("gone"),
        None
    );
}

/// A link is found by `(issuer, subject)`, listed under its user only,
/// touched, refused twice (even for another user), and needs an existing
/// user and provider.
pub async fn an_upstream_identity_links_to_one_user_only(s: Stores) {
    let p = provider("okta");
    s.identities.insert_provider(&p).await.expect("provider");
    let alice = fixtures::user("alice@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&alice).await.expect("alice");
    s.users.insert_user(&bob).await.expect("bob");

    let first = link(&p, "00u1", alice.id);
    s.identities.link_identity(&first).await.expect("link");
    assert_eq!(
        s.identities
            .find_identity(&p.issuer, "00u1")
            .await
            .expect("find"),
        Some(first.clone())
    );
    assert_eq!(
        s.identities
            .find_identity("https://other.example.com", "00u1")
            .await
            .expect("other issuer"),
        None,
        "the subject alone identifies nothing"
    );
    assert_conflict(
        s.identities.link_identity(&link(&p, "00u1", bob.id)).await,
        "the same upstream identity for another user",
    );
    let second = LinkedIdentity {
        email: None,
        created_at: first.created_at + Duration::seconds(1),
        last_used_at: first.created_at + Duration::seconds(1),
        ..link(&p, "00u2", alice.id)
    };
    s.identities.link_identity(&second).await.expect("second");
    assert_eq!(
        s.identities
            .user_identities(alice.id)
            .await
            .expect("alice's"),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        s.identities.user_identities(bob.id).await.expect("bob's"),
        vec![]
    );

    let later = first.last_used_at + Duration::minutes(3);
    s.identities
        .touch_identity(&p.issuer, "00u1", later)
        .await
        .expect("touch");
    let touched = s
        .identities
        .find_identity(&p.issuer, "00u1")
        .await
        .expect("find");
    assert_eq!(touched.map(|l| l.last_used_at), Some(later));

    assert_not_found(
        s.identities
            .link_identity(&link(&p, "00u3", UserId::new()))
            .await,
        "a link to a user that does not exist",
    );
    assert_not_found(
        s.identities
            .link_identity(&link(&provider("never-stored"), "00u4", alice.id))
            .await,
        "a link through a provider that does not exist",
    );
}

/// Only the owner removes a link; links go with their user and with their
/// provider.
pub async fn links_go_with_their_owner_their_provider_or_an_unlink(s: Stores) {
    let okta = provider("okta");
    let google = provider("google");
    s.identities.insert_provider(&okta).await.expect("okta");
    s.identities.insert_provider(&google).await.expect("google");
    let alice = fixtures::user("alice@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&alice).await.expect("alice");
    s.users.insert_user(&bob).await.expect("bob");
    s.identities
        .link_identity(&link(&okta, "a", alice.id))
        .await
        .expect("a");
    s.identities
        .link_identity(&link(&google, "a", alice.id))
        .await
        .expect("ga");
    s.identities
        .link_identity(&link(&okta, "b", bob.id))
        .await
        .expect("b");

    assert!(
        !s.identities
            .unlink_identity(bob.id, &okta.issuer, "a")
            .await
            .expect("bob"),
        "bob cannot remove alice's link"
    );
    assert!(
        s.identities
            .find_identity(&okta.issuer, "a")
            .await
            .expect("kept")
            .is_some()
    );
    assert!(
        s.identities
            .unlink_identity(alice.id, &okta.issuer, "a")
            .await
            .expect("alice")
    );
    assert!(
        !s.identities
            .unlink_identity(alice.id, &okta.issuer, "a")
            .await
            .expect("again")
    );

    assert!(s.users.delete_user(bob.id).await.expect("delete bob"));
    assert_eq!(
        s.identities
            .find_identity(&okta.issuer, "b")
            .await
            .expect("b"),
        None
    );

    assert!(
        s.identities
            .delete_provider(google.id)
            .await
            .expect("delete google")
    );
    assert_eq!(
        s.identities
            .find_identity(&google.issuer, "a")
            .await
            .expect("ga"),
        None
    );
    assert_eq!(
        s.identities.user_identities(alice.id).await.expect("alice"),
        vec![]
    );
}

/// Sixteen first sign-ins of one upstream identity racing to link it:
/// exactly one link is made, so two accounts can never share it.
pub async fn racing_links_of_one_identity_make_exactly_one(s: Stores) {
    let p = provider("entra");
    s.identities.insert_provider(&p).await.expect("provider");
    let mut users = Vec::new();
    for i in 0..16 {
        let u = fixtures::user(&format!("u{i}@example.com"));
        s.users.insert_user(&u).await.expect("user");
        users.push(u.id);
    }
    let identities = s.identities.clone();
    let outcomes = race(16, |i| {
        let identities = identities.clone();
        let l = link(&p, "same-subject", users[i]);
        async move { identities.link_identity(&l).await }
    })
    .await;
    let won = outcomes.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "exactly one link: {outcomes:?}");
    for r in outcomes.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(gatehouse_core::ports::StoreError::Conflict(_))),
            "{r:?}"
        );
    }
}
