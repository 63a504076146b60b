//! Contracts of what users and admins see of connected apps: the live
//! grants of a user or a client, their last-used times, and disconnecting;
//! and the registration hygiene built on them (reuse and reaping).

use gatehouse_core::model::{
    Client, ClientOrigin, Grant, GrantId, GrantsOf, Revocation, RevokedSubject, Usage,
};
use time::{Duration, OffsetDateTime};

use crate::{Stores, fixtures};

/// `active_grants` lists a user's (or a client's) live grants, newest
/// first, and nothing revoked or belonging to someone else.
pub async fn live_grants_are_listed_per_user_and_per_client_newest_first(s: Stores) {
    let (client, ann, first, _) = fixtures::active_grant(&s, "ann@example.com").await;
    let second = Grant {
        created_at: first.created_at + Duration::seconds(5),
        resource: Some("https://mcp.example.com/mcp".to_owned()),
        ..fixtures::grant(&client, &ann)
    };
    s.tokens.create_grant(&second, None).await.expect("second");
    let revoked = fixtures::grant(&client, &ann);
    s.tokens.create_grant(&revoked, None).await.expect("third");
    s.tokens
        .revoke_grant(revoked.id, fixtures::now())
        .await
        .expect("revoke");
    let other = fixtures::client();
    s.clients.insert_client(&other).await.expect("other client");
    let elsewhere = Grant {
        created_at: first.created_at - Duration::seconds(5),
        ..fixtures::grant(&other, &ann)
    };
    s.tokens
        .create_grant(&elsewhere, None)
        .await
        .expect("other");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&bob).await.expect("bob");
    let bobs = fixtures::grant(&client, &bob);
    s.tokens.create_grant(&bobs, None).await.expect("bob's");

    let ids = |gs: Vec<Grant>| gs.into_iter().map(|g| g.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .tokens
            .active_grants(&GrantsOf::User(ann.id))
            .await
            .expect("ann's")),
        vec![second.id, first.id, elsewhere.id]
    );
    let listed = s
        .tokens
        .active_grants(&GrantsOf::User(ann.id))
        .await
        .expect("ann's");
    assert_eq!(listed[0], second, "a listed grant reads back whole");
    let mut of_client = ids(s
        .tokens
        .active_grants(&GrantsOf::Client(client.id.clone()))
        .await
        .expect("the client's"));
    of_client.sort();
    let mut expected = vec![second.id, first.id, bobs.id];
    expected.sort();
    assert_eq!(of_client, expected);
    assert!(
        s.tokens
            .active_grants(&GrantsOf::User(fixtures::user("nobody@example.com").id))
            .await
            .expect("nobody's")
            .is_empty()
    );
}

/// `record_use` moves grants' and clients' last-used times forward only,
/// whatever order batches arrive in, ignores vanished records, and an
/// update carrying a stale client copy does not move the time back.
pub async fn last_used_times_only_move_forward(s: Stores) {
    let (client, _, grant, _) = fixtures::active_grant(&s, "ann@example.com").await;
    let t0 = fixtures::now();
    let at = |m: i64| t0 + Duration::minutes(m);
    let used = |m: i64| Usage {
        client_id: client.id.clone(),
        grant_id: Some(grant.id),
        at: at(m),
    };
    s.tokens.record_use(&[used(5)]).await.expect("first batch");
    s.tokens
        .record_use(&[used(3), used(4)])
        .await
        .expect("an older batch from another instance");
    let stored_grant = s
        .tokens
        .get_grant(grant.id)
        .await
        .expect("get")
        .expect("grant");
    assert_eq!(stored_grant.last_used_at, Some(at(5)));
    let stored_client = s
        .clients
        .get_client(&client.id)
        .await
        .expect("get")
        .expect("client");
    assert_eq!(stored_client.last_used_at, Some(at(5)));

    // A user-less token moves only its client.
    s.tokens
        .record_use(&[Usage {
            client_id: client.id.clone(),
            grant_id: None,
            at: at(7),
        }])
        .await
        .expect("client only");
    assert_eq!(
        s.tokens
            .get_grant(grant.id)
            .await
            .expect("get")
            .expect("grant")
            .last_used_at,
        Some(at(5))
    );

    // An update made with a copy read before the batches keeps the time.
    let renamed = Client {
        name: "Renamed".to_owned(),
        ..client.clone()
    };
    s.clients.update_client(&renamed).await.expect("update");
    let stored_client = s
        .clients
        .get_client(&client.id)
        .await
        .expect("get")
        .expect("client");
    assert_eq!(stored_client.name, "Renamed");
    assert_eq!(stored_client.last_used_at, Some(at(7)));

    // Vanished grants and clients are skipped, and the rest of the batch
    // still lands.
    let gone = fixtures::client();
    s.tokens
        .record_use(&[
            Usage {
                client_id: gone.id.clone(),
                grant_id: Some(fixtures::grant(&gone, &fixtures::user("x@example.com")).id),
                at: at(9),
            },
            used(10),
        ])
        .await
        .expect("a batch naming deleted records");
    assert_eq!(
        s.tokens
            .get_grant(grant.id)
            .await
            .expect("get")
            .expect("grant")
            .last_used_at,
        Some(at(10))
    );
    assert!(s.clients.get_client(&gone.id).await.expect("get").is_none());
}

