//! Contracts of grants and their revocation (of a grant, a user's, one
//! app's, an access token by `jti`); refresh-token rotation is in
//! [`crate::rotation`].
//!
//! A refresh family is one record per grant (issue 16): the current
//! token's hash, the previous one's, and the generation. Tokens are
//! presented as the core reads them: a hash, and (for the current form) the
//! family and generation their verified MAC names.

use gatehouse_core::model::{
    Grant, GrantId, PresentedRefresh, RefreshClaim, RefreshFamily, RefreshStanding,
};
use gatehouse_core::ports::Rotation;
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{presented, successor};
use crate::{Stores, fixtures};

/// Rotates the family's current token into its successor at `at`, which
/// must succeed; returns the family's new state.
pub(crate) async fn rotate_ok(
    s: &Stores,
    family: &RefreshFamily,
    at: time::OffsetDateTime,
    grace: Duration,
) -> RefreshFamily {
    let next = successor(family);
    // As the core rotates: with what it read to check the token's client.
    let seen = s
        .tokens
        .find_refresh(&presented(family))
        .await
        .expect("find");
    let outcome = s
        .tokens
        .rotate_refresh(&presented(family), seen, &next, at, grace)
        .await
        .expect("rotate");
    assert!(
        matches!(outcome, Rotation::Rotated { .. }),
        "expected a rotation, got {outcome:?}"
    );
    RefreshFamily {
        grant_id: family.grant_id,
        ..next
    }
}

/// Asserts a refresh token can no longer be used: either it is not found
/// or its family is revoked.
pub(crate) async fn assert_dead(s: &Stores, token: &PresentedRefresh, why: &str) {
    match s.tokens.find_refresh(token).await.expect("find") {
        None => {}
        Some((_, _, grant)) => assert!(!grant.is_active(), "{why}: token's family is active"),
    }
    let any = RefreshFamily::issued(
        GrantId::new(),
        token.claim.map_or(1, |c| c.generation + 1),
        fixtures::token_hash(),
        fixtures::now(),
        Duration::days(1),
    );
    assert_eq!(
        s.tokens
            .rotate_refresh(token, None, &any, fixtures::now(), Duration::ZERO)
            .await
            .expect("rotate"),
        Rotation::Invalid,
        "{why}: token still rotates"
    );
}

pub(crate) async fn assert_revoked(s: &Stores, grant: GrantId, why: &str) {
    let g = s.tokens.get_grant(grant).await.expect("get");
    assert!(
        g.as_ref().is_some_and(|g| !g.is_active()),
        "{why}: family not revoked: {g:?}"
    );
}

