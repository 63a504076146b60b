//! A database from before refresh families, carried over by the
//! migrations (issue 16). Each SQL store's own test reverts its schema its
//! own way between [`seed_legacy_tokens`] and [`legacy_tokens_work_once`];
//! what must hold afterwards is the same for both.

use gatehouse_core::model::{Grant, PresentedRefresh, RefreshFamily, RefreshStanding};
use gatehouse_core::ports::Rotation;
use gatehouse_core::secret::TokenHash;
use time::Duration;

use crate::{Stores, fixtures};

/// What [`seed_legacy_tokens`] stored, for the checks after the
/// migrations.
#[derive(Debug)]
pub struct LegacyTokens {
    /// A live grant with a legacy (generation 0) family.
    pub live: Grant,
    /// Its current token.
    pub current: RefreshFamily,
    /// A revoked grant's family.
    pub revoked: RefreshFamily,
    /// The token the live one replaced: the test adds it to the old schema
    /// as the old code kept it (a `refresh_tokens` row `replaced_by` the
    /// current one, rotated when the current one was issued).
    pub spent: TokenHash,
}

/// Stores a live legacy family and a revoked family on the current schema;
/// the caller then reverts the refresh-family migrations (which move each
/// current token back to a `refresh_tokens` row) and adds `spent`.
pub async fn seed_legacy_tokens(s: &Stores) -> LegacyTokens {
    let (client, user) = fixtures::registered_client_and_user(s, "ann@example.com").await;
    let live = fixtures::grant(&client, &user);
    let current = RefreshFamily {
        generation: 0,
        ..fixtures::refresh(&live)
    };
    s.tokens
        .create_grant(&live, Some(current.clone()))
        .await
        .expect("live grant");
    let revoked_grant = fixtures::grant(&client, &user);
    let revoked = fixtures::refresh(&revoked_grant);
    s.tokens
        .create_grant(&revoked_grant, Some(revoked.clone()))
        .await
        .expect("revoked grant");
    assert!(
        s.tokens
            .revoke_grant(revoked_grant.id, fixtures::now())
            .await
            .expect("revoke")
    );
    LegacyTokens {
        live,
        current,
        revoked,
        spent: fixtures::token_hash(),
    }
}

/// After migrating up again: the live family's current token is found by
/// its hash as generation 0 with the spent token as the just-rotated one,
/// the revoked family's token is found by nothing, the current token
/// rotates once into the new form, and the spent one is then reuse.
pub async fn legacy_tokens_work_once(s: &Stores, legacy: &LegacyTokens) {
    let opaque = |hash| PresentedRefresh { hash, claim: None };
    let found = s
        .tokens
        .find_refresh(&opaque(legacy.current.current))
        .await
        .expect("find")
        .expect("the current token moved into its grant");
    let (family, standing, grant) = found.clone();
    assert_eq!(standing, RefreshStanding::Current);
    assert_eq!(grant.id, legacy.live.id);
    assert_eq!(family.generation, 0);
    assert_eq!(family.expires_at, legacy.current.expires_at);
    assert_eq!(
        family.previous,
        Some(legacy.spent),
        "the just-rotated token came along"
    );
    assert_eq!(
        s.tokens
            .find_refresh(&opaque(legacy.revoked.current))
            .await
            .expect("find"),
        None,
        "a revoked family's token did not"
    );

    // It works once, into the new form (decided against what was read, as
    // the core rotates); then it is no longer found by its hash, and the
    // older legacy token is reuse.
    let next = fixtures::successor(&family);
    assert!(matches!(
        s.tokens
            .rotate_refresh(
                &opaque(legacy.current.current),
                Some(found),
                &next,
                fixtures::now(),
                Duration::ZERO
            )
            .await
            .expect("rotate"),
        Rotation::Rotated { .. }
    ));
    let (_, standing, _) = s
        .tokens
        .find_refresh(&opaque(legacy.current.current))
        .await
        .expect("find")
        .expect("a rotated legacy token is remembered");
    assert_eq!(standing, RefreshStanding::JustRotated);
    assert_eq!(
        s.tokens
            .rotate_refresh(
                &opaque(legacy.spent),
                None,
                &fixtures::successor(&next),
                fixtures::now(),
                Duration::ZERO
            )
            .await
            .expect("reuse"),
        Rotation::Reused(legacy.live.id)
    );
}
