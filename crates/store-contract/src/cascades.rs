//! Contracts of the cascading deletes of clients and users.

use gatehouse_core::model::{OrgRole, RefreshStanding, User};
use gatehouse_core::ports::{CodeRedemption, Rotation};
use time::Duration;
use uuid::Uuid;

use crate::{Stores, fixtures};

/// Deleting a client removes its codes, grants, refresh tokens and consents,
/// revokes its access tokens, and leaves other clients' records alone.
pub async fn deleting_a_client_removes_its_codes_grants_tokens_and_consents(s: Stores) {
    let (doomed, ann, doomed_grant, doomed_refresh) =
        fixtures::active_grant(&s, "ann@example.com").await;
    let doomed_code = fixtures::code(&doomed, &ann);
    s.tokens.put_code(&doomed_code).await.expect("put code");
    s.tokens
        .put_consent(&fixtures::consent(&ann, &doomed, "openid"))
        .await
        .expect("put consent");

    let kept = fixtures::client();
    s.clients.insert_client(&kept).await.expect("insert kept");
    let kept_grant = fixtures::grant(&kept, &ann);
    let kept_refresh = fixtures::refresh(&kept_grant);
    s.tokens
        .create_grant(&kept_grant, Some(kept_refresh.clone()))
        .await
        .expect("create kept grant");
    let kept_code = fixtures::code(&kept, &ann);
    s.tokens.put_code(&kept_code).await.expect("put kept code");
    let kept_consent = fixtures::consent(&ann, &kept, "openid profile");
    s.tokens
        .put_consent(&kept_consent)
        .await
        .expect("put kept consent");

    assert!(s.clients.delete_client(&doomed.id).await.expect("delete"));

    assert_eq!(
        s.tokens.take_code(&doomed_code.hash).await.expect("take"),
        CodeRedemption::Unknown
    );
    assert_eq!(
        s.tokens.get_grant(doomed_grant.id).await.expect("get"),
        None
    );
    assert_eq!(
        s.tokens
            .find_refresh(&fixtures::presented(&doomed_refresh))
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &fixtures::presented(&doomed_refresh),
                None,
                &fixtures::successor(&doomed_refresh),
                fixtures::now(),
                Duration::ZERO
            )
            .await
            .expect("rotate"),
        Rotation::Invalid
    );
    assert_eq!(
        s.tokens.get_consent(ann.id, &doomed.id).await.expect("get"),
        None
    );
    assert!(
        s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(doomed_grant.id))
            .await
            .expect("check")
    );

    assert_eq!(
        s.tokens
            .find_refresh(&fixtures::presented(&kept_refresh))
            .await
            .expect("find"),
        Some((kept_refresh, RefreshStanding::Current, kept_grant.clone()))
    );
    assert_eq!(
        s.tokens.take_code(&kept_code.hash).await.expect("take"),
        CodeRedemption::Redeemed(Box::new(kept_code))
    );
    assert_eq!(
        s.tokens.get_consent(ann.id, &kept.id).await.expect("get"),
        Some(kept_consent)
    );
    assert!(
        !s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(kept_grant.id))
            .await
            .expect("check")
    );
    assert_eq!(s.users.get_user(ann.id).await.expect("get"), Some(ann));
}

/// Deleting a user removes their memberships, sessions, codes, grants,
/// refresh tokens and consents, frees their email, and leaves other users'
/// records alone.
pub async fn deleting_a_user_removes_their_sessions_memberships_grants_and_consents(s: Stores) {
    let (app, ann, ann_grant, ann_refresh) = fixtures::active_grant(&s, "ann@example.com").await;
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&bob).await.expect("insert bob");

    let acme = fixtures::org("Acme");
    let bob_owner = fixtures::member(&acme, &bob, OrgRole::Owner);
    s.orgs
        .insert_org(&acme, &bob_owner)
        .await
        .expect("insert org");
    s.orgs
        .put_member(&fixtures::member(&acme, &ann, OrgRole::Admin))
        .await
        .expect("add ann");

    let ann_session = fixtures::session(&ann);
    s.tokens
        .put_session(&ann_session)
        .await
        .expect("put session");
    let ann_code = fixtures::code(&app, &ann);
    s.tokens.put_code(&ann_code).await.expect("put code");
    s.tokens
        .put_consent(&fixtures::consent(&ann, &app, "openid"))
        .await
        .expect("put consent");

    let bob_session = fixtures::session(&bob);
    s.tokens
        .put_session(&bob_session)
        .await
        .expect("put session");
    let bob_grant = fixtures::grant(&app, &bob);
    let bob_refresh = fixtures::refresh(&bob_grant);
    s.tokens
        .create_grant(&bob_grant, Some(bob_refresh.clone()))
        .await
        .expect("create bob grant");
    let bob_consent = fixtures::consent(&bob, &app, "openid");
    s.tokens
        .put_consent(&bob_consent)
        .await
        .expect("put consent");

    assert!(s.users.delete_user(ann.id).await.expect("delete"));
    let now = fixtures::now();

    assert_eq!(s.users.get_user(ann.id).await.expect("get"), None);
    assert_eq!(
        s.orgs
            .membership(acme.id, ann.id)
            .await
            .expect("membership"),
        None
    );
    assert!(s.orgs.orgs_of_user(ann.id).await.expect("orgs").is_empty());
    assert_eq!(
        s.orgs.members(acme.id).await.expect("members"),
        vec![bob_owner]
    );
    assert_eq!(
        s.tokens
            .get_session(&ann_session.hash, now)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        s.tokens.take_code(&ann_code.hash).await.expect("take"),
        CodeRedemption::Unknown
    );
    assert_eq!(s.tokens.get_grant(ann_grant.id).await.expect("get"), None);
    assert_eq!(
        s.tokens
            .find_refresh(&fixtures::presented(&ann_refresh))
            .await
            .expect("find"),
        None
    );
    assert!(
        s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(ann_grant.id))
            .await
            .expect("check")
    );
    assert_eq!(
        s.tokens.get_consent(ann.id, &app.id).await.expect("get"),
        None
    );

    assert_eq!(
        s.tokens
            .get_session(&bob_session.hash, now)
            .await
            .expect("get"),
        Some(bob_session)
    );
    assert_eq!(
        s.tokens
            .find_refresh(&fixtures::presented(&bob_refresh))
            .await
            .expect("find"),
        Some((bob_refresh, RefreshStanding::Current, bob_grant))
    );
    assert_eq!(
        s.tokens.get_consent(bob.id, &app.id).await.expect("get"),
        Some(bob_consent)
    );

    let successor = User {
        created_at: ann.created_at + Duration::seconds(1),
        ..fixtures::user("ann@example.com")
    };
    s.users
        .insert_user(&successor)
        .await
        .expect("a deleted user's email can be registered again");
    assert!(!s.users.delete_user(ann.id).await.expect("delete again"));
}
