//! Contracts of refresh-token rotation: a family rotates once per token,
//! recognises reuse however far back, allows the one grace replay of the
//! just-rotated token, and carries legacy tokens over.

use gatehouse_core::model::{
    Grant, PresentedRefresh, RefreshClaim, RefreshFamily, RefreshStanding,
};
use gatehouse_core::ports::Rotation;
use time::Duration;
use uuid::Uuid;

use crate::fixtures::{presented, successor};
use crate::grants::{assert_dead, assert_revoked, rotate_ok};
use crate::{Stores, fixtures, race};

/// Rotating the current token returns the family as it was, makes the
/// successor current, and the rotated token the just-rotated one; a
/// rotation further and it is older. The family stays one record: the
/// state read back is exactly the successor's.
pub async fn a_refresh_token_is_exchanged_for_its_successor(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let next = successor(&family);
    let now = fixtures::now() + Duration::seconds(1);

    assert_eq!(
        s.tokens
            .rotate_refresh(&presented(&family), None, &next, now, Duration::ZERO)
            .await
            .expect("rotate"),
        Rotation::Rotated {
            grant: grant.clone(),
            previous: family.clone()
        }
    );
    let (state, standing, found) = s
        .tokens
        .find_refresh(&presented(&RefreshFamily {
            grant_id: grant.id,
            ..next.clone()
        }))
        .await
        .expect("find next")
        .expect("the successor is current");
    assert_eq!(found, grant);
    assert_eq!(standing, RefreshStanding::Current);
    assert_eq!(
        state,
        RefreshFamily {
            grant_id: grant.id,
            previous: Some(family.current),
            rotated_at: Some(now),
            grace_used: false,
            ..next.clone()
        }
    );
    let (_, standing, _) = s
        .tokens
        .find_refresh(&presented(&family))
        .await
        .expect("find old")
        .expect("the rotated token is recognised");
    assert_eq!(standing, RefreshStanding::JustRotated);

    let current = RefreshFamily {
        grant_id: grant.id,
        ..next
    };
    rotate_ok(&s, &current, now + Duration::seconds(1), Duration::ZERO).await;
    let (_, standing, _) = s
        .tokens
        .find_refresh(&presented(&family))
        .await
        .expect("find first")
        .expect("still recognised");
    assert_eq!(standing, RefreshStanding::Older);
}

/// Presenting a token that was already rotated is reuse: the port revokes
/// the grant, and the successor issued from it stops working too.
pub async fn presenting_a_rotated_refresh_token_revokes_its_family(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let now = fixtures::now();
    let next = rotate_ok(&s, &family, now, Duration::ZERO).await;

    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&family),
                None,
                &successor(&next),
                now + Duration::seconds(1),
                Duration::ZERO
            )
            .await
            .expect("reuse"),
        Rotation::Reused(grant.id)
    );
    assert_revoked(&s, grant.id, "after reuse").await;
    assert_dead(&s, &presented(&next), "the successor after reuse").await;
    assert!(
        s.tokens
            .is_access_token_revoked(Uuid::new_v4(), Some(grant.id))
            .await
            .expect("check"),
        "access tokens of the family must be revoked too"
    );
}

/// However many rotations ago a token was spent, presenting it is reuse:
/// its generation says so, with nothing kept per rotation.
pub async fn a_token_spent_long_ago_is_still_reuse(s: Stores) {
    let (_, _, grant, first) = fixtures::active_grant(&s, "ann@example.com").await;
    let t0 = fixtures::now();
    let mut current = first.clone();
    for step in 0..50 {
        current = rotate_ok(&s, &current, t0 + Duration::seconds(step), Duration::ZERO).await;
    }
    assert_eq!(current.generation, 51);
    let (_, standing, _) = s
        .tokens
        .find_refresh(&presented(&first))
        .await
        .expect("find")
        .expect("found by its claim");
    assert_eq!(standing, RefreshStanding::Older);
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&first),
                None,
                &successor(&current),
                t0 + Duration::seconds(60),
                Duration::seconds(30)
            )
            .await
            .expect("reuse"),
        Rotation::Reused(grant.id)
    );
    assert_dead(&s, &presented(&current), "the current token after reuse").await;
}