/// A grant reads back as created, with or without a refresh family, and
/// `find_refresh` returns the current token's family and grant.
pub async fn a_grant_is_stored_with_its_first_refresh_token(s: Stores) {
    let (client, user, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let for_resource = Grant {
        resource: Some("https://mcp.example.com/mcp".to_owned()),
        ..fixtures::grant(&client, &user)
    };
    s.tokens
        .create_grant(&for_resource, None)
        .await
        .expect("create grant for a resource");
    assert_eq!(
        s.tokens.get_grant(for_resource.id).await.expect("get"),
        Some(for_resource),
        "the resource a grant is bound to is kept"
    );
    assert_eq!(
        s.tokens.get_grant(grant.id).await.expect("get"),
        Some(grant.clone())
    );
    assert_eq!(
        s.tokens
            .find_refresh(&presented(&family))
            .await
            .expect("find"),
        Some((family.clone(), RefreshStanding::Current, grant.clone()))
    );
    // A token of the current form is found through the family its MAC
    // names; its hash alone (a MAC that did not verify) finds nothing, as
    // only a legacy token is looked up by its hash.
    let by_hash = PresentedRefresh {
        hash: family.current,
        claim: None,
    };
    assert_eq!(s.tokens.find_refresh(&by_hash).await.expect("find"), None);

    let without_refresh = fixtures::grant(&client, &user);
    s.tokens
        .create_grant(&without_refresh, None)
        .await
        .expect("create without refresh");
    assert_eq!(
        s.tokens.get_grant(without_refresh.id).await.expect("get"),
        Some(without_refresh.clone())
    );
    assert_eq!(s.tokens.get_grant(GrantId::new()).await.expect("get"), None);
    for unknown in [
        PresentedRefresh {
            hash: fixtures::token_hash(),
            claim: None,
        },
        PresentedRefresh {
            hash: fixtures::token_hash(),
            claim: Some(RefreshClaim {
                grant: without_refresh.id,
                generation: 1,
            }),
        },
        PresentedRefresh {
            hash: fixtures::token_hash(),
            claim: Some(RefreshClaim {
                grant: GrantId::new(),
                generation: 1,
            }),
        },
    ] {
        assert_eq!(
            s.tokens.find_refresh(&unknown).await.expect("find"),
            None,
            "{unknown:?}"
        );
    }
}

/// An expired token does not rotate and is not treated as reuse: its grant
/// stays active. A token never issued does not rotate either.
pub async fn an_expired_or_unknown_refresh_token_is_invalid(s: Stores) {
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let grant = fixtures::grant(&client, &user);
    let now = fixtures::now();
    let expired = RefreshFamily {
        issued_at: now - Duration::days(31),
        expires_at: now - Duration::days(1),
        ..fixtures::refresh(&grant)
    };
    s.tokens
        .create_grant(&grant, Some(expired.clone()))
        .await
        .expect("create grant");

    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&expired),
                None,
                &successor(&expired),
                now,
                Duration::ZERO
            )
            .await
            .expect("rotate expired"),
        Rotation::Invalid
    );
    assert_eq!(
        s.tokens
            .get_grant(grant.id)
            .await
            .expect("get")
            .map(|g| g.is_active()),
        Some(true),
        "an expired token is not reuse"
    );
    let unknown = PresentedRefresh {
        hash: fixtures::token_hash(),
        claim: None,
    };
    assert_eq!(
        s.tokens
            .rotate_refresh(&unknown, None, &successor(&expired), now, Duration::ZERO)
            .await
            .expect("rotate unknown"),
        Rotation::Invalid
    );
}

/// Revoking a grant marks it revoked once, revokes its access tokens and
/// kills its refresh tokens, and leaves other grants alone.
pub async fn revoking_a_grant_revokes_its_access_and_refresh_tokens(s: Stores) {
    let (client, user, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let other = fixtures::grant(&client, &user);
    let other_family = fixtures::refresh(&other);
    s.tokens
        .create_grant(&other, Some(other_family.clone()))
        .await
        .expect("create other");
    let at = fixtures::now();

    assert!(s.tokens.revoke_grant(grant.id, at).await.expect("revoke"));
    assert!(
        !s.tokens
            .revoke_grant(grant.id, at + Duration::seconds(1))
            .await
            .expect("revoke again"),
        "a second revocation reports the grant was already inactive"
    );
    assert!(
        !s.tokens
            .revoke_grant(GrantId::new(), at)
            .await
            .expect("revoke ghost")
    );
    assert_eq!(
        s.tokens.get_grant(grant.id).await.expect("get"),
        Some(Grant {
            revoked_at: Some(at),
            ..grant.clone()
        })
    );
    let jti = Uuid::new_v4();
    assert!(
        s.tokens
            .is_access_token_revoked(jti, Some(grant.id))
            .await
            .expect("check")
    );
    assert!(
        !s.tokens
            .is_access_token_revoked(jti, Some(other.id))
            .await
            .expect("check other")
    );
    assert_dead(
        &s,
        &presented(&family),
        "a refresh token of a revoked grant",
    )
    .await;
    rotate_ok(&s, &other_family, at, Duration::ZERO).await;
}

/// A `jti` on the deny list is revoked whatever its grant; other `jti`s are
/// not.
pub async fn a_revoked_access_token_is_denied_by_its_jti(s: Stores) {
    let (_, _, grant, _) = fixtures::active_grant(&s, "ann@example.com").await;
    let jti = Uuid::new_v4();
    assert!(
        !s.tokens
            .is_access_token_revoked(jti, None)
            .await
            .expect("before")
    );
    assert!(
        !s.tokens
            .is_access_token_revoked(jti, Some(grant.id))
            .await
            .expect("before, with grant")
    );

    s.tokens
        .revoke_access_token(jti, fixtures::now() + Duration::minutes(10))
        .await
        .expect("revoke");
    assert!(
        s.tokens
            .is_access_token_revoked(jti, None)
            .await
            .expect("after")
    );
    assert!(
        s.tokens
            .is_access_token_revoked(jti, Some(grant.id))
            .await
            .expect("after, with active grant")
    );
    assert!(
        !s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(grant.id))
            .await
            .expect("another jti")
    );
}

