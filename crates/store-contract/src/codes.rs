//! Contracts of authorization-code redemption
//! ([`TokenStore::take_code`](gatehouse_core::ports::TokenStore::take_code)).

use gatehouse_core::model::AuthorizationCode;
use gatehouse_core::ports::CodeRedemption;

use crate::{Stores, fixtures, race};

/// The first redemption returns the code as stored (with the resource it is
/// bound to); every later one is a
/// replay naming the code's grant.
pub async fn a_code_is_redeemed_once_then_reported_as_replayed(s: Stores) {
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let code = AuthorizationCode {
        resource: Some("https://mcp.example.com/mcp".to_owned()),
        ..fixtures::code(&client, &user)
    };
    s.tokens.put_code(&code).await.expect("put code");

    assert_eq!(
        s.tokens.take_code(&code.hash).await.expect("first take"),
        CodeRedemption::Redeemed(Box::new(code.clone()))
    );
    for _ in 0..2 {
        assert_eq!(
            s.tokens.take_code(&code.hash).await.expect("later take"),
            CodeRedemption::Replayed(code.grant_id)
        );
    }
}

/// An OpenID Connect code carries how the user signed in (nonce, sign-in
/// time, session id) to the token endpoint; a plain OAuth code carries
/// none, and a nonce may be absent on its own. Each comes back as stored.
pub async fn a_code_keeps_its_sign_in_context_or_its_absence(s: Stores) {
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    let oidc = fixtures::code(&client, &user);
    assert!(oidc.sign_in.is_some());
    let plain = AuthorizationCode {
        sign_in: None,
        ..fixtures::code(&client, &user)
    };
    let mut no_nonce = fixtures::code(&client, &user);
    if let Some(ctx) = no_nonce.sign_in.as_mut() {
        ctx.nonce = None;
    }
    for code in [oidc, plain, no_nonce] {
        s.tokens.put_code(&code).await.expect("put code");
        assert_eq!(
            s.tokens.take_code(&code.hash).await.expect("take"),
            CodeRedemption::Redeemed(Box::new(code.clone()))
        );
    }
}

/// A hash that was never stored is `Unknown`, not a replay.
pub async fn an_unknown_code_is_reported_unknown(s: Stores) {
    assert_eq!(
        s.tokens
            .take_code(&fixtures::token_hash())
            .await
            .expect("take"),
        CodeRedemption::Unknown
    );
}

/// Of 16 simultaneous redemptions of one code, exactly one succeeds and the
/// other 15 are replays; repeated over several codes, since a lost race
/// shows only when the callers happen to interleave.
pub async fn a_code_is_single_use_under_concurrency(s: Stores) {
    const CALLERS: usize = 16;
    const ROUNDS: usize = 10;
    let (client, user) = fixtures::registered_client_and_user(&s, "ann@example.com").await;
    for round in 0..ROUNDS {
        let code = fixtures::code(&client, &user);
        s.tokens.put_code(&code).await.expect("put code");

        let hash = code.hash;
        let outcomes = race(CALLERS, |_| {
            let tokens = s.tokens.clone();
            async move { tokens.take_code(&hash).await.expect("take") }
        })
        .await;

        let redeemed = outcomes
            .iter()
            .filter(|o| **o == CodeRedemption::Redeemed(Box::new(code.clone())))
            .count();
        let replayed = outcomes
            .iter()
            .filter(|o| **o == CodeRedemption::Replayed(code.grant_id))
            .count();
        assert_eq!(
            (redeemed, replayed),
            (1, CALLERS - 1),
            "round {round}, outcomes: {outcomes:?}"
        );
    }
}