/// Disconnecting an app forgets the user's consent to it (the next
/// authorization asks again) and nobody else's.
pub async fn disconnecting_an_app_forgets_only_its_consent(s: Stores) {
    let (client, ann, _, _) = fixtures::active_grant(&s, "ann@example.com").await;
    let other = fixtures::client();
    s.clients.insert_client(&other).await.expect("other client");
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&bob).await.expect("bob");
    for (user, c) in [(&ann, &client), (&ann, &other), (&bob, &client)] {
        s.tokens
            .put_consent(&fixtures::consent(user, c, "profile"))
            .await
            .expect("consent");
    }
    s.tokens
        .revoke_client_grants(ann.id, &client.id, fixtures::now())
        .await
        .expect("disconnect");
    assert!(
        s.tokens
            .get_consent(ann.id, &client.id)
            .await
            .expect("get")
            .is_none(),
        "the app's consent is forgotten"
    );
    for (user, c) in [(&ann, &other), (&bob, &client)] {
        assert!(
            s.tokens
                .get_consent(user.id, &c.id)
                .await
                .expect("get")
                .is_some()
        );
    }
}

/// Signing out everywhere ends every session of one user and nothing else:
/// not their grants, not anyone else's sessions.
pub async fn signing_out_everywhere_ends_only_that_users_sessions(s: Stores) {
    let (_, ann, grant, _) = fixtures::active_grant(&s, "ann@example.com").await;
    let bob = fixtures::user("bob@example.com");
    s.users.insert_user(&bob).await.expect("bob");
    let anns = [fixtures::session(&ann), fixtures::session(&ann)];
    let bobs = fixtures::session(&bob);
    for session in anns.iter().chain([&bobs]) {
        s.tokens.put_session(session).await.expect("session");
    }
    assert_eq!(
        s.tokens
            .delete_user_sessions(ann.id)
            .await
            .expect("sign out"),
        2
    );
    let now = fixtures::now();
    for session in &anns {
        assert!(
            s.tokens
                .get_session(&session.hash, now)
                .await
                .expect("get")
                .is_none()
        );
    }
    assert!(
        s.tokens
            .get_session(&bobs.hash, now)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        s.tokens
            .get_grant(grant.id)
            .await
            .expect("get")
            .expect("grant")
            .is_active(),
        "connected apps stay connected"
    );
}

/// A dynamic client with the same software's registration key is found
/// (the oldest, if several); admin clients with the key are not.
pub async fn a_registration_key_finds_the_oldest_dynamic_client(s: Stores) {
    let key = fixtures::token_hash();
    let at = fixtures::now();
    let dynamic = |created: OffsetDateTime| Client {
        origin: ClientOrigin::Dynamic,
        registration_key: Some(key),
        created_at: created,
        ..fixtures::client()
    };
    let newer = dynamic(at);
    let older = dynamic(at - Duration::hours(1));
    let admin = Client {
        origin: ClientOrigin::Admin,
        created_at: at - Duration::hours(2),
        ..dynamic(at)
    };
    for c in [&newer, &older, &admin] {
        s.clients.insert_client(c).await.expect("insert");
    }
    assert_eq!(
        s.clients
            .client_by_registration_key(&key)
            .await
            .expect("find"),
        Some(older)
    );
    assert_eq!(
        s.clients
            .client_by_registration_key(&fixtures::token_hash())
            .await
            .expect("find"),
        None
    );
}

