//! Contracts of grants, refresh-token rotation and access-token revocation.

use gatehouse_core::model::{Grant, GrantId, RefreshToken};
use gatehouse_core::ports::Rotation;
use time::Duration;
use uuid::Uuid;

use crate::{Stores, fixtures, race};

/// A successor token for `rotate_refresh`, deliberately naming a foreign
/// family: the port must file it under the presented token's grant.
fn successor() -> RefreshToken {
    let at = fixtures::now();
    RefreshToken {
        hash: fixtures::token_hash(),
        grant_id: GrantId::new(),
        issued_at: at,
        expires_at: at + Duration::days(30),
        rotated_at: None,
        grace_used: false,
        replaced_by: None,
    }
}

/// Asserts a refresh token can no longer be used: either it is gone or its
/// family is revoked (adapters may delete or keep dead tokens).
async fn assert_dead(s: &Stores, token: &RefreshToken, why: &str) {
    match s.tokens.find_refresh(&token.hash).await.expect("find") {
        None => {}
        Some((_, grant)) => assert!(!grant.is_active(), "{why}: token's family is active"),
    }
    assert_eq!(
        s.tokens
            .rotate_refresh(&token.hash, &successor(), fixtures::now(), Duration::ZERO)
            .await
            .expect("rotate"),
        Rotation::Invalid,
        "{why}: token still rotates"
    );
}

/// A grant reads back as created, with or without a first refresh token,
/// and `find_refresh` returns the token with its grant.
pub async fn a_grant_is_stored_with_its_first_refresh_token(s: Stores) {
    let (client, user, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
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
        s.tokens.find_refresh(&token.hash).await.expect("find"),
        Some((token, grant))
    );

    let without_refresh = fixtures::grant(&client, &user);
    s.tokens
        .create_grant(&without_refresh, None)
        .await
        .expect("create without refresh");
    assert_eq!(
        s.tokens.get_grant(without_refresh.id).await.expect("get"),
        Some(without_refresh)
    );

    assert_eq!(s.tokens.get_grant(GrantId::new()).await.expect("get"), None);
    assert_eq!(
        s.tokens
            .find_refresh(&fixtures::token_hash())
            .await
            .expect("find"),
        None
    );
}

