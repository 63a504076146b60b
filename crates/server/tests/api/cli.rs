//! The `gatehouse` binary's maintenance commands.

use std::process::Command;

use crate::helpers::*;

fn gatehouse(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", db)
        .env(
            "GATEHOUSE_SECRET_KEY",
            "cli-test-master-key-that-is-long-enough",
        )
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn rotate_key_publishes_a_new_signing_key_and_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("gatehouse-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("cli.db").display());
    let out = gatehouse(&db, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gatehouse(&db, &["rotate-key"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("New signing key"), "{stdout}");

    let mut cfg = config();
    cfg.database_url = gatehouse_server::config::DatabaseUrl::parse(&db).unwrap();
    cfg.secret_key = Some("cli-test-master-key-that-is-long-enough".into());
    let app = spawn_with(cfg).await;
    let jwks: serde_json::Value = app
        .http
        .get(app.url("/api/v1/oauth/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids.len(),
        2,
        "the new key signs, the old one is still published: {kids:?}"
    );
    assert!(stdout.contains(kids[0]), "the new key is the active one");
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