/// An access token naming a grant the store does not have (deleted with its
/// client or user) is revoked.
pub async fn an_access_token_of_a_vanished_grant_counts_as_revoked(s: Stores) {
    assert!(
        s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(GrantId::new()))
            .await
            .expect("check")
    );
}

/// After a password change: every grant of the user is revoked with its
/// refresh tokens, their sessions end, and other users are untouched.
pub async fn revoking_a_users_tokens_ends_their_grants_and_sessions(s: Stores) {
    let (client, user, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let second = fixtures::grant(&client, &user);
    s.tokens
        .create_grant(&second, Some(fixtures::refresh(&second)))
        .await
        .expect("create second");
    let (_, other_user, other_grant, other_family) =
        fixtures::active_grant(&s, "bob@example.com").await;
    let session = fixtures::session(&user);
    s.tokens.put_session(&session).await.expect("session");
    let other_session = fixtures::session(&other_user);
    s.tokens
        .put_session(&other_session)
        .await
        .expect("other session");
    let at = fixtures::now();

    assert_eq!(
        s.tokens
            .revoke_user_tokens(user.id, at)
            .await
            .expect("revoke"),
        2
    );
    assert_eq!(
        s.tokens
            .revoke_user_tokens(user.id, at)
            .await
            .expect("again"),
        0
    );
    for g in [grant.id, second.id] {
        assert!(
            s.tokens
                .is_access_token_revoked(Uuid::new_v4(), Some(g))
                .await
                .expect("check")
        );
    }
    assert_dead(&s, &presented(&family), "the user's refresh token").await;
    assert!(
        s.tokens
            .get_session(&session.hash, at)
            .await
            .expect("session")
            .is_none()
    );
    // Bob keeps everything.
    assert!(
        !s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(other_grant.id))
            .await
            .expect("bob")
    );
    assert!(
        s.tokens
            .find_refresh(&presented(&other_family))
            .await
            .expect("bob token")
            .is_some()
    );
    assert!(
        s.tokens
            .get_session(&other_session.hash, at)
            .await
            .expect("bob session")
            .is_some()
    );
}

/// Disconnecting one app revokes every grant the user gave that client,
/// with their refresh tokens, and nothing else: not the user's grants to
/// other clients, not other users' grants to that client, not sessions.
pub async fn disconnecting_an_app_revokes_only_its_grants(s: Stores) {
    let (client, user, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let second = fixtures::grant(&client, &user);
    s.tokens
        .create_grant(&second, Some(fixtures::refresh(&second)))
        .await
        .expect("second grant");
    let other_client = fixtures::client();
    s.clients
        .insert_client(&other_client)
        .await
        .expect("other client");
    let kept = fixtures::grant(&other_client, &user);
    let kept_family = fixtures::refresh(&kept);
    s.tokens
        .create_grant(&kept, Some(kept_family.clone()))
        .await
        .expect("grant to another client");
    let (_, _, someone_else, someone_elses_family) =
        fixtures::active_grant(&s, "bob@example.com").await;
    let session = fixtures::session(&user);
    s.tokens.put_session(&session).await.expect("session");
    let at = fixtures::now();

    assert_eq!(
        s.tokens
            .revoke_client_grants(user.id, &client.id, at)
            .await
            .expect("revoke"),
        2
    );
    assert_eq!(
        s.tokens
            .revoke_client_grants(user.id, &client.id, at)
            .await
            .expect("again"),
        0
    );
    for g in [grant.id, second.id] {
        assert!(
            s.tokens
                .is_access_token_revoked(Uuid::new_v4(), Some(g))
                .await
                .expect("check")
        );
    }
    assert_dead(&s, &presented(&family), "the app's refresh token").await;
    for (g, f) in [
        (kept.id, &kept_family),
        (someone_else.id, &someone_elses_family),
    ] {
        assert!(
            !s.tokens
                .is_access_token_revoked(Uuid::new_v4(), Some(g))
                .await
                .expect("check")
        );
        assert!(
            s.tokens
                .find_refresh(&presented(f))
                .await
                .expect("find")
                .is_some_and(|(_, _, g)| g.is_active())
        );
    }
    assert!(
        s.tokens
            .get_session(&session.hash, at)
            .await
            .expect("session")
            .is_some(),
        "signing in to Gatehouse is not an app"
    );
}
