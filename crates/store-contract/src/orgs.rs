//! Contracts of [`OrgRepo`](gatehouse_core::ports::OrgRepo).

use gatehouse_core::model::{OrgId, OrgRole, Organization};
use time::Duration;

use crate::{Stores, assert_not_found, fixtures};

/// An organization appears together with its owner, in every view, and can
/// be renamed; renaming a missing one is `NotFound`.
pub async fn an_organization_is_created_together_with_its_owner(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    s.users.insert_user(&ann).await.expect("insert user");
    let acme = fixtures::org("Acme");
    let owner = fixtures::member(&acme, &ann, OrgRole::Owner);
    s.orgs.insert_org(&acme, &owner).await.expect("insert org");

    assert_eq!(
        s.orgs.get_org(acme.id).await.expect("get"),
        Some(acme.clone())
    );
    assert_eq!(s.orgs.list_orgs().await.expect("list"), vec![acme.clone()]);
    assert_eq!(s.orgs.members(acme.id).await.expect("members"), vec![owner]);
    assert_eq!(
        s.orgs
            .membership(acme.id, ann.id)
            .await
            .expect("membership"),
        Some(OrgRole::Owner)
    );
    assert_eq!(
        s.orgs.orgs_of_user(ann.id).await.expect("orgs of user"),
        vec![(acme.clone(), OrgRole::Owner)]
    );

    let renamed = Organization {
        name: "Acme Corporation".to_owned(),
        description: "Makes everything.".to_owned(),
        updated_at: acme.updated_at + Duration::minutes(1),
        ..acme.clone()
    };
    s.orgs.update_org(&renamed).await.expect("update");
    assert_eq!(s.orgs.get_org(acme.id).await.expect("get"), Some(renamed));

    assert_not_found(
        s.orgs.update_org(&fixtures::org("Ghost")).await,
        "updating a missing organization",
    );
    assert_eq!(s.orgs.get_org(OrgId::new()).await.expect("get"), None);
}

/// `put_member` adds a member or changes their role; `remove_member` reports
/// whether there was one to remove.
pub async fn members_can_be_added_promoted_and_removed(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&ann).await.expect("insert ann");
    s.users.insert_user(&bob).await.expect("insert bob");
    let acme = fixtures::org("Acme");
    s.orgs
        .insert_org(&acme, &fixtures::member(&acme, &ann, OrgRole::Owner))
        .await
        .expect("insert org");

    s.orgs
        .put_member(&fixtures::member(&acme, &bob, OrgRole::Member))
        .await
        .expect("add bob");
    assert_eq!(
        s.orgs
            .membership(acme.id, bob.id)
            .await
            .expect("membership"),
        Some(OrgRole::Member)
    );
    assert_eq!(
        s.orgs.orgs_of_user(bob.id).await.expect("orgs of bob"),
        vec![(acme.clone(), OrgRole::Member)]
    );

    s.orgs
        .put_member(&fixtures::member(&acme, &bob, OrgRole::Admin))
        .await
        .expect("promote bob");
    assert_eq!(
        s.orgs
            .membership(acme.id, bob.id)
            .await
            .expect("membership"),
        Some(OrgRole::Admin)
    );
    let members = s.orgs.members(acme.id).await.expect("members");
    assert_eq!(
        members.len(),
        2,
        "a role change adds no member: {members:?}"
    );

    assert!(s.orgs.remove_member(acme.id, bob.id).await.expect("remove"));
    assert!(
        !s.orgs
            .remove_member(acme.id, bob.id)
            .await
            .expect("remove again")
    );
    assert_eq!(
        s.orgs
            .membership(acme.id, bob.id)
            .await
            .expect("membership"),
        None
    );
    assert!(
        s.orgs
            .orgs_of_user(bob.id)
            .await
            .expect("orgs of bob")
            .is_empty()
    );
}

/// A membership in an organization or of a user that does not exist is
/// `NotFound`, and nothing is stored.
pub async fn adding_a_member_needs_an_existing_organization_and_user(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    s.users.insert_user(&ann).await.expect("insert user");
    let acme = fixtures::org("Acme");
    let owner = fixtures::member(&acme, &ann, OrgRole::Owner);
    s.orgs.insert_org(&acme, &owner).await.expect("insert org");

    let ghost_org = fixtures::org("Ghost");
    assert_not_found(
        s.orgs
            .put_member(&fixtures::member(&ghost_org, &ann, OrgRole::Member))
            .await,
        "joining a missing organization",
    );
    let ghost_user = fixtures::user("ghost@example.com");
    assert_not_found(
        s.orgs
            .put_member(&fixtures::member(&acme, &ghost_user, OrgRole::Member))
            .await,
        "adding a missing user",
    );

    assert_eq!(s.orgs.members(acme.id).await.expect("members"), vec![owner]);
    assert!(
        s.orgs
            .members(ghost_org.id)
            .await
            .expect("members")
            .is_empty()
    );
    assert_eq!(
        s.orgs.orgs_of_user(ann.id).await.expect("orgs").len(),
        1,
        "ann is in acme only"
    );
}