/// A claim the family cannot have issued (its current generation or a
/// later one, with a hash that is not the current token's) finds nothing
/// and revokes nothing: only a token that was really rotated is reuse.
pub async fn a_claim_the_family_never_issued_is_invalid_not_reuse(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let now = fixtures::now();
    let current = rotate_ok(&s, &family, now, Duration::ZERO).await;
    for generation in [current.generation, current.generation + 1, 99] {
        let forged = PresentedRefresh {
            hash: fixtures::token_hash(),
            claim: Some(RefreshClaim {
                grant: grant.id,
                generation,
            }),
        };
        assert_eq!(s.tokens.find_refresh(&forged).await.expect("find"), None);
        assert_eq!(
            s.tokens
                .rotate_refresh(&forged, None, &successor(&current), now, Duration::ZERO)
                .await
                .expect("rotate"),
            Rotation::Invalid,
            "generation {generation}"
        );
    }
    assert!(
        s.tokens
            .get_grant(grant.id)
            .await
            .expect("get")
            .is_some_and(|g| g.is_active())
    );
    rotate_ok(&s, &current, now, Duration::ZERO).await;
}

/// A successor not of the next generation (the caller read the family
/// before someone else rotated it) changes nothing: `Stale`, and the
/// current token still rotates.
pub async fn a_successor_of_the_wrong_generation_is_stale(s: Stores) {
    let (_, _, _, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let now = fixtures::now();
    for generation in [family.generation, family.generation + 2] {
        let next = RefreshFamily {
            generation,
            ..successor(&family)
        };
        assert_eq!(
            s.tokens
                .rotate_refresh(&presented(&family), None, &next, now, Duration::ZERO)
                .await
                .expect("rotate"),
            Rotation::Stale
        );
    }
    rotate_ok(&s, &family, now, Duration::ZERO).await;
}

/// Of 16 simultaneous rotations of one token exactly one succeeds; the
/// others are reuse (or, once the family is revoked, invalid), so the family
/// ends up revoked. Repeated over several families, since a lost race shows
/// only when the callers happen to interleave; in every other round all
/// callers pass what `find_refresh` read before the race, as the core does,
/// so the losers decide against a family that has moved on.
pub async fn a_refresh_token_rotates_at_most_once_under_concurrency(s: Stores) {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 10;
    for round in 0..ROUNDS {
        let (_, _, grant, family) =
            fixtures::active_grant(&s, &format!("user{round}@example.com")).await;
        let successors: Vec<RefreshFamily> = (0..CALLERS).map(|_| successor(&family)).collect();
        let now = fixtures::now();
        let token = presented(&family);
        let seen = if round % 2 == 1 {
            s.tokens.find_refresh(&token).await.expect("find")
        } else {
            None
        };
        let outcomes = race(CALLERS, |i| {
            let tokens = s.tokens.clone();
            let next = successors[i].clone();
            let token = token.clone();
            let seen = seen.clone();
            async move {
                tokens
                    .rotate_refresh(&token, seen, &next, now, Duration::ZERO)
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
        assert_revoked(&s, grant.id, &format!("round {round}")).await;
        for next in &successors {
            let next = RefreshFamily {
                grant_id: grant.id,
                ..next.clone()
            };
            assert_dead(&s, &presented(&next), "a successor after concurrent reuse").await;
        }
    }
}

/// What the caller read before rotating may be out of date by the time it
/// rotates: the store decides against the family as it is then, so a
/// revocation or another rotation in between counts exactly as if the
/// caller had read nothing.
pub async fn a_rotation_decides_against_the_family_as_it_is_not_as_it_was_seen(s: Stores) {
    let t0 = fixtures::now();
    let rotate = |token: PresentedRefresh, seen, next: RefreshFamily, grace| {
        let tokens = s.tokens.clone();
        async move {
            tokens
                .rotate_refresh(&token, Some(seen), &next, t0, grace)
                .await
                .expect("rotate")
        }
    };

    // Revoked after it was read: invalid, and nothing rotates.
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let seen = find(&s, &family).await;
    assert!(s.tokens.revoke_grant(grant.id, t0).await.expect("revoke"));
    let next = successor(&family);
    assert_eq!(
        rotate(presented(&family), seen, next.clone(), Duration::ZERO).await,
        Rotation::Invalid
    );
    let next = RefreshFamily {
        grant_id: grant.id,
        ..next
    };
    assert_dead(&s, &presented(&next), "a successor of a revoked family").await;

    // Rotated by someone else after it was read: the token is spent, so
    // presenting it is reuse and the family is revoked.
    let (_, _, grant, family) = fixtures::active_grant(&s, "bob@example.com").await;
    let seen = find(&s, &family).await;
    let winner = rotate_ok(&s, &family, t0, Duration::ZERO).await;
    assert_eq!(
        rotate(presented(&family), seen, successor(&family), Duration::ZERO).await,
        Rotation::Reused(grant.id)
    );
    assert_revoked(&s, grant.id, "reuse decided against a stale read").await;
    assert_dead(&s, &presented(&winner), "the winner's token after reuse").await;

    // The same inside a grace window is the one replay it allows: the
    // winner's token is cut off and the replay's successor is current.
    let grace = Duration::seconds(30);
    let (_, _, grant, family) = fixtures::active_grant(&s, "cat@example.com").await;
    let seen = find(&s, &family).await;
    let winner = rotate_ok(&s, &family, t0, grace).await;
    let replay = successor(&winner);
    assert!(matches!(
        rotate(presented(&family), seen, replay.clone(), grace).await,
        Rotation::Rotated { .. }
    ));
    let replay = RefreshFamily {
        grant_id: grant.id,
        ..replay
    };
    assert_eq!(
        find(&s, &replay).await.1,
        RefreshStanding::Current,
        "the replay's successor is current"
    );
    assert_eq!(
        find(&s, &winner).await.1,
        RefreshStanding::JustRotated,
        "the winner's token was cut off"
    );
}

/// What `find_refresh` says of the family's token, which must be found.
async fn find(s: &Stores, family: &RefreshFamily) -> (RefreshFamily, RefreshStanding, Grant) {
    s.tokens
        .find_refresh(&presented(family))
        .await
        .expect("find")
        .expect("the token is found")
}

/// With a grace window, the just-rotated token may be presented once more
/// inside it (a client retrying after a lost response): the replay rotates
/// again, cutting off the token the first rotation issued. A second replay
/// is reuse and revokes the family.
pub async fn a_rotated_refresh_token_may_be_replayed_once_within_the_grace_window(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let lost = rotate_ok(&s, &family, t0, grace).await;

    let retry = successor(&lost);
    match s
        .tokens
        .rotate_refresh(
            &presented(&family),
            None,
            &retry,
            t0 + Duration::seconds(10),
            grace,
        )
        .await
        .expect("replay inside the window")
    {
        Rotation::Rotated {
            grant: found,
            previous,
        } => {
            assert_eq!(found, grant, "the replay rotates within the same family");
            assert_eq!(previous.current, lost.current);
            assert_eq!(previous.grant_id, grant.id);
        }
        other => panic!("a first replay inside the window must rotate, got {other:?}"),
    }
    let retry = RefreshFamily {
        grant_id: grant.id,
        ..retry
    };
    let (state, standing, found) = s
        .tokens
        .find_refresh(&presented(&retry))
        .await
        .expect("find")
        .expect("the replay's successor is current");
    assert_eq!(standing, RefreshStanding::Current);
    assert!(found.is_active());
    assert!(state.grace_used, "the grace replay is spent");
    assert_eq!(state.previous, Some(lost.current), "the cut-off token");

    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&family),
                None,
                &successor(&retry),
                t0 + Duration::seconds(11),
                grace
            )
            .await
            .expect("second replay"),
        Rotation::Reused(grant.id),
        "only one replay is allowed"
    );
    assert_revoked(&s, grant.id, "after a second replay").await;
    assert_dead(&s, &presented(&retry), "the replay's successor after reuse").await;
}

/// A replay once the grace window has passed (at exactly its end, too) is
/// reuse: the family is revoked.
pub async fn a_replay_after_the_grace_window_revokes_the_family(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let next = rotate_ok(&s, &family, t0, grace).await;
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&family),
                None,
                &successor(&next),
                t0 + grace,
                grace
            )
            .await
            .expect("late replay"),
        Rotation::Reused(grant.id)
    );
    assert_revoked(&s, grant.id, "after a late replay").await;
    assert_dead(&s, &presented(&next), "the successor after a late replay").await;
}

