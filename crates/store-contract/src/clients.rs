//! Contracts of [`ClientRepo`](gatehouse_core::ports::ClientRepo).

use gatehouse_core::model::{
    ApplicationType, Client, ClientId, ClientOrigin, GrantType, TokenEndpointAuthMethod,
};
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
        auth_method: TokenEndpointAuthMethod::None,
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

/// A dynamically registered client keeps every registration field exactly:
/// its metadata document (nested JSON, non-ASCII text, numbers), its grant
/// types in the order registered, its registration-token hash and the
/// expiry of a cached metadata document; clearing them is kept too.
pub async fn a_client_record_keeps_every_registration_field(s: Stores) {
    let at = fixtures::now();
    let dynamic = Client {
        id: ClientId::parse("https://tools.example.com/.well-known/client.json").expect("valid"),
        secret_hash: Some(fixtures::token_hash()),
        redirect_uris: vec![
            RedirectUri::parse("http://127.0.0.1:33418/callback").expect("valid"),
            RedirectUri::parse("https://tools.example.com/oauth/cb").expect("valid"),
        ],
        auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        grant_types: vec![
            GrantType::RefreshToken,
            GrantType::TokenExchange,
            GrantType::AuthorizationCode,
        ],
        application_type: ApplicationType::Native,
        origin: ClientOrigin::Dynamic,
        require_pkce: false,
        registration_token_hash: Some(fixtures::token_hash()),
        metadata: serde_json::json!({
            "client_uri": "https://tools.example.com",
            "logo_uri": "https://tools.example.com/logo.png",
            "contacts": ["ops@example.com", "Zoë <zoe@example.com>"],
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "software_version": "2.1.0",
            "extensions": {"nested": {"depth": 2, "ratio": 0.5, "on": true, "none": null}}
        }),
        metadata_expires_at: Some(at + Duration::hours(24)),
        last_used_at: Some(at - Duration::minutes(3)),
        registration_key: Some(fixtures::token_hash()),
        ..fixtures::client()
    };
    s.clients.insert_client(&dynamic).await.expect("insert");
    assert_eq!(
        s.clients.get_client(&dynamic.id).await.expect("get"),
        Some(dynamic.clone())
    );
    assert_eq!(
        s.clients.list_clients().await.expect("list"),
        vec![dynamic.clone()]
    );

    let metadata_client = Client {
        secret_hash: None,
        auth_method: TokenEndpointAuthMethod::None,
        grant_types: vec![GrantType::AuthorizationCode],
        application_type: ApplicationType::Web,
        origin: ClientOrigin::Metadata,
        require_pkce: true,
        registration_token_hash: None,
        metadata: serde_json::json!({}),
        metadata_expires_at: None,
        updated_at: at + Duration::minutes(1),
        ..dynamic.clone()
    };
    s.clients
        .update_client(&metadata_client)
        .await
        .expect("update");
    assert_eq!(
        s.clients.get_client(&dynamic.id).await.expect("get"),
        Some(metadata_client)
    );

    let no_grants = Client {
        grant_types: Vec::new(),
        ..fixtures::client()
    };
    s.clients.insert_client(&no_grants).await.expect("insert");
    assert_eq!(
        s.clients.get_client(&no_grants.id).await.expect("get"),
        Some(no_grants),
        "an empty list of grant types stays empty"
    );
}