/// Rotating a current token returns it and its family, marks it rotated, and
/// stores the successor in the same family.
pub async fn a_refresh_token_is_exchanged_for_its_successor(s: Stores) {
    let (_, _, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let next = successor();
    let now = fixtures::now() + Duration::seconds(1);

    assert_eq!(
        s.tokens
            .rotate_refresh(&token.hash, &next, now, Duration::ZERO)
            .await
            .expect("rotate"),
        Rotation::Rotated {
            grant: grant.clone(),
            previous: token.clone()
        }
    );

    let (stored_next, family) = s
        .tokens
        .find_refresh(&next.hash)
        .await
        .expect("find next")
        .expect("the successor is stored");
    assert_eq!(family, grant);
    assert_eq!(
        stored_next,
        RefreshToken {
            grant_id: grant.id,
            ..next.clone()
        }
    );

    let (stored_old, _) = s
        .tokens
        .find_refresh(&token.hash)
        .await
        .expect("find old")
        .expect("the rotated token is remembered for reuse detection");
    assert_eq!(stored_old.rotated_at, Some(now));

    // The successor is current in turn.
    assert!(matches!(
        s.tokens
            .rotate_refresh(
                &next.hash,
                &successor(),
                now + Duration::seconds(1),
                Duration::ZERO
            )
            .await
            .expect("rotate successor"),
        Rotation::Rotated { .. }
    ));
}

/// Presenting a token that was already rotated is reuse: the port revokes
/// the grant, and the successor issued from it stops working too.
pub async fn presenting_a_rotated_refresh_token_revokes_its_family(s: Stores) {
    let (_, _, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let next = successor();
    let now = fixtures::now();
    assert!(matches!(
        s.tokens
            .rotate_refresh(&token.hash, &next, now, Duration::ZERO)
            .await
            .expect("rotate"),
        Rotation::Rotated { .. }
    ));

    assert_eq!(
        s.tokens
            .rotate_refresh(
                &token.hash,
                &successor(),
                now + Duration::seconds(1),
                Duration::ZERO
            )
            .await
            .expect("reuse"),
        Rotation::Reused(grant.id)
    );

    let revoked = s
        .tokens
        .get_grant(grant.id)
        .await
        .expect("get")
        .expect("a revoked grant is kept");
    assert!(
        revoked.revoked_at.is_some(),
        "family not revoked: {revoked:?}"
    );
    assert_dead(&s, &next, "the successor after reuse").await;
    assert!(
        s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(grant.id))
            .await
            .expect("check"),
        "access tokens of the family must be revoked too"
    );
}

/// Of 16 simultaneous rotations of one token exactly one succeeds; the
/// others are reuse (or, once the family is revoked, invalid), so the family
/// ends up revoked. Repeated over several families, since a lost race shows
/// only when the callers happen to interleave.
pub async fn a_refresh_token_rotates_at_most_once_under_concurrency(s: Stores) {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        let (_, _, grant, token) =
            fixtures::active_grant(&s, &format!("user{round}@example.com")).await;
        let successors: Vec<RefreshToken> = (0..CALLERS).map(|_| successor()).collect();
        let now = fixtures::now();

        let hash = token.hash;
        let outcomes = race(CALLERS, |i| {
            let tokens = s.tokens.clone();
            let next = successors[i].clone();
            async move {
                tokens
                    .rotate_refresh(&hash, &next, now, Duration::ZERO)
                    .await
                    .expect("rotate")
            }
        })
        .await;

        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, Rotation::Rotated { .. }))
            .count();
        let reused = outcomes
            .iter()
            .filter(|o| **o == Rotation::Reused(grant.id))
            .count();
        let invalid = outcomes.iter().filter(|o| **o == Rotation::Invalid).count();
        assert_eq!(rotated, 1, "round {round}, outcomes: {outcomes:?}");
        assert_eq!(
            rotated + reused + invalid,
            CALLERS,
            "round {round}, outcomes: {outcomes:?}"
        );
        assert!(
            reused >= 1,
            "round {round}, a losing caller must see reuse: {outcomes:?}"
        );

        let family = s.tokens.get_grant(grant.id).await.expect("get");
        assert!(
            family.as_ref().is_some_and(|g| !g.is_active()),
            "round {round}, family not revoked: {family:?}"
        );
        for next in &successors {
            assert_dead(&s, next, "a successor after concurrent reuse").await;
        }
    }
}

