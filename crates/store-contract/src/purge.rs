//! Contracts of [`TokenStore::purge_expired`](gatehouse_core::ports::TokenStore::purge_expired).

use gatehouse_core::model::{AuthorizationCode, RefreshFamily, RefreshStanding, Session};
use gatehouse_core::ports::CodeRedemption;
use time::Duration;
use uuid::Uuid;

use crate::fixtures::presented;
use crate::{Stores, fixtures};

/// Purging drops exactly the expired codes, refresh families (the grant
/// stays, its refresh state goes), deny-list entries and sessions; unexpired ones keep working, including a spent code
/// still recognised as a replay, and grants are kept.
pub async fn purging_removes_only_what_has_expired(s: Stores) {
    let (client, ann, grant, live_refresh) = fixtures::active_grant(&s, "ann@example.com").await;
    let now = fixtures::now();
    let past = now - Duration::minutes(1);
    let future = now + Duration::minutes(1);

    let expired_code = AuthorizationCode {
        issued_at: past - Duration::minutes(1),
        expires_at: past,
        ..fixtures::code(&client, &ann)
    };
    let live_code = AuthorizationCode {
        expires_at: future,
        ..fixtures::code(&client, &ann)
    };
    let spent_code = AuthorizationCode {
        expires_at: future,
        ..fixtures::code(&client, &ann)
    };
    for code in [&expired_code, &live_code, &spent_code] {
        s.tokens.put_code(code).await.expect("put code");
    }
    assert!(matches!(
        s.tokens.take_code(&spent_code.hash).await.expect("spend"),
        CodeRedemption::Redeemed(_)
    ));

    let other_grant = fixtures::grant(&client, &ann);
    let expired_refresh = RefreshFamily {
        issued_at: past - Duration::days(30),
        expires_at: past,
        ..fixtures::refresh(&other_grant)
    };
    s.tokens
        .create_grant(&other_grant, Some(expired_refresh.clone()))
        .await
        .expect("create grant");

    let expired_jti = Uuid::new_v4();
    let live_jti = Uuid::new_v4();
    s.tokens
        .revoke_access_token(expired_jti, past)
        .await
        .expect("deny");
    s.tokens
        .revoke_access_token(live_jti, future)
        .await
        .expect("deny");

    let expired_session = Session {
        created_at: past - Duration::hours(1),
        expires_at: past,
        ..fixtures::session(&ann)
    };
    let live_session = Session {
        expires_at: future,
        ..fixtures::session(&ann)
    };
    s.tokens
        .put_session(&expired_session)
        .await
        .expect("put session");
    s.tokens
        .put_session(&live_session)
        .await
        .expect("put session");

    assert_eq!(s.tokens.purge_expired(now).await.expect("purge"), 4);

    assert_eq!(
        s.tokens.take_code(&expired_code.hash).await.expect("take"),
        CodeRedemption::Unknown
    );
    assert_eq!(
        s.tokens.take_code(&live_code.hash).await.expect("take"),
        CodeRedemption::Redeemed(Box::new(live_code.clone()))
    );
    assert_eq!(
        s.tokens.take_code(&spent_code.hash).await.expect("take"),
        CodeRedemption::Replayed(spent_code.grant_id)
    );

    assert_eq!(
        s.tokens
            .find_refresh(&presented(&expired_refresh))
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        s.tokens
            .find_refresh(&presented(&live_refresh))
            .await
            .expect("find"),
        Some((live_refresh, RefreshStanding::Current, grant.clone()))
    );
    assert_eq!(
        s.tokens.get_grant(other_grant.id).await.expect("get"),
        Some(other_grant),
        "grants are not purged"
    );

    assert!(
        !s.tokens
            .is_access_token_revoked(expired_jti, None)
            .await
            .expect("check")
    );
    assert!(
        s.tokens
            .is_access_token_revoked(live_jti, None)
            .await
            .expect("check")
    );

    // Asked at a time it was still valid, to tell "purged" from "expired".
    assert_eq!(
        s.tokens
            .get_session(&expired_session.hash, expired_session.created_at)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        s.tokens
            .get_session(&live_session.hash, now)
            .await
            .expect("get"),
        Some(live_session)
    );

    assert_eq!(
        s.tokens.purge_expired(now).await.expect("purge again"),
        0,
        "nothing left to purge"
    );
}
