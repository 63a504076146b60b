//! Contracts of consents and browser sessions.

use gatehouse_core::model::Consent;
use time::Duration;

use crate::{Stores, fixtures};

/// A consent is kept per (user, client) pair; storing another for the same
/// pair replaces it.
pub async fn a_consent_is_remembered_per_user_and_client_and_replaced(s: Stores) {
    let (app, ann) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let other_app = fixtures::client();
    s.clients.insert_client(&other_app).await.expect("insert");
    assert_eq!(
        s.tokens.get_consent(ann.id, &app.id).await.expect("get"),
        None
    );

    let first = fixtures::consent(&ann, &app, "openid");
    s.tokens.put_consent(&first).await.expect("put");
    assert_eq!(
        s.tokens.get_consent(ann.id, &app.id).await.expect("get"),
        Some(first.clone())
    );

    let widened = Consent {
        scope: fixtures::scope("openid profile email"),
        granted_at: first.granted_at + Duration::minutes(1),
        ..first
    };
    s.tokens.put_consent(&widened).await.expect("replace");
    assert_eq!(
        s.tokens.get_consent(ann.id, &app.id).await.expect("get"),
        Some(widened)
    );
    assert_eq!(
        s.tokens
            .get_consent(ann.id, &other_app.id)
            .await
            .expect("get"),
        None,
        "consent is per client"
    );
}

/// A session is found while it is valid, not after it expires, and not
/// after it is ended.
pub async fn a_session_is_found_until_it_expires_and_can_be_ended(s: Stores) {
    let (_, ann) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let session = fixtures::session(&ann);
    s.tokens.put_session(&session).await.expect("put");

    assert_eq!(
        s.tokens
            .get_session(&session.hash, session.created_at)
            .await
            .expect("get"),
        Some(session.clone())
    );
    assert_eq!(
        s.tokens
            .get_session(&session.hash, session.expires_at + Duration::seconds(1))
            .await
            .expect("get after expiry"),
        None
    );
    assert_eq!(
        s.tokens
            .get_session(&fixtures::token_hash(), session.created_at)
            .await
            .expect("get unknown"),
        None
    );

    s.tokens
        .delete_session(&session.hash)
        .await
        .expect("delete");
    assert_eq!(
        s.tokens
            .get_session(&session.hash, session.created_at)
            .await
            .expect("get after delete"),
        None
    );
    s.tokens
        .delete_session(&session.hash)
        .await
        .expect("ending an ended session is not an error");
}