/// An expired token does not rotate and is not treated as reuse: its grant
/// stays active. A token never issued does not rotate either.
pub async fn an_expired_or_unknown_refresh_token_is_invalid(s: Stores) {
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let grant = fixtures::grant(&client, &user);
    let now = fixtures::now();
    let expired = RefreshToken {
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
            .rotate_refresh(&expired.hash, &successor(), now, Duration::ZERO)
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
    assert_eq!(
        s.tokens
            .rotate_refresh(&fixtures::token_hash(), &successor(), now, Duration::ZERO)
            .await
            .expect("rotate unknown"),
        Rotation::Invalid
    );
}

/// Revoking a grant marks it revoked once, revokes its access tokens and
/// kills its refresh tokens, and leaves other grants alone.
pub async fn revoking_a_grant_revokes_its_access_and_refresh_tokens(s: Stores) {
    let (client, user, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let other = fixtures::grant(&client, &user);
    let other_token = fixtures::refresh(&other);
    s.tokens
        .create_grant(&other, Some(other_token.clone()))
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
    assert_dead(&s, &token, "a refresh token of a revoked grant").await;
    assert!(matches!(
        s.tokens
            .rotate_refresh(&other_token.hash, &successor(), at, Duration::ZERO)
            .await
            .expect("rotate other"),
        Rotation::Rotated { .. }
    ));
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

/// With a grace window, a rotated token may be presented once more inside
/// it (a client retrying after a lost response): the replay rotates again
/// into a new successor of the same family. A second replay is reuse and
/// revokes the family.
pub async fn a_rotated_refresh_token_may_be_replayed_once_within_the_grace_window(s: Stores) {
    let (_, _, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    assert!(matches!(
        s.tokens
            .rotate_refresh(&token.hash, &successor(), t0, grace)
            .await
            .expect("rotate"),
        Rotation::Rotated { .. }
    ));

    let retry = successor();
    match s
        .tokens
        .rotate_refresh(&token.hash, &retry, t0 + Duration::seconds(10), grace)
        .await
        .expect("replay inside the window")
    {
        Rotation::Rotated {
            grant: family,
            previous,
        } => {
            assert_eq!(family, grant, "the replay rotates within the same family");
            assert_eq!(previous.hash, token.hash);
            assert_eq!(previous.grant_id, grant.id);
        }
        other => panic!("a first replay inside the window must rotate, got {other:?}"),
    }
    let (stored_retry, family) = s
        .tokens
        .find_refresh(&retry.hash)
        .await
        .expect("find")
        .expect("the replay's successor is stored");
    assert_eq!(stored_retry.grant_id, grant.id);
    assert!(family.is_active());
    let (presented, _) = s
        .tokens
        .find_refresh(&token.hash)
        .await
        .expect("find")
        .expect("the presented token is remembered");
    assert!(presented.grace_used, "the grace replay is spent");
    assert_eq!(presented.rotated_at, Some(t0), "the rotation time stands");

    assert_eq!(
        s.tokens
            .rotate_refresh(&token.hash, &successor(), t0 + Duration::seconds(11), grace)
            .await
            .expect("second replay"),
        Rotation::Reused(grant.id),
        "only one replay is allowed"
    );
    let revoked = s.tokens.get_grant(grant.id).await.expect("get");
    assert!(
        revoked.as_ref().is_some_and(|g| !g.is_active()),
        "family not revoked: {revoked:?}"
    );
    assert_dead(&s, &retry, "the replay's successor after reuse").await;
}

/// A replay once the grace window has passed (at exactly its end, too) is
/// reuse: the family is revoked.
pub async fn a_replay_after_the_grace_window_revokes_the_family(s: Stores) {
    let (_, _, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let next = successor();
    assert!(matches!(
        s.tokens
            .rotate_refresh(&token.hash, &next, t0, grace)
            .await
            .expect("rotate"),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        s.tokens
            .rotate_refresh(&token.hash, &successor(), t0 + grace, grace)
            .await
            .expect("late replay"),
        Rotation::Reused(grant.id)
    );
    let revoked = s.tokens.get_grant(grant.id).await.expect("get");
    assert!(
        revoked.as_ref().is_some_and(|g| !g.is_active()),
        "family not revoked: {revoked:?}"
    );
    assert_dead(&s, &next, "the successor after a late replay").await;
}

/// Of 16 simultaneous replays of a rotated token inside its grace window,
/// exactly one is allowed; the rest are reuse (or invalid once the family is
/// revoked), and the family ends up revoked.
pub async fn a_grace_replay_is_allowed_once_under_concurrency(s: Stores) {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 5;
    let grace = Duration::seconds(30);
    for round in 0..ROUNDS {
        let (_, _, grant, token) =
            fixtures::active_grant(&s, &format!("user{round}@example.com")).await;
        let t0 = fixtures::now();
        assert!(matches!(
            s.tokens
                .rotate_refresh(&token.hash, &successor(), t0, grace)
                .await
                .expect("rotate"),
            Rotation::Rotated { .. }
        ));

        let hash = token.hash;
        let outcomes = race(CALLERS, |_| {
            let tokens = s.tokens.clone();
            let next = successor();
            async move {
                tokens
                    .rotate_refresh(&hash, &next, t0 + Duration::seconds(1), grace)
                    .await
                    .expect("replay")
            }
        })
        .await;
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, Rotation::Rotated { .. }))
            .count();
        let reused = outcomes
            .iter()
            .filter(|o| **o == Rotation::Reused(grant.id))
            .count();
        let invalid = outcomes.iter().filter(|o| **o == Rotation::Invalid).count();
        assert_eq!(rotated, 1, "round {round}, outcomes: {outcomes:?}");
        assert!(reused >= 1, "round {round}, outcomes: {outcomes:?}");
        assert_eq!(rotated + reused + invalid, CALLERS, "round {round}");
        let family = s.tokens.get_grant(grant.id).await.expect("get");
        assert!(
            family.as_ref().is_some_and(|g| !g.is_active()),
            "round {round}, family not revoked: {family:?}"
        );
    }
}

/// After a password change: every grant of the user is revoked with its
/// refresh tokens, their sessions end, and other users are untouched.
pub async fn revoking_a_users_tokens_ends_their_grants_and_sessions(s: Stores) {
    let (client, user, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let second = fixtures::grant(&client, &user);
    s.tokens
        .create_grant(&second, Some(fixtures::refresh(&second)))
        .await
        .expect("create second");
    let (_, other_user, other_grant, other_token) =
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
    let found = s.tokens.find_refresh(&token.hash).await.expect("find");
    assert!(
        found.is_none_or(|(_, g)| !g.is_active()),
        "the refresh token is dead"
    );
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
            .find_refresh(&other_token.hash)
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

/// Only the just-rotated token may be replayed in the grace window: one
/// further back (its successor already rotated) is reuse, and revokes the
/// family, however recent.
pub async fn only_the_just_rotated_token_gets_the_grace_replay(s: Stores) {
    let (_, _, grant, first) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let mut chain = vec![first];
    for step in 0..3 {
        let next = successor();
        let presented = chain.last().expect("a token").hash;
        assert!(matches!(
            s.tokens
                .rotate_refresh(&presented, &next, t0 + Duration::seconds(step), grace)
                .await
                .expect("rotate"),
            Rotation::Rotated { .. }
        ));
        let (stored, _) = s
            .tokens
            .find_refresh(&presented)
            .await
            .expect("find")
            .expect("rotated tokens are remembered");
        assert_eq!(
            stored.replaced_by,
            Some(next.hash),
            "rotation records its successor"
        );
        chain.push(next);
    }
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &chain[0].hash,
                &successor(),
                t0 + Duration::seconds(4),
                grace
            )
            .await
            .expect("replay"),
        Rotation::Reused(grant.id),
        "a token three rotations back gets no grace"
    );
    let family = s.tokens.get_grant(grant.id).await.expect("get");
    assert!(family.is_some_and(|g| !g.is_active()));
    assert_dead(&s, &chain[3], "the current token after reuse").await;
}

/// A grace replay continues the one chain: the successor it replaces is
/// retired, so presenting that successor afterwards is reuse, and the
/// family is revoked with everything in it.
pub async fn a_grace_replay_retires_the_branch_it_replaces(s: Stores) {
    let (_, _, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let lost = successor();
    assert!(matches!(
        s.tokens
            .rotate_refresh(&token.hash, &lost, t0, grace)
            .await
            .expect("rotate"),
        Rotation::Rotated { .. }
    ));
    let retry = successor();
    assert!(matches!(
        s.tokens
            .rotate_refresh(&token.hash, &retry, t0 + Duration::seconds(1), grace)
            .await
            .expect("replay"),
        Rotation::Rotated { .. }
    ));
    // The retry's successor is the family's one live token.
    assert!(matches!(
        s.tokens
            .rotate_refresh(
                &retry.hash,
                &successor(),
                t0 + Duration::seconds(2),
                Duration::ZERO
            )
            .await
            .map(|r| matches!(r, Rotation::Rotated { .. })),
        Ok(true)
    ));
    // Whoever held the lost successor presents it: reuse, even inside the
    // window, since it never got a replay of its own.
    assert_eq!(
        s.tokens
            .rotate_refresh(&lost.hash, &successor(), t0 + Duration::seconds(3), grace)
            .await
            .expect("present the cut branch"),
        Rotation::Reused(grant.id)
    );
    let family = s.tokens.get_grant(grant.id).await.expect("get");
    assert!(family.is_some_and(|g| !g.is_active()));
}

/// Disconnecting one app revokes every grant the user gave that client,
/// with their refresh tokens, and nothing else: not the user's grants to
/// other clients, not other users' grants to that client, not sessions.
pub async fn disconnecting_an_app_revokes_only_its_grants(s: Stores) {
    let (client, user, grant, token) = fixtures::active_grant(&s, "ann@example.com").await;
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
    let kept_token = fixtures::refresh(&kept);
    s.tokens
        .create_grant(&kept, Some(kept_token.clone()))
        .await
        .expect("grant to another client");
    let (_, _, someone_else, someone_elses_token) =
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
    assert!(
        s.tokens
            .find_refresh(&token.hash)
            .await
            .expect("find")
            .is_none_or(|(_, g)| !g.is_active()),
        "the app's refresh token is dead"
    );
    for (g, t) in [
        (kept.id, &kept_token),
        (someone_else.id, &someone_elses_token),
    ] {
        assert!(
            !s.tokens
                .is_access_token_revoked(Uuid::new_v4(), Some(g))
                .await
                .expect("check")
        );
        assert!(
            s.tokens
                .find_refresh(&t.hash)
                .await
                .expect("find")
                .is_some_and(|(_, g)| g.is_active())
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
