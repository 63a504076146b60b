//! `gatehouse doctor`: a well-configured MCP server passes every check, and
//! each classic mismatch is caught by its own check, with a fix, and
//! predicted to stop the clients it stops.

use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use gatehouse_server::config::DatabaseUrl;
use gatehouse_server::doctor::{Report, diagnose};
use gatehouse_store_sqlite::testing::ScratchFile;
use serde_json::{Value, json};

use crate::helpers::*;

/// What the fake MCP server gets wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    /// Answers without a token with 200.
    NoChallenge,
    /// 401 without `resource_metadata`.
    ChallengeWithoutMetadata,
    /// The metadata's `resource` has a trailing slash and upper case.
    NonCanonicalResource,
    /// The metadata names another server's URL.
    OtherResource,
    /// `authorization_servers` has the issuer with a trailing slash.
    IssuerTrailingSlash,
    /// The metadata is only at the root well-known location, and the
    /// challenge points at a path that answers 404.
    MetadataAtWrongPath,
    /// No CORS on the metadata.
    NoCors,
    /// `scopes_supported` names a scope the registered resource does not
    /// accept.
    ScopeNotAccepted,
}

struct FakeMcp {
    url: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeMcp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn fake_mcp(issuer: String, fault: Fault) -> FakeMcp {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{port}");
    let state = Arc::new((origin.clone(), issuer, fault));
    let metadata = |s: &(String, String, Fault)| {
        let (origin, issuer, fault) = s;
        let resource = match fault {
            Fault::NonCanonicalResource => format!("HTTP://127.0.0.1:{}/mcp/", &origin[17..]),
            Fault::OtherResource => format!("{origin}/other"),
            _ => format!("{origin}/mcp"),
        };
        let servers = if *fault == Fault::IssuerTrailingSlash {
            format!("{issuer}/")
        } else {
            issuer.clone()
        };
        let mut scopes = vec!["mcp:connect", "profile"];
        if *fault == Fault::ScopeNotAccepted {
            scopes.push("files:write");
        }
        json!({"resource": resource, "authorization_servers": [servers],
               "scopes_supported": scopes, "bearer_methods_supported": ["header"]})
    };
    let server = HttpServer::new(move || {
        let st = state.clone();
        let st2 = state.clone();
        let st3 = state.clone();
        App::new()
            .route(
                "/mcp",
                web::post().to(move || {
                    let (origin, _, fault) = &*st;
                    let res = match fault {
                        Fault::NoChallenge => HttpResponse::Ok().json(json!({"jsonrpc": "2.0", "id": 1, "result": {}})),
                        Fault::ChallengeWithoutMetadata => HttpResponse::Unauthorized()
                            .insert_header(("www-authenticate", "Bearer"))
                            .finish(),
                        Fault::MetadataAtWrongPath => HttpResponse::Unauthorized()
                            .insert_header((
                                "www-authenticate",
                                format!(r#"Bearer resource_metadata="{origin}/metadata""#),
                            ))
                            .finish(),
                        _ => HttpResponse::Unauthorized()
                            .insert_header((
                                "www-authenticate",
                                format!(
                                    r#"Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp""#
                                ),
                            ))
                            .finish(),
                    };
                    async move { res }
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp",
                web::get().to(move || {
                    let res = if st2.2 == Fault::MetadataAtWrongPath {
                        HttpResponse::NotFound().finish()
                    } else {
                        let mut r = HttpResponse::Ok();
                        if st2.2 != Fault::NoCors {
                            r.insert_header(("access-control-allow-origin", "*"));
                        }
                        r.json(metadata(&st2))
                    };
                    async move { res }
                }),
            )
            .route(
                "/.well-known/oauth-protected-resource",
                web::get().to(move || {
                    let res = if st3.2 == Fault::MetadataAtWrongPath {
                        HttpResponse::Ok()
                            .insert_header(("access-control-allow-origin", "*"))
                            .json(metadata(&st3))
                    } else {
                        HttpResponse::NotFound().finish()
                    };
                    async move { res }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    FakeMcp {
        url: format!("{origin}/mcp"),
        handle,
    }
}

fn failed(report: &Report) -> Vec<&'static str> {
    report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.id)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Gatehouse on a SQLite file (the doctor reads the resource registry from
/// the store), with `resource` registered for `mcp:connect profile` and a
/// token-exchange client serving it.
async fn gatehouse(scratch: &ScratchFile) -> (TestApp, gatehouse_server::Config) {
    let port = free_port();
    let mut cfg = config();
    cfg.addr = format!("127.0.0.1:{port}").parse().unwrap();
    cfg.public_url = Some(format!("http://127.0.0.1:{port}"));
    cfg.database_url = DatabaseUrl::Sqlite(scratch.dir().join("gatehouse.db"));
    let app = spawn_with(cfg.clone()).await;
    (app, cfg)
}

async fn register(app: &TestApp, resource: &str, exchange: bool) {
    let res = app
        .http
        .post(app.url("/api/v1/oauth/resources"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"resource": resource, "name": "Files", "scopes": ["mcp:connect", "profile"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    if exchange {
        let res = app
            .http
            .post(app.url("/api/v1/oauth/clients"))
            .bearer_auth(&app.admin_token)
            .json(&json!({
                "name": "Files (token exchange)",
                "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
                "resource": resource,
                "allowed_scopes": ["profile"],
                "is_confidential": true,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    }
}

#[tokio::test]
async fn a_well_configured_server_passes_and_every_client_is_predicted_to_connect() {
    let scratch = ScratchFile::new().unwrap();
    let (app, cfg) = gatehouse(&scratch).await;
    let mcp = fake_mcp(app.issuer.clone(), Fault::None).await;
    register(&app, &mcp.url, true).await;
    let report = diagnose(&cfg, &mcp.url).await.unwrap();
    assert!(report.ok(), "{}", report.render());
    for id in [
        "transport",
        "gatehouse_metadata",
        "unauthenticated_401",
        "challenge_resource_metadata",
        "metadata_path_inserted",
        "metadata_found",
        "resource_matches_url",
        "resource_canonical",
        "authorization_servers_issuer",
        "metadata_cors",
        "resource_registered",
        "scopes_covered",
        "exchange_client",
    ] {
        assert!(
            report.checks.iter().any(|c| c.id == id && c.ok),
            "{id}: {}",
            report.render()
        );
    }
    let sdk = report
        .clients
        .iter()
        .find(|p| p.client == "MCP Python SDK")
        .unwrap();
    assert!(sdk.connects);
    let no_resource = report
        .clients
        .iter()
        .find(|p| p.client == "clients that send no resource")
        .unwrap();
    assert!(
        !no_resource.connects,
        "GATEHOUSE_DEFAULT_RESOURCE is not set"
    );
    let text = report.render();
    assert!(
        text.contains("✓ a request without a token gets 401"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["checks"].as_array().unwrap().len(),
        report.checks.len()
    );
}

#[tokio::test]
async fn each_mismatch_is_caught_by_its_check_with_a_fix() {
    let scratch = ScratchFile::new().unwrap();
    let (app, cfg) = gatehouse(&scratch).await;
    let cases = [
        (
            Fault::NoChallenge,
            vec!["unauthenticated_401", "challenge_resource_metadata"],
        ),
        (
            Fault::ChallengeWithoutMetadata,
            vec!["challenge_resource_metadata"],
        ),
        (
            Fault::NonCanonicalResource,
            vec!["resource_matches_url", "resource_canonical"],
        ),
        (Fault::OtherResource, vec!["resource_matches_url"]),
        (
            Fault::IssuerTrailingSlash,
            vec!["authorization_servers_issuer"],
        ),
        (
            Fault::MetadataAtWrongPath,
            vec!["metadata_path_inserted", "metadata_from_challenge"],
        ),
        (Fault::NoCors, vec!["metadata_cors"]),
        (Fault::ScopeNotAccepted, vec!["scopes_covered"]),
    ];
    for (fault, expected) in cases {
        let mcp = fake_mcp(app.issuer.clone(), fault).await;
        register(&app, &mcp.url, true).await;
        let report = diagnose(&cfg, &mcp.url).await.unwrap();
        let got = failed(&report);
        for id in &expected {
            assert!(
                got.contains(id),
                "{fault:?}: {id} not caught: {}",
                report.render()
            );
        }
        assert!(!report.ok());
        for c in report.checks.iter().filter(|c| !c.ok) {
            assert!(!c.fix.is_empty(), "{fault:?}: {} has no fix", c.id);
        }
        // Nothing else is blamed: the other checks hold.
        let unexpected: Vec<&&str> = got
            .iter()
            .filter(|id| {
                !expected.contains(id) && **id != "resource_registered" && **id != "exchange_client"
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "{fault:?}: also failed {unexpected:?}: {}",
            report.render()
        );
        let inspector = report
            .clients
            .iter()
            .find(|p| p.client == "MCP Inspector (browser)")
            .unwrap();
        assert!(!inspector.connects, "{fault:?}");
    }
}

#[tokio::test]
async fn an_unregistered_resource_or_a_missing_exchange_client_is_caught() {
    let scratch = ScratchFile::new().unwrap();
    let (app, cfg) = gatehouse(&scratch).await;
    let mcp = fake_mcp(app.issuer.clone(), Fault::None).await;
    let report = diagnose(&cfg, &mcp.url).await.unwrap();
    assert_eq!(
        failed(&report),
        vec!["resource_registered"],
        "{}",
        report.render()
    );
    assert!(report.clients.iter().all(|p| !p.connects));
    register(&app, &mcp.url, false).await;
    let report = diagnose(&cfg, &mcp.url).await.unwrap();
    assert_eq!(
        failed(&report),
        vec!["exchange_client"],
        "{}",
        report.render()
    );
    let fix = &report
        .checks
        .iter()
        .find(|c| c.id == "exchange_client")
        .unwrap()
        .fix;
    assert!(fix.contains("gatehouse clients create"), "{fix}");

    // A store the doctor cannot read is said, and not created.
    let mut nowhere = cfg.clone();
    let missing = scratch.dir().join("elsewhere.db");
    nowhere.database_url = DatabaseUrl::Sqlite(missing.clone());
    let report = diagnose(&nowhere, &mcp.url).await.unwrap();
    let c = report
        .checks
        .iter()
        .find(|c| c.id == "resource_registered")
        .unwrap();
    assert!(
        !c.ok && c.detail.contains("no SQLite database"),
        "{}",
        c.detail
    );
    assert!(!missing.exists());

    // An http MCP server off loopback, and a Gatehouse not at its public URL.
    let mut elsewhere = cfg.clone();
    elsewhere.public_url = Some(format!("http://127.0.0.1:{}", free_port()));
    let report = diagnose(&elsewhere, "http://files.invalid/mcp")
        .await
        .unwrap();
    let got = failed(&report);
    for id in [
        "transport",
        "gatehouse_metadata",
        "unauthenticated_401",
        "metadata_found",
    ] {
        assert!(got.contains(&id), "{id}: {}", report.render());
    }
    let _: Value = serde_json::to_value(&report).unwrap();
}