/// Of 16 simultaneous replays of the just-rotated token inside its grace
/// window, exactly one is allowed; the rest are reuse (or invalid once the
/// family is revoked), and the family ends up revoked.
pub async fn a_grace_replay_is_allowed_once_under_concurrency(s: Stores) {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 5;
    let grace = Duration::seconds(30);
    for round in 0..ROUNDS {
        let (_, _, grant, family) =
            fixtures::active_grant(&s, &format!("user{round}@example.com")).await;
        let t0 = fixtures::now();
        let current = rotate_ok(&s, &family, t0, grace).await;
        let token = presented(&family);
        let outcomes = race(CALLERS, |_| {
            let tokens = s.tokens.clone();
            let next = successor(&current);
            let token = token.clone();
            async move {
                tokens
                    .rotate_refresh(&token, None, &next, t0 + Duration::seconds(1), grace)
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
        assert_revoked(&s, grant.id, &format!("round {round}")).await;
    }
}

/// Only the just-rotated token may be replayed in the grace window: one
/// further back is reuse, and revokes the family, however recent.
pub async fn only_the_just_rotated_token_gets_the_grace_replay(s: Stores) {
    let (_, _, grant, first) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let mut chain = vec![first];
    for step in 0..3 {
        let last = chain.last().expect("a token").clone();
        let next = rotate_ok(&s, &last, t0 + Duration::seconds(step), grace).await;
        let (_, standing, _) = s
            .tokens
            .find_refresh(&presented(&last))
            .await
            .expect("find")
            .expect("rotated tokens are recognised");
        assert_eq!(standing, RefreshStanding::JustRotated);
        chain.push(next);
    }
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&chain[0]),
                None,
                &successor(&chain[3]),
                t0 + Duration::seconds(4),
                grace
            )
            .await
            .expect("replay"),
        Rotation::Reused(grant.id),
        "a token three rotations back gets no grace"
    );
    assert_revoked(&s, grant.id, "after an old replay").await;
    assert_dead(&s, &presented(&chain[3]), "the current token after reuse").await;
}

