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

const KEY: &str = "cli-test-master-key-that-is-long-enough";

/// A scratch SQLite database, removed with its directory when dropped.
struct Scratch {
    dir: std::path::PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("gatehouse-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.dir.join("cli.db").display())
    }

    /// A server on this database, sharing it with the commands.
    async fn serve(&self, db: &str) -> TestApp {
        let mut cfg = config();
        cfg.database_url = gatehouse_server::config::DatabaseUrl::parse(db).unwrap();
        cfg.secret_key = Some(KEY.into());
        // The commands are another instance on the database: a server sees
        // their changes once its cached copy expires, at once with none.
        cfg.cache_ttl_seconds = 0;
        spawn_with(cfg).await
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the binary with `stdin` on its standard input; returns (success,
/// stdout, stderr). Run off the async workers: a server in this test
/// process may have to answer it.
async fn run(db: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    use std::io::Write as _;
    let (db, stdin) = (db.to_owned(), stdin.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(&args)
            .env("GATEHOUSE_DATABASE_URL", &db)
            .env("GATEHOUSE_SECRET_KEY", KEY)
            // The operator sees a one-line reason, never a backtrace.
            .env("RUST_BACKTRACE", "1")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// Runs a command that must succeed and print JSON.
async fn json(db: &str, args: &[&str], stdin: &str) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (ok, out, err) = run(db, &args, stdin).await;
    assert!(ok, "{args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

/// A command the core refuses exits 1 with `error: <reason>` on one line.
async fn refused(db: &str, args: &[&str], stdin: &str, reason: &str) {
    let (ok, out, err) = run(db, args, stdin).await;
    assert!(!ok, "{args:?} succeeded: {out}");
    assert!(
        err.starts_with("error: ") && err.contains(reason),
        "{args:?}: {err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
}

fn emails(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_are_managed_from_the_command_line_under_the_apis_rules() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let app = scratch.serve(&db).await;

    // Created without a password: one is generated, printed once on stderr
    // (stdout stays the table), and signs in over HTTP at once.
    let (ok, out, err) = run(
        &db,
        &[
            "users",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("ops@example.com") && out.contains("admin"),
        "{out}"
    );
    let generated = err
        .lines()
        .find_map(|l| l.strip_prefix("password (shown only once): "))
        .unwrap_or_else(|| panic!("no password printed: {err}"));
    let ops_token = app.api_login("ops@example.com", generated).await;
    let admins_only = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(&ops_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        admins_only.status(),
        reqwest::StatusCode::OK,
        "ops is an admin"
    );

    let bob = json(
        &db,
        &[
            "users",
            "create",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "bobs-first-password\n",
    )
    .await;
    assert_eq!(bob[0]["email"], "bob@example.com");
    assert_eq!(bob[0]["role"], "user");
    app.api_login("bob@example.com", "bobs-first-password")
        .await;

    // The API's rules hold: a duplicate, a malformed address, a weak
    // password, an unknown role.
    let create = ["users", "create", "--password-stdin", "--email"];
    refused(
        &db,
        &[&create[..], &["bob@example.com"]].concat(),
        "another-password\n",
        "",
    )
    .await;
    refused(
        &db,
        &[&create[..], &["not-an-email"]].concat(),
        "another-password\n",
        "",
    )
    .await;
    refused(
        &db,
        &[&create[..], &["weak@example.com"]].concat(),
        "short\n",
        "",
    )
    .await;
    refused(
        &db,
        &[
            "users",
            "set-role",
            "--email",
            "bob@example.com",
            "--role",
            "root",
        ],
        "",
        "admin or user",
    )
    .await;
    refused(
        &db,
        &["users", "delete", "--email", "nobody@example.com"],
        "",
        "no user has the email nobody@example.com",
    )
    .await;
    assert_eq!(
        emails(&json(&db, &["users", "list"], "").await),
        ["admin@example.com", "ops@example.com", "bob@example.com"],
        "nothing refused was created"
    );

    let (ok, _, err) = run(
        &db,
        &[
            "users",
            "set-role",
            "--email",
            "bob@example.com",
            "--role",
            "admin",
        ],
        "",
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &db,
        &[
            "users",
            "set-password",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        "bobs-second-password\n",
    )
    .await;
    assert!(ok, "{err}");
    let old = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "bob@example.com", "password": "bobs-first-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), reqwest::StatusCode::UNAUTHORIZED);
    app.api_login("bob@example.com", "bobs-second-password")
        .await;
    let users = json(&db, &["users", "list"], "").await;
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@example.com")
        .unwrap();
    assert_eq!(bob["role"], "admin");

    let (ok, _, err) = run(&db, &["users", "delete", "--email", "bob@example.com"], "").await;
    assert!(ok, "{err}");
    assert_eq!(
        emails(&json(&db, &["users", "list"], "").await),
        ["admin@example.com", "ops@example.com"]
    );

    // Every change is in the audit log, by the operator.
    let created = json(&db, &["audit", "--type", "user.created"], "").await;
    // The first admin (by the server at start), then ops and bob.
    assert_eq!(created.as_array().unwrap().len(), 3, "{created}");
    assert_eq!(
        created[0]["details"]["actor"], "00000000-0000-0000-0000-000000000000",
        "{created}"
    );
    let kinds: Vec<String> = json(&db, &["audit", "--limit", "500"], "")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["user.created", "user.updated", "user.deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    refused(
        &db,
        &["audit", "--type", "user.exploded"],
        "",
        "sign_in.failed",
    )
    .await;
    refused(&db, &["audit", "--limit", "0"], "", "--limit").await;
}

#[tokio::test]
async fn clients_keys_and_grants_are_managed_from_the_command_line() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let app = scratch.serve(&db).await;

    let issued = json(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "CLI app",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            SEED_SCOPES,
        ],
        "",
    )
    .await;
    let id = issued[0]["client_id"].as_str().unwrap().to_owned();
    let first_secret = issued[0]["client_secret"].as_str().unwrap().to_owned();
    let client = TestClient {
        id: id.clone(),
        secret: Some(first_secret.clone()),
    };
    let tokens = app.tokens(&client, "profile").await;
    let other = app.seed_client().await;
    let other_tokens = app.tokens(&other, "profile").await;
    refused(
        &db,
        &[
            "clients",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://evil.example/cb#frag",
        ],
        "",
        "",
    )
    .await;
    let listed = json(&db, &["clients", "list"], "").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id.as_str())
    );
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "a list never shows secrets: {listed}"
    );

    // A new secret: the old one stops working, the new one works.
    let rotated = json(&db, &["clients", "rotate-secret", &id], "").await;
    let new_secret = rotated[0]["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, first_secret);
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    let client = TestClient {
        id: id.clone(),
        secret: Some(new_secret),
    };
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let refreshed: serde_json::Value = res.json().await.unwrap();

    // Revoking the admin's grants to this client leaves the other client's.
    let (ok, out, err) = run(
        &db,
        &["grants", "revoke", "--user", ADMIN_EMAIL, "--client", &id],
        "",
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("Revoked 1 grant"), "{out}");
    let res = app
        .refresh(&client, refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let res = app
        .refresh(&other, other_tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let other_refreshed: serde_json::Value = res.json().await.unwrap();
    // Then all of them.
    let (ok, _, err) = run(&db, &["grants", "revoke", "--user", ADMIN_EMAIL], "").await;
    assert!(ok, "{err}");
    let res = app
        .refresh(&other, other_refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::BAD_REQUEST);
    let revoked = json(
        &db,
        &["audit", "--type", "grant.revoked", "--user", ADMIN_EMAIL],
        "",
    )
    .await;
    assert!(
        revoked
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["reason"] == "administrator"),
        "{revoked}"
    );

    // Keys: one active; a rotation adds one and the server publishes both.
    let keys = json(&db, &["keys", "list"], "").await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["active"], true);
    let (ok, _, err) = run(&db, &["keys", "rotate"], "").await;
    assert!(ok, "{err}");
    let keys = json(&db, &["keys", "list"], "").await;
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys}");
    assert_eq!(keys[0]["active"], true);
    assert_eq!(keys[1]["active"], false);

    let (ok, _, err) = run(&db, &["clients", "delete", &id], "").await;
    assert!(ok, "{err}");
    let listed = json(&db, &["clients", "list"], "").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["client_id"] != id.as_str())
    );
    refused(&db, &["clients", "delete", &id], "", "").await;
    drop(app);
}

#[tokio::test]
async fn commands_refuse_the_memory_store() {
    refused("memory://", &["users", "list"], "", "memory store").await;
    refused(
        "memory://",
        &["backup", "/tmp/never-written.db"],
        "",
        "nothing to back up",
    )
    .await;
}

#[tokio::test]
async fn a_backup_taken_under_write_load_starts_a_server_with_everything_committed_before_it() {
    let scratch = Scratch::new();
    let db = scratch.db();
    let app = std::sync::Arc::new(scratch.serve(&db).await);
    let client = app.seed_client().await;

    // Writers: users created one after another, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (app, stop, created) = (app.clone(), stop.clone(), created.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && n < 2_000 {
                app.create_user(&format!("load{n}@example.com"), "load-test-password")
                    .await;
                n += 1;
                created.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    while created.load(std::sync::atomic::Ordering::SeqCst) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = created.load(std::sync::atomic::Ordering::SeqCst);
    let copy = scratch.dir.join("backup.db");
    let (ok, out, err) = run(&db, &["backup", copy.to_str().unwrap()], "").await;
    assert!(ok, "{err}");
    assert!(out.contains("consistent copy"), "{out}");
    let after = created.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    refused(
        &db,
        &["backup", copy.to_str().unwrap()],
        "",
        "cannot create",
    )
    .await;

    // A fresh server on the copy: every user committed before the backup
    // began, none half-written, the same client and signing key.
    let restored = scratch.serve(&format!("sqlite://{}", copy.display())).await;
    let users: serde_json::Value = restored
        .http
        .get(restored.url("/api/v1/users/"))
        .bearer_auth(&restored.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded: Vec<usize> = users["users"]
        .as_array()
        .or_else(|| users.as_array())
        .unwrap_or_else(|| panic!("{users}"))
        .iter()
        .filter_map(|u| {
            u["email"]
                .as_str()?
                .strip_prefix("load")?
                .split('@')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        (before..=after).contains(&loaded.len()),
        "{} users restored; {before} were committed before the backup and {after} after",
        loaded.len()
    );
    let mut sorted = loaded.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..loaded.len()).collect::<Vec<_>>(),
        "a prefix, no gaps"
    );
    restored
        .api_login("load0@example.com", "load-test-password")
        .await;
    let tokens = restored.tokens(&client, "profile").await;
    let jwks: serde_json::Value = app
        .http
        .get(app.url("/api/v1/oauth/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = tokens["access_token"].as_str().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            kid.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["kid"], jwks["keys"][0]["kid"],
        "the same signing key"
    );
}