/// Deleting an organization removes its memberships and leaves other
/// organizations alone.
pub async fn deleting_an_organization_removes_its_memberships(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&ann).await.expect("insert ann");
    s.users.insert_user(&bob).await.expect("insert bob");
    let acme = fixtures::org("Acme");
    let globex = fixtures::org("Globex");
    s.orgs
        .insert_org(&acme, &fixtures::member(&acme, &ann, OrgRole::Owner))
        .await
        .expect("insert acme");
    s.orgs
        .put_member(&fixtures::member(&acme, &bob, OrgRole::Member))
        .await
        .expect("add bob");
    let globex_owner = fixtures::member(&globex, &bob, OrgRole::Owner);
    s.orgs
        .insert_org(&globex, &globex_owner)
        .await
        .expect("insert globex");

    assert!(s.orgs.delete_org(acme.id).await.expect("delete"));
    assert_eq!(s.orgs.get_org(acme.id).await.expect("get"), None);
    assert!(s.orgs.members(acme.id).await.expect("members").is_empty());
    assert_eq!(
        s.orgs
            .membership(acme.id, ann.id)
            .await
            .expect("membership"),
        None
    );
    assert!(
        s.orgs
            .orgs_of_user(ann.id)
            .await
            .expect("orgs of ann")
            .is_empty()
    );
    assert_eq!(
        s.orgs.orgs_of_user(bob.id).await.expect("orgs of bob"),
        vec![(globex.clone(), OrgRole::Owner)]
    );
    assert_eq!(
        s.orgs.members(globex.id).await.expect("members"),
        vec![globex_owner]
    );
    assert_eq!(s.orgs.list_orgs().await.expect("list"), vec![globex]);
    assert!(!s.orgs.delete_org(acme.id).await.expect("delete again"));
    assert!(!s.orgs.delete_org(OrgId::new()).await.expect("delete ghost"));
}

/// Members with their records come in one call, oldest membership first;
/// org-mates are everyone sharing an organization, each once.
pub async fn members_come_with_their_records_and_org_mates_once(s: Stores) {
    let ann = fixtures::user("ann@example.com");
    let bob = fixtures::user("bob@example.com");
    let cat = fixtures::user("cat@example.com");
    let dan = fixtures::user("dan@example.com");
    for u in [&ann, &bob, &cat, &dan] {
        s.users.insert_user(u).await.expect("insert user");
    }
    let acme = fixtures::org("Acme");
    let beta = fixtures::org("Beta");
    s.orgs
        .insert_org(&acme, &fixtures::member(&acme, &ann, OrgRole::Owner))
        .await
        .expect("acme");
    s.orgs
        .insert_org(&beta, &fixtures::member(&beta, &ann, OrgRole::Owner))
        .await
        .expect("beta");
    let mut bob_in_acme = fixtures::member(&acme, &bob, OrgRole::Member);
    bob_in_acme.created_at += Duration::seconds(1);
    s.orgs.put_member(&bob_in_acme).await.expect("bob");
    s.orgs
        .put_member(&fixtures::member(&beta, &bob, OrgRole::Admin))
        .await
        .expect("bob in beta");
    let mut cat_in_beta = fixtures::member(&beta, &cat, OrgRole::Member);
    cat_in_beta.created_at += Duration::seconds(2);
    s.orgs.put_member(&cat_in_beta).await.expect("cat");

    let acme_members = s.orgs.member_users(acme.id).await.expect("member users");
    let ids: Vec<_> = acme_members
        .iter()
        .map(|(m, u)| (m.user_id, u.id, m.role))
        .collect();
    assert_eq!(
        ids,
        vec![
            (ann.id, ann.id, OrgRole::Owner),
            (bob.id, bob.id, OrgRole::Member)
        ]
    );
    assert_eq!(acme_members[1].1, bob);

    let mut mates: Vec<_> = s
        .orgs
        .org_mates(ann.id)
        .await
        .expect("mates")
        .into_iter()
        .map(|u| u.id)
        .collect();
    mates.sort();
    let mut want = vec![ann.id, bob.id, cat.id];
    want.sort();
    assert_eq!(mates, want, "everyone in Acme or Beta, once");
    let cats: Vec<_> = s
        .orgs
        .org_mates(cat.id)
        .await
        .expect("mates")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(cats.len(), 3, "Beta: ann, bob, cat");
    assert!(s.orgs.org_mates(dan.id).await.expect("mates").is_empty());
    assert!(
        s.orgs
            .member_users(OrgId::new())
            .await
            .expect("none")
            .is_empty()
    );
}
