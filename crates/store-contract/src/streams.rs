//! Contracts of Shared Signals streams: a receiver's settings and its
//! position in the revocation log, changed only by a writer that read the
//! current version, so instances serving one stream never lose each
//! other's progress.

use gatehouse_core::model::{
    DeliveryMethod, PendingVerification, PushTarget, Stream, StreamId, StreamStatus,
};
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures, race};

fn stream(client: &gatehouse_core::model::Client) -> Stream {
    let now = fixtures::now();
    Stream {
        id: StreamId::new(),
        client_id: client.id.clone(),
        version: 0,
        method: DeliveryMethod::Poll,
        push: None,
        events_requested: vec!["urn:example:event".to_owned()],
        description: None,
        status: StreamStatus::Enabled,
        status_reason: None,
        cursor: 0,
        acked_ahead: Vec::new(),
        verification: None,
        failures: 0,
        retry_at: None,
        lease_until: None,
        last_polled_at: now,
        created_at: now,
        updated_at: now,
    }
}

fn push(client: &gatehouse_core::model::Client) -> Stream {
    Stream {
        method: DeliveryMethod::Push,
        push: Some(PushTarget {
            endpoint_url: "https://rs.example.com/events".to_owned(),
            sealed_authorization: Some(vec![1, 2, 3, 255]),
        }),
        ..stream(client)
    }
}

/// A stream reads back whole, is listed under its client only (oldest
/// first), needs an existing client, and goes when its client does.
pub async fn streams_round_trip_per_client_and_go_with_their_client(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("client");
    let other = fixtures::client();
    s.clients.insert_client(&other).await.expect("other");

    let first = Stream {
        description: Some("file server".to_owned()),
        cursor: 41,
        acked_ahead: vec![43, 47],
        verification: Some(PendingVerification {
            jti: uuid::Uuid::new_v4(),
            state: Some("abc".to_owned()),
            at: fixtures::now(),
        }),
        status: StreamStatus::Paused,
        status_reason: Some("maintenance".to_owned()),
        ..stream(&client)
    };
    s.streams.insert_stream(&first).await.expect("insert");
    assert_eq!(
        s.streams.get_stream(first.id).await.expect("get"),
        Some(first.clone())
    );
    assert_conflict(s.streams.insert_stream(&first).await, "the same id again");
    let second = Stream {
        created_at: first.created_at + Duration::seconds(1),
        failures: 3,
        retry_at: Some(fixtures::now() + Duration::minutes(1)),
        lease_until: Some(fixtures::now()),
        ..push(&client)
    };
    s.streams.insert_stream(&second).await.expect("push stream");
    assert_eq!(
        s.streams.get_stream(second.id).await.expect("get"),
        Some(second.clone()),
        "a push stream keeps its target and sealed header"
    );
    let theirs = stream(&other);
    s.streams.insert_stream(&theirs).await.expect("theirs");

    let ids = |v: Vec<Stream>| v.into_iter().map(|x| x.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.streams.client_streams(&client.id).await.expect("list")),
        vec![first.id, second.id]
    );
    let stranger = fixtures::client();
    assert_not_found(
        s.streams.insert_stream(&stream(&stranger)).await,
        "a stream of an unknown client",
    );

    assert!(s.streams.delete_stream(first.id).await.expect("delete"));
    assert!(!s.streams.delete_stream(first.id).await.expect("again"));
    assert_eq!(s.streams.get_stream(first.id).await.expect("get"), None);
    s.clients
        .delete_client(&client.id)
        .await
        .expect("delete client");
    assert_eq!(s.streams.get_stream(second.id).await.expect("get"), None);
    assert!(
        s.streams
            .client_streams(&client.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        s.streams
            .get_stream(theirs.id)
            .await
            .expect("get")
            .is_some()
    );
}

/// An update applies only to the version it was read at, and bumps it.
pub async fn a_stream_update_succeeds_only_on_the_version_read(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("client");
    let original = stream(&client);
    s.streams.insert_stream(&original).await.expect("insert");

    let moved = Stream {
        cursor: 7,
        acked_ahead: vec![9],
        ..original.clone()
    };
    assert!(s.streams.update_stream(&moved).await.expect("update"));
    let stored = s
        .streams
        .get_stream(original.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(
        stored,
        Stream {
            version: 1,
            ..moved.clone()
        }
    );

    let stale = Stream {
        cursor: 3,
        ..original.clone()
    };
    assert!(!s.streams.update_stream(&stale).await.expect("stale"));
    assert_eq!(
        s.streams
            .get_stream(original.id)
            .await
            .expect("get")
            .expect("there")
            .cursor,
        7,
        "a stale writer changes nothing"
    );
    let gone = stream(&client);
    assert!(!s.streams.update_stream(&gone).await.expect("missing"));
}

/// Of writers racing from the same version, exactly one wins.
pub async fn a_stream_is_updated_by_exactly_one_of_racing_writers(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("client");
    let original = stream(&client);
    s.streams.insert_stream(&original).await.expect("insert");
    let wins = race(16, |i| {
        let s = s.clone();
        let mine = Stream {
            cursor: i as i64 + 1,
            ..original.clone()
        };
        async move { s.streams.update_stream(&mine).await.expect("update") }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    let stored = s
        .streams
        .get_stream(original.id)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(stored.version, 1);
}

/// Push rounds get enabled push streams whose backoff and lease are over.
pub async fn only_due_enabled_push_streams_are_handed_out(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("client");
    let now = fixtures::now();
    let due = push(&client);
    let retried = Stream {
        retry_at: Some(now - Duration::seconds(1)),
        lease_until: Some(now - Duration::seconds(1)),
        ..push(&client)
    };
    let backing_off = Stream {
        retry_at: Some(now + Duration::seconds(30)),
        ..push(&client)
    };
    let leased = Stream {
        lease_until: Some(now + Duration::seconds(30)),
        ..push(&client)
    };
    let paused = Stream {
        status: StreamStatus::Paused,
        ..push(&client)
    };
    let polled = stream(&client);
    for x in [&due, &retried, &backing_off, &leased, &paused, &polled] {
        s.streams.insert_stream(x).await.expect("insert");
    }
    let mut got: Vec<StreamId> = s
        .streams
        .due_push_streams(now, 100)
        .await
        .expect("due")
        .into_iter()
        .map(|x| x.id)
        .collect();
    got.sort();
    let mut want = vec![due.id, retried.id];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        s.streams.due_push_streams(now, 1).await.expect("one").len(),
        1
    );
}

/// Poll streams nobody polled since the cut-off are deleted; push
/// streams and recently polled ones stay.
pub async fn only_poll_streams_left_unpolled_are_reaped(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("client");
    let now = fixtures::now();
    let idle = Stream {
        last_polled_at: now - Duration::days(2),
        ..stream(&client)
    };
    let busy = stream(&client);
    let pushed = Stream {
        last_polled_at: now - Duration::days(2),
        ..push(&client)
    };
    for x in [&idle, &busy, &pushed] {
        s.streams.insert_stream(x).await.expect("insert");
    }
    assert_eq!(
        s.streams
            .delete_idle_streams(now - Duration::days(1))
            .await
            .expect("reap"),
        1
    );
    assert_eq!(s.streams.get_stream(idle.id).await.expect("get"), None);
    assert!(s.streams.get_stream(busy.id).await.expect("get").is_some());
    assert!(
        s.streams
            .get_stream(pushed.id)
            .await
            .expect("get")
            .is_some()
    );
}
