//! Contracts of [`ClientRepo`](gatehouse_core::ports::ClientRepo).

use gatehouse_core::model::{Client, ClientKind};
use gatehouse_core::redirect::RedirectUri;
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures};

/// A client reads back exactly as stored and as updated, and is gone once
/// deleted.
pub async fn clients_round_trip_through_insert_get_update_and_delete(s: Stores) {
    let client = fixtures::client();
    s.clients.insert_client(&client).await.expect("insert");
    assert_eq!(
        s.clients.get_client(&client.id).await.expect("get"),
        Some(client.clone())
    );

    let changed = Client {
        secret_hash: None,
        name: "Renamed app".to_owned(),
        description: String::new(),
        redirect_uris: vec![
            RedirectUri::parse("https://app.example.com/callback").expect("valid"),
            RedirectUri::parse("http://127.0.0.1/cb").expect("valid"),
        ],
        allowed_scopes: fixtures::scope("openid"),
        kind: ClientKind::Public,
        updated_at: client.updated_at + Duration::minutes(5),
        ..client.clone()
    };
    s.clients.update_client(&changed).await.expect("update");
    assert_eq!(
        s.clients.get_client(&client.id).await.expect("get"),
        Some(changed)
    );

    assert!(s.clients.delete_client(&client.id).await.expect("delete"));
    assert_eq!(s.clients.get_client(&client.id).await.expect("get"), None);
    assert!(s.clients.list_clients().await.expect("list").is_empty());
}

/// Registering a second client under a taken id is a conflict and leaves the
/// first untouched.
pub async fn a_client_id_can_be_registered_only_once(s: Stores) {
    let first = fixtures::client();
    s.clients.insert_client(&first).await.expect("insert");
    let impostor = Client {
        name: "Impostor".to_owned(),
        ..fixtures::client()
    };
    let impostor = Client {
        id: first.id.clone(),
        ..impostor
    };
    assert_conflict(
        s.clients.insert_client(&impostor).await,
        "inserting a duplicate client id",
    );
    assert_eq!(
        s.clients.get_client(&first.id).await.expect("get"),
        Some(first)
    );
}

/// Updating a client that does not exist is `NotFound`; deleting it reports
/// `false`.
pub async fn changing_a_missing_client_reports_that_it_is_missing(s: Stores) {
    let ghost = fixtures::client();
    assert_not_found(
        s.clients.update_client(&ghost).await,
        "updating a missing client",
    );
    assert!(!s.clients.delete_client(&ghost.id).await.expect("delete"));
    assert_eq!(s.clients.get_client(&ghost.id).await.expect("get"), None);
}

/// `list_clients` returns every client, oldest first, whatever the insertion
/// order.
pub async fn clients_are_listed_oldest_first(s: Stores) {
    let t0 = fixtures::now();
    let newest = Client {
        created_at: t0 + Duration::seconds(2),
        ..fixtures::client()
    };
    let oldest = Client {
        created_at: t0,
        ..fixtures::client()
    };
    let middle = Client {
        created_at: t0 + Duration::seconds(1),
        ..fixtures::client()
    };
    for c in [&newest, &oldest, &middle] {
        s.clients.insert_client(c).await.expect("insert");
    }
    let listed: Vec<_> = s
        .clients
        .list_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, vec![oldest.id, middle.id, newest.id]);
}
