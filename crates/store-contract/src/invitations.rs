//! Contracts of the invitation half of
//! [`OrgRepo`](gatehouse_core::ports::OrgRepo).

use gatehouse_core::model::{Invitation, OrgRole, Organization, User};
use gatehouse_core::ports::StoreError;

use crate::{Stores, assert_not_found, fixtures, race};

fn invitation(org: &Organization, user: &User, by: &User, role: OrgRole) -> Invitation {
    Invitation {
        org_id: org.id,
        user_id: user.id,
        role,
        invited_by: Some(by.id),
        created_at: fixtures::now(),
    }
}

/// Acme, owned by Ann, with Bob and Cat as users who are not members.
async fn acme(s: &Stores) -> (Organization, User, User, User) {
    let ann = fixtures::user("ann@example.com");
    let bob = fixtures::user("bob@example.com");
    let cat = fixtures::user("cat@example.com");
    for u in [&ann, &bob, &cat] {
        s.users.insert_user(u).await.expect("insert user");
    }
    let acme = fixtures::org("Acme");
    s.orgs
        .insert_org(&acme, &fixtures::member(&acme, &ann, OrgRole::Owner))
        .await
        .expect("insert org");
    (acme, ann, bob, cat)
}

/// An invitation is seen by its invitee and its organization, makes no one
/// a member, and a repeated invitation replaces the first.
pub async fn an_invitation_is_pending_until_answered(s: Stores) {
    let (acme, ann, bob, _) = acme(&s).await;
    let first = invitation(&acme, &bob, &ann, OrgRole::Member);
    s.orgs.put_invitation(&first).await.expect("invite");
    let again = Invitation {
        role: OrgRole::Admin,
        ..first.clone()
    };
    s.orgs.put_invitation(&again).await.expect("invite again");
    assert_eq!(
        s.orgs.invitations_of_user(bob.id).await.expect("of user"),
        vec![(again.clone(), acme.clone())]
    );
    assert_eq!(
        s.orgs.invitations_to_org(acme.id).await.expect("to org"),
        vec![again]
    );
    assert_eq!(s.orgs.membership(acme.id, bob.id).await.expect("m"), None);
    assert!(s.orgs.orgs_of_user(bob.id).await.expect("orgs").is_empty());
    assert_eq!(s.orgs.members(acme.id).await.expect("members").len(), 1);
    assert!(
        s.orgs
            .invitations_of_user(ann.id)
            .await
            .expect("of ann")
            .is_empty()
    );
}

/// Accepting makes the invitee a member with the invited role, once; the
/// invitation is gone afterwards. A member who is invited again keeps the
/// role they have.
pub async fn accepting_an_invitation_makes_a_member_once(s: Stores) {
    let (acme, ann, bob, _) = acme(&s).await;
    s.orgs
        .put_invitation(&invitation(&acme, &bob, &ann, OrgRole::Admin))
        .await
        .expect("invite");
    let at = fixtures::now();
    let m = s
        .orgs
        .accept_invitation(acme.id, bob.id, at)
        .await
        .expect("accept")
        .expect("a membership");
    assert_eq!(
        (m.org_id, m.user_id, m.role),
        (acme.id, bob.id, OrgRole::Admin)
    );
    assert_eq!(
        s.orgs.membership(acme.id, bob.id).await.expect("m"),
        Some(OrgRole::Admin)
    );
    assert!(
        s.orgs
            .invitations_of_user(bob.id)
            .await
            .expect("of user")
            .is_empty()
    );
    assert_eq!(
        s.orgs
            .accept_invitation(acme.id, bob.id, at)
            .await
            .expect("again"),
        None
    );
    // Ann, the owner, invited to her own organization as a member.
    s.orgs
        .put_invitation(&invitation(&acme, &ann, &bob, OrgRole::Member))
        .await
        .expect("invite");
    let kept = s
        .orgs
        .accept_invitation(acme.id, ann.id, at)
        .await
        .expect("accept")
        .expect("a membership");
    assert_eq!(kept.role, OrgRole::Owner);
}