/// Reaping deletes self-registered clients idle since the cutoff with no
/// live grant, with their records, oldest created first and at most
/// `limit`; it
/// never touches admin clients, clients in use, or live grants.
pub async fn idle_self_registered_clients_are_reaped_and_nothing_else(s: Stores) {
    let now = fixtures::now();
    let cutoff = now - Duration::days(30);
    let old = now - Duration::days(40);
    let client =
        |origin: ClientOrigin, created: OffsetDateTime, used: Option<OffsetDateTime>| Client {
            origin,
            created_at: created,
            last_used_at: used,
            ..fixtures::client()
        };
    let user = fixtures::user("ann@example.com");
    s.users.insert_user(&user).await.expect("user");
    let idle_dynamic = client(ClientOrigin::Dynamic, old, None);
    let idle_metadata = client(
        ClientOrigin::Metadata,
        old + Duration::hours(1),
        Some(old + Duration::days(1)),
    );
    let revoked_only = client(ClientOrigin::Dynamic, old - Duration::days(1), Some(old));
    let admin = client(ClientOrigin::Admin, old, None);
    let in_use = client(ClientOrigin::Dynamic, old, Some(old));
    let recently_used = client(ClientOrigin::Metadata, old, Some(now - Duration::days(1)));
    let new = client(ClientOrigin::Dynamic, now, None);
    for c in [
        &idle_dynamic,
        &idle_metadata,
        &revoked_only,
        &admin,
        &in_use,
        &recently_used,
        &new,
    ] {
        s.clients.insert_client(c).await.expect("insert");
    }
    let live = fixtures::grant(&in_use, &user);
    s.tokens
        .create_grant(&live, Some(fixtures::refresh(&live)))
        .await
        .expect("live");
    let dead = fixtures::grant(&revoked_only, &user);
    s.tokens
        .create_grant(&dead, Some(fixtures::refresh(&dead)))
        .await
        .expect("dead");
    s.tokens.revoke_grant(dead.id, old).await.expect("revoke");
    s.tokens
        .put_consent(&fixtures::consent(&user, &idle_dynamic, "profile"))
        .await
        .expect("consent");

    let first = s
        .clients
        .delete_idle_clients(cutoff, 2)
        .await
        .expect("reap");
    assert_eq!(
        first,
        vec![revoked_only.id.clone(), idle_dynamic.id.clone()],
        "oldest first, at most the limit"
    );
    let rest = s
        .clients
        .delete_idle_clients(cutoff, 100)
        .await
        .expect("reap");
    assert_eq!(rest, vec![idle_metadata.id.clone()]);
    assert!(
        s.clients
            .delete_idle_clients(cutoff, 100)
            .await
            .expect("reap")
            .is_empty()
    );
    for gone in [&idle_dynamic, &idle_metadata, &revoked_only] {
        assert!(s.clients.get_client(&gone.id).await.expect("get").is_none());
    }
    for kept in [&admin, &in_use, &recently_used, &new] {
        assert!(s.clients.get_client(&kept.id).await.expect("get").is_some());
    }
    assert!(
        s.tokens.get_grant(dead.id).await.expect("get").is_none(),
        "its grants went too"
    );
    assert!(
        s.tokens
            .get_consent(user.id, &idle_dynamic.id)
            .await
            .expect("get")
            .is_none(),
        "and its consents"
    );
    assert!(
        s.tokens
            .get_grant(live.id)
            .await
            .expect("get")
            .expect("live")
            .is_active()
    );
}

/// The revocation log: appended in order with increasing `seq` whatever the
/// subject kind, read after a cursor with a limit and without entries not
/// yet settled, and purged once expired, with `seq` still increasing after.
pub async fn revocations_are_read_in_order_after_a_cursor_and_purged_once_expired(s: Stores) {
    let t0 = fixtures::now();
    let user = fixtures::user("ann@example.com").id;
    let client = fixtures::client().id;
    let subjects = [
        RevokedSubject::Grant {
            grant: GrantId::new(),
            user,
            client: client.clone(),
        },
        RevokedSubject::App {
            user,
            client: client.clone(),
        },
        RevokedSubject::User { user },
        RevokedSubject::Client { client },
        RevokedSubject::Token {
            jti: uuid::Uuid::new_v4(),
        },
    ];
    let entries: Vec<Revocation> = subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| Revocation {
            id: uuid::Uuid::new_v4(),
            seq: 0,
            at: t0 + Duration::seconds(i as i64),
            subject: subject.clone(),
            reason: format!("reason {i}"),
            expires_at: t0 + Duration::hours(1) + Duration::seconds(i as i64),
        })
        .collect();
    s.tokens
        .append_revocations(&entries[..1])
        .await
        .expect("append");
    s.tokens
        .append_revocations(&entries[1..])
        .await
        .expect("append");
    let later = t0 + Duration::days(1);
    let all = s
        .tokens
        .revocations_after(0, later, 100)
        .await
        .expect("read");
    assert_eq!(all.len(), 5);
    for (read, written) in all.iter().zip(&entries) {
        assert_eq!(
            Revocation {
                seq: 0,
                ..read.clone()
            },
            *written,
            "read back whole"
        );
    }
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "seq increases");
    let page = s
        .tokens
        .revocations_after(all[0].seq, later, 2)
        .await
        .expect("read");
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![entries[1].id, entries[2].id]
    );
    let settled = s
        .tokens
        .revocations_after(0, entries[2].at, 100)
        .await
        .expect("read");
    assert_eq!(settled.len(), 2, "entries at or after the horizon wait");

    // Past the first two entries' expiry: they go, the rest stay.
    s.tokens
        .purge_expired(t0 + Duration::hours(1) + Duration::milliseconds(1500))
        .await
        .expect("purge");
    let left = s
        .tokens
        .revocations_after(0, later, 100)
        .await
        .expect("read");
    assert_eq!(
        left.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![entries[2].id, entries[3].id, entries[4].id]
    );
    let next = Revocation {
        id: uuid::Uuid::new_v4(),
        ..entries[0].clone()
    };
    s.tokens.append_revocations(&[next]).await.expect("append");
    let last = s
        .tokens
        .revocations_after(0, later, 100)
        .await
        .expect("read");
    assert!(
        last.last().expect("one").seq > all[4].seq,
        "no seq is reused"
    );
}
