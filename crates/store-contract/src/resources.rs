//! Contracts of [`ResourceRepo`](gatehouse_core::ports::ResourceRepo).

use gatehouse_core::model::{Resource, ResourceId};
use time::Duration;

use crate::{Stores, assert_conflict, assert_not_found, fixtures};

const FILES: &str = "https://files.example.com/mcp";
const SEARCH: &str = "https://search.example.com/mcp";

/// A resource reads back by id and by URI, as stored and as updated (a
/// changed URI moves the lookup with it), and is gone once deleted.
pub async fn resources_round_trip_through_insert_get_update_and_delete(s: Stores) {
    let files = fixtures::resource(FILES, "mcp:connect profile");
    s.resources.insert_resource(&files).await.expect("insert");
    assert_eq!(
        s.resources.get_resource(files.id).await.expect("get"),
        Some(files.clone())
    );
    assert_eq!(
        s.resources
            .get_resource_by_uri(FILES)
            .await
            .expect("get by uri"),
        Some(files.clone())
    );
    assert_eq!(
        s.resources
            .get_resource_by_uri("https://files.example.com/mcp/")
            .await
            .expect("get by another uri"),
        None,
        "URIs are compared exactly"
    );

    let moved = Resource {
        uri: "https://files.example.com/v2/mcp".to_owned(),
        name: "Files v2".to_owned(),
        scopes: fixtures::scope("mcp:connect"),
        updated_at: files.updated_at + Duration::minutes(1),
        ..files.clone()
    };
    s.resources.update_resource(&moved).await.expect("update");
    assert_eq!(
        s.resources.get_resource(files.id).await.expect("get"),
        Some(moved.clone())
    );
    assert_eq!(
        s.resources
            .get_resource_by_uri(FILES)
            .await
            .expect("old uri"),
        None
    );
    assert_eq!(
        s.resources
            .get_resource_by_uri(&moved.uri)
            .await
            .expect("new uri"),
        Some(moved.clone())
    );
    s.resources
        .insert_resource(&fixtures::resource(FILES, "mcp:connect"))
        .await
        .expect("the old URI is free again");

    assert!(s.resources.delete_resource(files.id).await.expect("delete"));
    assert_eq!(s.resources.get_resource(files.id).await.expect("get"), None);
    assert_eq!(
        s.resources
            .get_resource_by_uri(&moved.uri)
            .await
            .expect("get by uri"),
        None
    );
    assert!(
        !s.resources
            .delete_resource(files.id)
            .await
            .expect("delete again")
    );
}

/// A URI names one resource: a second resource with a taken URI, or an
/// update onto one, is a conflict; so is a taken id. Updating a missing
/// resource is `NotFound`.
pub async fn a_resource_uri_belongs_to_one_resource_only(s: Stores) {
    let files = fixtures::resource(FILES, "mcp:connect");
    let search = fixtures::resource(SEARCH, "mcp:connect");
    s.resources.insert_resource(&files).await.expect("insert");
    s.resources.insert_resource(&search).await.expect("insert");

    assert_conflict(
        s.resources
            .insert_resource(&fixtures::resource(FILES, "profile"))
            .await,
        "inserting a second resource with a taken URI",
    );
    assert_conflict(
        s.resources
            .insert_resource(&Resource {
                id: files.id,
                ..fixtures::resource("https://other.example.com/mcp", "profile")
            })
            .await,
        "inserting a second resource with a taken id",
    );
    assert_eq!(
        s.resources
            .get_resource_by_uri("https://other.example.com/mcp")
            .await
            .expect("get"),
        None,
        "a refused insert stores nothing"
    );
    assert_conflict(
        s.resources
            .update_resource(&Resource {
                uri: FILES.to_owned(),
                ..search.clone()
            })
            .await,
        "moving a resource onto a taken URI",
    );
    assert_eq!(
        s.resources.get_resource(search.id).await.expect("get"),
        Some(search.clone())
    );
    assert_eq!(
        s.resources.get_resource_by_uri(FILES).await.expect("get"),
        Some(files)
    );
    assert_not_found(
        s.resources
            .update_resource(&fixtures::resource(
                "https://ghost.example.com/mcp",
                "profile",
            ))
            .await,
        "updating a missing resource",
    );
    assert_eq!(
        s.resources
            .get_resource(ResourceId::new())
            .await
            .expect("get"),
        None
    );
}

/// `list_resources` returns every resource, oldest first, whatever the
/// insertion order.
pub async fn resources_are_listed_oldest_first(s: Stores) {
    let t0 = fixtures::now();
    let newest = Resource {
        created_at: t0 + Duration::seconds(2),
        ..fixtures::resource("https://c.example.com/mcp", "mcp:connect")
    };
    let oldest = Resource {
        created_at: t0,
        ..fixtures::resource("https://a.example.com/mcp", "mcp:connect")
    };
    let middle = Resource {
        created_at: t0 + Duration::seconds(1),
        ..fixtures::resource("https://b.example.com/mcp", "mcp:connect")
    };
    for r in [&newest, &oldest, &middle] {
        s.resources.insert_resource(r).await.expect("insert");
    }
    assert_eq!(
        s.resources.list_resources().await.expect("list"),
        vec![oldest, middle, newest]
    );
}
