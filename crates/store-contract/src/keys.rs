//! Contracts of [`KeyStore`](gatehouse_core::ports::KeyStore).

use gatehouse_core::model::StoredKey;
use time::Duration;

use crate::{Stores, assert_conflict, fixtures, race};

/// Keys are listed newest first; a retired key stays listed with its
/// retirement time.
pub async fn signing_keys_are_listed_newest_first_and_stay_listed_when_retired(s: Stores) {
    assert!(s.keys.signing_keys().await.expect("list").is_empty());
    let t0 = fixtures::now();
    let old = StoredKey {
        created_at: t0 - Duration::days(90),
        ..fixtures::signing_key("key-2024")
    };
    let current = StoredKey {
        created_at: t0,
        ..fixtures::signing_key("key-2025")
    };
    let middle = StoredKey {
        created_at: t0 - Duration::days(30),
        ..fixtures::signing_key("key-2024b")
    };
    for k in [&current, &old, &middle] {
        s.keys.insert_signing_key(k).await.expect("insert");
    }
    assert_eq!(
        s.keys.signing_keys().await.expect("list"),
        vec![current.clone(), middle.clone(), old.clone()]
    );

    s.keys
        .retire_signing_key(&middle.kid, t0)
        .await
        .expect("retire");
    assert_eq!(
        s.keys.signing_keys().await.expect("list"),
        vec![
            current,
            StoredKey {
                retired_at: Some(t0),
                ..middle
            },
            old
        ]
    );
}

/// A second key under a taken `kid` is a conflict; the first is kept.
pub async fn a_signing_key_id_can_be_stored_only_once(s: Stores) {
    let first = fixtures::signing_key("key-1");
    s.keys.insert_signing_key(&first).await.expect("insert");
    assert_conflict(
        s.keys
            .insert_signing_key(&fixtures::signing_key("key-1"))
            .await,
        "inserting a duplicate kid",
    );
    assert_eq!(s.keys.signing_keys().await.expect("list"), vec![first]);
}

/// The first candidate master key stored is the one every caller gets, even
/// when 16 instances start at once with different candidates.
pub async fn the_first_master_key_stored_wins(s: Stores) {
    const INSTANCES: usize = 16;
    let candidates: Vec<Vec<u8>> = (0..INSTANCES)
        .map(|i| vec![u8::try_from(i).expect("small"); 32])
        .collect();
    let agreed = race(INSTANCES, |i| {
        let keys = s.keys.clone();
        let candidate = candidates[i].clone();
        async move { keys.master_key_or_init(&candidate).await.expect("init") }
    })
    .await;

    let winner = agreed[0].clone();
    assert!(candidates.contains(&winner), "not a candidate: {winner:?}");
    assert!(
        agreed.iter().all(|k| *k == winner),
        "instances disagree: {agreed:?}"
    );
    assert_eq!(
        s.keys
            .master_key_or_init(&[0xFF; 32])
            .await
            .expect("later call"),
        winner
    );
}

/// `ping` succeeds on a working store.
pub async fn a_live_store_answers_a_ping(s: Stores) {
    s.keys.ping().await.expect("ping");
}