/// A grace replay continues the one chain: the token it cuts off is
/// retired, so presenting that token afterwards is reuse, and the family is
/// revoked with everything in it.
pub async fn a_grace_replay_retires_the_branch_it_replaces(s: Stores) {
    let (_, _, grant, family) = fixtures::active_grant(&s, "ann@example.com").await;
    let grace = Duration::seconds(30);
    let t0 = fixtures::now();
    let lost = rotate_ok(&s, &family, t0, grace).await;
    let retry = successor(&lost);
    assert!(matches!(
        s.tokens
            .rotate_refresh(
                &presented(&family),
                None,
                &retry,
                t0 + Duration::seconds(1),
                grace
            )
            .await
            .expect("replay"),
        Rotation::Rotated { .. }
    ));
    let retry = RefreshFamily {
        grant_id: grant.id,
        ..retry
    };
    // The retry's successor is the family's one live token.
    rotate_ok(&s, &retry, t0 + Duration::seconds(2), Duration::ZERO).await;
    // Whoever held the cut-off token presents it: reuse, even inside the
    // window, since it never got a replay of its own.
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &presented(&lost),
                None,
                &successor(&retry),
                t0 + Duration::seconds(3),
                grace
            )
            .await
            .expect("present the cut branch"),
        Rotation::Reused(grant.id)
    );
    assert_revoked(&s, grant.id, "after the cut branch came back").await;
}

