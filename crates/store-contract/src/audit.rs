//! Contracts of [`AuditStore`](gatehouse_core::audit::AuditStore).

use std::collections::HashSet;

use gatehouse_core::audit::{AuditEvent, AuditKind, AuditQuery};
use gatehouse_core::model::{ClientId, UserId};
use serde_json::json;
use time::Duration;

use crate::{Stores, fixtures};

fn query(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

/// Every field of an event reads back as written, the optional ones
/// absent or present, and an empty append stores nothing.
pub async fn audit_events_keep_every_field(s: Stores) {
    let at = fixtures::now();
    let full = AuditEvent::new(AuditKind::ConsentGranted, at)
        .user(UserId::new())
        .client(&ClientId::parse("https://app.example.com/client.json").unwrap())
        .ip(Some("2001:db8::7".parse().unwrap()))
        .detail("scope", "profile email")
        .detail("resource", json!({"uri": "https://mcp.example.com/mcp"}));
    let bare = AuditEvent::new(AuditKind::KeyRotated, at - Duration::seconds(1));
    s.audit.append_audit(&[]).await.expect("empty append");
    s.audit
        .append_audit(&[full.clone(), bare.clone()])
        .await
        .expect("append");
    assert_eq!(
        s.audit.list_audit(&query(10)).await.expect("list"),
        [full, bare]
    );
}

/// Listing is newest first (by time, then id for events of one instant),
/// at most `limit`, and a page's cursor continues exactly where it ended:
/// walking the pages sees every event once.
pub async fn the_audit_log_pages_newest_first_without_gaps_or_repeats(s: Stores) {
    let t0 = fixtures::now();
    let mut events: Vec<AuditEvent> = (0..25)
        .map(|i| {
            // Five events share each instant, so ties need the id.
            AuditEvent::new(AuditKind::SignInFailed, t0 + Duration::seconds(i / 5)).detail("n", i)
        })
        .collect();
    for chunk in events.chunks(7) {
        s.audit.append_audit(chunk).await.expect("append");
    }
    events.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    let mut seen = Vec::new();
    let mut q = query(4);
    loop {
        let page = s.audit.list_audit(&q).await.expect("page");
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        q.before = Some(last.cursor());
        seen.extend(page);
    }
    assert_eq!(seen, events);
}

/// Filters by kind, user and client, alone and together with a cursor.
pub async fn audit_queries_filter_by_kind_user_and_client(s: Stores) {
    let t0 = fixtures::now();
    let (ann, bob) = (UserId::new(), UserId::new());
    let app = ClientId::parse("app").unwrap();
    let other = ClientId::parse("other").unwrap();
    let events = [
        AuditEvent::new(AuditKind::SignInSucceeded, t0).user(ann),
        AuditEvent::new(AuditKind::ConsentGranted, t0 + Duration::seconds(1))
            .user(ann)
            .client(&app),
        AuditEvent::new(AuditKind::ConsentGranted, t0 + Duration::seconds(2))
            .user(bob)
            .client(&other),
        AuditEvent::new(AuditKind::GrantRevoked, t0 + Duration::seconds(3))
            .user(bob)
            .client(&app),
    ];
    s.audit.append_audit(&events).await.expect("append");
    let ids = |q: AuditQuery| {
        let s = s.clone();
        async move {
            s.audit
                .list_audit(&q)
                .await
                .expect("list")
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    let by_kind = AuditQuery {
        kind: Some(AuditKind::ConsentGranted),
        ..query(10)
    };
    assert_eq!(ids(by_kind.clone()).await, [events[2].id, events[1].id]);
    let by_user = AuditQuery {
        user_id: Some(ann),
        ..query(10)
    };
    assert_eq!(ids(by_user).await, [events[1].id, events[0].id]);
    let by_client = AuditQuery {
        client_id: Some(app.clone()),
        ..query(10)
    };
    assert_eq!(ids(by_client).await, [events[3].id, events[1].id]);
    let all_three = AuditQuery {
        kind: Some(AuditKind::ConsentGranted),
        user_id: Some(bob),
        client_id: Some(other),
        ..query(10)
    };
    assert_eq!(ids(all_three).await, [events[2].id]);
    let older = AuditQuery {
        before: Some(events[2].cursor()),
        ..by_kind
    };
    assert_eq!(ids(older).await, [events[1].id]);
}

/// Purging removes exactly the events older than the cut-off, however
/// many there are (more than one batch), and says how many.
pub async fn purging_the_audit_log_removes_only_older_events(s: Stores) {
    let cut = fixtures::now();
    let old: Vec<AuditEvent> = (0..1_203)
        .map(|i| AuditEvent::new(AuditKind::SignInFailed, cut - Duration::seconds(1 + i)))
        .collect();
    s.audit.append_audit(&old).await.expect("append old");
    let kept = [
        AuditEvent::new(AuditKind::SignInSucceeded, cut),
        AuditEvent::new(AuditKind::SignInSucceeded, cut + Duration::days(1)),
    ];
    s.audit.append_audit(&kept).await.expect("append new");
    assert_eq!(s.audit.purge_audit(cut).await.expect("purge"), 1_203);
    let left: HashSet<_> = s
        .audit
        .list_audit(&query(500))
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, kept.iter().map(|e| e.id).collect());
    assert_eq!(s.audit.purge_audit(cut).await.expect("again"), 0);
}