/// Of concurrent acceptances of one invitation exactly one succeeds.
pub async fn an_invitation_is_accepted_once_under_concurrency(s: Stores) {
    let (acme, ann, bob, _) = acme(&s).await;
    for round in 0..5 {
        s.orgs
            .put_invitation(&invitation(&acme, &bob, &ann, OrgRole::Member))
            .await
            .expect("invite");
        let orgs = s.orgs.clone();
        let (org, user) = (acme.id, bob.id);
        let outcomes = race(12, move |_| {
            let orgs = orgs.clone();
            async move {
                orgs.accept_invitation(org, user, fixtures::now())
                    .await
                    .expect("accept")
            }
        })
        .await;
        let accepted = outcomes.iter().filter(|o| o.is_some()).count();
        assert_eq!(accepted, 1, "round {round}: {outcomes:?}");
        assert!(s.orgs.remove_member(acme.id, bob.id).await.expect("remove"));
    }
}

/// An invitation needs an existing organization and invitee; declining or
/// withdrawing deletes it, and says whether there was one.
pub async fn an_invitation_needs_both_parties_and_can_be_deleted(s: Stores) {
    let (acme, ann, bob, _) = acme(&s).await;
    let ghost_user = fixtures::user("ghost@example.com");
    let ghost_org = fixtures::org("Ghost");
    assert_not_found(
        s.orgs
            .put_invitation(&invitation(&ghost_org, &bob, &ann, OrgRole::Member))
            .await,
        "inviting to a missing organization",
    );
    assert!(matches!(
        s.orgs
            .put_invitation(&invitation(&acme, &ghost_user, &ann, OrgRole::Member))
            .await,
        Err(StoreError::NotFound(_))
    ));
    s.orgs
        .put_invitation(&invitation(&acme, &bob, &ann, OrgRole::Member))
        .await
        .expect("invite");
    assert!(
        s.orgs
            .delete_invitation(acme.id, bob.id)
            .await
            .expect("delete")
    );
    assert!(
        !s.orgs
            .delete_invitation(acme.id, bob.id)
            .await
            .expect("delete")
    );
    assert_eq!(
        s.orgs
            .accept_invitation(acme.id, bob.id, fixtures::now())
            .await
            .expect("accept"),
        None
    );
}

/// Invitations go with their organization and their invitee; a deleted
/// inviter is only forgotten.
pub async fn invitations_go_with_their_organization_and_invitee(s: Stores) {
    let (acme, ann, bob, cat) = acme(&s).await;
    let other = fixtures::org("Other");
    s.orgs
        .insert_org(&other, &fixtures::member(&other, &bob, OrgRole::Owner))
        .await
        .expect("insert org");
    s.orgs
        .put_invitation(&invitation(&acme, &bob, &ann, OrgRole::Member))
        .await
        .expect("invite bob");
    s.orgs
        .put_invitation(&invitation(&other, &cat, &bob, OrgRole::Member))
        .await
        .expect("invite cat");
    s.orgs
        .put_invitation(&invitation(&other, &ann, &bob, OrgRole::Member))
        .await
        .expect("invite ann");
    assert!(s.orgs.delete_org(acme.id).await.expect("delete org"));
    assert!(
        s.orgs
            .invitations_of_user(bob.id)
            .await
            .expect("bob")
            .is_empty()
    );
    assert!(s.users.delete_user(ann.id).await.expect("delete ann"));
    assert_eq!(
        s.orgs
            .invitations_to_org(other.id)
            .await
            .expect("other")
            .len(),
        1
    );
    // Bob, the inviter, leaves the platform: Cat's invitation stays, from
    // nobody in particular — unless Bob's organization goes with him, which
    // the services prevent for last owners; here it stays.
    s.orgs.remove_member(other.id, bob.id).await.expect("leave");
    assert!(s.users.delete_user(bob.id).await.expect("delete bob"));
    let left = s.orgs.invitations_to_org(other.id).await.expect("other");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].user_id, cat.id);
    assert_eq!(left[0].invited_by, None);
}