/// The legacy form: a token issued before generations existed (generation
/// 0, presented with no claim) rotates once into the current form; its
/// replay is then recognised from the record kept of it: inside the grace
/// window once, and as reuse however far back afterwards.
pub async fn a_legacy_token_rotates_into_the_current_form_and_its_reuse_is_caught(s: Stores) {
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let t0 = fixtures::now();
    let legacy_of = |grant: &Grant| RefreshFamily {
        generation: 0,
        ..fixtures::refresh(grant)
    };
    let opaque = |f: &RefreshFamily| PresentedRefresh {
        hash: f.current,
        claim: None,
    };

    // Rotated, then presented again after more rotations: reuse.
    let grant = fixtures::grant(&client, &user);
    let legacy = legacy_of(&grant);
    s.tokens
        .create_grant(&grant, Some(legacy.clone()))
        .await
        .expect("legacy family");
    assert_eq!(
        s.tokens.find_refresh(&opaque(&legacy)).await.expect("find"),
        Some((legacy.clone(), RefreshStanding::Current, grant.clone()))
    );
    let next = successor(&legacy);
    assert_eq!(next.generation, 1, "into the current form");
    assert!(matches!(
        s.tokens
            .rotate_refresh(&opaque(&legacy), None, &next, t0, Duration::ZERO)
            .await
            .expect("rotate legacy"),
        Rotation::Rotated { .. }
    ));
    let mut current = RefreshFamily {
        grant_id: grant.id,
        ..next
    };
    let (_, standing, _) = s
        .tokens
        .find_refresh(&opaque(&legacy))
        .await
        .expect("find")
        .expect("the rotated legacy token is remembered");
    assert_eq!(standing, RefreshStanding::JustRotated);
    for step in 1..4 {
        current = rotate_ok(&s, &current, t0 + Duration::seconds(step), Duration::ZERO).await;
    }
    let (_, standing, _) = s
        .tokens
        .find_refresh(&opaque(&legacy))
        .await
        .expect("find")
        .expect("still remembered");
    assert_eq!(standing, RefreshStanding::Older);
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &opaque(&legacy),
                None,
                &successor(&current),
                t0 + Duration::seconds(5),
                Duration::ZERO
            )
            .await
            .expect("reuse"),
        Rotation::Reused(grant.id)
    );
    assert_dead(&s, &presented(&current), "the current token after reuse").await;

    // Its one grace replay, inside the window.
    let grant = fixtures::grant(&client, &user);
    let legacy = legacy_of(&grant);
    s.tokens
        .create_grant(&grant, Some(legacy.clone()))
        .await
        .expect("legacy family");
    let grace = Duration::seconds(30);
    let first = successor(&legacy);
    assert!(matches!(
        s.tokens
            .rotate_refresh(&opaque(&legacy), None, &first, t0, grace)
            .await
            .expect("rotate legacy"),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        s.tokens
            .rotate_refresh(
                &opaque(&legacy),
                None,
                &successor(&first),
                t0 + Duration::seconds(1),
                grace
            )
            .await
            .expect("grace replay"),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &opaque(&legacy),
                None,
                &RefreshFamily {
                    generation: 3,
                    ..successor(&first)
                },
                t0 + Duration::seconds(2),
                grace
            )
            .await
            .expect("second replay"),
        Rotation::Reused(grant.id)
    );
}
